"""Input tables and checks shared by the read and validate tests."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from planner.contract import Inputs
from planner.contract import schemas as S

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


def reasons(inputs: Inputs) -> list[tuple[str, int, str]]:
    r = inputs.rejects
    return list(zip(r.column("file").to_pylist(), r.column("row").to_pylist(), r.column("reason").to_pylist()))





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


def check_partition(result: Inputs, n_parcels: int, n_hubs: int) -> None:
    rejects = result.rejects
    for file, valid, n in (("parcels", result.parcels, n_parcels), ("hubs", result.hubs, n_hubs)):
        rejected = [r for f, r in zip(rejects.column("file").to_pylist(), rejects.column("row").to_pylist())
                    if f == file]
        assert rejected == sorted(rejected)
        assert sorted(valid.column("row").to_pylist() + rejected) == list(range(n))
    files = rejects.column("file").to_pylist()
    assert files == sorted(files, key=lambda f: f != "hubs")
    known = set(S.PARCEL_CHECKS + S.HUB_CHECKS)
    prefixes = (S.REASON_UNKNOWN_TIER.split("{tier}")[0], S.REASON_ADDRESS_CONFLICT.split("{address_id}")[0])
    assert all(r in known or r.startswith(prefixes) for r in rejects.column("reason").to_pylist())
    hub_index = np.asarray(result.parcels.column("hub_index").to_numpy())
    assert ((hub_index >= -1) & (hub_index < result.hubs.num_rows)).all()
    assert result.parcels.schema.equals(S.PARCELS_SCHEMA) and result.hubs.schema.equals(S.HUBS_SCHEMA)


PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])



