"""Plans on real roads: the road-aware plan against the great-circle plan re-timed on roads, per city.

For each city extract in data/roads (Baltimore, Harrisburg) this synthesizes
a load around the extract's ZIP codes (two hubs), starts ``osrm-routed`` on
a loopback port, and plans the load three ways, each in its own process so
that its peak RSS is its own:

- ``great-circle``: no road engine (the figures are estimates);
- ``re-timed``: the same search, its routes' legs then taken from the roads
  (``roads.calibrate = false``, ``roads.resequence_passes = 0``);
- ``road-aware``: the search on estimates calibrated to the road sample, the
  routes re-sequenced on their road matrices, all figures road figures.

It prints a Markdown table and writes JSON (machine, versions, sizes).

    .venv/bin/python bench/road_plans.py                      # both cities, 2,000 and 5,000 parcels
    .venv/bin/python bench/road_plans.py --cities baltimore --parcels 2000
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._env import environment  # noqa: E402

MODES = {"great-circle": None, "re-timed": {"calibrate": False, "resequence_passes": 0}, "road-aware": {}}


def _one(parcels: Path, hubs: Path, out: Path, url: str | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    """Plan once in this process; the figures the table needs."""
    from planner.run.pipeline import plan_files
    from planner.settings import RoadSettings, Settings

    roads = RoadSettings() if url is None else RoadSettings(engine="osrm", url=url, **(extra or {}))
    t0 = time.perf_counter()
    result = plan_files(parcels, hubs, out, Settings(roads=roads), progress=False)
    wall = time.perf_counter() - t0
    s = result.summary
    road = s.get("roads") or {}
    return {"distance_km": s["totals"]["distance_km"], "routes": s["totals"]["routes"],
            "parcels_planned": s["totals"]["parcels_planned"], "wall_s": round(wall, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "requests": road.get("requests", {}).get("requests", 0),
            "engine_wall_s": road.get("requests", {}).get("wall_s", 0.0),
            "stages_s": {k: v for k, v in s["timings_s"].items() if k in ("roads", "road legs", "improve")},
            "roads": road.get("routes"), "calibration": road.get("calibration")}


def _child(args: argparse.Namespace) -> int:
    extra = json.loads(args.extra) if args.extra else None
    print(json.dumps(_one(args.parcels_path, args.hubs, args.out, args.url, extra)))
    return 0


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| city | parcels | plan | road km | routes | planned | requests | engine s | plan s | peak RSS MB |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        km = r["distance_km"] if r["plan"] != "great-circle" else f"({r['distance_km']:,.1f} estimated)"
        km = f"{km:,.1f}" if isinstance(km, float) else km
        lines.append(f"| {r['city']} | {r['parcels']:,} | {r['plan']} | {km} | {r['routes']} | "
                     f"{r['parcels_planned']:,} | {r['requests']:,} | {r['engine_wall_s']:.1f} | {r['wall_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", default="baltimore,harrisburg")
    parser.add_argument("--parcels", default="2000,5000", help="load sizes, comma-separated")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "results" / "osrm-graphs")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "road_plans.json")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--parcels-file", dest="parcels_path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hubs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--extra", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        return _child(args)

    from planner import synth
    from planner.roads.server import running_server

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for city in args.cities.split(","):
            with running_server(ROOT / "data" / "roads" / f"{city}.osm.pbf", args.cache) as server:
                for n in (int(x) for x in args.parcels.split(",")):
                    load = Path(tmp) / f"{city}-{n}"
                    synth.write_load(load, n_parcels=n, n_hubs=2, seed=args.seed, region=city)
                    for mode, extra in MODES.items():
                        cmd = [sys.executable, __file__, "--one", "--parcels-file", str(load / "parcels.arrow"),
                               "--hubs", str(load / "hubs.arrow"), "--out", str(load / mode)]
                        if mode != "great-circle":
                            cmd += ["--url", server.url, "--extra", json.dumps(extra)]
                        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                        row = {"city": city, "parcels": n, "plan": mode, **json.loads(done.stdout.splitlines()[-1])}
                        rows.append(row)
                        print(f"{city} {n} {mode}: {row['distance_km']:,.1f} km, {row['routes']} routes, "
                              f"{row['parcels_planned']} planned, {row['wall_s']} s", file=sys.stderr)
    table = _markdown(rows)
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"environment": environment(), "rows": rows, "markdown": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
