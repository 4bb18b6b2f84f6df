"""In-process against a Dask cluster on the same load, and what one Dask task costs.

    python bench/distributed.py [--parcels 1000000] [--hubs 1000] [--workers 2] [--scheduler tcp://host:8786]
                                [--time-cap S] [--max-rounds N] [--group-stops N] [--tasks 500]
                                [--work runs/bench-distributed] [--json out.json]

Synthesizes a national load (``hexroute synth``, seeded) unless it is already
in ``--work``, plans it in-process and then on the cluster (a local one of
``--workers`` processes unless ``--scheduler`` names one), checks that the two
plans' output files are byte-identical, and measures the per-task overhead on
the same cluster: the round trip of one empty task at a time (latency) and
the cost per task of ``--tasks`` empty tasks submitted at once (throughput).
Prints a Markdown table and writes the figures as JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# The repository root replaces this script's folder on the path: here, "distributed" must be Dask's package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench._env import environment  # noqa: E402
from planner.run import runners as dist  # noqa: E402
from planner.run.pipeline import plan_files  # noqa: E402
from planner.settings import ClusterSettings, Settings  # noqa: E402
from planner.synth import write_load  # noqa: E402

OUTPUTS = ("assignments.arrow", "routes.arrow", "hubs.arrow", "rejects.arrow")


def _noop(x: int) -> int:
    return x


def task_overhead(runner: dist.DaskRunner, n_tasks: int, latency_samples: int = 50) -> dict[str, float]:
    """Seconds per empty task: one at a time (round trip) and ``n_tasks`` at once (per task)."""
    client = runner.client
    client.submit(_noop, -1, pure=False).result()  # the function reaches every worker once, untimed
    rtt = []
    for i in range(latency_samples):
        t0 = time.perf_counter()
        client.submit(_noop, i, pure=False).result()
        rtt.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    client.gather(client.map(_noop, range(n_tasks), pure=False))
    batch = time.perf_counter() - t0
    return {"round_trip_median_ms": 1e3 * statistics.median(rtt),
            "round_trip_p90_ms": 1e3 * sorted(rtt)[int(0.9 * len(rtt))],
            "batch_tasks": n_tasks, "batch_per_task_ms": 1e3 * batch / n_tasks}


def timed_plan(data: Path, out: Path, settings: Settings, runner: dist.Runner, group_stops: int) -> dict[str, Any]:
    """Plan the load into ``out``: wall seconds and the summary's stage timings."""
    t0 = time.perf_counter()
    settings = dataclasses.replace(settings, cluster=ClusterSettings(group_stops=group_stops))
    result = plan_files(data / "parcels.arrow", data / "hubs.arrow", out, settings, progress=False, runner=runner)
    wall = time.perf_counter() - t0
    s = result.summary
    return {"wall_s": round(wall, 2), "timings_s": s["timings_s"], "hub_groups": s["hub_groups"],
            "improve": s["improve"], "stops": s["totals"]["stops"], "routes": s["totals"]["routes"],
            "distance_km": s["totals"]["distance_km"]}


def same_outputs(a: Path, b: Path) -> bool:
    """Whether the contract's output tables are byte-identical in both directories."""
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in OUTPUTS)


def _settings(args: argparse.Namespace) -> Settings:
    improve = Settings().improve
    if args.time_budget is not None:
        improve = dataclasses.replace(improve, time_cap_s=args.time_budget)
    if args.max_rounds is not None:
        improve = dataclasses.replace(improve, max_rounds=args.max_rounds)
    return Settings(seed=args.seed, backend="cpu", improve=improve)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the report."""
    work = Path(args.work)
    data = work / f"national-{args.parcels}-{args.hubs}-{args.seed}"
    if not (data / "hubs.arrow").exists():
        write_load(data, args.parcels, args.hubs, seed=args.seed, region="national")
    settings = _settings(args)
    report: dict[str, Any] = {"parcels": args.parcels, "hubs": args.hubs, "seed": args.seed,
                              "group_stops": args.group_stops, "settings": settings.to_dict(),
                              **environment("cpu")}
    report["in_process"] = timed_plan(data, work / "in_process", settings, dist.InProcess(), args.group_stops)
    t0 = time.perf_counter()
    runner = dist.connect(args.scheduler) if args.scheduler else dist.local_cluster(args.workers)
    try:
        report["cluster_start_s"] = round(time.perf_counter() - t0, 2)
        report["cluster"] = timed_plan(data, work / "cluster", settings, runner, args.group_stops)
        report["identical"] = same_outputs(work / "in_process", work / "cluster")
        report["task_overhead"] = task_overhead(runner, args.tasks)
    finally:
        runner.close()
    return report


def markdown(r: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    ip, cl, ov = r["in_process"], r["cluster"], r["task_overhead"]
    stages = list(ip["timings_s"])
    where = cl["hub_groups"]
    lines = [f"{r['parcels']:,} parcels, {r['hubs']:,} hubs, {where['groups']} hub groups of "
             f"~{r['group_stops']:,} stops; {r['machine']['cores']} cores; plans identical: {r['identical']}", "",
             "| run | wall s | " + " | ".join(stages) + " |", "|---|---:|" + "---:|" * len(stages)]
    for name, x in (("in-process", ip), (f"{where['mode']} cluster, {where['workers']} workers", cl)):
        lines.append(f"| {name} | {x['wall_s']:.1f} | " + " | ".join(f"{x['timings_s'][k]:.1f}" for k in stages)
                     + " |")
    worker = "; ".join(f"{n} {x['hub_groups'].get('worker_seconds')}" for n, x in (("in-process", ip), ("cluster", cl)))
    lines += ["", f"cluster start {r['cluster_start_s']:.1f} s; empty task round trip "
              f"{ov['round_trip_median_ms']:.1f} ms median ({ov['round_trip_p90_ms']:.1f} ms p90); "
              f"{ov['batch_tasks']} tasks at once: {ov['batch_per_task_ms']:.2f} ms per task",
              f"route / improve / schedule share the hub groups' wall time; seconds inside the groups: {worker}"]
    return "\n".join(lines)


def main() -> None:
    """Parse the arguments, run, print the table and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parcels", type=int, default=1_000_000)
    p.add_argument("--hubs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="local cluster size (ignored with --scheduler)")
    p.add_argument("--scheduler", default=None, help="an existing Dask scheduler instead of a local cluster")
    p.add_argument("--time-cap", dest="time_budget", type=float, default=None,
                   help="improve cap, s (default: the settings')")
    p.add_argument("--max-rounds", type=int, default=None, help="improve rounds (default: the settings')")
    p.add_argument("--group-stops", type=int, default=ClusterSettings().group_stops)
    p.add_argument("--tasks", type=int, default=500, help="empty tasks in the throughput measurement")
    p.add_argument("--work", default="runs/bench-distributed", help="load and plans go here")
    p.add_argument("--json", default=None, help="write the report here (default: WORK/report.json)")
    args = p.parse_args()
    report = run(args)
    print(markdown(report))
    path = Path(args.json or Path(args.work) / "report.json")
    path.write_text(json.dumps(report, indent=2, sort_keys=True))
    print(f"report in {path}")


if __name__ == "__main__":
    main()
