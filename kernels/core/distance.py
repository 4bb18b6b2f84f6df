"""Distances from coordinates on the CPU: elementwise pairs and whole route lengths.

The per-item bodies are built once by :func:`build_elements` around a JIT
decorator and the scalar cores, so the CUDA kernels in
:mod:`kernels.cuda.distance` run exactly the same arithmetic.
"""
from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np


def build_elements(jit: Callable, core: SimpleNamespace) -> SimpleNamespace:
    """Return the per-route body compiled with ``jit`` on top of ``core.node_distance``."""
    node_distance = core.node_distance

    @jit
    def route_length(r, route_ptr, route_nodes, route_depot, a, b, circ, metric, scale):  # type: ignore[no-untyped-def]
        """Depot -> nodes in order -> depot, accumulated in float64; an empty route is 0. ``circ`` holds each
        node's circuity multiplier (see :func:`kernels._scalar.build`)."""
        start = route_ptr[r]
        stop = route_ptr[r + 1]
        if stop <= start:
            return 0.0
        depot = route_depot[r]
        prev = depot
        total = 0.0
        for j in range(start, stop):
            node = route_nodes[j]
            total += node_distance(metric, scale, circ[prev], circ[node], a[prev], b[prev], a[node], b[node])
            prev = node
        return total + node_distance(metric, scale, circ[prev], circ[depot], a[prev], b[prev], a[depot], b[depot])

    return SimpleNamespace(route_length=route_length)



def check_pairs(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> int:
    """Return the common length of the four coordinate arrays, raising if they differ."""
    n = len(a1)
    if not (len(b1) == len(a2) == len(b2) == n):
        raise ValueError(
            f"pair_distances needs four arrays of one length, got {len(a1)}, {len(b1)}, {len(a2)}, {len(b2)}"
        )
    return n



def check_routes(route_ptr: np.ndarray, route_depot: np.ndarray, a: np.ndarray, b: np.ndarray,
                 circuity: np.ndarray) -> int:
    """Return the number of routes R, raising if the CSR pointers or node arrays disagree."""
    if len(route_ptr) < 1:
        raise ValueError("route_ptr must hold R + 1 offsets (at least one element)")
    n_routes = len(route_ptr) - 1
    if len(route_depot) != n_routes:
        raise ValueError(f"route_depot has {len(route_depot)} entries for {n_routes} routes")
    check_nodes(a, b, circuity)
    return n_routes


def check_nodes(a: np.ndarray, b: np.ndarray, circuity: np.ndarray) -> int:
    """Return the number of nodes, raising if the coordinates and the circuity multipliers differ in length."""
    if not len(a) == len(b) == len(circuity):
        raise ValueError(f"node arrays differ in length: a {len(a)}, b {len(b)}, circuity {len(circuity)}")
    return len(a)



def check_points(lat: np.ndarray, lon: np.ndarray) -> int:
    """Return the number of points, raising if the two coordinate arrays differ in length."""
    if len(lat) != len(lon):
        raise ValueError(f"coordinate arrays differ in length: {len(lat)} and {len(lon)}")
    return len(lat)
