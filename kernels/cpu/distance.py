"""Distances from coordinates on the CPU: elementwise pairs and whole route lengths (bodies in
:mod:`kernels.core.distance`)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.core import host as _core
from kernels.core.distance import build_elements, check_nodes, check_pairs, check_points, check_routes

_elements = build_elements(njit(inline="always", cache=True), _core)
_route_length = _elements.route_length
_point_distance = _core.point_distance
_node_distance = _core.node_distance
_embed = _core.embed


@njit(parallel=True, cache=True)
def _pair_distances(a1, b1, a2, b2, metric, scale, out):  # type: ignore[no-untyped-def]
    for i in prange(out.shape[0]):
        out[i] = _point_distance(metric, scale, a1[i], b1[i], a2[i], b2[i])


@njit(parallel=True, cache=True)
def _node_distances(frm, to, a, b, circ, metric, scale, out):  # type: ignore[no-untyped-def]
    for i in prange(out.shape[0]):
        u = frm[i]
        v = to[i]
        out[i] = _node_distance(metric, scale, circ[u], circ[v], a[u], b[u], a[v], b[v])


@njit(parallel=True, cache=True)
def _unit_vectors(lat, lon, out):  # type: ignore[no-untyped-def]
    for i in prange(out.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = _embed(True, lat[i], lon[i])


@njit(parallel=True, cache=True)
def _route_lengths(route_ptr, route_nodes, route_depot, a, b, circ, metric, scale, out):  # type: ignore[no-untyped-def]
    for r in prange(out.shape[0]):
        out[r] = _route_length(r, route_ptr, route_nodes, route_depot, a, b, circ, metric, scale)




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
    circuity: np.ndarray,
    metric: int,
    scale: float,
) -> np.ndarray:
    """Length of each route, depot -> its nodes in order -> depot (float64[R]; empty routes are 0).

    Route ``r`` visits ``route_nodes[route_ptr[r]:route_ptr[r + 1]]``; nodes and
    depots index the node arrays ``a``, ``b`` and ``circuity`` (each node's
    circuity multiplier, 1.0 for the run-wide ``scale`` alone).
    """
    n_routes = check_routes(route_ptr, route_depot, a, b, circuity)
    out = np.empty(n_routes, dtype=np.float64)
    _route_lengths(
        np.ascontiguousarray(route_ptr, np.int64), np.ascontiguousarray(route_nodes, np.int32),
        np.ascontiguousarray(route_depot, np.int32),
        np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64),
        np.ascontiguousarray(circuity, np.float64), int(metric), float(scale), out,
    )
    return out


def node_distances(frm: np.ndarray, to: np.ndarray, a: np.ndarray, b: np.ndarray, circuity: np.ndarray,
                   metric: int, scale: float) -> np.ndarray:
    """Distance between node ``frm[i]`` and node ``to[i]`` of (a, b) with their ``circuity`` multipliers
    (float64[n]), read by node id."""
    if frm.shape != to.shape or frm.ndim != 1:
        raise ValueError(f"frm and to must be 1-D arrays of one length, not {frm.shape} and {to.shape}")
    check_nodes(a, b, circuity)
    out = np.empty(frm.shape[0], dtype=np.float64)
    f64 = np.float64
    _node_distances(np.ascontiguousarray(frm, np.int64), np.ascontiguousarray(to, np.int64),
                    np.ascontiguousarray(a, f64), np.ascontiguousarray(b, f64), np.ascontiguousarray(circuity, f64),
                    int(metric), float(scale), out)
    return out


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Unit vectors (float64[n, 3]) of points in degrees: chord length ranks great-circle distance, so a
    k-d tree over them finds great-circle neighbours. Compiled from the scalar core, so the bits do not
    depend on which vector maths library NumPy picked on this machine."""
    n = check_points(lat, lon)
    out = np.empty((n, 3), dtype=np.float64)
    _unit_vectors(np.ascontiguousarray(lat, np.float64), np.ascontiguousarray(lon, np.float64), out)
    return out
