"""Reading, validating and writing per the data contract: exact reject reasons,
exact one-line errors, atomic output, and property tests with malformed tables."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import io
from planner import schemas as S
from planner.errors import HexrouteError, InputError

HUBS = {"hub_id": ["h0", "h1"], "lat": [40.0, 41.0], "lon": [-74.0, -75.0],
        "vehicles": pa.array([2, 3], pa.int32()), "capacity_kg": pa.array([100.0, 300.0], pa.float32())}


def parcels(n: int = 3, **columns: Any) -> pa.Table:
    """A valid parcels table of ``n`` rows with ``columns`` replaced or added (None drops one)."""
    base: dict[str, Any] = {"parcel_id": [f"p{i}" for i in range(n)], "lat": [40.5] * n, "lon": [-74.5] * n}
    base.update(columns)
    return pa.table({k: v for k, v in base.items() if v is not None})


def hubs(**columns: Any) -> pa.Table:
    """The two valid hubs with ``columns`` replaced or added (None drops one)."""
    base = {**HUBS, **columns}
    return pa.table({k: v for k, v in base.items() if v is not None})


def write(table: pa.Table, path: Path) -> Path:
    """Write ``table`` in the format its suffix names."""
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".ipc":
        with pa.ipc.new_stream(str(path), table.schema) as writer:
            writer.write_table(table)
    else:
        with pa.ipc.new_file(str(path), table.schema) as writer:
            writer.write_table(table)
    return path


def reasons(inputs: io.Inputs) -> list[tuple[str, int, str]]:
    r = inputs.rejects
    return list(zip(r.column("file").to_pylist(), r.column("row").to_pylist(), r.column("reason").to_pylist()))


# --------------------------------------------------------------------------- read_table

@pytest.mark.parametrize("suffix", [".arrow", ".feather", ".ipc", ".parquet"])
def test_read_table_formats_and_casts(tmp_path: Path, suffix: str) -> None:
    table = hubs(vehicles=[2, 3], capacity_kg=[100.0, 300.0], hub_id=pa.array(["h0", "h1"], pa.large_string()),
                 extra=["x", "y"])
    back = io.read_table(write(table, tmp_path / f"hubs{suffix}"), "hubs")
    assert back.schema.field("vehicles").type == pa.int32()
    assert back.schema.field("capacity_kg").type == pa.float32()
    assert back.schema.field("hub_id").type == pa.string()
    assert back.column("extra").to_pylist() == ["x", "y"]
    assert back.column("vehicles").to_pylist() == [2, 3]


def test_read_table_keeps_dictionary_tier(tmp_path: Path) -> None:
    table = parcels(2, tier=pa.array(["express", "priority"]).dictionary_encode())
    back = io.read_table(write(table, tmp_path / "p.parquet"), "parcels")
    assert pa.types.is_dictionary(back.schema.field("tier").type)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.arrow"
    with pytest.raises(InputError) as err:
        io.read_table(path, "parcels")
    assert str(err.value) == f"parcels file {path}: no such file"
    assert err.value.exit_status == 2


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "hubs.csv"
    path.write_text("hub_id\n")
    with pytest.raises(InputError) as err:
        io.read_table(path, "hubs")
    assert str(err.value) == (f"hubs file {path}: unknown file type '.csv' "
                              "(expected one of .arrow, .feather, .ipc, .parquet)")


@pytest.mark.parametrize("suffix, kind", [(".arrow", "Arrow IPC"), (".parquet", "Parquet")])
def test_corrupt_file(tmp_path: Path, suffix: str, kind: str) -> None:
    path = tmp_path / f"parcels{suffix}"
    path.write_bytes(b"this is not\na columnar file" * 10)
    with pytest.raises(InputError) as err:
        io.read_table(path, "parcels")
    message = str(err.value)
    assert message.startswith(f"parcels file {path}: cannot be read as {kind}: ")
    assert "\n" not in message


def test_truncated_ipc_file(tmp_path: Path) -> None:
    path = write(parcels(100), tmp_path / "parcels.arrow")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match=r"cannot be read as Arrow IPC"):
        io.read_table(path, "parcels")


@pytest.mark.parametrize("suffix", [".arrow", ".parquet"])
def test_missing_required_column(tmp_path: Path, suffix: str) -> None:
    path = write(parcels(lat=None), tmp_path / f"x{suffix}")
    with pytest.raises(InputError) as err:
        io.read_table(path, "parcels")
    assert str(err.value) == f"parcels file {path}: missing required column 'lat'"


def test_uncastable_column(tmp_path: Path) -> None:
    path = write(hubs(vehicles=["two", "3"]), tmp_path / "hubs.arrow")
    with pytest.raises(InputError) as err:
        io.read_table(path, "hubs")
    message = str(err.value)
    assert message.startswith(f"hubs file {path}: column 'vehicles' of type string cannot be read as int32: ")
    assert "\n" not in message


def test_unrepresentable_value_is_an_input_error(tmp_path: Path) -> None:
    path = write(hubs(vehicles=[2.5, 3.0]), tmp_path / "hubs.arrow")
    with pytest.raises(InputError, match=r"column 'vehicles' of type double cannot be read as int32: .*2\.5"):
        io.read_table(path, "hubs")


def test_duplicate_column(tmp_path: Path) -> None:
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array([1.0]), pa.array([2.0]), pa.array([3.0])],
                                 names=["parcel_id", "lat", "lon", "lat"])
    path = write(table, tmp_path / "p.arrow")
    with pytest.raises(InputError) as err:
        io.read_table(path, "parcels")
    assert str(err.value) == f"parcels file {path}: column 'lat' appears 2 times"


def test_validate_names_the_table_without_a_file() -> None:
    with pytest.raises(InputError) as err:
        io.validate(parcels(), hubs(capacity_kg=None))
    assert str(err.value) == "hubs table: missing required column 'capacity_kg'"


# --------------------------------------------------------------------------- validate

def test_valid_inputs_normalised_with_defaults() -> None:
    result = io.validate(parcels(3), hubs())
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
    result = io.validate(
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
    result = io.validate(parcels(3, **columns), hubs())
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
    result = io.validate(parcels(1), hubs(**columns))
    assert reasons(result) == [("hubs", 1, reason)]
    assert result.hubs.column("row").to_pylist() == [0]


def test_first_failed_check_wins_and_rejects_are_ordered() -> None:
    result = io.validate(
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
    result = io.validate(table, hubs())
    assert reasons(result) == [("parcels", r, "duplicate parcel_id") for r in (2, 4, 5)]
    assert result.parcels.column("parcel_id").to_pylist() == ["a", "b", "c", "d"]


def test_duplicate_of_a_rejected_row_is_still_a_duplicate() -> None:
    result = io.validate(parcels(2, parcel_id=["a", "a"], lat=[NAN, 40.0]), hubs())
    assert reasons(result) == [("parcels", 0, "non-finite coordinates"), ("parcels", 1, "duplicate parcel_id")]


def test_dictionary_tier_column() -> None:
    tier = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 2, 3, 1], pa.int8()),
                                          pa.array(["priority", "bogus", "express", None]))
    result = io.validate(parcels(6, tier=tier), hubs())
    assert result.parcels.column("tier_code").to_pylist() == [0, 2, 1, 2]
    assert reasons(result) == [("parcels", 1, "unknown tier 'bogus'"), ("parcels", 5, "unknown tier 'bogus'")]


def test_dictionary_tier_over_several_chunks() -> None:
    tier = pa.chunked_array([pa.array(["express", "standard"]).dictionary_encode(),
                             pa.array(["priority", "nope"]).dictionary_encode()])
    table = parcels(4).append_column("tier", tier)
    result = io.validate(table, hubs())
    assert result.parcels.column("tier_code").to_pylist() == [1, 2, 0]
    assert reasons(result) == [("parcels", 3, "unknown tier 'nope'")]


def test_forced_hub_resolves_to_normalised_hub_row() -> None:
    result = io.validate(parcels(3, hub_id=["h2", "h0", "h1"]),
                         hubs(hub_id=["h0", "h1", "h2"], lat=[NAN, 41.0, 42.0], lon=[-74.0, -75.0, -76.0],
                              vehicles=pa.array([1, 1, 1], pa.int32()), capacity_kg=[1.0, 1.0, 1.0]))
    assert result.hubs.column("hub_id").to_pylist() == ["h1", "h2"]
    assert result.parcels.column("hub_index").to_pylist() == [1, 0]
    assert reasons(result) == [("hubs", 0, "non-finite coordinates"), ("parcels", 1, "hub_id names no hub")]


def test_capacity_check_ignores_hubs_without_vehicles() -> None:
    table = parcels(2, weight_kg=[50.0, 150.0])
    result = io.validate(table, hubs(vehicles=pa.array([2, 0], pa.int32())))
    assert reasons(result) == [("parcels", 1, "weight_kg above every vehicle's capacity")]
    no_vehicles = io.validate(table, hubs(vehicles=pa.array([0, 0], pa.int32())))
    assert no_vehicles.rejects.num_rows == 0


def test_empty_tables() -> None:
    empty_parcels = pa.table({"parcel_id": pa.array([], pa.string()), "lat": pa.array([], pa.float64()),
                              "lon": pa.array([], pa.float64())})
    empty_hubs = hubs().slice(0, 0)
    result = io.validate(empty_parcels, empty_hubs)
    assert (result.parcels.num_rows, result.hubs.num_rows, result.rejects.num_rows) == (0, 0, 0)
    assert result.parcels.schema.equals(S.PARCELS_SCHEMA)
    no_chunks = pa.Table.from_arrays([pa.chunked_array([], type=f.type) for f in empty_parcels.schema],
                                     schema=empty_parcels.schema)
    assert io.validate(no_chunks, empty_hubs).parcels.num_rows == 0


def test_load_inputs(tmp_path: Path) -> None:
    p = write(parcels(3, tier=["priority", "bad", None]), tmp_path / "p.parquet")
    h = write(hubs(), tmp_path / "h.feather")
    result = io.load_inputs(p, h)
    assert result.parcels.column("row").to_pylist() == [0, 2]
    assert reasons(result) == [("parcels", 1, "unknown tier 'bad'")]


# --------------------------------------------------------------------------- property tests

def _column(draw: st.DrawFn, n: int, kind: str) -> pa.Array:
    none = st.none()
    if kind == "float":
        values = st.one_of(none, st.floats(allow_nan=True, allow_infinity=True),
                           st.floats(-200, 200), st.sampled_from([0.0, -0.0, 1.0, 1e-40]))
        return pa.array(draw(st.lists(values, min_size=n, max_size=n)), pa.float64())
    if kind == "int":
        values = st.one_of(none, st.integers(-3, 5), st.integers(-(2**31), 2**31 - 1))
        if draw(RARELY):
            values = st.one_of(values, st.integers(-(2**40), 2**40))
        return pa.array(draw(st.lists(values, min_size=n, max_size=n)), pa.int64())
    if kind == "str":
        values = st.one_of(none, st.sampled_from(["a", "b", "h0", "h1", "express", "1.5", "nan", ""]), st.text())
        return pa.array(draw(st.lists(values, min_size=n, max_size=n)), pa.string())
    if kind == "dict":
        values = st.one_of(none, st.sampled_from([*S.TIERS, "h0", "?", "\n"]))
        return pa.array(draw(st.lists(values, min_size=n, max_size=n)), pa.string()).dictionary_encode()
    if kind == "bool":
        return pa.array(draw(st.lists(st.one_of(none, st.booleans()), min_size=n, max_size=n)), pa.bool_())
    if kind == "list":
        return pa.array([[1]] * n, pa.list_(pa.int64()))
    return pa.nulls(n)


#: true about one time in twenty
RARELY = st.sampled_from([False] * 19 + [True])
KINDS = ["float", "int", "str", "dict", "bool", "list", "null"]


@st.composite
def malformed(draw: st.DrawFn, name: str) -> pa.Table:
    """A table with some of ``name``'s contract columns, each of a random type,
    with random nulls, NaN/inf, odd strings; usually the natural type."""
    n = draw(st.integers(0, 12))
    natural = {pa.string(): "str", pa.float64(): "float", pa.float32(): "float", pa.int32(): "int"}
    columns = {}
    for spec in S.INPUT_COLUMNS[name]:
        if draw(RARELY) or (not spec.required and draw(st.booleans())):
            continue
        kind = draw(st.sampled_from(KINDS)) if draw(RARELY) else natural[spec.type]
        columns[spec.name] = _column(draw, n, kind)
    if not columns:
        return pa.table({"other": pa.nulls(n)})
    return pa.table(columns)


def _check_partition(result: io.Inputs, n_parcels: int, n_hubs: int) -> None:
    rejects = result.rejects
    for file, valid, n in (("parcels", result.parcels, n_parcels), ("hubs", result.hubs, n_hubs)):
        rejected = [r for f, r in zip(rejects.column("file").to_pylist(), rejects.column("row").to_pylist())
                    if f == file]
        assert rejected == sorted(rejected)
        assert sorted(valid.column("row").to_pylist() + rejected) == list(range(n))
    files = rejects.column("file").to_pylist()
    assert files == sorted(files, key=lambda f: f != "hubs")
    known = set(S.PARCEL_CHECKS + S.HUB_CHECKS)
    prefix = S.REASON_UNKNOWN_TIER.split("{tier}")[0]
    assert all(r in known or r.startswith(prefix) for r in rejects.column("reason").to_pylist())
    hub_index = np.asarray(result.parcels.column("hub_index").to_numpy())
    assert ((hub_index >= -1) & (hub_index < result.hubs.num_rows)).all()
    assert result.parcels.schema.equals(S.PARCELS_SCHEMA) and result.hubs.schema.equals(S.HUBS_SCHEMA)


PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(malformed("parcels"), malformed("hubs"))
def test_validate_partitions_rows_or_raises_input_error(p: pa.Table, h: pa.Table) -> None:
    try:
        result = io.validate(p, h)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    _check_partition(result, p.num_rows, h.num_rows)


@PROPERTY
@given(table=malformed("parcels"), suffix=st.sampled_from([".arrow", ".ipc", ".parquet"]),
       garbage=st.one_of(st.none(), st.binary(max_size=64)))
def test_read_table_returns_or_raises_input_error(tmp_path_factory: pytest.TempPathFactory, table: pa.Table,
                                                  suffix: str, garbage: bytes | None) -> None:
    path = tmp_path_factory.mktemp("prop") / f"parcels{suffix}"
    if garbage is None:
        write(table, path)
    else:
        path.write_bytes(garbage)
    try:
        back = io.read_table(path, "parcels")
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"parcels file {path}: ")
        return
    result = io.validate(back, hubs())
    _check_partition(result, back.num_rows, 2)


# --------------------------------------------------------------------------- write_outputs

def outputs() -> tuple[dict[str, pa.Table], dict[str, dict]]:
    rejects = io.validate(parcels(3, weight_kg=[1.0, -1.0, 2.0]), hubs()).rejects
    routes = S.table_from_columns(S.ROUTES_SCHEMA, {
        "route_id": ["h0-1"], "hub_id": ["h0"], "n_stops": [2], "n_parcels": [2], "load_kg": [3.0],
        "distance_km": [12.5], "duration_s": [1800], "cost_usd": [40.0], "co2_kg": [3.4]})
    return {"rejects": rejects, "routes": routes}, {"summary": {"totals": {"parcels": 2}, "backend": "cpu"}}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_write_outputs_files_and_manifest(tmp_path: Path) -> None:
    tables, documents = outputs()
    target = tmp_path / "run"
    manifest = io.write_outputs(target, tables, documents)
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "rejects.arrow", "routes.arrow",
                                                        "summary.json"]
    assert json.loads((target / "manifest.json").read_text()) == manifest
    assert manifest["schema_version"] == "1.0"
    assert [f["name"] for f in manifest["files"]] == ["rejects.arrow", "routes.arrow", "summary.json"]
    for entry in manifest["files"]:
        data = (target / entry["name"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert [f["rows"] for f in manifest["files"]] == [1, 1, None]
    routes = pa.ipc.open_file(str(target / "routes.arrow")).read_all()
    assert routes.schema.equals(S.ROUTES_SCHEMA, check_metadata=True) and routes.equals(tables["routes"])
    assert json.loads((target / "summary.json").read_text()) == documents["summary"]
    assert leftovers(tmp_path) == []


def test_write_outputs_is_byte_identical(tmp_path: Path) -> None:
    tables, documents = outputs()
    rechunked = {k: pa.Table.from_batches(t.to_batches(max_chunksize=1) or [], schema=t.schema)
                 for k, t in tables.items()}
    first = io.write_outputs(tmp_path / "a", tables, documents)
    second = io.write_outputs(tmp_path / "b", rechunked, dict(reversed(list(documents.items()))))
    assert first == second
    for entry in first["files"] + [{"name": "manifest.json"}]:
        assert (tmp_path / "a" / entry["name"]).read_bytes() == (tmp_path / "b" / entry["name"]).read_bytes()


def test_write_outputs_replaces_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "stale.arrow").write_bytes(b"old")
    tables, documents = outputs()
    io.write_outputs(target, tables, documents)
    assert not (target / "stale.arrow").exists()
    assert (target / "manifest.json").exists()
    assert leftovers(tmp_path) == []


def test_failed_table_leaves_nothing(tmp_path: Path) -> None:
    tables, documents = outputs()
    tables["routes"] = tables["routes"].drop_columns(["co2_kg"])
    with pytest.raises(ValueError, match="table 'routes' has columns"):
        io.write_outputs(tmp_path / "run", tables, documents)
    assert list(tmp_path.iterdir()) == []


def test_non_json_document_leaves_nothing(tmp_path: Path) -> None:
    tables, _ = outputs()
    with pytest.raises(ValueError):
        io.write_outputs(tmp_path / "run", tables, {"summary": {"cost": math.nan}})
    assert list(tmp_path.iterdir()) == []


def test_crash_while_writing_manifest_keeps_old_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run"
    tables, documents = outputs()
    io.write_outputs(target, tables, documents)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real = io._write_json

    def crash_on_manifest(path: Path, document: Any) -> None:
        if path.name == "manifest.json":
            raise OSError(28, "No space left on device")
        real(path, document)

    monkeypatch.setattr(io, "_write_json", crash_on_manifest)
    with pytest.raises(HexrouteError) as err:
        io.write_outputs(target, {"rejects": tables["rejects"]}, {})
    assert str(err.value) == f"output {target}: cannot write: [Errno 28] No space left on device"
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_crash_on_fresh_target_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: Any) -> None:
        raise RuntimeError("serialiser failed")

    monkeypatch.setattr(io, "_write_table", crash)
    with pytest.raises(RuntimeError, match="serialiser failed"):
        io.write_outputs(tmp_path / "out" / "run", *outputs())
    assert list((tmp_path / "out").iterdir()) == []


def test_target_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.write_text("x")
    with pytest.raises(InputError) as err:
        io.write_outputs(target, *outputs())
    assert str(err.value) == f"output {target}: exists and is not a directory"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["manifest", "../x", ".hidden", ""])
def test_bad_output_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        io.write_outputs(tmp_path / "run", {}, {name: {}})
    assert list(tmp_path.iterdir()) == []


KILL_SCRIPT = """
import sys, time
import pyarrow as pa
from planner import io, schemas

real = io._write_table
def slow(path, name, table):
    real(path, name, table)
    print("wrote", name, flush=True)
    time.sleep(60)  # killed here, half way through the outputs
io._write_table = slow
table = schemas.table_from_columns(schemas.REJECTS_SCHEMA, {"row": [0], "file": ["parcels"], "id": ["p"],
                                                            "reason": ["r"]})
io.write_outputs(sys.argv[1], {"rejects": table, "routes": table.slice(0, 0)}, {"summary": {}})
"""


def test_killed_writer_leaves_no_target(tmp_path: Path) -> None:
    """SIGKILL in the middle of writing: the target directory never appears half written."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "plan"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("wrote")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
