"""Distances from coordinates on the CPU: elementwise pairs and whole route lengths.

The per-item bodies are built once by :func:`build_elements` around a JIT
decorator and the scalar cores, so the CUDA kernels in
:mod:`kernels.cuda.distance` run exactly the same arithmetic.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import numpy as np
from numba import njit, prange

from kernels.cpu import _core


def build_elements(jit: Callable, core: SimpleNamespace) -> SimpleNamespace:
    """Return the per-route body compiled with ``jit`` on top of ``core.point_distance``."""
    point_distance = core.point_distance

    @jit
    def route_length(r, route_ptr, route_nodes, route_depot, a, b, metric, scale):  # type: ignore[no-untyped-def]
        """Depot -> nodes in order -> depot, accumulated in float64; an empty route is 0."""
        start = route_ptr[r]
        stop = route_ptr[r + 1]
        if stop <= start:
            return 0.0
        depot = route_depot[r]
        prev = depot
        total = 0.0
        for j in range(start, stop):
            node = route_nodes[j]
            total += point_distance(metric, scale, a[prev], b[prev], a[node], b[node])
            prev = node
        return total + point_distance(metric, scale, a[prev], b[prev], a[depot], b[depot])

    return SimpleNamespace(route_length=route_length)


_elements = build_elements(njit(inline="always", cache=True), _core)
_route_length = _elements.route_length
_point_distance = _core.point_distance


@njit(parallel=True, cache=True)
def _pair_distances(a1, b1, a2, b2, metric, scale, out):  # type: ignore[no-untyped-def]
    for i in prange(out.shape[0]):
        out[i] = _point_distance(metric, scale, a1[i], b1[i], a2[i], b2[i])


@njit(parallel=True, cache=True)
def _route_lengths(route_ptr, route_nodes, route_depot, a, b, metric, scale, out):  # type: ignore[no-untyped-def]
    for r in prange(out.shape[0]):
        out[r] = _route_length(r, route_ptr, route_nodes, route_depot, a, b, metric, scale)


def check_pairs(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> int:
    """Return the common length of the four coordinate arrays, raising if they differ."""
    n = len(a1)
    if not (len(b1) == len(a2) == len(b2) == n):
        raise ValueError(
            f"pair_distances needs four arrays of one length, got {len(a1)}, {len(b1)}, {len(a2)}, {len(b2)}"
        )
    return n


def check_routes(route_ptr: np.ndarray, route_depot: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
    """Return the number of routes R, raising if the CSR pointers or coordinates disagree."""
    if len(route_ptr) < 1:
        raise ValueError("route_ptr must hold R + 1 offsets (at least one element)")
    n_routes = len(route_ptr) - 1
    if len(route_depot) != n_routes:
        raise ValueError(f"route_depot has {len(route_depot)} entries for {n_routes} routes")
    if len(a) != len(b):
        raise ValueError(f"coordinate arrays differ in length: {len(a)} and {len(b)}")
    return n_routes


def pair_distances(
    a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray, metric: int, scale: float
) -> np.ndarray:
    """Distance between point ``i`` of the first set and point ``i`` of the second (float64[n])."""
    n = check_pairs(a1, b1, a2, b2)
    f64 = np.float64
    out = np.empty(n, dtype=f64)
    _pair_distances(
        np.ascontiguousarray(a1, f64), np.ascontiguousarray(b1, f64),
        np.ascontiguousarray(a2, f64), np.ascontiguousarray(b2, f64),
        int(metric), float(scale), out,
    )
    return out


def route_lengths(
    route_ptr: np.ndarray,
    route_nodes: np.ndarray,
    route_depot: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    metric: int,
    scale: float,
) -> np.ndarray:
    """Length of each route, depot -> its nodes in order -> depot (float64[R]; empty routes are 0).

    Route ``r`` visits ``route_nodes[route_ptr[r]:route_ptr[r + 1]]``; nodes and
    depots index the coordinate arrays ``a``, ``b``.
    """
    n_routes = check_routes(route_ptr, route_depot, a, b)
    out = np.empty(n_routes, dtype=np.float64)
    _route_lengths(
        np.ascontiguousarray(route_ptr, np.int64), np.ascontiguousarray(route_nodes, np.int32),
        np.ascontiguousarray(route_depot, np.int32),
        np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64),
        int(metric), float(scale), out,
    )
    return out
