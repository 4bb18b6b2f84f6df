"""Kernel throughput benchmark: each kernel against its memory-traffic estimate and a library baseline.

    python bench/kernels.py [--backend cpu|cuda] [--sizes 1000000,10000000] [--repeats 5]
                            [--kernels pair_distances,nearest_hubs] [--json out.json]

Cases live in a registry (:data:`CASES`, filled by :func:`register`), so other
kernel families add their own. Each case prepares inputs of ``n`` items on
the chosen backend (outside the timed region) and returns a zero-argument
callable; the table reports the median of ``--repeats`` timed calls after one
untimed warm-up (JIT compilation), items/s, an estimated GB/s from the bytes
each item must move, and the baseline's median in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._env import cpu_model, versions  # noqa: E402
from bench.kernels_routing import bench_cases  # noqa: E402
from kernels import api  # noqa: E402
from kernels._scalar import EARTH_RADIUS_KM, GREAT_CIRCLE  # noqa: E402
from kernels.backend import resolve  # noqa: E402

Runner = Callable[[], Any]


@dataclass(frozen=True)
class Case:
    """One benchmark case: ``setup(n, rng, backend)`` returns the kernel call to time."""

    name: str
    setup: Callable[[int, np.random.Generator, str], Runner]
    bytes_per_item: float
    baseline_name: str = ""
    baseline: Callable[[int, np.random.Generator], Runner] | None = None
    #: the baseline does this fraction of the case's work (e.g. a sample of its routes); its time is scaled up
    baseline_share: Callable[[int], float] = lambda n: 1.0


CASES: dict[str, Case] = {}
HUBS = 2000  # hubs in the nearest-hub cases
ROUTE_STOPS = 20  # stops per route in the route-length case


def register(case: Case) -> Case:
    """Add a case to the registry (the name must be new)."""
    if case.name in CASES:
        raise ValueError(f"benchmark case {case.name!r} is already registered")
    CASES[case.name] = case
    return case


def us_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over the contiguous United States' bounding box (lat, lon)."""
    return rng.uniform(25.0, 49.0, n), rng.uniform(-124.0, -67.0, n)


def on_backend(backend: str, *arrays: np.ndarray) -> list[Any]:
    """Move inputs to the device once, outside the timed region, when benchmarking CUDA."""
    if backend == "cpu":
        return list(arrays)
    from kernels.cuda import _launch

    return [_launch.to_device(x, x.dtype) for x in arrays]


# --- geometry cases ------------------------------------------------------------------------------

def _pair_setup(n: int, rng: np.random.Generator, backend: str) -> Runner:
    a1, b1, a2, b2 = on_backend(backend, *us_points(rng, n), *us_points(rng, n))
    return lambda: api.pair_distances(a1, b1, a2, b2, GREAT_CIRCLE, 1.0, backend=backend)


def _numpy_haversine(n: int, rng: np.random.Generator) -> Runner:
    (a1, b1), (a2, b2) = us_points(rng, n), us_points(rng, n)

    def run() -> np.ndarray:
        p1, p2 = np.radians(a1), np.radians(a2)
        h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(b2 - b1) / 2) ** 2
        return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))

    return run


def _routes_setup(n: int, rng: np.random.Generator, backend: str) -> Runner:
    """n stops in routes of ROUTE_STOPS, each from one of HUBS depots; coordinates hold stops then hubs."""
    n_routes = max(1, n // ROUTE_STOPS)
    a, b = us_points(rng, n + HUBS)
    ptr = np.minimum(np.arange(n_routes + 1, dtype=np.int64) * ROUTE_STOPS, n)
    ptr[-1] = n
    nodes = rng.permutation(n).astype(np.int32)
    depot = (n + rng.integers(0, HUBS, n_routes)).astype(np.int32)
    args = on_backend(backend, ptr, nodes, depot, a, b, np.ones(n + HUBS))
    return lambda: api.route_lengths(*args, GREAT_CIRCLE, 1.0, backend=backend)


def _nearest_setup(k: int) -> Callable[[int, np.random.Generator, str], Runner]:
    def setup(n: int, rng: np.random.Generator, backend: str) -> Runner:
        qa, qb, ha, hb = on_backend(backend, *us_points(rng, n), *us_points(rng, HUBS))
        return lambda: api.nearest_hubs(qa, qb, ha, hb, k, GREAT_CIRCLE, 1.0, backend=backend)

    return setup


def _ckdtree(k: int) -> Callable[[int, np.random.Generator], Runner]:
    """scipy cKDTree on unit-sphere chord coordinates (all cores), converted to great-circle km."""
    def baseline(n: int, rng: np.random.Generator) -> Runner:
        from scipy.spatial import cKDTree

        (qa, qb), (ha, hb) = us_points(rng, n), us_points(rng, HUBS)

        def xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
            return api.unit_vectors(lat, lon)

        def run() -> tuple[np.ndarray, np.ndarray]:
            chord, idx = cKDTree(xyz(ha, hb)).query(xyz(qa, qb), k=k, workers=-1)
            return idx, 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2, 1.0))

        return run

    return baseline


