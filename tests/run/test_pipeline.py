"""The whole pipeline on small loads, checked by CONTRACT.md's rules recomputed from the outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from planner.cli import main
from planner.run.pipeline import plan
from planner.settings import ImproveSettings, Settings
from tests.contract_checks import check_plan
from tests.loads import make_load

SETTINGS = Settings(improve=ImproveSettings(time_cap_s=30.0, max_rounds=20))


def checked(parcels: pa.Table, hubs: pa.Table, settings: Settings = SETTINGS):
    result = plan(parcels, hubs, settings, progress=False)
    check_plan(parcels, hubs, result.assignments, result.routes, result.hubs, result.rejects, settings.circuity)
    return result


def test_ample_fleet_plans_every_parcel():
    parcels, hubs = make_load(400, [(40.75, -73.99, 20, 500.0), (40.65, -73.95, 20, 500.0)], seed=1)
    result = checked(parcels, hubs)
    status = result.assignments.column("status").to_pylist()
    assert status.count("planned") == 400
    assert result.summary["totals"]["routes"] >= 400 // 60
    assert result.summary["improve"]["distance_after_km"] <= result.summary["improve"]["distance_before_km"]


def test_short_fleet_defers_in_tier_order():
    parcels, hubs = make_load(500, [(41.88, -87.63, 3, 400.0)], seed=2)
    result = checked(parcels, hubs)
    a = result.assignments.to_pydict()
    assert a["status"].count("deferred") > 0
    assert result.routes.num_rows <= 3
    tiers = dict(zip(parcels.column("parcel_id").to_pylist(), parcels.column("tier").to_pylist()))
    deferred_tiers = {tiers[p] for p, s in zip(a["parcel_id"], a["status"]) if s == "deferred"}
    assert "standard" in deferred_tiers


def test_daily_capacity_below_demand():
    parcels, hubs = make_load(300, [(34.05, -118.25, 30, 800.0), (34.2, -118.4, 30, 800.0)], seed=3, spread=0.02)
    hubs = hubs.append_column("daily_capacity", pa.array([100, 100], pa.int32()))
    result = checked(parcels, hubs)
    planned = result.hubs.column("parcels_planned").to_pylist()
    assert max(planned) <= 100
    assert result.assignments.column("status").to_pylist().count("deferred") >= 100


def test_bad_rows_are_rejected_and_the_rest_planned():
    parcels, hubs = make_load(120, [(40.75, -73.99, 10, 500.0)], seed=4)
    lat = parcels.column("lat").to_numpy().copy()
    lat[3] = np.nan
    lat[7] = 123.0
    parcels = parcels.set_column(parcels.column_names.index("lat"), "lat", pa.array(lat))
    result = checked(parcels, hubs)
    reasons = dict(zip(result.rejects.column("row").to_pylist(), result.rejects.column("reason").to_pylist()))
    assert reasons[3] == "non-finite coordinates" or reasons[3] == "missing coordinates"
    assert reasons[7] == "coordinates out of range"
    assert result.assignments.num_rows == 118


def test_far_parcels_are_unassigned():
    parcels, hubs = make_load(60, [(40.75, -73.99, 10, 500.0)], seed=5)
    lat = parcels.column("lat").to_numpy().copy()
    lon = parcels.column("lon").to_numpy().copy()
    lat[:5], lon[:5] = 47.6, -122.3  # Seattle, far from the New York hub
    parcels = parcels.set_column(1, "lat", pa.array(lat)).set_column(2, "lon", pa.array(lon))
    result = checked(parcels, hubs)
    status = result.assignments.column("status").to_pylist()
    assert status[:5] == ["unassigned"] * 5


def test_same_inputs_give_byte_identical_outputs(tmp_path: Path):
    parcels, hubs = make_load(300, [(40.75, -73.99, 10, 500.0), (40.7, -74.1, 10, 500.0)], seed=6)
    outs = []
    for k in range(2):
        result = plan(parcels, hubs, SETTINGS, progress=False)
        result.write(tmp_path / f"run{k}")
        outs.append(tmp_path / f"run{k}")
    for name in ("assignments.arrow", "routes.arrow", "hubs.arrow", "rejects.arrow"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def test_cli_plans_files_and_writes_manifest_last(tmp_path: Path, capsys):
    parcels, hubs = make_load(200, [(40.75, -73.99, 10, 500.0)], seed=7)
    feather.write_feather(parcels, tmp_path / "p.arrow")
    feather.write_feather(hubs, tmp_path / "h.arrow")
    out = tmp_path / "plan"
    code = main(["plan", "--parcels", str(tmp_path / "p.arrow"), "--hubs", str(tmp_path / "h.arrow"),
                 "--out", str(out), "--time-cap", "5", "--quiet"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    names = {f["name"] for f in manifest["files"]}
    assert {"assignments.arrow", "routes.arrow", "hubs.arrow", "rejects.arrow", "summary.json"} <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "cpu" and set(summary["timings_s"]) >= {"index", "assign", "route", "improve"}


def test_cli_missing_column_exits_2_without_output(tmp_path: Path, capsys):
    parcels, hubs = make_load(20, [(40.75, -73.99, 10, 500.0)], seed=8)
    feather.write_feather(parcels.drop(["lat"]), tmp_path / "p.arrow")
    feather.write_feather(hubs, tmp_path / "h.arrow")
    out = tmp_path / "plan"
    code = main(["plan", "--parcels", str(tmp_path / "p.arrow"), "--hubs", str(tmp_path / "h.arrow"),
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "lat" in err and "p.arrow" in err
    assert not out.exists()


def test_cli_cuda_without_device_exits_2(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a CUDA device is present")
    parcels, hubs = make_load(20, [(40.75, -73.99, 10, 500.0)], seed=9)
    feather.write_feather(parcels, tmp_path / "p.arrow")
    feather.write_feather(hubs, tmp_path / "h.arrow")
    code = main(["plan", "--parcels", str(tmp_path / "p.arrow"), "--hubs", str(tmp_path / "h.arrow"),
                 "--out", str(tmp_path / "o"), "--backend", "cuda", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "backend 'cuda' requested but" in err


def _outcomes(result) -> dict[str, tuple[str, str | None]]:
    a = result.assignments.to_pydict()
    return {p: (s, r) for p, s, r in zip(a["parcel_id"], a["status"], a["reason"])}


def test_what_no_vehicle_can_ever_take_is_unassigned_with_the_true_reason():
    parcels, hubs = make_load(40, [(40.75, -73.99, 4, 100.0)], seed=6)
    weight = parcels.column("weight_kg").to_numpy().copy()
    lat, lon = parcels.column("lat").to_numpy().copy(), parcels.column("lon").to_numpy().copy()
    weight[:3] = 60.0  # three parcels at one address: 180 kg, more than any vehicle carries (each fits one)
    lat[1:3], lon[1:3] = lat[0], lon[0]
    parcels = parcels.set_column(parcels.schema.get_field_index("weight_kg"), "weight_kg",
                                 pa.array(weight, pa.float32()))
    parcels = parcels.set_column(parcels.schema.get_field_index("lat"), "lat", pa.array(lat))
    parcels = parcels.set_column(parcels.schema.get_field_index("lon"), "lon", pa.array(lon))
    outcome = _outcomes(checked(parcels, hubs))
    heavy = {outcome[f"P{i:05d}"] for i in range(3)}
    assert heavy == {("unassigned", "stop is heavier than one vehicle of its hub carries")}
    # no vehicles anywhere: unassigned (not deferred to a backlog it would never leave), and said so
    idle = hubs.set_column(hubs.schema.get_field_index("vehicles"), "vehicles", pa.array([0], pa.int32()))
    assert set(_outcomes(checked(parcels, idle)).values()) == {("unassigned", "no hub has vehicles today")}


def test_a_kg_shortfall_is_not_called_the_daily_capacity():
    parcels, hubs = make_load(200, [(40.75, -73.99, 2, 60.0)], seed=7)
    reasons = {r for s, r in _outcomes(checked(parcels, hubs)).values() if s == "deferred"}
    assert "hub's vehicles are full today (kg)" in reasons and "hub daily capacity exceeded" not in reasons
