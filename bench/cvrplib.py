"""CVRPLIB benchmark: hexroute against PyVRP, OR-Tools and VROOM at the same time budget.

    python bench/cvrplib.py [INSTANCE ...] [--seconds 10] [--seed 0]
                            [--solvers hexroute,pyvrp,ortools,vroom] [--json out.json]

Instances are names or paths of .vrp files (default: every .vrp in
``../shared/bench-data/cvrplib``; BKS from its ``BKS.csv``). Solvers run one
after another, never side by side, so each has the machine to itself. Every
solution is checked (each customer once, no route over capacity) and its
cost recomputed from the coordinates by :func:`planner.cvrp.solution_cost`,
not taken from the solver. A peer that is not installed is skipped with a
note. Prints a Markdown table and writes the run as JSON (machine, library
versions, budget, per-instance results).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner import cvrp  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "bench-data" / "cvrplib"
Routes = list[list[int]]


@dataclass(frozen=True)
class Solver:
    """A solver under test: its package (for the version) and ``run(path, instance, seconds, seed)``."""

    name: str
    package: str | None
    run: Callable[[Path, cvrp.Instance, float, int], Routes]
    note: str


def _fleet(path: Path, instance: cvrp.Instance) -> int:
    """Vehicles offered to fixed-fleet solvers: the ``-kK`` of the name (or a capacity bound) plus slack."""
    match = re.search(r"-k(\d+)", path.stem)
    k = int(match.group(1)) if match else math.ceil(instance.demand.sum() / instance.capacity)
    return k + max(2, math.ceil(0.1 * k))


def _matrix(instance: cvrp.Instance) -> np.ndarray:
    """Rounded EUC_2D matrix, depot first (for the peers that need one; hexroute never builds it)."""
    x = np.concatenate([[instance.depot_x], instance.x])
    y = np.concatenate([[instance.depot_y], instance.y])
    return np.floor(np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) + 0.5).astype(np.int64)


def run_hexroute(path: Path, instance: cvrp.Instance, seconds: float, seed: int) -> Routes:
    """hexroute's SISR engine (one core, no distance matrix)."""
    return cvrp.solve(instance, seconds, seed=seed).routes


def run_pyvrp(path: Path, instance: cvrp.Instance, seconds: float, seed: int) -> Routes:
    """PyVRP's hybrid genetic search (full distance matrix), stopped by MaxRuntime."""
    import pyvrp
    from pyvrp.stop import MaxRuntime

    data = pyvrp.read(str(path), round_func="round")
    result = pyvrp.solve(data, stop=MaxRuntime(seconds), seed=seed, collect_stats=False, display=False)
    # activities carry 0-based client indices; CVRPLIB numbers customers from 1
    return [[a.idx + 1 for a in route if a.is_client()] for route in result.best.routes()]


