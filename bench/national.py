"""National benchmark: synthetic loads planned end to end, and per-hub quality against PyVRP.

    python bench/national.py [--sizes 10000,100000,1000000] [--parcels-per-hub 1000] [--repeats 3]
                             [--backend cpu|cuda] [--time-budget S] [--pyvrp-hubs 5] [--pyvrp-seconds 60]
                             [--json bench/results/national.json]

Each size is synthesized once (national region, seed 1) under
bench/results/data/, then planned ``--repeats`` times, each in a fresh
process (``hexroute plan``) so that peak RSS is the plan's own; the table
gives the median wall time, its stage times, parcels/s, peak RSS and km.

With ``--pyvrp-hubs K`` the largest size's plan is also checked for route
quality: K hubs with 1,000-3,000 planned stops are solved again by PyVRP
with the same stops, vehicles, capacities, shift, distances and service
times (its full distance matrix built for that hub only), and the table gives
hexroute's km / PyVRP's km.
"""
from __future__ import annotations

import argparse
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

from kernels._scalar import reference as scalar  # noqa: E402
from planner.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STAGES = ("validate", "index", "assign", "route", "improve", "schedule", "tables")


def synthesize(n: int, hubs: int, seed: int) -> Path:
    """The load of n parcels (cached on disk)."""
    out = RESULTS / "data" / f"national-{n}-{hubs}-s{seed}"
    if not (out / "parcels.arrow").exists():
        subprocess.run([sys.executable, "-m", "planner.cli", "synth", str(out), "--parcels", str(n), "--hubs",
                        str(hubs), "--seed", str(seed), "--quiet"], check=True, cwd=ROOT)
    return out