def _hilbert_setup(n: int, rng: np.random.Generator, backend: str) -> Runner:
    a, b = on_backend(backend, *us_points(rng, n))
    return lambda: api.hilbert_keys(a, b, 25.0, 49.0, -124.0, -67.0, backend=backend)


register(Case("pair_distances", _pair_setup, 5 * 8, "numpy haversine", _numpy_haversine))
# Per stop: its node index (4 B), its coordinates gathered (16 B); per route: pointer, depot, output.
register(Case("route_lengths", _routes_setup, 4 + 24 + (8 + 4 + 8 + 24) / ROUTE_STOPS))
for _k in (1, 4, 8):
    # Per query: two coordinates in, k (index, distance) pairs out; the hub grid stays in cache.
    register(Case(f"nearest_hubs_k{_k}", _nearest_setup(_k), 16 + 12 * _k, "scipy cKDTree", _ckdtree(_k)))
register(Case("hilbert_keys", _hilbert_setup, 2 * 8 + 8))
for _case in bench_cases():
    _case.pop("default_n")
    register(Case(**_case))


# --- driver --------------------------------------------------------------------------------------

def median_seconds(run: Runner, repeats: int, sync: Callable[[], None]) -> float:
    """Median wall time of ``repeats`` calls after one untimed warm-up."""
    run()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def device_copy_gbps() -> float:
    """Device-to-device copy bandwidth (read + write) of a 1 GiB CuPy array, GB/s."""
    import cupy

    src = cupy.ones(1 << 27, dtype=cupy.float64)
    dst = cupy.empty_like(src)
    t = median_seconds(lambda: cupy.copyto(dst, src), 5, cupy.cuda.Device().synchronize)
    return 2 * src.nbytes / t / 1e9


def run_benchmarks(backend: str, sizes: list[int], repeats: int, names: list[str]) -> dict[str, Any]:
    """Time every selected case at every size; returns the JSON-ready report."""
    resolved = resolve(backend)
    sync: Callable[[], None] = lambda: None  # noqa: E731
    copy_gbps = None
    if backend == "cuda":
        from kernels.cuda import _launch

        sync = _launch.synchronize
        copy_gbps = None if resolved.simulator else device_copy_gbps()
    rows = []
    for name in names:
        case = CASES[name]
        for n in sizes:
            t = median_seconds(case.setup(n, np.random.default_rng(0), backend), repeats, sync)
            base = (median_seconds(case.baseline(n, np.random.default_rng(0)), repeats, lambda: None)
                    / case.baseline_share(n) if case.baseline else None)
            gbps = case.bytes_per_item * n / t / 1e9
            rows.append({
                "kernel": name, "n": n, "median_s": t, "items_per_s": n / t, "gb_per_s": gbps,
                "pct_of_copy_bw": None if copy_gbps is None else 100 * gbps / copy_gbps,
                "baseline": case.baseline_name or None, "baseline_median_s": base,
                "ratio": None if base is None else base / t,
            })
            print(f"  {name} n={n}: {t:.4f} s", file=sys.stderr, flush=True)
    return {
        "machine": {"cpu": platform.processor() or platform.machine(), "cpu_model": cpu_model(),
                    "cores": os.cpu_count()},
        "backend": backend, "device": resolved.device, "device_copy_gb_per_s": copy_gbps,
        "versions": versions(), "sizes": sizes, "repeats": repeats, "hubs": HUBS, "results": rows,
    }


def markdown(report: dict[str, Any]) -> str:
    """The results as a Markdown table; ratio = baseline time / kernel time (above 1: kernel faster)."""
    pct = report["device_copy_gb_per_s"] is not None
    head = ["kernel", "n", "median s", "items/s", "GB/s est."] + (["% copy BW"] if pct else []) + [
        "baseline", "baseline s", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in report["results"]:
        cells = [r["kernel"], f"{r['n']:,}", f"{r['median_s']:.4f}", f"{r['items_per_s']:.3g}",
                 f"{r['gb_per_s']:.2f}"] + ([f"{r['pct_of_copy_bw']:.1f}"] if pct else []) + [
            r["baseline"] or "-",
            "-" if r["baseline_median_s"] is None else f"{r['baseline_median_s']:.4f}",
            "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--sizes", default="1000000", help="comma-separated item counts")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--kernels", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--json", type=Path, help="also write the report here")
    args = p.parse_args(argv)
    names = [s for s in args.kernels.split(",") if s]
    unknown = [s for s in names if s not in CASES]
    if unknown:
        p.error(f"unknown kernel(s): {', '.join(unknown)}")
    report = run_benchmarks(args.backend, [int(s) for s in args.sizes.split(",")], args.repeats, names)
    print(f"backend {report['backend']} on {report['device']}; median of {args.repeats}\n")
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
