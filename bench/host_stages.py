"""Host stages before and after issue 17: validation, the index stage and the output tables, old vs new.

    python bench/host_stages.py [--sizes 1000000,10000000] [--repeats 3] [--stages validate,index,tables]
                                [--json bench/results/host_stages.json]
    python bench/host_stages.py --identity    # whole plans: old and new host stages give the same files

Each size is synthesized once (national region, seed 1; 1,000 hubs at 1M, 2,000 from 2M up) under
bench/results/data/host-<size>/. In one process, each stage function is timed ``--repeats`` times with
today's code ("new") and with the implementations it replaced ("old": the references in tests/naive.py
and the Arrow hash encoding, patched in for the run), alternating, after one untimed call of each to
compile; the table gives the medians and old / new. The stages are timed as the pipeline runs them:

- validate: ``validate(parcels, hubs)`` on the tables read from disk (old: Arrow's hash encoding for the
  duplicate ids);
- index: ``build_stops(parcels_model(parcels))`` (old: the address codes by Arrow's hash encoding again
  instead of validation's, stops by lexsort, H3 cells, disks and every occupied cell's area through h3-py
  one call at a time);
- tables: ``Tables(...)`` and ``summary(...)`` on synthetic stage results of the right sizes: every stop
  assigned to a random hub, 90 % of them on one of 35 routes a hub (old: route ids as f-strings, the
  revenue split over Python strings, tier counts by masks).

Both versions must agree: the script checks that old and new give identical stops, rejects and tables.
The figures depend on the machine's load: the table gives CPU seconds (all threads) beside the wall
seconds, which a loaded machine inflates less; the JSON records machine and versions (bench/_env.py).

``--identity`` plans the three loads of bench/plan_identity.py in this process (seed 1, the default
settings, a large improve budget) once with every old implementation patched in and once with today's,
and compares the SHA-256 of the Arrow outputs: the host-stage rewrite alone, whatever else changed
since bench/plan_identity.py last recorded its fingerprints.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._env import environment  # noqa: E402
from planner.contract import arrays  # noqa: E402
from planner.contract import schemas as S  # noqa: E402
from planner.contract.read import read_table  # noqa: E402
from planner.run import tables  # noqa: E402
from planner.run.groups import Merged  # noqa: E402
from planner.settings import Settings  # noqa: E402
from planner.stages import index  # noqa: E402
from planner.stages.improve import ImproveStats  # noqa: E402
from planner.stages.schedule import Schedule  # noqa: E402
from tests import naive  # noqa: E402

#: the module, not the function of that name that planner.contract exports
validation = importlib.import_module("planner.contract.validate")

DATA = ROOT / "bench" / "results" / "data"
STAGES = ("validate", "index", "tables")
ROUTES_PER_HUB = 35


def load(parcels: int) -> tuple[pa.Table, pa.Table]:
    """The national load of ``parcels`` parcels (synthesized on first use) read as the pipeline reads it."""
    hubs = 1000 if parcels <= 1_000_000 else 2000
    where = DATA / f"host-{parcels}"
    if not (where / "parcels.arrow").exists():
        subprocess.run([sys.executable, "-m", "planner.cli", "synth", str(where), "--parcels", str(parcels),
                        "--hubs", str(hubs), "--seed", "1", "--quiet"], check=True, cwd=ROOT)
    return read_table(where / "parcels.arrow", "parcels"), read_table(where / "hubs.arrow", "hubs")


def _old_later_duplicates(ids: pa.ChunkedArray) -> np.ndarray:
    """validate._later_duplicates before issue 17: Arrow's hash encoding, first rows by a running maximum."""
    if len(ids) == 0:
        return np.zeros(0, dtype=bool)
    encoded = pc.dictionary_encode(ids)
    codes = np.concatenate([arrays.numpy_column(c.indices.fill_null(-1)).astype(np.int64) for c in encoded.chunks])
    seen_before = np.concatenate(([-1], np.maximum.accumulate(codes)[:-1]))
    return (codes >= 0) & (codes <= seen_before)


def _old_address_codes(ids: pa.ChunkedArray) -> np.ndarray:
    return arrays.numpy_column(ids.combine_chunks().dictionary_encode().indices.fill_null(-1), np.int64)


_parcels_model = arrays.parcels_model


def _old_parcels_model(parcels: pa.Table, network: np.ndarray | None = None) -> Any:
    """parcels_model before the index stage took validation's address codes: the ids encoded again."""
    at = parcels.column_names.index("address_code")
    codes = pa.array(_old_address_codes(parcels.column("address_id")), pa.int64())
    return _parcels_model(parcels.set_column(at, "address_code", codes), network)


def _old_area_class(cell: np.ndarray, parcels: np.ndarray, resolution: int, speeds: Any) -> np.ndarray:
    """The area classes before they were read off area bounds: every occupied cell's area through h3-py."""
    return index.area_class(naive.disk_density_by_h3py(cell, parcels), speeds)


