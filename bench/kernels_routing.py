"""Benchmark cases for the routing kernels: Split and intra-route 2-opt/Or-opt.

:func:`bench_cases` returns plain dicts whose keys are the fields of
``bench.kernels.Case`` (``name``, ``setup``, ``bytes_per_item``,
``baseline_name``, ``baseline``), so that module registers them with
``register(Case(**case))`` and this file needs nothing from it. ``n`` is the
number of stops; ``default_n`` (popped before registering) is the size the
case is meant for. Inputs are built outside the timed region; the timed call
works on its own copy of the routes so repeats start from the same tours.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from kernels._scalar import EARTH_RADIUS_KM, GREAT_CIRCLE
from planner.settings import Settings

Runner = Callable[[], Any]

ROUTE_STOPS = 150  # stops per route in the 2-opt case
BASELINE_ROUTES = 20  # routes the NumPy 2-opt baseline runs (its time is scaled to the case's routes)
TOUR_STOPS = 2000  # stops per giant tour (one hub's day) in the Split case
SHIFT_S = 8 * 3600.0
SERVICE_S = 90.0
SPEED_KMH = 30.0
CIRCUITY = 1.3


def _backend(family: str, backend: str) -> Any:
    """The kernel module of ``family`` for ``backend`` (``cpu`` or ``cuda``)."""
    return importlib.import_module(f"kernels.{backend}.{family}")


def _device(backend: str, *arrays: np.ndarray) -> list[Any]:
    """Inputs on the device for CUDA (once, untimed); NumPy for the CPU."""
    if backend == "cpu":
        return list(arrays)
    from kernels.cuda import _launch

    return [_launch.to_device(x, x.dtype) for x in arrays]


def _fresh_copy(x: Any) -> Any:
    """A copy of ``x`` where it lies (NumPy, CuPy, or a Numba device array), so every repeat starts alike."""
    if hasattr(x, "copy_to_device"):
        from numba import cuda

        out = cuda.device_array_like(x)
        out.copy_to_device(x)
        return out
    return x.copy()


def clustered_routes(n_routes: int, stops: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``n_routes`` routes of ``stops`` stops within ~10 km of their own depot, in sweep (polar angle) order.

    Returns ``a, b`` (lat, lon; stops first, then one depot per route) and the
    padded ``routes`` int32[R, stops]. Sweep order is the kind of start Split
    hands over: sensible overall, with local zig-zags for 2-opt/Or-opt to fix.
    """
    hub_lat = rng.uniform(30.0, 47.0, n_routes)
    hub_lon = rng.uniform(-120.0, -75.0, n_routes)
    dlat = rng.normal(0.0, 0.05, (n_routes, stops))
    dlon = rng.normal(0.0, 0.05, (n_routes, stops))
    order = np.argsort(np.arctan2(dlat, dlon), axis=1)
    dlat = np.take_along_axis(dlat, order, 1)
    dlon = np.take_along_axis(dlon, order, 1)
    a = np.concatenate([(hub_lat[:, None] + dlat).ravel(), hub_lat])
    b = np.concatenate([(hub_lon[:, None] + dlon).ravel(), hub_lon])
    routes = np.arange(n_routes * stops, dtype=np.int32).reshape(n_routes, stops)
    return a, b, routes