def run_ortools(path: Path, instance: cvrp.Instance, seconds: float, seed: int) -> Routes:
    """OR-Tools routing: savings start, guided local search until the time limit."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = instance.n
    vehicles = _fleet(path, instance)
    manager = pywrapcp.RoutingIndexManager(n + 1, vehicles, 0)
    model = pywrapcp.RoutingModel(manager)
    transit = model.RegisterTransitMatrix(_matrix(instance).tolist())
    model.SetArcCostEvaluatorOfAllVehicles(transit)
    demand = [0] + [int(d) for d in instance.demand]
    load = model.RegisterUnaryTransitVector(demand)
    model.AddDimensionWithVehicleCapacity(load, 0, [int(instance.capacity)] * vehicles, True, "load")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SAVINGS
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    solution = model.SolveWithParameters(params)
    if solution is None:
        raise RuntimeError("no solution found")
    routes = []
    for v in range(vehicles):
        idx = solution.Value(model.NextVar(model.Start(v)))
        route = []
        while not model.IsEnd(idx):
            route.append(manager.IndexToNode(idx))
            idx = solution.Value(model.NextVar(idx))
        if route:
            routes.append(route)
    return routes


def run_vroom(path: Path, instance: cvrp.Instance, seconds: float, seed: int) -> Routes:
    """VROOM (exploration level 5, threads = cores) on the rounded matrix as durations."""
    import vroom

    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=_matrix(instance).tolist())
    cap = int(instance.capacity)
    problem.add_vehicle([vroom.Vehicle(v, start=0, end=0, capacity=[cap]) for v in range(_fleet(path, instance))])
    problem.add_job([vroom.Job(c, location=c, delivery=[int(instance.demand[c - 1])])
                     for c in range(1, instance.n + 1)])
    solution = problem.solve(exploration_level=5, nb_threads=os.cpu_count() or 1, timeout=timedelta(seconds=seconds))
    steps = solution.routes
    jobs = steps[steps["type"] == "job"]
    return [[int(c) for c in group["id"]] for _, group in jobs.groupby("vehicle_id", sort=True)]


SOLVERS = {
    "hexroute": Solver("hexroute", None, run_hexroute, "SISR ruin-and-recreate + SA, 1 thread"),
    "pyvrp": Solver("pyvrp", "pyvrp", run_pyvrp, "HGS, 1 thread"),
    "ortools": Solver("ortools", "ortools", run_ortools, "savings + guided local search, 1 thread"),
    "vroom": Solver("vroom", "pyvroom", run_vroom, "exploration level 5, all cores"),
}
_IMPORT = {"pyvrp": "pyvrp", "ortools": "ortools", "vroom": "vroom"}


def available(name: str) -> str | None:
    """Why a solver cannot run here (None when it can)."""
    module = _IMPORT.get(name)
    if module is None:
        return None
    try:
        __import__(module)
    except ImportError as exc:
        return f"not installed ({exc}); pip install 'hexroute[peers]'"
    return None


def bks_table() -> dict[str, int]:
    """Best known solution cost per instance name from BKS.csv."""
    out: dict[str, int] = {}
    path = DATA / "BKS.csv"
    if path.exists():
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(",")
            if len(parts) >= 4:
                out[parts[0]] = int(parts[3])
    return out


def resolve_instances(names: list[str]) -> list[Path]:
    """Paths of the instances: as given, by name in the data folder, or all of it."""
    if not names:
        return sorted(DATA.glob("*.vrp"), key=lambda p: (not p.stem.startswith("X-"), _size(p), p.stem))
    out = []
    for name in names:
        p = Path(name)
        out.append(p if p.suffix == ".vrp" and p.exists() else DATA / f"{Path(name).stem}.vrp")
    return out


def _size(path: Path) -> int:
    match = re.search(r"-n(\d+)", path.stem)
    return int(match.group(1)) if match else 10**9


def run_one(solver: Solver, path: Path, instance: cvrp.Instance, seconds: float, seed: int) -> dict:
    """Solve, check and independently cost one instance with one solver."""
    t = time.perf_counter()
    try:
        routes = solver.run(path, instance, seconds, seed)
    except Exception as exc:  # a peer's failure is a result, not a crash of the benchmark
        return {"error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - t}
    elapsed = time.perf_counter() - t
    try:
        cvrp.check_solution(instance, routes)
    except ValueError as exc:
        return {"error": f"infeasible: {exc}", "seconds": elapsed}
    return {"cost": cvrp.solution_cost(instance, routes), "routes": len(routes), "seconds": elapsed}


def machine() -> dict:
    """CPU model, core count and platform of this run."""
    from kernels.backend import resolve

    return {"cpu": resolve("cpu").device, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def versions(names: list[str]) -> dict[str, str]:
    """Installed versions of the solvers and of the libraries hexroute runs on."""
    out = {}
    for pkg in ["numba", "numpy", "scipy", "vrplib"] + [SOLVERS[n].package for n in names if SOLVERS[n].package]:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def table(rows: list[dict], names: list[str]) -> str:
    """The Markdown table: per instance cost / gap / seconds per solver, then the mean and max gap."""
    head = "| instance | n | BKS | " + " | ".join(f"{s} cost | {s} gap % | {s} s" for s in names) + " |"
    lines = [head, "|---|---:|---:|" + "---:|---:|---:|" * len(names)]
    for row in rows:
        cells = [row["instance"], str(row["n"]), str(row["bks"] or "-")]
        for s in names:
            r = row["results"].get(s, {})
            if "cost" in r:
                gap = f"{r['gap_pct']:.2f}" if r.get("gap_pct") is not None else "-"
                cells += [str(r["cost"]), gap, f"{r['seconds']:.1f}"]
            else:
                cells += [r.get("error", "skipped").replace("|", "/")[:60], "-", f"{r.get('seconds', 0):.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    for label, fn in (("mean gap %", np.mean), ("max gap %", np.max)):
        cells = [f"**{label}**", "", ""]
        for s in names:
            gaps = [row["results"][s]["gap_pct"] for row in rows
                    if row["results"].get(s, {}).get("gap_pct") is not None]
            complete = len(gaps) == len(rows)
            cells += ["", f"**{fn(gaps):.2f}**" + ("" if complete else f" ({len(gaps)}/{len(rows)})")
                      if gaps else "-", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instances", nargs="*", help="instance names or .vrp paths (default: all in the data folder)")
    ap.add_argument("--seconds", type=float, default=10.0, help="time budget per solver and instance")
    ap.add_argument("--seed", type=int, default=0, help="seed given to every solver that takes one")
    ap.add_argument("--solvers", default=",".join(SOLVERS), help="comma-separated subset of " + ",".join(SOLVERS))
    ap.add_argument("--json", default=None, help="write the run here (default: bench/results/cvrplib_<S>s.json)")
    args = ap.parse_args(argv)

    names = []
    for name in args.solvers.split(","):
        if name not in SOLVERS:
            ap.error(f"unknown solver {name!r}")
        why = available(name)
        if why:
            print(f"skipping {name}: {why}", file=sys.stderr)
        else:
            names.append(name)
    paths = resolve_instances(args.instances)
    bks = bks_table()
    if "hexroute" in names and paths:  # compile (or load) the engine outside the timed calls
        cvrp.solve(cvrp.read_instance(paths[0]), 0.0, seed=0, iterations_per_stop=0.01)
    rows = []
    for path in paths:
        instance = cvrp.read_instance(path)
        best = bks.get(path.stem)
        row = {"instance": path.stem, "n": instance.n, "bks": best, "results": {}}
        for name in names:
            r = run_one(SOLVERS[name], path, instance, args.seconds, args.seed)
            r["gap_pct"] = 100.0 * (r["cost"] / best - 1.0) if "cost" in r and best else None
            row["results"][name] = r
            gap = "-" if r["gap_pct"] is None else f"{r['gap_pct']:.2f}%"
            print(f"{path.stem} {name}: {r.get('cost', r.get('error'))} ({gap}) in {r['seconds']:.1f}s",
                  file=sys.stderr, flush=True)
        rows.append(row)
    print(table(rows, names))
    out = Path(args.json) if args.json else Path(__file__).resolve().parent / "results" / \
        f"cvrplib_{args.seconds:g}s.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"budget_s": args.seconds, "seed": args.seed, "machine": machine(), "versions": versions(names),
              "solvers": {n: SOLVERS[n].note for n in names}, "instances": rows}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