def _old_route_ids(hubs: Any, hub: np.ndarray) -> pa.Array:
    return pa.array(naive.route_ids_by_fstrings(hubs.hub_id, hub), type=pa.string())


def _old_revenue_split(shipper: pa.ChunkedArray, hubs: Any, parcel_hub: np.ndarray, planned: np.ndarray,
                       fee: np.ndarray, share: float) -> dict[str, float]:
    return naive.revenue_split_by_objects(shipper.to_pylist(), hubs.operator, parcel_hub, planned, fee, share,
                                          S.SHIPPER_OPERATOR, S.DEFAULT_SELLER)


OLD: dict[str, list[tuple[Any, str, Callable[..., Any]]]] = {
    "validate": [(validation, "_later_duplicates", _old_later_duplicates)],
    "index": [(arrays, "parcels_model", _old_parcels_model), (index, "group_rows", naive.group_rows_by_sorting),
              (index, "latlng_cells", naive.latlng_cells_by_h3py), (index, "disk_area_class", _old_area_class)],
    "tables": [(tables, "route_ids", _old_route_ids), (tables, "revenue_split", _old_revenue_split),
               (tables, "tier_counts", lambda tier, status: naive.tier_counts_by_masks(tier, status, S.TIERS,
                                                                                        S.STATUSES))],
}


@contextlib.contextmanager
def implementation(stage: str, which: str) -> Iterator[None]:
    """Run ``stage`` with today's functions (``new``) or with those they replaced (``old``)."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in OLD[stage]]
    try:
        if which == "old":
            for module, name, old in OLD[stage]:
                setattr(module, name, old)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def stage_results(inputs: validation.Inputs, stops: Any, seed: int = 0) -> tuple[Merged, tables.StopOutcome]:
    """Synthetic route and schedule results for every stop, shaped like a national plan's."""
    rng = np.random.default_rng(seed)
    n_hubs, n = inputs.hubs.num_rows, stops.size
    hub = rng.integers(0, n_hubs, n).astype(np.int32)
    status = rng.choice([S.PLANNED, S.DEFERRED, S.UNASSIGNED], n, p=[0.9, 0.08, 0.02]).astype(np.int8)
    route_hub = np.repeat(np.arange(n_hubs, dtype=np.int32), ROUTES_PER_HUB)
    r = route_hub.size
    routed = status == S.PLANNED
    stop_route = np.where(routed, hub * ROUTES_PER_HUB + rng.integers(0, ROUTES_PER_HUB, n), -1).astype(np.int32)
    schedule = Schedule(
        distance_km=rng.uniform(10, 100, r), duration_s=rng.integers(1000, 28000, r).astype(np.int32),
        load_kg=rng.uniform(0, 500, r), n_parcels=rng.integers(1, 200, r).astype(np.int32),
        n_stops=rng.integers(1, 150, r).astype(np.int32), cost_usd=rng.uniform(50, 500, r),
        co2_kg=rng.uniform(1, 50, r), stop_route=stop_route,
        stop_seq=np.where(routed, rng.integers(1, 150, n), 0).astype(np.int32),
        stop_eta_s=np.where(routed, rng.integers(0, 28000, n), -1).astype(np.int32))
    stats = ImproveStats(0.0, 0.0, 0, 0, 0.0, False)
    merged = Merged(schedule, route_hub, np.full(n, S.NO_REASON, np.int8), stats, {}, [], {}, None)
    reason = np.where(routed, S.NO_REASON, 1).astype(np.int8)
    outcome = tables.StopOutcome(status, np.where(status == S.UNASSIGNED, -1, hub).astype(np.int32), reason)
    return merged, outcome


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_size(parcels: int, repeats: int, stages: tuple[str, ...]) -> dict[str, Any]:
    """Old and new seconds of each stage on one load (medians of ``repeats``), checking they agree."""
    raw_parcels, raw_hubs = load(parcels)
    settings = Settings()
    inputs = validation.validate(raw_parcels, raw_hubs)
    hubs = arrays.hubs_model(inputs.hubs)
    stops = index.build_stops(arrays.parcels_model(inputs.parcels), settings)
    merged, outcome = stage_results(inputs, stops)

    def run_tables() -> tuple[tables.Tables, dict[str, Any]]:
        t = tables.Tables(inputs, hubs, merged, outcome, stops.parcel_stop, settings)
        return t, tables.summary(inputs, stops.size, hubs, t, merged.schedule, settings,
                                 SimpleBackend(), merged.improve)

    calls: dict[str, Callable[[], Any]] = {
        "validate": lambda: validation.validate(raw_parcels, raw_hubs),
        "index": lambda: index.build_stops(arrays.parcels_model(inputs.parcels), settings),
        "tables": run_tables,
    }
    out: dict[str, Any] = {"parcels": parcels, "valid_parcels": inputs.parcels.num_rows, "stops": stops.size,
                           "hubs": hubs.size, "load_average_before": os.getloadavg(), "stages": {}}
    for stage in stages:
        seconds: dict[str, list[float]] = {"old": [], "new": []}
        cpu: dict[str, list[float]] = {"old": [], "new": []}
        results: dict[str, Any] = {}
        for which in ("old", "new"):  # untimed: compile, and keep the results to compare
            with implementation(stage, which):
                results[which] = calls[stage]()
        same = _same(stage, results["old"], results["new"])
        for _ in range(repeats):
            for which in ("old", "new"):
                with implementation(stage, which):
                    wall, used = timed(calls[stage])
                    seconds[which].append(wall)
                    cpu[which].append(used)
        old, new = statistics.median(seconds["old"]), statistics.median(seconds["new"])
        old_cpu, new_cpu = statistics.median(cpu["old"]), statistics.median(cpu["new"])
        out["stages"][stage] = {"old_s": old, "new_s": new, "ratio": old / new, "old_cpu_s": old_cpu,
                                "new_cpu_s": new_cpu, "identical": same, "runs": seconds, "cpu_runs": cpu}
        print(f"  {parcels:,} {stage}: old {old:.2f} s, new {new:.2f} s, {old / new:.1f}x "
              f"(CPU {old_cpu:.2f} s, {new_cpu:.2f} s), identical {same}", flush=True)
    out["load_average_after"] = os.getloadavg()
    return out