def _intra_setup(n: int, rng: np.random.Generator, backend: str) -> Runner:
    """2-opt + Or-opt on n // ROUTE_STOPS great-circle routes, 8 h shifts, to a local optimum."""
    n_routes = max(1, n // ROUTE_STOPS)
    a, b, routes = clustered_routes(n_routes, ROUTE_STOPS, rng)
    n_nodes = len(a)
    service = np.full(n_nodes, SERVICE_S)
    service[n_routes * ROUTE_STOPS:] = 0.0
    args = _device(backend, np.full(n_routes, ROUTE_STOPS, np.int32),
                   np.arange(n_routes * ROUTE_STOPS, n_nodes, dtype=np.int32), a, b, np.ones(n_nodes), service,
                   np.full(n_nodes, SPEED_KMH), np.full(n_routes, SHIFT_S))
    kernel = _backend("intra", backend).improve_intra
    start = _device(backend, routes)[0]

    def run() -> Any:
        return kernel(_fresh_copy(start), *args, GREAT_CIRCLE, CIRCUITY, 1000, Settings().improve.intra_neighbours)

    return run


def _sample_routes(n: int) -> int:
    """Routes the NumPy baseline runs: a sample of the case's, since it takes seconds per route."""
    return min(max(1, n // ROUTE_STOPS), BASELINE_ROUTES)


def _numpy_two_opt(n: int, rng: np.random.Generator) -> Runner:
    """Baseline: best-improvement 2-opt in NumPy (vectorised deltas), one route at a time, on a sample of routes."""
    a, b, routes = clustered_routes(_sample_routes(n), ROUTE_STOPS, rng)
    lat, lon = np.radians(a), np.radians(b)
    depots = np.arange(routes.size, len(a))

    def distances(nodes: np.ndarray) -> np.ndarray:
        p, q = lat[nodes], lon[nodes]
        h = (np.sin((p[:, None] - p[None, :]) / 2) ** 2
             + np.cos(p[:, None]) * np.cos(p[None, :]) * np.sin((q[:, None] - q[None, :]) / 2) ** 2)
        return CIRCUITY * 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))

    def two_opt(nodes: np.ndarray) -> np.ndarray:
        dist = distances(nodes)  # local table: position 0 is the depot
        path = np.concatenate([[0], np.arange(1, len(nodes)), [0]])
        m = len(path) - 2
        i, j = np.triu_indices(m + 1, 1)
        i, j = i[i >= 1], j[i >= 1]
        while True:
            delta = (dist[path[i - 1], path[j]] + dist[path[i], path[j + 1]]
                     - dist[path[i - 1], path[i]] - dist[path[j], path[j + 1]])
            best = int(np.argmin(delta))
            if delta[best] >= -1e-9:
                return nodes[path[1:-1]]
            path[i[best]:j[best] + 1] = path[i[best]:j[best] + 1][::-1]

    return lambda: [two_opt(np.concatenate([[depots[r]], routes[r]])) for r in range(len(routes))]


def _split_setup(n: int, rng: np.random.Generator, backend: str) -> Runner:
    """Split of n // TOUR_STOPS sweep-ordered tours with kg, parcel and 8 h shift limits (the Bellman DP)."""
    n_tours = max(1, n // TOUR_STOPS)
    a, b, routes = clustered_routes(n_tours, TOUR_STOPS, rng)
    n_stops = n_tours * TOUR_STOPS
    n_nodes = len(a)
    kg = np.concatenate([rng.uniform(0.2, 20.0, n_stops), np.zeros(n_tours)])
    parcels = np.concatenate([rng.integers(1, 4, n_stops).astype(np.float64), np.zeros(n_tours)])
    service = np.concatenate([np.full(n_stops, SERVICE_S), np.zeros(n_tours)])
    ptr = np.arange(n_tours + 1, dtype=np.int64) * TOUR_STOPS
    args = _device(backend, ptr, routes.ravel(), np.arange(n_stops, n_nodes, dtype=np.int32), a, b, np.ones(n_nodes),
                   kg, parcels,
                   service, np.full(n_nodes, SPEED_KMH), np.full(n_tours, 1500.0), np.full(n_tours, 300.0),
                   np.full(n_tours, SHIFT_S), np.full(n_tours, 1000, np.int32))
    kernel = _backend("split", backend).split_tours
    return lambda: kernel(*args, GREAT_CIRCLE, CIRCUITY)


def bench_cases() -> list[dict[str, Any]]:
    """Timing cases for Split and intra-route improvement (fields of ``bench.kernels.Case`` plus ``default_n``).

    ``bytes_per_item`` (per stop) counts the inputs each stop must be read
    from and the outputs written: the kernels are compute-bound, so the
    bandwidth column is a floor, not a target.
    """
    return [
        {
            "name": "split_tours", "setup": _split_setup, "bytes_per_item": 4 + 7 * 8 + 1,
            "baseline_name": "", "baseline": None, "default_n": 1_000_000,
        },
        {
            "name": "improve_intra", "setup": _intra_setup, "bytes_per_item": 2 * 4 + 5 * 8,
            "baseline_name": f"numpy 2-opt per route (time of {BASELINE_ROUTES} routes, scaled)",
            "baseline": _numpy_two_opt, "baseline_share": lambda n: _sample_routes(n) / max(1, n // ROUTE_STOPS),
            "default_n": 50_000 * ROUTE_STOPS,
        },
    ]
