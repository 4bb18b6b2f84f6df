"""Plans on real roads: Baltimore and Harrisburg loads against a real osrm-routed on loopback.

The written plan must be road figures (every route's km the sum of the road
engine's own route legs in stop order through the snapped stops, within 0.5 %), the road-aware plan
must beat the great-circle plan re-timed on roads, the per-stop road sample
must stay O(n k), and a dead or unreachable engine must end the run with one
line, exit 2, and no output.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.feather as feather
import pytest

from planner import synth
from planner.roads import RoadEngineError
from planner.roads.legs import BATCH_ENTRIES
from planner.roads.osrm import OsrmEngine
from planner.roads.server import OsrmServer, free_port
from planner.run import roads as run_roads
from planner.run.pipeline import plan_files
from planner.settings import RoadSettings, Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def loads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """2,000 parcels around each extract's ZIP codes, two hubs (one of each operator where the draw gives both)."""
    base = tmp_path_factory.mktemp("road-loads")
    out = {}
    for city in ("baltimore", "harrisburg"):
        synth.write_load(base / city, n_parcels=2000, n_hubs=2, seed=3, region=city)
        out[city] = base / city
    return out


def _plan(load: Path, out: Path, roads: RoadSettings) -> dict:
    plan_files(load / "parcels.arrow", load / "hubs.arrow", out, Settings(roads=roads), progress=False)
    return json.loads((out / "summary.json").read_text())


def _route_stops(out: Path, load: Path) -> dict[str, list[tuple[float, float, int]]]:
    """Each route's stops in stop_seq order as (lat, lon, eta_s), a stop at its first parcel's point."""
    parcels = feather.read_table(load / "parcels.arrow").to_pydict()
    where = dict(zip(parcels["parcel_id"], zip(parcels["lat"], parcels["lon"], strict=True), strict=True))
    rows = feather.read_table(out / "assignments.arrow").to_pylist()
    first: dict[tuple[str, int], tuple[float, float, int]] = {}
    for row in rows:  # assignments keep the input order: the first parcel of a stop comes first
        if row["status"] == "planned":
            first.setdefault((row["route_id"], row["stop_seq"]), (*where[row["parcel_id"]], row["eta_s"]))
    routes: dict[str, list[tuple[float, float, int]]] = {}
    for (route, _), point in sorted(first.items()):
        routes.setdefault(route, []).append(point)
    return routes


@pytest.mark.parametrize("city", ["baltimore", "harrisburg"])
def test_road_plan_is_road_figures_and_beats_the_retimed_plan(city, loads, tmp_path, request):
    server: OsrmServer = request.getfixturevalue(city)
    load = loads[city]
    aware = _plan(load, tmp_path / "aware", server.settings())
    retimed = _plan(load, tmp_path / "retimed", server.settings(calibrate=False, resequence_passes=0))
    # the road-aware plan is shorter on roads than the great-circle plan re-timed on roads, with as many parcels
    assert aware["totals"]["parcels_planned"] >= retimed["totals"]["parcels_planned"]
    assert aware["totals"]["distance_km"] < retimed["totals"]["distance_km"]
    assert aware["roads"]["routes"]["road_km"] <= aware["roads"]["routes"]["retimed_km"]
    assert aware["roads"]["requests"]["requests"] > 0 and aware["roads"]["url"] == server.url
    assert aware["roads"]["calibration"]["legs"] == aware["roads"]["node_table"]["entries"]
    calibration = aware["roads"]["calibration"]  # each stop's own circuity, fitted to its own legs
    lo, mid, hi = calibration["stop_circuity_p10_p50_p90"]
    assert 1.0 <= lo <= mid <= hi <= 3.0 and lo < hi and calibration["circuity_stops"] > 0

    hubs = feather.read_table(load / "hubs.arrow").to_pydict()
    hub_at = dict(zip(hubs["hub_id"], zip(hubs["lat"], hubs["lon"], strict=True), strict=True))
    shift = dict(zip(hubs["hub_id"], hubs["shift_s"], strict=True))
    routes = feather.read_table(tmp_path / "aware" / "routes.arrow").to_pylist()
    stops = _route_stops(tmp_path / "aware", load)
    with OsrmEngine(server.settings()) as eng:
        for route in routes:
            pts = stops[route["route_id"]]
            hub = hub_at[route["hub_id"]]
            lat = [hub[0], *(p[0] for p in pts), hub[0]]
            lon = [hub[1], *(p[1] for p in pts), hub[1]]
            # through the points the planner asks the engine for: each stop snapped to its road first (a raw
            # point near a junction can snap to the crossing street in a route request, a detour of up to 1 %)
            snapped = eng.snap(np.array(lat), np.array(lon))
            km, _ = eng.legs(snapped.lat, snapped.lon)
            assert route["distance_km"] == pytest.approx(float(km.sum()), rel=0.005), route["route_id"]
            eta = [p[2] for p in pts]
            assert eta == sorted(eta) and eta[0] > 0
            assert route["duration_s"] <= shift[route["hub_id"]]