class SimpleBackend:
    """What summary() reads of a backend."""

    name = "cpu"
    device = None


def _same(stage: str, old: Any, new: Any) -> bool:
    if stage == "validate":
        return all(getattr(old, k).equals(getattr(new, k)) for k in ("parcels", "hubs", "rejects"))
    if stage == "index":
        return all(np.array_equal(getattr(old, k).view(np.uint8), getattr(new, k).view(np.uint8))
                   for k in vars(old))
    (t_old, doc_old), (t_new, doc_new) = old, new
    return (all(getattr(t_old, k).equals(getattr(t_new, k)) for k in ("assignments", "routes", "hubs"))
            and json.dumps(doc_old, sort_keys=True) == json.dumps(doc_new, sort_keys=True))


def identity() -> int:
    """Plan the identity loads with the old and the new host stages; 0 when every output file is the same."""
    import dataclasses
    import hashlib
    import tempfile

    from bench import plan_identity
    from planner.run.pipeline import plan_files

    settings = Settings(seed=1)
    settings = settings.replace(improve=dataclasses.replace(settings.improve, time_cap_s=100000.0))
    print("| load | old | new | files |\n|---|---|---|---|")
    failed = False
    for name in plan_identity.LOADS:
        parcels, hubs = plan_identity._inputs(name)
        digests = {}
        for which in ("old", "new"):
            with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
                for stage in STAGES:
                    stack.enter_context(implementation(stage, which))
                plan_files(parcels, hubs, Path(tmp) / "plan", settings, progress=False)
                digests[which] = {t: hashlib.sha256((Path(tmp) / "plan" / f"{t}.arrow").read_bytes()).hexdigest()
                                  for t in plan_identity.TABLES}
        same = digests["old"] == digests["new"]
        failed |= not same
        print(f"| {name} | {digests['old']['assignments'][:12]} | {digests['new']['assignments'][:12]} | "
              f"{'identical' if same else 'DIFFER'} |", flush=True)
    return 1 if failed else 0


def markdown(report: dict[str, Any]) -> str:
    lines = ["| parcels | stops | stage | old s | new s | old / new | old CPU s | new CPU s | identical |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    for size in report["sizes"]:
        for stage, r in size["stages"].items():
            lines.append(f"| {size['parcels']:,} | {size['stops']:,} | {stage} | {r['old_s']:.2f} | "
                         f"{r['new_s']:.2f} | {r['ratio']:.1f}x | {r['old_cpu_s']:.2f} | {r['new_cpu_s']:.2f} | "
                         f"{'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated parcel counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "host_stages.json")
    parser.add_argument("--identity", action="store_true", help="compare whole plans instead (see above)")
    args = parser.parse_args()
    if args.identity:
        return identity()
    stages = tuple(args.stages.split(","))
    if set(stages) - set(STAGES):
        parser.error(f"unknown stages: {sorted(set(stages) - set(STAGES))}")
    report: dict[str, Any] = {"environment": environment("cpu"), "repeats": args.repeats, "sizes": []}
    for parcels in (int(s) for s in args.sizes.split(",")):
        report["sizes"].append(bench_size(parcels, args.repeats, stages))
    table = markdown(report)
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**report, "markdown": table}, indent=2) + "\n", encoding="utf-8")
    ok = all(r["identical"] for size in report["sizes"] for r in size["stages"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
