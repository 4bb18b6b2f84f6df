"""Partnership benchmark: a national synthetic load over several days, shared against separate networks.

    python bench/partnership.py [--parcels-per-day 1000000] [--days 5] [--parcels-per-hub 1000] [--seed 1]
                                [--region national] [--backend cpu|cuda] [--effort S] [--density-scale F]
                                [--out bench/results/partnership] [--keep] [--json bench/results/partnership.json]

The hubs are synthesized once for a day of ``--parcels-per-day`` parcels
(``parcels / --parcels-per-hub`` hubs placed by demand; amazon stations in
metros beside usps post offices) and cached under bench/results/data/. Then
:func:`planner.compare` plans the same synthetic days (day d's parcels drawn
with a seed derived from ``--seed`` and d) twice, shared and separate, in
this process, writing the comparison directory to ``--out`` (removed after
the run unless ``--keep``: at 1M parcels a day it takes about 1 GB).

The area classes come from the parcel density of the day's load (settings
``speeds.urban_density`` and ``speeds.suburban_density``, in parcels per km²
of one day). Their defaults are set for a national day of
``NATIONAL_DAY`` parcels; a load of N parcels a day is a sample of it, so
the thresholds (and with them the speed classes) are scaled by
``--density-scale``, N / NATIONAL_DAY by default (1 keeps the defaults).

Prints both networks' figures side by side as Markdown (the comparison
page's tables), the wall time of each day's plan per network, and writes
JSON with the machine, settings and the whole comparison.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.feather as feather

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._env import environment  # noqa: E402
from planner.report.days import Table, compare_areas_table, comparison_table, difference_table  # noqa: E402
from planner.settings import ImproveSettings, Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: parcels of a national day (DESIGN.md: 10-20 million), the load the default density thresholds are set for
NATIONAL_DAY = 15_000_000


def hubs_for(parcels_per_day: int, n_hubs: int, seed: int, region: str) -> Path:
    """The hubs file of the load (cached on disk)."""
    from planner.synth import make_hubs

    path = RESULTS / "data" / f"partnership-{region}-{parcels_per_day}-{n_hubs}-s{seed}-hubs.arrow"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        table = make_hubs(n_hubs, seed, region, n_parcels=parcels_per_day)
        tmp = path.with_suffix(".part")
        feather.write_feather(table, tmp, compression="uncompressed")
        tmp.replace(path)
    return path


def settings_for(args: argparse.Namespace) -> Settings:
    """The plan settings of every day: backend, seed, improve budget and the scaled density thresholds."""
    base = Settings(backend=args.backend, seed=args.seed)
    scale = args.density_scale if args.density_scale is not None else args.parcels_per_day / NATIONAL_DAY
    speeds = dataclasses.replace(base.speeds, urban_density=base.speeds.urban_density * scale,
                                 suburban_density=base.speeds.suburban_density * scale)
    improve = base.improve if args.effort is None else ImproveSettings(effort_s=args.effort)
    return base.replace(speeds=speeds, improve=improve)


def markdown(t: Table) -> str:
    """One of the report's tables as Markdown (first column left, the others right aligned)."""
    lines = [f"**{t.title}**", "", "| " + " | ".join(t.columns) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(t.columns) - 1)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines)


def days_markdown(document: dict[str, Any]) -> str:
    """Per day and network: parcels planned, backlog after the day, and the plan's wall time."""
    lines = ["**Each day's plan**", "", "| day | network | planned | backlog after | unassigned | plan wall s |",
             "|---:|---|---:|---:|---:|---:|"]
    for k in range(document["days"]):
        for net in ("shared", "separate"):
            d = document["per_day"][net][k]
            lines.append(f"| {d['day']} | {net} | {d['planned']:,} | {d['backlog']:,} | {d['unassigned']:,} "
                         f"| {d['wall_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parcels-per-day", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--parcels-per-hub", type=int, default=1000, help="hubs = parcels per day / this")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--region", default="national")
    p.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--effort", type=float, default=None, help="improve effort, reference s (default: the planner's)")
    p.add_argument("--density-scale", type=float, default=None,
                   help="factor on the urban/suburban density thresholds (default: parcels per day / 15M)")
    p.add_argument("--out", default=str(RESULTS / "partnership"))
    p.add_argument("--keep", action="store_true", help="keep the comparison directory")
    p.add_argument("--json", default=str(RESULTS / "partnership.json"))
    args = p.parse_args(argv)

    import planner
    from planner.simulate import Synthetic

    n_hubs = max(1, args.parcels_per_day // args.parcels_per_hub)
    hubs_path = hubs_for(args.parcels_per_day, n_hubs, args.seed, args.region)
    hubs = feather.read_table(hubs_path)
    settings = settings_for(args)
    source = Synthetic(args.region, args.parcels_per_day, args.days, args.seed, hubs)
    t0 = time.perf_counter()
    result = planner.compare(source, hubs_path, settings, out=args.out, progress=False)
    wall = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    doc = result.document
    speeds = settings.speeds
    print(f"# Partnership: {args.parcels_per_day:,} parcels a day over {args.days} days, {n_hubs:,} hubs "
          f"({args.region}, seed {args.seed}, backend {settings.backend})\n")
    print(f"area classes: urban >= {speeds.urban_density:g}, suburban >= {speeds.suburban_density:g} parcels/km²; "
          f"wall {wall:,.0f} s for both networks, peak RSS {peak_gb:.2f} GB\n")
    for t in (comparison_table(doc), compare_areas_table(doc), difference_table(doc)):
        print(markdown(t) + "\n")
    print(days_markdown(doc))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**environment(args.backend), "parcels_per_day": args.parcels_per_day,
                               "days": args.days, "hubs": n_hubs, "seed": args.seed, "region": args.region,
                               "wall_s": round(wall, 1), "peak_rss_gb": round(peak_gb, 3),
                               "settings": settings.to_dict(), "comparison": doc}, indent=2))
    print(f"\nwrote {out}")
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    else:
        print(f"comparison directory: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
