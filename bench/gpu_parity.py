"""Every kernel family once on the CUDA backend: compile seconds, run milliseconds, parity with the CPU.

    python bench/gpu_parity.py [--n 1000000] [--json out.json]

Part of ``bench/gpu_check.sh``. Each family runs on the same inputs on the
CPU and on the device: the first device call's time includes compilation (or
loading it from the cache), the second is timed after a synchronisation.
Floats must agree within ``DEVICE_RTOL`` (FMA contraction and libdevice's
sin/cos/asin: bench/ptx_sm90.md), indices, keys and counts exactly, and the
searches (Split, savings, 2-opt/Or-opt, relocate/swap/2-opt*) by cost within
``SEARCH_RTOL``. Prints a Markdown table; exits 1 when any family disagrees.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._env import environment  # noqa: E402
from kernels import GREAT_CIRCLE, api  # noqa: E402

DEVICE_RTOL = 1e-12
SEARCH_RTOL = 1e-6


def _sync() -> None:
    from kernels.cuda import _launch

    _launch.synchronize()


def _host(x: Any) -> Any:
    if isinstance(x, tuple):
        return tuple(_host(v) for v in x)
    return api.to_host(x) if not isinstance(x, (int, float, np.ndarray)) else x


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    _sync()
    return _host(out), time.perf_counter() - t


def _national(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(25.0, 48.0, n), rng.uniform(-124.0, -67.0, n)


def families(n: int, rng: np.random.Generator) -> dict[str, tuple[Callable[[str], Any], str]]:
    """name -> (run(backend), how to compare: floats | exact | search)."""
    lat, lon = _national(rng, n)
    lat2, lon2 = _national(rng, n)
    hub_lat, hub_lon = _national(rng, 2000)
    frm = rng.integers(0, n, n).astype(np.int32)
    to = rng.integers(0, n, n).astype(np.int32)
    circ_n = rng.uniform(0.7, 1.6, n)
    # tours: 400 hubs of about n / 400 stops each, Hilbert-ordered, around their hub
    n_tours = 400
    m = max(n // 20, n_tours * 4)
    depot_lat, depot_lon = _national(rng, n_tours)
    tour_of = np.sort(rng.integers(0, n_tours, m))
    a = np.r_[depot_lat[tour_of] + rng.normal(0, 0.1, m), depot_lat]
    b = np.r_[depot_lon[tour_of] + rng.normal(0, 0.1, m), depot_lon]
    kg = np.r_[rng.uniform(1, 10, m), np.zeros(n_tours)]
    pn = np.r_[np.ones(m), np.zeros(n_tours)]
    svc = np.r_[np.full(m, 90.0), np.zeros(n_tours)]
    spd = np.r_[rng.choice([22.0, 38.0, 60.0], m), np.full(n_tours, 38.0)]
    circ = np.r_[rng.uniform(0.7, 1.6, m), np.ones(n_tours)]  # each stop's circuity multiplier, hubs at 1.0
    ptr = np.searchsorted(tour_of, np.arange(n_tours + 1)).astype(np.int64)
    keys = api.hilbert_keys(a[:m], b[:m], float(a.min()), float(a.max()), float(b.min()), float(b.max()))
    nodes = np.lexsort((keys, tour_of)).astype(np.int32)
    depots = (m + np.arange(n_tours)).astype(np.int32)
    caps = (np.full(n_tours, 1000.0), np.full(n_tours, 150.0), np.full(n_tours, 28800.0))
    vehicles = np.full(n_tours, 1000, np.int32)
    # routes for the local search: the next-fit cut of those tours
    start, _ = api.next_fit_tours(ptr, nodes, depots, a, b, circ, kg, pn, svc, spd, *caps, GREAT_CIRCLE, 1.3)
    route_of = np.cumsum(start) - 1
    lens = np.bincount(route_of).astype(np.int32)
    width = int(lens.max()) + 8
    routes = np.full((lens.size, width), -1, np.int32)
    pos = np.arange(m) - np.searchsorted(route_of, route_of)
    routes[route_of, pos] = nodes
    route_tour = tour_of[nodes[np.flatnonzero(start)]]
    route_depot = depots[route_tour]
    from scipy.spatial import cKDTree

    xyz = api.unit_vectors(a[:m], b[:m])
    near = cKDTree(np.column_stack([xyz, tour_of * 10.0])).query(np.column_stack([xyz, tour_of * 10.0]), 13)[1]
    neighbours = np.full((m + n_tours, 12), -1, np.int32)
    neighbours[:m] = near[:, 1:]
    r_caps = (np.full(lens.size, 1000.0), np.full(lens.size, 150.0), np.full(lens.size, 28800.0))

    def split(backend: str) -> Any:
        return api.split_tours(ptr, nodes, depots, a, b, circ, kg, pn, svc, spd, *caps, vehicles, GREAT_CIRCLE,
                               1.3, backend=backend)[1]

    def intra(backend: str) -> Any:
        work = api.to_device(routes.copy(), np.int32, backend=backend)
        dist = api.improve_intra(work, lens, route_depot, a, b, circ, svc, spd, r_caps[2], GREAT_CIRCLE, 1.3, 1000,
                                 10, backend=backend)
        return dist

    def inter(backend: str) -> Any:
        work = api.to_device(routes.copy(), np.int32, backend=backend)
        length = api.to_device(lens.copy(), np.int32, backend=backend)
        api.improve_inter(work, length, route_depot, route_tour.astype(np.int32), neighbours, a, b, circ, kg, pn, svc,
                          spd, *r_caps, GREAT_CIRCLE, 1.3, 25, backend=backend)
        return api.route_lengths(np.r_[0, np.cumsum(_host(length))].astype(np.int64),
                                 _host(work)[_host(work) >= 0].astype(np.int32), route_depot, a, b, circ,
                                 GREAT_CIRCLE, 1.3)

    return {
        "pair_distances": (lambda be: api.pair_distances(lat, lon, lat2, lon2, GREAT_CIRCLE, 1.3, backend=be),
                           "floats"),
        "node_distances": (lambda be: api.node_distances(api.to_device(frm, np.int32, backend=be),
                                                         api.to_device(to, np.int32, backend=be),
                                                         api.to_device(lat, np.float64, backend=be),
                                                         api.to_device(lon, np.float64, backend=be),
                                                         api.to_device(circ_n, np.float64, backend=be),
                                                         GREAT_CIRCLE, 1.3, backend=be), "floats"),
        "unit_vectors": (lambda be: api.unit_vectors(lat, lon, backend=be), "floats"),
        "hilbert_keys": (lambda be: api.hilbert_keys(lat, lon, 25.0, 48.0, -124.0, -67.0, backend=be), "exact"),
        "nearest_hubs": (lambda be: api.nearest_hubs(lat, lon, hub_lat, hub_lon, 4, GREAT_CIRCLE, 1.3,
                                                     backend=be)[0], "exact"),
        "split_tours": (split, "search"),
        "next_fit_tours": (lambda be: api.next_fit_tours(ptr, nodes, depots, a, b, circ, kg, pn, svc, spd, *caps,
                                                         GREAT_CIRCLE, 1.3, backend=be)[1], "floats"),
        "improve_intra": (intra, "search"),
        "improve_inter": (inter, "search"),
    }


def compare(kind: str, gpu: Any, cpu: Any) -> bool:
    gpu, cpu = np.asarray(gpu), np.asarray(cpu)
    if kind == "exact":
        return bool(np.array_equal(gpu, cpu))
    if kind == "floats":
        finite = np.isfinite(cpu)
        return bool(np.array_equal(np.isfinite(gpu), finite)
                    and np.allclose(gpu[finite], cpu[finite], rtol=DEVICE_RTOL, atol=1e-9))
    g, c = float(np.nansum(np.where(np.isfinite(gpu), gpu, 0))), float(np.nansum(np.where(np.isfinite(cpu), cpu, 0)))
    return abs(g - c) <= SEARCH_RTOL * max(abs(c), 1.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="points of the elementwise kernels")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rng = np.random.default_rng(7)
    rows = []
    for name, (run, kind) in families(args.n, rng).items():
        cpu, cpu_s = _timed(lambda run=run: run("cpu"))
        first, first_s = _timed(lambda run=run: run("cuda"))
        gpu, gpu_s = _timed(lambda run=run: run("cuda"))
        ok = compare(kind, gpu, cpu) and compare(kind, first, cpu)
        rows.append({"kernel": name, "compile_and_first_s": round(first_s, 3), "gpu_ms": round(1e3 * gpu_s, 2),
                     "cpu_ms": round(1e3 * cpu_s, 2), "speedup": round(cpu_s / gpu_s, 2) if gpu_s else None,
                     "parity": kind, "ok": ok})
        print(f"{name}: {'ok' if ok else 'DIFFERS'} ({rows[-1]['gpu_ms']} ms on the device)", flush=True)
    lines = ["| kernel | first call s (compile) | device ms | CPU ms | CPU / device | parity | ok |",
             "|---|---:|---:|---:|---:|---|---|"]
    lines += [f"| {r['kernel']} | {r['compile_and_first_s']:.2f} | {r['gpu_ms']:.2f} | {r['cpu_ms']:.2f} | "
              f"{r['speedup']} | {r['parity']} | {'yes' if r['ok'] else 'NO'} |" for r in rows]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({**environment("cuda"), "n": args.n, "kernels": rows}, indent=2))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
