"""The contract's schemas: types, version metadata, round trips through IPC and Parquet."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planner.contract import schemas as S


def test_constants() -> None:
    assert S.SCHEMA_VERSION == "1.0"
    assert S.TIERS == ("priority", "express", "standard")
    assert S.TIERS[S.DEFAULT_TIER_CODE] == "standard"
    assert S.STATUSES == ("planned", "deferred", "unassigned")
    assert S.UNLIMITED == np.iinfo(np.int32).max


def test_reason_texts() -> None:
    assert S.PARCEL_CHECKS == (
        "missing parcel_id", "duplicate parcel_id", "missing coordinates", "non-finite coordinates",
        "coordinates out of range", "weight_kg must be > 0", "weight_kg above every vehicle's capacity",
        "unknown tier '{tier}'", "fee_usd must be a finite number >= 0", "hub_id names no hub",
        "address_id '{address_id}' shared with parcels more than 200 m away",
    )
    assert S.HUB_CHECKS == (
        "missing hub_id", "duplicate hub_id", "missing coordinates", "non-finite coordinates",
        "coordinates out of range", "vehicles must be >= 0", "capacity_kg must be > 0",
        "capacity_parcels must be > 0", "shift_s must be > 0", "daily_capacity must be >= 0",
    )
    assert S.REASON_UNKNOWN_TIER.format(tier="gold") == "unknown tier 'gold'"
    assert len(S.OUTCOME_STATUS) == len(S.OUTCOME_REASONS) and S.OUTCOME_STATUS[S.NO_REASON] == S.PLANNED
    assert all(text for text in S.OUTCOME_REASONS[1:])
    assert {S.OUTCOME_STATUS[code] for code in (S.R_NO_HUBS, S.R_NO_VEHICLES, S.R_TOO_HEAVY, S.R_NO_HUB_IN_REACH)} \
        == {S.UNASSIGNED}
    assert {S.OUTCOME_STATUS[code] for code in (S.R_HUB_CAPACITY, S.R_HUB_KG_FULL, S.R_FLEET_FULL)} == {S.DEFERRED}


def test_input_specs_follow_contract() -> None:
    parcels = {c.name: c for c in S.PARCEL_COLUMNS}
    hubs = {c.name: c for c in S.HUB_COLUMNS}
    assert [n for n, c in parcels.items() if c.required] == ["parcel_id", "lat", "lon"]
    assert [n for n, c in hubs.items() if c.required] == ["hub_id", "lat", "lon", "vehicles", "capacity_kg"]
    assert parcels["weight_kg"].type == pa.float32() and parcels["weight_kg"].default == 1.0
    assert parcels["tier"].default == "standard" and parcels["tier"].dictionary_ok
    assert parcels["fee_usd"].default == 0.0
    assert hubs["operator"].default == "usps"
    assert hubs["capacity_parcels"].default == S.UNLIMITED
    assert hubs["shift_s"].default == 28800
    assert hubs["daily_capacity"].default == S.UNLIMITED
    assert S.INPUT_COLUMNS == {"parcels": S.PARCEL_COLUMNS, "hubs": S.HUB_COLUMNS}


@pytest.mark.parametrize("name", sorted(S.OUTPUT_SCHEMAS))
def test_output_schemas_carry_version(name: str) -> None:
    assert S.OUTPUT_SCHEMAS[name].metadata == {b"hexroute.schema_version": b"1.0"}


def test_output_column_names() -> None:
    assert S.ASSIGNMENTS_SCHEMA.names == ["parcel_id", "status", "hub_id", "route_id", "stop_seq", "eta_s", "reason"]
    assert S.ROUTES_SCHEMA.names == ["route_id", "hub_id", "n_stops", "n_parcels", "load_kg", "distance_km",
                                     "duration_s", "cost_usd", "co2_kg"]
    assert S.HUB_REPORT_SCHEMA.names == ["hub_id", "parcels_planned", "parcels_deferred", "routes", "vehicles",
                                         "distance_km", "cost_usd"]
    assert S.REJECTS_SCHEMA.names == ["row", "file", "id", "reason"]
    assert S.ASSIGNMENTS_SCHEMA.field("stop_seq").type == pa.int32()
    assert S.REJECTS_SCHEMA.field("row").type == pa.int64()


def _sample(schema: pa.Schema, n: int = 5) -> pa.Table:
    """A table of ``schema`` with a null in every nullable column."""
    rng = np.random.default_rng(7)
    columns = {}
    for field in schema:
        if pa.types.is_string(field.type):
            values = np.array([f"{field.name}-{i}" for i in range(n)], dtype=object)
        else:
            values = (rng.random(n) * 100).astype(field.type.to_pandas_dtype())
        mask = np.zeros(n, dtype=bool)
        mask[1] = field.nullable
        columns[field.name] = np.ma.MaskedArray(values, mask=mask)
    return S.table_from_columns(schema, columns)


@pytest.mark.parametrize("name", sorted(S.OUTPUT_SCHEMAS) + ["parcels", "hubs"])
def test_round_trip_ipc_and_parquet(tmp_path, name: str) -> None:
    schema = S.OUTPUT_SCHEMAS.get(name) or {"parcels": S.PARCELS_SCHEMA, "hubs": S.HUBS_SCHEMA}[name]
    table = _sample(schema)
    with pa.ipc.new_file(str(tmp_path / "t.arrow"), table.schema) as writer:
        writer.write_table(table)
    pq.write_table(table, tmp_path / "t.parquet")
    for back in (pa.ipc.open_file(str(tmp_path / "t.arrow")).read_all(), pq.read_table(tmp_path / "t.parquet")):
        assert back.schema.equals(schema, check_metadata=True)
        assert back.equals(table)


def test_table_from_columns_types_and_nulls() -> None:
    table = S.table_from_columns(S.ASSIGNMENTS_SCHEMA, {
        "parcel_id": ["a", "b"], "status": ["planned", "deferred"], "hub_id": ["h", None],
        "route_id": ["h-1", None], "stop_seq": np.ma.MaskedArray(np.array([1, 0]), mask=[False, True]),
        "eta_s": np.ma.MaskedArray(np.array([60.0, 0.0]), mask=[False, True]),
        "reason": [None, "no vehicle left"],
    })
    assert table.schema.equals(S.ASSIGNMENTS_SCHEMA, check_metadata=True)
    assert table.column("stop_seq").to_pylist() == [1, None]
    assert table.column("eta_s").to_pylist() == [60, None]


def test_table_from_columns_rejects_bad_columns() -> None:
    good = {"row": np.array([0]), "file": ["parcels"], "id": [None], "reason": ["x"]}
    with pytest.raises(ValueError, match=r"missing \['reason'\], extra \['why'\]"):
        S.table_from_columns(S.REJECTS_SCHEMA, {**{k: v for k, v in good.items() if k != "reason"}, "why": ["x"]})
    with pytest.raises(ValueError, match="column 'reason' must not contain nulls"):
        S.table_from_columns(S.REJECTS_SCHEMA, {**good, "reason": [None]})
    with pytest.raises(ValueError, match="different lengths"):
        S.table_from_columns(S.REJECTS_SCHEMA, {**good, "row": np.array([0, 1])})
    with pytest.raises(pa.ArrowInvalid):
        S.table_from_columns(S.REJECTS_SCHEMA, {**good, "row": np.array([0.5])})
