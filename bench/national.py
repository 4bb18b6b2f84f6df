"""National benchmark: synthetic loads planned end to end, and per-hub quality against PyVRP.

    python bench/national.py [--sizes 10000,100000,1000000] [--parcels-per-hub 1000] [--repeats 3]
                             [--backend cpu|cuda] [--effort S] [--pyvrp-hubs 5] [--pyvrp-seconds 60]
                             [--hexroute-effort 20] [--curve 300,1200] [--pyvrp-cache bench/results/pyvrp_hubs.json]
                             [--reuse-plan] [--json bench/results/national.json]

Each size is synthesized once (national region, seed 1) under
bench/results/data/, then planned ``--repeats`` times, each in a fresh
process (``hexroute plan``) so that peak RSS is the plan's own; the table
gives the median wall time, its stage times, parcels/s, peak RSS and km.

With ``--pyvrp-hubs K`` the largest size's plan is also checked for route
quality: K hubs with 1,000-3,000 planned stops become loads of their own
(the parcels the national plan planned there, and that hub's row), each
planned by hexroute in this process with an effort of ``--hexroute-effort``
reference seconds and the explicit settings of :data:`HUB_SETTINGS`, and
solved by PyVRP with the same stops,
vehicles, capacities, shift, distances and service times (its full distance
matrix built for that hub only) for ``--pyvrp-seconds``. Both totals are
recomputed by one independent function from the route stop sequences
(:func:`tour_km`), and the table gives hexroute's km / PyVRP's km for the
per-hub plan and, as a second column, for that hub's share of the national
plan. PyVRP's results are cached in ``--pyvrp-cache`` (keyed by hub, its
stops and the budget); ``--reuse-plan`` takes the largest size's existing
plan instead of planning it again. ``--curve E1,E2`` plans the largest size
again at those efforts (each in a fresh process) and tabulates km, the
national plan's ratio to PyVRP on the same hubs, and wall time: how effort
turns into shorter routes.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.feather as feather

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._env import environment  # noqa: E402
from kernels._scalar import EARTH_RADIUS_KM  # noqa: E402
from kernels._scalar import reference as scalar  # noqa: E402
from planner.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STAGES = ("compile", "validate", "index", "assign", "route", "improve", "schedule", "tables")
#: hexroute's settings for the per-hub plans of the quality check; the improve budget is added by
#: :func:`hub_settings`
HUB_SETTINGS: dict[str, Any] = {"seed": 1, "backend": "cpu", "improve": {}}


def hub_settings(effort: float) -> Settings:
    """:data:`HUB_SETTINGS` with an improve effort of ``effort`` reference seconds."""
    return Settings.from_dict({**HUB_SETTINGS, "improve": {**HUB_SETTINGS["improve"], "effort_s": effort}})


def synthesize(n: int, hubs: int, seed: int) -> Path:
    """The load of n parcels (cached on disk)."""
    out = RESULTS / "data" / f"national-{n}-{hubs}-s{seed}"
    if not (out / "parcels.arrow").exists():
        subprocess.run([sys.executable, "-m", "planner.cli", "synth", str(out), "--parcels", str(n), "--hubs",
                        str(hubs), "--seed", str(seed), "--quiet"], check=True, cwd=ROOT)
    return out


def plan_once(data: Path, out: Path, backend: str, effort: float | None) -> dict[str, Any]:
    """One ``hexroute plan`` in a fresh process: wall seconds, peak RSS and its summary."""
    cmd = [sys.executable, "-m", "planner.cli", "plan", "--parcels", str(data / "parcels.arrow"),
           "--hubs", str(data / "hubs.arrow"), "--out", str(out), "--backend", backend, "--quiet", "--no-report",
           "--seed", "1"]
    if effort is not None:
        cmd += ["--effort", str(effort)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise RuntimeError(f"hexroute plan failed ({status}): {' '.join(cmd)}")
    summary = json.loads((out / "summary.json").read_text())
    return {"wall_s": wall, "peak_rss_gb": usage.ru_maxrss / 1024**2, "summary": summary}


def bench_size(n: int, hubs: int, repeats: int, backend: str, effort: float | None, tag: str = "") -> dict[str, Any]:
    """Median of ``repeats`` plans of one load."""
    data = synthesize(n, hubs, seed=1)
    runs = [plan_once(data, RESULTS / "plans" / f"national-{n}{tag}", backend, effort) for _ in range(repeats)]
    walls = [r["wall_s"] for r in runs]
    median = runs[walls.index(sorted(walls)[len(walls) // 2])]
    s = median["summary"]
    return {
        "parcels": n, "hubs": hubs, "repeats": repeats, "wall_s": walls, "median_wall_s": statistics.median(walls),
        "parcels_per_s": n / statistics.median(walls), "peak_rss_gb": max(r["peak_rss_gb"] for r in runs),
        "timings_s": s["timings_s"], "totals": s["totals"], "improve": s["improve"],
        "backend": s["backend"], "device": s["device"], "plan_dir": str(RESULTS / "plans" / f"national-{n}{tag}"),
        "device_memory": s["hub_groups"].get("device_memory"), "transfers": s["hub_groups"].get("transfers"),
        "data_dir": str(data),
    }


def hub_stops(plan_dir: Path, stops_of: "StopLookup", hub_id: str) -> tuple[dict, float, int]:
    """The planned stops of one hub as the planner built them, and hexroute's km and routes there."""
    a = feather.read_table(plan_dir / "assignments.arrow")
    routes = feather.read_table(plan_dir / "routes.arrow").to_pydict()
    mask = (np.array(a.column("hub_id").to_pylist(), dtype=object) == hub_id) & (
        np.array(a.column("status").to_pylist(), dtype=object) == "planned")
    ids = np.array(a.column("parcel_id").to_pylist(), dtype=object)[mask]
    stop = np.unique([stops_of.stop[p] for p in ids])
    s = stops_of.stops
    stops = {"lat": s.lat[stop], "lon": s.lon[stop], "kg": s.weight_kg[stop], "n": s.n_parcels[stop],
             "speed_kmh": s.speed_kmh[stop], "service_s": s.service_s[stop]}
    km = sum(d for d, h in zip(routes["distance_km"], routes["hub_id"]) if h == hub_id)
    n_routes = sum(1 for h in routes["hub_id"] if h == hub_id)
    return stops, km, n_routes


