"""SISR replayed on a national day's own hubs: how a search parameter moves the km, without replanning the day.

    python bench/sisr_replay.py dump DATA --out bench/results/sisr-1m.pkl [--min-stops 1000]
    python bench/sisr_replay.py replay bench/results/sisr-1m.pkl [--variant split_rate=0]
                               [--variant avg_removed=5,max_string=5] [--iterations 2] [--seeds 2] [--hubs 20]

``dump`` plans the load in DATA (``parcels.arrow``, ``hubs.arrow``) in-process
with the default settings and seed 1 and records the arguments of every call
of :func:`kernels.api.sisr_search` on a hub with at least ``--min-stops`` stops
(its start routes, neighbour lists, limits, parameters, seed and iterations)
together with the cost it reached, largest hub first. The file is a local
cache (a pickle, under the ignored ``bench/results/``), read only by
``replay``.

``replay`` runs those searches again on ``--threads`` threads (the day's
two), first as they were (``none``: the same iterations, ``--seeds`` other
seeds, which gives the noise floor), then once per ``--variant``: a comma
list of :class:`kernels.cpu.sisr.Params` fields and values, at the same seeds.
``--iterations`` scales every hub's iterations (the effort). Each row is the
mean over the seeds of the total cost over the hubs' day's cost, the time over
``none``'s, and the same ratio on the five largest hubs. It prints a Markdown
table and writes JSON with the machine and versions.
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import kernels.api as api  # noqa: E402
from bench._env import environment  # noqa: E402

#: seeds of a replay are the recorded seed plus this times 1, 2, ...: never the day's own seed
SEED_STRIDE = 7919


def dump(data: Path, out: Path, min_stops: int) -> list[dict[str, Any]]:
    """Plan ``data`` in-process and keep every SISR call on at least ``min_stops`` stops, largest first."""
    from planner.cli import main as hexroute

    problems: list[dict[str, Any]] = []
    lock = threading.Lock()
    search = api.sisr_search

    def recording(node: Any, neighbours: Any, flat: Any, ptr: Any, limits: Any, metric: int, scale: float,
                  params: Any, seed: int, iterations: int | None, seconds: float, clock_stops: bool, *,
                  backend: str = "cpu") -> Any:
        result = search(node, neighbours, flat, ptr, limits, metric, scale, params, seed, iterations, seconds,
                        clock_stops, backend=backend)
        if node.shape[0] - 1 >= min_stops:
            with lock:
                problems.append({"node": node.copy(), "neighbours": neighbours.copy(), "flat": flat.copy(),
                                 "ptr": ptr.copy(), "limits": tuple(limits), "metric": metric, "scale": scale,
                                 "params": params._asdict(), "seed": seed, "iterations": iterations, "cost": result[2]})
        return result

    api.sisr_search = recording
    try:
        with tempfile.TemporaryDirectory() as plan_dir:
            code = hexroute(["plan", "--parcels", str(data / "parcels.arrow"), "--hubs", str(data / "hubs.arrow"),
                         "--out", plan_dir, "--seed", "1", "--no-report", "--quiet"])
    finally:
        api.sisr_search = search
    if code != 0:
        raise SystemExit(f"{data}: hexroute plan exited {code}")
    problems.sort(key=lambda p: -p["node"].shape[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        pickle.dump(problems, f)
    return problems


def params_of(problem: dict[str, Any]) -> Any:
    """The recorded problem's :class:`kernels.cpu.sisr.Params` (kept as a dict, so that a file recorded before a
    field was added or dropped still loads and says so here, instead of failing to unpickle)."""
    try:
        return api.sisr_params(**problem["params"])
    except TypeError as error:
        message = f"recorded with other SISR parameters than this checkout's ({error}): dump it again"
        raise SystemExit(message) from error


def stops(problems: list[dict[str, Any]]) -> int:
    """Stops of the recorded problems (each node array ends with its depot's row)."""
    return sum(p["node"].shape[0] - 1 for p in problems)


def parse_variant(text: str, defaults: Any) -> dict[str, Any]:
    """``"split_rate=0,avg_removed=5"`` as overrides of the Params ``defaults``, each value cast to its field's
    type."""
    fields = defaults._fields
    changes: dict[str, Any] = {}
    for part in filter(None, text.split(",")):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in fields:
            raise SystemExit(f"--variant {text!r}: {name!r} is not a field of Params ({', '.join(fields)})")
        kind = type(getattr(defaults, name))
        changes[name] = value.strip().lower() in ("1", "true") if kind is bool else kind(float(value))
    return changes


def replay(problems: list[dict[str, Any]], changes: dict[str, Any], scale: float, seeds: int,
           threads: int, first_seed: int = 1) -> tuple[list[float], float]:
    """Each problem's cost, averaged over ``seeds`` seeds (the recorded one plus SEED_STRIDE times ``first_seed``,
    ``first_seed + 1``, ...; 0 is the day's own), with ``changes`` to its parameters and ``scale`` times its
    iterations; and the wall seconds of the whole replay."""
    params = [params_of(p)._replace(**changes) for p in problems]  # once each, and a stale file fails here

    def one(job: tuple[int, int]) -> float:
        p = problems[job[0]]
        iterations = None if p["iterations"] is None else max(1, int(round(p["iterations"] * scale)))
        result = api.sisr_search(p["node"], p["neighbours"], p["flat"], p["ptr"], p["limits"], p["metric"],
                                 p["scale"], params[job[0]], p["seed"] + SEED_STRIDE * job[1], iterations, 1e9, False)
        return float(result[2])

    jobs = [(i, s) for s in range(first_seed, first_seed + seeds) for i in range(len(problems))]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        costs = list(pool.map(one, jobs))
    wall = time.perf_counter() - start
    n = len(problems)
    return [sum(costs[k * n + i] for k in range(seeds)) / seeds for i in range(n)], wall


def run_replays(path: Path, variants: list[str], scale: float, seeds: int, hubs: int | None,
                threads: int) -> dict[str, Any]:
    """The ``none`` row and one row per variant, each against the day's recorded costs."""
    with open(path, "rb") as f:
        problems = pickle.load(f)[:hubs]
    if not problems:
        raise SystemExit(f"{path}: no SISR problems recorded")
    defaults = params_of(problems[0])
    parsed: list[tuple[str, dict[str, Any]]] = [("none", {})]
    parsed += [(v, parse_variant(v, defaults)) for v in variants]
    warm = problems[-1:]  # the smallest hub once per variant, so compilation is never timed
    day = [p["cost"] for p in problems]
    rows = []
    for name, changes in parsed:
        replay(warm, changes, 0.05, 1, 1)
        costs, wall = replay(problems, changes, scale, seeds, threads)
        rows.append({"variant": name, "changes": changes, "cost": sum(costs), "ratio": sum(costs) / sum(day),
                     "wall_s": wall, "top5": [c / d for c, d in zip(costs[:5], day[:5])], "costs": costs})
    for row in rows:
        row["time_ratio"] = row["wall_s"] / rows[0]["wall_s"]
    n_stops = stops(problems)
    iterations = sum(p["iterations"] or 0 for p in problems) * scale
    return {**environment("cpu"), "problems": str(path), "hubs": len(problems), "stops": n_stops,
            "iterations_per_stop": iterations / n_stops, "iteration_scale": scale, "seeds": seeds, "threads": threads,
            "day_cost": sum(day), "rows": rows}


def table(run: dict[str, Any]) -> str:
    """The replay as a Markdown table."""
    lines = [f"{run['hubs']} hubs, {run['stops']:,} stops, {run['iterations_per_stop']:.2f} iterations a stop, "
             f"{run['seeds']} seeds, {run['threads']} threads", "",
             "| variant | total cost / day's | time / none's | five largest / day's |", "|---|---:|---:|---|"]
    for row in run["rows"]:
        top = ", ".join(f"{r:.4f}" for r in row["top5"])
        lines.append(f"| {row['variant']} | {row['ratio']:.5f} | {row['time_ratio']:.2f} | {top} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="plan a load and record its SISR problems")
    d.add_argument("data", type=Path, help="folder with parcels.arrow and hubs.arrow")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--min-stops", type=int, default=1000)
    r = sub.add_parser("replay", help="replay recorded SISR problems with parameter changes")
    r.add_argument("problems", type=Path)
    r.add_argument("--variant", action="append", default=[], help="comma list of Params field=value")
    r.add_argument("--iterations", type=float, default=1.0, help="scale of every hub's iterations")
    r.add_argument("--seeds", type=int, default=2)
    r.add_argument("--hubs", type=int, default=None, help="only the largest this many")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "sisr_replay.json")
    args = parser.parse_args(argv)
    if args.command == "dump":
        problems = dump(args.data, args.out, args.min_stops)
        cost = sum(p["cost"] for p in problems)
        print(f"{args.out}: {len(problems)} SISR problems, {stops(problems):,} stops, cost {cost:,.1f}")
        return 0
    run = run_replays(args.problems, args.variant, args.iterations, args.seeds, args.hubs, args.threads)
    print(table(run))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(run, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