def test_the_road_sample_is_linear_in_the_stops_and_the_plan_repeats(loads, baltimore, tmp_path):
    settings = baltimore.settings(neighbours=3)
    small = _plan(loads["baltimore"], tmp_path / "k3", settings)
    _plan(loads["baltimore"], tmp_path / "again", settings)
    for name in ("assignments.arrow", "routes.arrow", "hubs.arrow", "route_shapes.arrow"):
        assert (tmp_path / "k3" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    table = small["roads"]["node_table"]
    n = table["stops"]
    # k legs out and k back per stop, and its hub both ways; a km and a seconds float32 each
    assert table["entries"] == n * (2 * 3 + 2)
    assert table["bytes"] <= n * (4 * 3 + 8 * 3 * 2 + 8 * 2)
    assert small["roads"]["routes"]["largest_batch_entries"] <= BATCH_ENTRIES or small["totals"]["routes"] == 1


def test_a_server_killed_mid_run_leaves_no_output(loads, baltimore_graph, osrm_tools, tmp_path, monkeypatch):
    with OsrmServer(baltimore_graph, tools=osrm_tools) as server:
        real = run_roads.road_plan

        def kill_then_plan(*args, **kwargs):  # type: ignore[no-untyped-def]
            server.kill()
            return real(*args, **kwargs)

        monkeypatch.setattr(run_roads, "road_plan", kill_then_plan)
        with pytest.raises(RoadEngineError) as err:
            _plan(loads["baltimore"], tmp_path / "out", server.settings(retries=1, backoff_s=0.05))
    assert str(err.value).startswith(f"road engine osrm at {server.url}: unreachable (")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left either


def test_an_unreachable_engine_exits_2_before_reading_any_input(tmp_path):
    port = free_port()
    config = tmp_path / "roads.toml"
    config.write_text(f'[roads]\nengine = "osrm"\nurl = "http://127.0.0.1:{port}"\n')
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "planner", "plan", "--parcels", str(tmp_path / "missing.arrow"),
                           "--hubs", str(tmp_path / "missing-hubs.arrow"), "--out", str(tmp_path / "out"),
                           "--config", str(config)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"hexroute: error: road engine osrm at http://127.0.0.1:{port}: unreachable (connection refused)"]
    assert time.monotonic() - start < 30  # interpreter start and imports included
    assert not (tmp_path / "out").exists()


def test_synth_places_a_city_load_on_the_extract(loads):
    parcels = feather.read_table(loads["baltimore"] / "parcels.arrow")
    lat, lon = np.asarray(parcels["lat"]), np.asarray(parcels["lon"])
    assert (lat >= 39.259).all() and (lat <= 39.307).all() and (lon >= -76.608).all() and (lon <= -76.529).all()


def test_the_report_draws_routes_on_their_roads(loads, baltimore, tmp_path):
    from planner.cli import main

    config = tmp_path / "roads.toml"
    config.write_text(f'[roads]\nengine = "osrm"\nurl = "{baltimore.url}"\ngeometry_routes = 3\n')
    load, out = loads["baltimore"], tmp_path / "plan"
    assert main(["plan", "--parcels", str(load / "parcels.arrow"), "--hubs", str(load / "hubs.arrow"),
                 "--out", str(out), "--config", str(config), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    names = {f["name"] for f in manifest["files"]}
    assert {"route_shapes.arrow", "report.html", "report-roads.png"} <= names
    shapes = feather.read_table(out / "route_shapes.arrow").to_pydict()
    routes = feather.read_table(out / "routes.arrow").to_pydict()
    assert sorted(set(shapes["route_id"])) == sorted(routes["route_id"])[:3]
    for rid in set(shapes["route_id"]):
        pts = [i for i, r in enumerate(shapes["route_id"]) if r == rid]
        # hub to hub, along the road: many more points than stops, closed
        n_stops = routes["n_stops"][routes["route_id"].index(rid)]
        assert len(pts) > n_stops
        assert shapes["lat"][pts[0]] == pytest.approx(shapes["lat"][pts[-1]], abs=1e-4)
        assert shapes["point"][pts[0]] == 0 and shapes["point"][pts[-1]] == len(pts) - 1
    assert "report-roads.png" in (out / "report.html").read_text() or "road geometry" in \
        (out / "report.html").read_text()