class StopLookup:
    """The planner's stops of a load (index stage, same settings), and each parcel's stop."""

    def __init__(self, data: Path, settings: Settings):
        from planner.contract import load_inputs
        from planner.contract.arrays import parcels_model
        from planner.stages.index import build_stops

        inputs = load_inputs(data / "parcels.arrow", data / "hubs.arrow")
        self.stops = build_stops(parcels_model(inputs.parcels), settings)
        self.stop = dict(zip(inputs.parcels.column("parcel_id").to_pylist(), self.stops.parcel_stop.tolist()))


def pyvrp_hub(stops: dict, hub: dict, settings: Settings, seconds: float, seed: int) -> dict[str, Any]:
    """Solve one hub's stops with PyVRP (same fleet; distances in metres, durations in milliseconds)."""
    import pyvrp
    from pyvrp.stop import MaxRuntime

    lat = np.concatenate([[hub["lat"]], stops["lat"]])
    lon = np.concatenate([[hub["lon"]], stops["lon"]])
    km = settings.circuity * np.vectorize(scalar.haversine_km)(lat[:, None], lon[:, None], lat[None, :],
                                                               lon[None, :])
    speed = np.concatenate([[settings.speeds.suburban_kmh], stops["speed_kmh"]])
    secs = scalar.leg_seconds(km, speed[:, None], speed[None, :])
    service = stops["service_s"]
    locations = [pyvrp.Location(x=float(lo), y=float(la)) for la, lo in zip(lat, lon)]
    clients = [pyvrp.Client(location=i + 1, delivery=[int(round(k * 100)), int(c)],
                            service_duration=int(round(s * 1000)))
               for i, (k, c, s) in enumerate(zip(stops["kg"], stops["n"], service))]
    vehicles = pyvrp.VehicleType(num_available=int(hub["vehicles"]),
                                 capacity=[int(hub["capacity_kg"] * 100), int(min(hub["capacity_parcels"], 2**31 - 1))],
                                 shift_duration=int(hub["shift_s"]) * 1000)
    data = pyvrp.ProblemData(locations, clients, [pyvrp.Depot(location=0)], [vehicles],
                             [np.rint(km * 1000).astype(np.int64)], [np.rint(secs * 1000).astype(np.int64)])
    t0, c0 = time.perf_counter(), time.process_time()
    result = pyvrp.solve(data, stop=MaxRuntime(seconds), seed=seed, display=False)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    best = result.best
    tours = [[int(a.idx) for a in route if a.is_client()] for route in best.routes()]
    return {"km": best.distance() / 1000.0, "routes": best.num_routes(), "feasible": best.is_feasible(),
            "seconds": elapsed, "cpu_s": cpu, "iterations": result.num_iterations, "load_average": os.getloadavg()[0],
            "vehicles": int(hub["vehicles"]), "tours": tours}


