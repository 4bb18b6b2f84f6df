"""Validation: every row checked against the contract's "Bad input" rules, first failure wins."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given

from planner.contract import load_inputs, validate
from planner.contract import schemas as S
from planner.errors import InputError
from tests.contract.inputs import PROPERTY, check_partition, hubs, malformed, parcels, reasons, write


def test_validate_names_the_table_without_a_file() -> None:
    with pytest.raises(InputError) as err:
        validate(parcels(), hubs(capacity_kg=None))
    assert str(err.value) == "hubs table: missing required column 'capacity_kg'"


# --------------------------------------------------------------------------- validate

def test_valid_inputs_normalised_with_defaults() -> None:
    result = validate(parcels(3), hubs())
    assert result.rejects.num_rows == 0
    assert result.parcels.schema.equals(S.PARCELS_SCHEMA)
    assert result.hubs.schema.equals(S.HUBS_SCHEMA)
    assert result.rejects.schema.equals(S.REJECTS_SCHEMA, check_metadata=True)
    p = result.parcels.to_pydict()
    assert p["row"] == [0, 1, 2]
    assert p["weight_kg"] == [1.0] * 3 and p["fee_usd"] == [0.0] * 3
    assert p["tier_code"] == [2] * 3 and p["hub_index"] == [-1] * 3
    assert p["address_id"] == [None] * 3 and p["shipper"] == [None] * 3
    h = result.hubs.to_pydict()
    assert h["operator"] == ["usps", "usps"]
    assert h["capacity_parcels"] == [S.UNLIMITED] * 2
    assert h["shift_s"] == [28800] * 2
    assert h["daily_capacity"] == [S.UNLIMITED] * 2


def test_null_optional_values_take_defaults() -> None:
    result = validate(
        parcels(2, weight_kg=[None, 2.5], tier=[None, "priority"], fee_usd=[None, 1.25],
                shipper=["amazon", None], address_id=[None, "a1"]),
        hubs(operator=[None, "amazon"], capacity_parcels=[None, 40], shift_s=[None, 3600],
             daily_capacity=[None, 500]))
    assert result.rejects.num_rows == 0
    p = result.parcels.to_pydict()
    assert p["weight_kg"] == [1.0, 2.5] and p["tier_code"] == [2, 0] and p["fee_usd"] == [0.0, 1.25]
    assert p["shipper"] == ["amazon", None] and p["address_id"] == [None, "a1"]
    h = result.hubs.to_pydict()
    assert h["operator"] == ["usps", "amazon"]
    assert h["capacity_parcels"] == [S.UNLIMITED, 40]
    assert h["shift_s"] == [28800, 3600] and h["daily_capacity"] == [S.UNLIMITED, 500]


NAN, INF = math.nan, math.inf


@pytest.mark.parametrize("columns, reason", [
    ({"parcel_id": ["p0", None, "p2"]}, "missing parcel_id"),
    ({"lat": [40.0, None, 40.0]}, "missing coordinates"),
    ({"lon": [-74.0, None, -74.0]}, "missing coordinates"),
    ({"lat": [40.0, NAN, 40.0]}, "non-finite coordinates"),
    ({"lon": [-74.0, -INF, -74.0]}, "non-finite coordinates"),
    ({"lat": [40.0, 90.5, 40.0]}, "coordinates out of range"),
    ({"lon": [-74.0, -180.01, -74.0]}, "coordinates out of range"),
    ({"weight_kg": [1.0, 0.0, 1.0]}, "weight_kg must be > 0"),
    ({"weight_kg": [1.0, -3.0, 1.0]}, "weight_kg must be > 0"),
    ({"weight_kg": [1.0, NAN, 1.0]}, "weight_kg must be > 0"),
    ({"weight_kg": [1.0, 300.5, 1.0]}, "weight_kg above every vehicle's capacity"),
    ({"weight_kg": [1.0, INF, 1.0]}, "weight_kg above every vehicle's capacity"),
    ({"tier": ["express", "Gold'", None]}, "unknown tier 'Gold''"),
    ({"tier": ["express", "", None]}, "unknown tier ''"),
    ({"fee_usd": [0.0, -0.5, 1.0]}, "fee_usd must be a finite number >= 0"),
    ({"fee_usd": [0.0, NAN, 1.0]}, "fee_usd must be a finite number >= 0"),
    ({"hub_id": ["h0", "h9", None]}, "hub_id names no hub"),
])
def test_parcel_reject_reasons(columns: dict[str, Any], reason: str) -> None:
    result = validate(parcels(3, **columns), hubs())
    assert reasons(result) == [("parcels", 1, reason)]
    assert result.parcels.column("row").to_pylist() == [0, 2]
    expected_id = None if columns.get("parcel_id") else "p1"
    assert result.rejects.column("id").to_pylist() == [expected_id]


@pytest.mark.parametrize("columns, reason", [
    ({"hub_id": ["h0", None]}, "missing hub_id"),
    ({"hub_id": ["h0", "h0"]}, "duplicate hub_id"),
    ({"lat": [40.0, None]}, "missing coordinates"),
    ({"lon": [-74.0, NAN]}, "non-finite coordinates"),
    ({"lat": [40.0, -91.0]}, "coordinates out of range"),
    ({"vehicles": pa.array([2, -1], pa.int32())}, "vehicles must be >= 0"),
    ({"vehicles": pa.array([2, None], pa.int32())}, "vehicles must be >= 0"),
    ({"capacity_kg": [100.0, 0.0]}, "capacity_kg must be > 0"),
    ({"capacity_kg": [100.0, NAN]}, "capacity_kg must be > 0"),
    ({"capacity_kg": [100.0, None]}, "capacity_kg must be > 0"),
    ({"capacity_parcels": [10, 0]}, "capacity_parcels must be > 0"),
    ({"shift_s": [3600, -1]}, "shift_s must be > 0"),
    ({"daily_capacity": [0, -5]}, "daily_capacity must be >= 0"),
])
def test_hub_reject_reasons(columns: dict[str, Any], reason: str) -> None:
    result = validate(parcels(1), hubs(**columns))
    assert reasons(result) == [("hubs", 1, reason)]
    assert result.hubs.column("row").to_pylist() == [0]


def test_first_failed_check_wins_and_rejects_are_ordered() -> None:
    result = validate(
        parcels(4, lat=[None, 40.0, 95.0, 40.0], weight_kg=[-1.0, 1.0, -1.0, 1.0], tier=["x", "x", "x", "x"]),
        hubs(lat=[40.0, 100.0], capacity_kg=[100.0, -1.0]))
    assert reasons(result) == [
        ("hubs", 1, "coordinates out of range"),
        ("parcels", 0, "missing coordinates"),
        ("parcels", 1, "unknown tier 'x'"),
        ("parcels", 2, "coordinates out of range"),
        ("parcels", 3, "unknown tier 'x'"),
    ]


def test_later_duplicate_is_rejected_across_chunks() -> None:
    ids = pa.chunked_array([["a", "b", "a"], ["c", "b", "a", "d"]])
    table = pa.Table.from_arrays([ids, pa.array([40.0] * 7), pa.array([-74.0] * 7)], names=["parcel_id", "lat", "lon"])
    result = validate(table, hubs())
    assert reasons(result) == [("parcels", r, "duplicate parcel_id") for r in (2, 4, 5)]
    assert result.parcels.column("parcel_id").to_pylist() == ["a", "b", "c", "d"]


def test_duplicate_of_a_rejected_row_is_still_a_duplicate() -> None:
    result = validate(parcels(2, parcel_id=["a", "a"], lat=[NAN, 40.0]), hubs())
    assert reasons(result) == [("parcels", 0, "non-finite coordinates"), ("parcels", 1, "duplicate parcel_id")]


def test_dictionary_tier_column() -> None:
    tier = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2, 3, 1], pa.int8()),
                                          pa.array(["priority", "bogus", "express", None]))
    result = validate(parcels(6, tier=tier), hubs())
    assert result.parcels.column("tier_code").to_pylist() == [0, 2, 1, 2]
    assert reasons(result) == [("parcels", 1, "unknown tier 'bogus'"), ("parcels", 5, "unknown tier 'bogus'")]


def test_dictionary_tier_over_several_chunks() -> None:
    tier = pa.chunked_array([pa.array(["express", "standard"]).dictionary_encode(),
                             pa.array(["priority", "nope"]).dictionary_encode()])
    table = parcels(4).append_column("tier", tier)
    result = validate(table, hubs())
    assert result.parcels.column("tier_code").to_pylist() == [1, 2, 0]
    assert reasons(result) == [("parcels", 3, "unknown tier 'nope'")]


def test_forced_hub_resolves_to_normalised_hub_row() -> None:
    result = validate(parcels(3, hub_id=["h2", "h0", "h1"]),
                         hubs(hub_id=["h0", "h1", "h2"], lat=[NAN, 41.0, 42.0], lon=[-74.0, -75.0, -76.0],
                              vehicles=pa.array([1, 1, 1], pa.int32()), capacity_kg=[1.0, 1.0, 1.0]))
    assert result.hubs.column("hub_id").to_pylist() == ["h1", "h2"]
    assert result.parcels.column("hub_index").to_pylist() == [1, 0]
    assert reasons(result) == [("hubs", 0, "non-finite coordinates"), ("parcels", 1, "hub_id names no hub")]


def test_capacity_check_ignores_hubs_without_vehicles() -> None:
    table = parcels(2, weight_kg=[50.0, 150.0])
    result = validate(table, hubs(vehicles=pa.array([2, 0], pa.int32())))
    assert reasons(result) == [("parcels", 1, "weight_kg above every vehicle's capacity")]
    no_vehicles = validate(table, hubs(vehicles=pa.array([0, 0], pa.int32())))
    assert no_vehicles.rejects.num_rows == 0


#: degrees of latitude per metre
PER_M = 1.0 / 111_195.0


def test_an_address_id_in_two_places_is_rejected() -> None:
    # "a": two parcels together and one 1,150 km away; "b": 199 m apart; "c": 201 m apart; "d": alone
    lat = [40.5, 40.5, 50.83, 40.6, 40.6 + 199 * PER_M, 40.7, 40.7 + 201 * PER_M, 40.8, 40.9]
    address = ["a", "a", "a", "b", "b", "c", "c", "d", None]
    result = validate(parcels(len(lat), lat=lat, lon=[-74.5] * len(lat), address_id=address), hubs())
    conflict = S.REASON_ADDRESS_CONFLICT.format
    assert reasons(result) == [("parcels", 0, conflict(address_id="a")), ("parcels", 1, conflict(address_id="a")),
                               ("parcels", 2, conflict(address_id="a")), ("parcels", 5, conflict(address_id="c")),
                               ("parcels", 6, conflict(address_id="c"))]
    assert conflict(address_id="a") == "address_id 'a' shared with parcels more than 200 m away"
    assert result.parcels.column("row").to_pylist() == [3, 4, 7, 8]


def test_address_conflicts_are_judged_among_the_rows_that_pass_the_rest() -> None:
    # the far parcel is rejected for its weight; across the antimeridian 20 m apart is 20 m apart
    table = parcels(4, lat=[40.5, 45.0, 10.0, 10.0], lon=[-74.5, -74.5, 179.9999, -179.9999],
                    weight_kg=[1.0, -1.0, 1.0, 1.0], address_id=["a", "a", "z", "z"])
    assert reasons(validate(table, hubs())) == [("parcels", 1, "weight_kg must be > 0")]


def test_address_conflicts_match_every_pair(rng) -> None:
    """Against all pairs (haversine): a parcel is rejected exactly when a partner is over 200 m away (the
    directional bound may miss one within 0.25 m past the limit)."""
    from tests import naive

    n = 300
    lat = 40.0 + rng.normal(0, 0.0015, n)
    lon = -74.0 + rng.normal(0, 0.0015, n)
    address = rng.integers(0, 60, n).astype(str)
    result = validate(parcels(n, lat=lat, lon=lon, address_id=address), hubs())
    rejected = np.zeros(n, dtype=bool)
    rejected[result.rejects.column("row").to_numpy()] = True
    metres = 1000 * naive.haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    same = address[:, None] == address[None, :]
    far, near_limit = ((metres > 200) & same).any(1), ((metres > 200) & (metres < 200.25) & same).any(1)
    assert 0 < far.sum() < n
    assert np.all((rejected == far) | near_limit)


def test_empty_tables() -> None:
    empty_parcels = pa.table({"parcel_id": pa.array([], pa.string()), "lat": pa.array([], pa.float64()),
                              "lon": pa.array([], pa.float64())})
    empty_hubs = hubs().slice(0, 0)
    result = validate(empty_parcels, empty_hubs)
    assert (result.parcels.num_rows, result.hubs.num_rows, result.rejects.num_rows) == (0, 0, 0)
    assert result.parcels.schema.equals(S.PARCELS_SCHEMA)
    no_chunks = pa.Table.from_arrays([pa.chunked_array([], type=f.type) for f in empty_parcels.schema],
                                     schema=empty_parcels.schema)
    assert validate(no_chunks, empty_hubs).parcels.num_rows == 0


def test_load_inputs(tmp_path: Path) -> None:
    p = write(parcels(3, tier=["priority", "bad", None]), tmp_path / "p.parquet")
    h = write(hubs(), tmp_path / "h.feather")
    result = load_inputs(p, h)
    assert result.parcels.column("row").to_pylist() == [0, 2]
    assert reasons(result) == [("parcels", 1, "unknown tier 'bad'")]




@PROPERTY
@given(malformed("parcels"), malformed("hubs"))
def test_validate_partitions_rows_or_raises_input_error(p: pa.Table, h: pa.Table) -> None:
    try:
        result = validate(p, h)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    check_partition(result, p.num_rows, h.num_rows)