def plan_once(data: Path, out: Path, backend: str, budget: float | None) -> dict[str, Any]:
    """One ``hexroute plan`` in a fresh process: wall seconds, peak RSS and its summary."""
    cmd = [sys.executable, "-m", "planner.cli", "plan", "--parcels", str(data / "parcels.arrow"),
           "--hubs", str(data / "hubs.arrow"), "--out", str(out), "--backend", backend, "--quiet", "--no-report",
           "--seed", "1"]
    if budget is not None:
        cmd += ["--time-budget", str(budget)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise RuntimeError(f"hexroute plan failed ({status}): {' '.join(cmd)}")
    summary = json.loads((out / "summary.json").read_text())
    return {"wall_s": wall, "peak_rss_gb": usage.ru_maxrss / 1024**2, "summary": summary}


def bench_size(n: int, hubs: int, repeats: int, backend: str, budget: float | None) -> dict[str, Any]:
    """Median of ``repeats`` plans of one load."""
    data = synthesize(n, hubs, seed=1)
    runs = [plan_once(data, RESULTS / "plans" / f"national-{n}", backend, budget) for _ in range(repeats)]
    walls = [r["wall_s"] for r in runs]
    median = runs[walls.index(sorted(walls)[len(walls) // 2])]
    s = median["summary"]
    return {
        "parcels": n, "hubs": hubs, "repeats": repeats, "wall_s": walls, "median_wall_s": statistics.median(walls),
        "parcels_per_s": n / statistics.median(walls), "peak_rss_gb": max(r["peak_rss_gb"] for r in runs),
        "timings_s": s["timings_s"], "totals": s["totals"], "improve": s["improve"],
        "backend": s["backend"], "device": s["device"], "plan_dir": str(RESULTS / "plans" / f"national-{n}"),
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
        from planner.index import build_stops
        from planner.io import load_inputs

        inputs = load_inputs(data / "parcels.arrow", data / "hubs.arrow")
        self.stops = build_stops(inputs.parcels, settings)
        self.stop = dict(zip(inputs.parcels.column("parcel_id").to_pylist(), self.stops.parcel_stop.tolist()))


def pyvrp_hub(stops: dict, hub: dict, settings: Settings, seconds: float, seed: int) -> dict[str, Any]:
    """Solve one hub's stops with PyVRP (same fleet, distances in metres, durations in seconds)."""
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
    clients = [pyvrp.Client(location=i + 1, delivery=[int(round(k * 100)), int(c)], service_duration=int(round(s)))
               for i, (k, c, s) in enumerate(zip(stops["kg"], stops["n"], service))]
    vehicles = pyvrp.VehicleType(num_available=int(hub["vehicles"]),
                                 capacity=[int(hub["capacity_kg"] * 100), int(min(hub["capacity_parcels"], 2**31 - 1))],
                                 shift_duration=int(hub["shift_s"]))
    data = pyvrp.ProblemData(locations, clients, [pyvrp.Depot(location=0)], [vehicles],
                             [np.rint(km * 1000).astype(np.int64)], [np.floor(secs).astype(np.int64)])
    t0 = time.perf_counter()
    result = pyvrp.solve(data, stop=MaxRuntime(seconds), seed=seed, display=False)
    best = result.best
    return {"km": best.distance() / 1000.0, "routes": best.num_routes(), "feasible": best.is_feasible(),
            "seconds": time.perf_counter() - t0}


def quality(size: dict[str, Any], k: int, seconds: float, stop_range: tuple[int, int] = (1000, 3000)
            ) -> list[dict[str, Any]]:
    """hexroute's km / PyVRP's km on K hubs of 1,000-3,000 planned stops (``stop_range``)."""
    settings = Settings()
    plan_dir, data = Path(size["plan_dir"]), Path(size["data_dir"])
    hubs = feather.read_table(data / "hubs.arrow").to_pylist()
    report = feather.read_table(plan_dir / "hubs.arrow").to_pylist()
    by_id = {h["hub_id"]: h for h in hubs}
    a = feather.read_table(plan_dir / "assignments.arrow", columns=["hub_id", "route_id", "stop_seq"])
    stop_keys: dict[str, set] = {}
    for h, r, s in zip(*(a.column(c).to_pylist() for c in ("hub_id", "route_id", "stop_seq"))):
        if r is not None:
            stop_keys.setdefault(h, set()).add((r, s))
    chosen = sorted((h for h in stop_keys if stop_range[0] <= len(stop_keys[h]) <= stop_range[1]),
                    key=lambda h: (-len(stop_keys[h]), h))[:k]
    rows = []
    lookup = StopLookup(data, settings)
    for hub_id in chosen:
        stops, ours, ours_routes = hub_stops(plan_dir, lookup, hub_id)
        peer = pyvrp_hub(stops, by_id[hub_id], settings, seconds, seed=1)
        deferred = next(r["parcels_deferred"] for r in report if r["hub_id"] == hub_id)
        rows.append({"hub": hub_id, "stops": int(stops["lat"].size), "deferred_parcels": deferred,
                     "hexroute_km": round(ours, 1), "hexroute_routes": ours_routes, "pyvrp_km": round(peer["km"], 1),
                     "pyvrp_routes": peer["routes"], "pyvrp_feasible": peer["feasible"],
                     "pyvrp_s": round(peer["seconds"], 1), "ratio": round(ours / peer["km"], 4)})
    return rows


def table(sizes: list[dict[str, Any]], hubs: list[dict[str, Any]]) -> str:
    """The Markdown tables."""
    lines = ["| parcels | hubs | median wall s | " + " | ".join(STAGES) + " | parcels/s | peak RSS GB | routes | km |",
             "|" + "---:|" * (len(STAGES) + 8)]
    for s in sizes:
        t = s["timings_s"]
        lines.append(f"| {s['parcels']:,} | {s['hubs']:,} | {s['median_wall_s']:.1f} | "
                     + " | ".join(f"{t.get(k, 0):.1f}" for k in STAGES)
                     + f" | {s['parcels_per_s']:,.0f} | {s['peak_rss_gb']:.2f} | {s['totals']['routes']:,} | "
                     f"{s['totals']['distance_km']:,.0f} |")
    if hubs:
        lines += ["", "| hub | stops | hexroute km | routes | PyVRP km | routes | PyVRP s | hexroute / PyVRP |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for h in hubs:
            lines.append(f"| {h['hub']} | {h['stops']:,} | {h['hexroute_km']:,.1f} | {h['hexroute_routes']} | "
                         f"{h['pyvrp_km']:,.1f} | {h['pyvrp_routes']} | {h['pyvrp_s']:.0f} | {h['ratio']:.3f} |")
        lines.append(f"\nmean hexroute / PyVRP: {statistics.mean(h['ratio'] for h in hubs):.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="parcels per load, comma separated")
    p.add_argument("--parcels-per-hub", type=int, default=1000, help="hubs = parcels / this")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--time-budget", type=float, default=None, help="improve seconds (default: the planner's)")
    p.add_argument("--pyvrp-hubs", type=int, default=0, help="hubs of the largest load to compare with PyVRP")
    p.add_argument("--pyvrp-seconds", type=float, default=60.0)
    p.add_argument("--json", default=str(RESULTS / "national.json"))
    args = p.parse_args(argv)
    sizes = [bench_size(n, max(1, n // args.parcels_per_hub), args.repeats, args.backend, args.time_budget)
             for n in (int(x) for x in args.sizes.split(","))]
    hubs = quality(sizes[-1], args.pyvrp_hubs, args.pyvrp_seconds) if args.pyvrp_hubs else []
    print(table(sizes, hubs))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**environment(args.backend), "sizes": sizes, "pyvrp": hubs,
                               "time_budget_s": args.time_budget}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