def _legs_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle km of consecutive points, NumPy haversine (independent of the planner's kernels)."""
    la, lo = np.radians(lat), np.radians(lon)
    h = np.sin(np.diff(la) / 2) ** 2 + np.cos(la[:-1]) * np.cos(la[1:]) * np.sin(np.diff(lo) / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def tour_km(tours: list[list[int]], stops: dict, depot: tuple[float, float], circuity: float) -> float:
    """Total km of ``tours`` (stop indices, depot excluded), haversine x circuity from the coordinates."""
    total = 0.0
    for t in tours:
        total += float(_legs_km(np.r_[depot[0], stops["lat"][t], depot[0]],
                                np.r_[depot[1], stops["lon"][t], depot[1]]).sum())
    return circuity * total


def tour_check(tours: list[list[int]], stops: dict, hub: dict, settings: Settings) -> dict[str, Any]:
    """Each stop once, routes within the fleet, kg and parcel capacities and the shift (exact seconds)."""
    seen = np.zeros(stops["lat"].size, dtype=np.int64)
    worst_s = worst_kg = worst_n = 0.0
    for t in tours:
        seen[t] += 1
        km = settings.circuity * _legs_km(np.r_[hub["lat"], stops["lat"][t], hub["lat"]],
                                          np.r_[hub["lon"], stops["lon"][t], hub["lon"]])
        speed = np.r_[settings.speeds.suburban_kmh, stops["speed_kmh"][t], settings.speeds.suburban_kmh]
        seconds = float((km * 1800.0 * (1.0 / speed[:-1] + 1.0 / speed[1:])).sum() + stops["service_s"][t].sum())
        worst_s = max(worst_s, seconds / hub["shift_s"])
        worst_kg = max(worst_kg, float(stops["kg"][t].sum()) / hub["capacity_kg"])
        worst_n = max(worst_n, float(stops["n"][t].sum()) / hub["capacity_parcels"])
    ok = bool((seen == 1).all()) and len(tours) <= hub["vehicles"] and max(worst_s, worst_kg, worst_n) <= 1 + 1e-9
    return {"feasible": ok, "missing_stops": int((seen == 0).sum()), "repeated_stops": int((seen > 1).sum()),
            "max_shift_use": round(worst_s, 4), "max_kg_use": round(worst_kg, 4), "max_parcels_use": round(worst_n, 4)}


def choose_hubs(plan_dir: Path, k: int, stop_range: tuple[int, int]) -> list[str]:
    """The ``k`` hubs with the most planned stops within ``stop_range`` (ties by hub id)."""
    a = feather.read_table(plan_dir / "assignments.arrow", columns=["hub_id", "route_id", "stop_seq"])
    stop_keys: dict[str, set] = {}
    for h, r, s in zip(*(a.column(c).to_pylist() for c in ("hub_id", "route_id", "stop_seq"))):
        if r is not None:
            stop_keys.setdefault(h, set()).add((r, s))
    return sorted((h for h in stop_keys if stop_range[0] <= len(stop_keys[h]) <= stop_range[1]),
                  key=lambda h: (-len(stop_keys[h]), h))[:k]


def hub_load(plan_dir: Path, data: Path, hub_id: str) -> Path:
    """A load of its own (cached on disk): the parcels the national plan planned at ``hub_id``, and its row."""
    out = data.parent / f"{data.name}-hub-{hub_id}"
    if not (out / "parcels.arrow").exists():
        import pyarrow.compute as pc

        a = feather.read_table(plan_dir / "assignments.arrow", columns=["parcel_id", "hub_id", "status"])
        keep = a.filter(pc.and_(pc.equal(a["hub_id"], hub_id), pc.equal(a["status"], "planned")))["parcel_id"]
        parcels = feather.read_table(data / "parcels.arrow")
        hubs = feather.read_table(data / "hubs.arrow")
        out.mkdir(parents=True, exist_ok=True)
        feather.write_feather(parcels.filter(pc.is_in(parcels["parcel_id"], value_set=keep)), out / "parcels.arrow")
        feather.write_feather(hubs.filter(pc.equal(hubs["hub_id"], hub_id)), out / "hubs.arrow")
    return out


def hexroute_hub(load: Path, lookup: StopLookup, settings: Settings) -> dict[str, Any]:
    """Plan one hub's load with hexroute in this process; its km, routes, seconds and stop sequences."""
    from planner.run.pipeline import plan

    parcels = feather.read_table(load / "parcels.arrow")
    hubs = feather.read_table(load / "hubs.arrow")
    t0, c0 = time.perf_counter(), time.process_time()
    result = plan(parcels, hubs, settings, progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    a = result.assignments.to_pydict()
    by_route: dict[str, dict[int, int]] = {}
    for pid, route, seq in zip(a["parcel_id"], a["route_id"], a["stop_seq"]):
        if route is not None:
            by_route.setdefault(route, {})[seq] = lookup.stop[pid]
    tours = [[stops[q] for q in sorted(stops)] for _, stops in sorted(by_route.items())]
    status = a["status"]
    return {"km": float(sum(result.routes.column("distance_km").to_pylist())), "routes": result.routes.num_rows,
            "seconds": seconds, "cpu_s": cpu, "improve_s": result.summary["timings_s"]["improve"],
            "load_average": os.getloadavg()[0],
            "stopped_by_clock": result.improve.stopped_by_clock if result.improve else False,
            "parcels": len(status), "parcels_not_planned": sum(1 for x in status if x != "planned"),
            "tours": tours}


def _pyvrp_cached(cache: Path, hub_id: str, stops: dict, hub: dict, settings: Settings, seconds: float
                  ) -> dict[str, Any]:
    """PyVRP's result for one hub, from ``cache`` when it holds one for these stops and this budget."""
    key = (f"{hub_id}:{stops['lat'].size}:{float(np.sum(stops['kg'])):.3f}:"
           f"{float(np.sum(stops['speed_kmh'])):.1f}:{seconds:g}")
    store = json.loads(cache.read_text()) if cache.exists() else {}
    if key not in store:
        store[key] = pyvrp_hub(stops, hub, settings, seconds, seed=1)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(store))
    return store[key]


def quality(size: dict[str, Any], k: int, seconds: float, hex_effort: float, cache: Path,
            stop_range: tuple[int, int] = (1000, 3000)) -> list[dict[str, Any]]:
    """hexroute's km / PyVRP's km on K hubs of 1,000-3,000 planned stops (``stop_range``), each its own load."""
    settings = hub_settings(hex_effort)
    plan_dir, data = Path(size["plan_dir"]), Path(size["data_dir"])
    by_id = {h["hub_id"]: h for h in feather.read_table(data / "hubs.arrow").to_pylist()}
    chosen = choose_hubs(plan_dir, k, stop_range)
    national = StopLookup(data, settings)
    rows = []
    if chosen:  # load the compiled kernels from Numba's cache before the timed runs
        from planner.run.pipeline import plan

        load = hub_load(plan_dir, data, chosen[0])
        plan(feather.read_table(load / "parcels.arrow").slice(0, 300), feather.read_table(load / "hubs.arrow"),
             settings.replace(improve=dataclasses.replace(settings.improve, effort_s=0.01)), progress=False)
    for hub_id in chosen:
        hub = by_id[hub_id]
        depot = (hub["lat"], hub["lon"])
        _, national_km, national_routes = hub_stops(plan_dir, national, hub_id)
        load = hub_load(plan_dir, data, hub_id)
        lookup = StopLookup(load, settings)
        s = lookup.stops
        stops = {"lat": s.lat, "lon": s.lon, "kg": s.weight_kg, "n": s.n_parcels, "speed_kmh": s.speed_kmh,
                 "service_s": s.service_s}
        own = np.fromiter(lookup.stop.values(), dtype=np.int64)  # each parcel's stop, per-hub and national
        theirs = np.fromiter((national.stop[q] for q in lookup.stop), dtype=np.int64)
        speed_differs = int(np.unique(own[s.speed_kmh[own] != national.stops.speed_kmh[theirs]]).size)
        ours = hexroute_hub(load, lookup, settings)
        peer = _pyvrp_cached(cache, hub_id, stops, hub, settings, seconds)
        ours_km = tour_km(ours["tours"], stops, depot, settings.circuity)
        peer_km = tour_km(peer["tours"], stops, depot, settings.circuity)
        rows.append({
            "hub": hub_id, "stops": int(s.lat.size), "vehicles": int(hub["vehicles"]),
            "stops_with_other_speed_than_national": speed_differs,
            "hexroute_km": round(ours_km, 1), "hexroute_reported_km": round(ours["km"], 1),
            "hexroute_routes": ours["routes"], "hexroute_s": round(ours["seconds"], 1),
            "hexroute_cpu_s": round(ours["cpu_s"], 1), "hexroute_load_average": round(ours["load_average"], 2),
            "hexroute_improve_s": round(ours["improve_s"], 1), "hexroute_stopped_by_clock": ours["stopped_by_clock"],
            "hexroute_parcels_not_planned": ours["parcels_not_planned"],
            "hexroute_check": tour_check(ours["tours"], stops, hub, settings),
            "pyvrp_km": round(peer_km, 1), "pyvrp_reported_km": round(peer["km"], 1), "pyvrp_routes": peer["routes"],
            "pyvrp_feasible": peer["feasible"], "pyvrp_s": round(peer["seconds"], 1),
            "pyvrp_cpu_s": round(peer["cpu_s"], 1), "pyvrp_iterations": peer["iterations"],
            "pyvrp_load_average": round(peer["load_average"], 2),
            "pyvrp_check": tour_check(peer["tours"], stops, hub, settings),
            "ratio": round(ours_km / peer_km, 4),
            "national_km": round(national_km, 1), "national_routes": national_routes,
            "national_ratio": round(national_km / peer_km, 4)})
    return rows


def table(sizes: list[dict[str, Any]], hubs: list[dict[str, Any]]) -> str:
    """The Markdown tables."""
    lines = ["| parcels | hubs | median wall s | " + " | ".join(STAGES) + " | parcels/s | peak RSS GB | routes | km |",
             "|" + "---:|" * (len(STAGES) + 7)]
    for s in sizes:
        t = s["timings_s"]
        wall = "-" if s["median_wall_s"] is None else f"{s['median_wall_s']:.1f}"
        rate = "-" if s["parcels_per_s"] is None else f"{s['parcels_per_s']:,.0f}"
        rss = "-" if s["peak_rss_gb"] is None else f"{s['peak_rss_gb']:.2f}"
        lines.append(f"| {s['parcels']:,} | {s['hubs']:,} | {wall} | "
                     + " | ".join(f"{t.get(k, 0):.1f}" for k in STAGES)
                     + f" | {rate} | {rss} | {s['totals']['routes']:,} | {s['totals']['distance_km']:,.0f} |")
    device = [s for s in sizes if s.get("device_memory")]
    if device:
        lines += ["", "| parcels | peak device memory GB | host->device GB | device->host GB |",
                  "|---:|---:|---:|---:|"]
        for s in device:
            moved = {way: sum(stage[way] for stage in s["transfers"].values()) / 1e9 for way in ("h2d_bytes",
                                                                                                 "d2h_bytes")}
            lines.append(f"| {s['parcels']:,} | {s['device_memory']['peak_bytes'] / 1e9:.2f} | "
                         f"{moved['h2d_bytes']:.2f} | {moved['d2h_bytes']:.2f} |")
    if hubs:
        lines += ["", ("| hub | stops | vehicles | hexroute km | routes | hexroute s | PyVRP km | routes | PyVRP s "
                       "| PyVRP CPU s | feasible (ours / PyVRP) | hexroute / PyVRP | national plan km "
                       "| national / PyVRP |"),
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
        for h in hubs:
            ok = " / ".join("yes" if h[f"{who}_check"]["feasible"] else "NO" for who in ("hexroute", "pyvrp"))
            lines.append(f"| {h['hub']} | {h['stops']:,} | {h['vehicles']} | {h['hexroute_km']:,.1f} | "
                         f"{h['hexroute_routes']} | {h['hexroute_s']:.1f} | {h['pyvrp_km']:,.1f} | "
                         f"{h['pyvrp_routes']} | {h['pyvrp_s']:.0f} | {h['pyvrp_cpu_s']:.0f} | {ok} | "
                         f"{h['ratio']:.3f} | {h['national_km']:,.1f} | {h['national_ratio']:.3f} |")
        lines.append(f"\nmean hexroute / PyVRP: {statistics.mean(h['ratio'] for h in hubs):.3f} per-hub plans, "
                     f"{statistics.mean(h['national_ratio'] for h in hubs):.3f} national plan")
        gap = {who: max(abs(h[f"{who}_km"] - h[f"{who}_reported_km"]) for h in hubs) for who in ("hexroute", "pyvrp")}
        lines.append(f"largest |reported - recomputed| km: hexroute {gap['hexroute']:.1f}, PyVRP {gap['pyvrp']:.1f}; "
                     f"parcels not planned by hexroute: {sum(h['hexroute_parcels_not_planned'] for h in hubs)}; "
                     f"improve stopped by the clock: {sum(h['hexroute_stopped_by_clock'] for h in hubs)} of "
                     f"{len(hubs)}")
    return "\n".join(lines)


def curve(size: dict[str, Any], hubs: list[dict[str, Any]], efforts: list[float], backend: str) -> list[dict[str, Any]]:
    """The largest load planned again at each effort: km, the national plan's ratio to PyVRP on the quality
    check's hubs, wall time."""
    rows = [{"effort_s": size["improve"].get("effort_s"), "wall_s": size["median_wall_s"],
             "km": size["totals"]["distance_km"], "ratios": [h["national_ratio"] for h in hubs]}]
    data = Path(size["data_dir"])
    national = StopLookup(data, hub_settings(1.0)) if hubs else None
    for effort in efforts:
        other = bench_size(size["parcels"], size["hubs"], 1, backend, effort, tag=f"-effort{effort:g}")
        ratios = [hub_stops(Path(other["plan_dir"]), national, h["hub"])[1] / h["pyvrp_km"] for h in hubs]
        rows.append({"effort_s": effort, "wall_s": other["median_wall_s"], "km": other["totals"]["distance_km"],
                     "ratios": ratios})
    return rows


def curve_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: effort, wall, km, mean and worst national / PyVRP."""
    lines = ["| effort s | wall s | km | mean national / PyVRP | worst |", "|---:|---:|---:|---:|---:|"]
    for r in rows:
        mean = f"{statistics.mean(r['ratios']):.3f}" if r["ratios"] else "-"
        worst = f"{max(r['ratios']):.3f}" if r["ratios"] else "-"
        effort = "-" if r["effort_s"] is None else f"{r['effort_s']:g}"
        wall = "-" if r["wall_s"] is None else f"{r['wall_s']:.1f}"  # None: a reused plan, not timed here
        lines.append(f"| {effort} | {wall} | {r['km']:,.0f} | {mean} | {worst} |")
    return "\n".join(lines)


def reused_size(n: int, hubs: int, backend: str, effort: float | None) -> dict[str, Any]:
    """The existing plan of a load (``--reuse-plan``; planned once if there is none): its summary, no timing."""
    plan_dir = RESULTS / "plans" / f"national-{n}"
    if not (plan_dir / "summary.json").exists():
        plan_once(synthesize(n, hubs, seed=1), plan_dir, backend, effort)
    s = json.loads((plan_dir / "summary.json").read_text())
    return {"parcels": n, "hubs": hubs, "repeats": 0, "wall_s": [], "median_wall_s": None, "parcels_per_s": None,
            "peak_rss_gb": None, "timings_s": s["timings_s"], "totals": s["totals"], "improve": s["improve"],
            "backend": s["backend"], "device": s["device"], "plan_dir": str(plan_dir),
            "data_dir": str(synthesize(n, hubs, seed=1))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="parcels per load, comma separated")
    p.add_argument("--parcels-per-hub", type=int, default=1000, help="hubs = parcels / this")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--effort", type=float, default=None, help="improve effort, reference s (default: the planner's)")
    p.add_argument("--pyvrp-hubs", type=int, default=0, help="hubs of the largest load to compare with PyVRP")
    p.add_argument("--pyvrp-seconds", type=float, default=60.0)
    p.add_argument("--hexroute-effort", type=float, default=20.0,
                   help="improve effort of each per-hub plan, in reference seconds")
    p.add_argument("--curve", default="", help="more efforts for the largest size, comma separated (e.g. 300,1200)")
    p.add_argument("--pyvrp-cache", default=str(RESULTS / "pyvrp_hubs.json"))
    p.add_argument("--reuse-plan", action="store_true", help="take the largest size's existing plan")
    p.add_argument("--json", default=str(RESULTS / "national.json"))
    args = p.parse_args(argv)
    counts = [int(x) for x in args.sizes.split(",")]
    sizes = [bench_size(n, max(1, n // args.parcels_per_hub), args.repeats, args.backend, args.effort)
             for n in (counts[:-1] if args.reuse_plan else counts)]
    if args.reuse_plan:
        sizes.append(reused_size(counts[-1], max(1, counts[-1] // args.parcels_per_hub), args.backend,
                                 args.effort))
    hubs = (quality(sizes[-1], args.pyvrp_hubs, args.pyvrp_seconds, args.hexroute_effort, Path(args.pyvrp_cache))
            if args.pyvrp_hubs else [])
    print(table(sizes, hubs))
    efforts = [float(x) for x in args.curve.split(",") if x]
    rows = curve(sizes[-1], hubs, efforts, args.backend) if efforts else []
    if rows:
        print("\n" + curve_table(rows))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**environment(args.backend), "sizes": sizes, "pyvrp": hubs, "curve": rows,
                               "effort_s": args.effort, "hub_settings": hub_settings(args.hexroute_effort).to_dict()},
                              indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
