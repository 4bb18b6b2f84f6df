"""Distances from coordinates on a CUDA device: elementwise pairs, pairs of nodes and whole route lengths.

One thread per pair or per route in grid-stride loops; the per-route body is
the CPU's (:func:`kernels.core.distance.build_elements`) compiled as a device function.
:func:`node_distances` reads coordinates already on the device by node id, so a
caller uploads two int32 indices per pair instead of four float64 coordinates.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from kernels.core.distance import build_elements, check_nodes, check_pairs, check_points, check_routes
from kernels.cuda import _core, _launch

_route_length = build_elements(cuda.jit(device=True, inline=True), _core).route_length
_point_distance = _core.point_distance
_node_distance = _core.node_distance
_embed = _core.embed


@cuda.jit(cache=True)
def _pair_distances(a1, b1, a2, b2, metric, scale, out):  # type: ignore[no-untyped-def]
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = _point_distance(metric, scale, a1[i], b1[i], a2[i], b2[i])


@cuda.jit(cache=True)
def _node_distances(frm, to, a, b, circ, metric, scale, out):  # type: ignore[no-untyped-def]
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        u = frm[i]
        v = to[i]
        out[i] = _node_distance(metric, scale, circ[u], circ[v], a[u], b[u], a[v], b[v])


@cuda.jit(cache=True)
def _unit_vectors(lat, lon, out):  # type: ignore[no-untyped-def]
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i, 0], out[i, 1], out[i, 2] = _embed(True, lat[i], lon[i])


@cuda.jit(cache=True)
def _route_lengths(route_ptr, route_nodes, route_depot, a, b, circ, metric, scale, out):  # type: ignore[no-untyped-def]
    for r in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[r] = _route_length(r, route_ptr, route_nodes, route_depot, a, b, circ, metric, scale)


def pair_distances(a1: Any, b1: Any, a2: Any, b2: Any, metric: int, scale: float) -> Any:
    """Distance between point ``i`` of the first set and point ``i`` of the second (device float64[n])."""
    n = check_pairs(a1, b1, a2, b2)
    f64 = np.float64
    out = _launch.device_empty(n, f64)
    if n:
        blocks, threads = _launch.launch_config(n)
        _pair_distances[blocks, threads](
            _launch.to_device(a1, f64), _launch.to_device(b1, f64),
            _launch.to_device(a2, f64), _launch.to_device(b2, f64),
            int(metric), float(scale), out,
        )
    return out


def node_distances(frm: Any, to: Any, a: Any, b: Any, circuity: Any, metric: int, scale: float) -> Any:
    """Distance between node ``frm[i]`` and node ``to[i]`` of (a, b) with their ``circuity`` multipliers
    (device float64[n])."""
    if frm.shape != to.shape or len(frm.shape) != 1:
        raise ValueError(f"frm and to must be 1-D arrays of one length, not {frm.shape} and {to.shape}")
    check_nodes(a, b, circuity)
    n = int(frm.shape[0])
    out = _launch.device_empty(n, np.float64)
    if n:
        f64, i32 = np.float64, np.int32
        _node_distances[_launch.launch_config(n)](
            _launch.to_device(frm, i32), _launch.to_device(to, i32), _launch.to_device(a, f64),
            _launch.to_device(b, f64), _launch.to_device(circuity, f64), int(metric), float(scale), out,
        )
    return out


def route_lengths(
    route_ptr: Any, route_nodes: Any, route_depot: Any, a: Any, b: Any, circuity: Any, metric: int, scale: float
) -> Any:
    """Length of each route, depot -> its nodes in order -> depot (device float64[R]; empty routes are 0)."""
    n_routes = check_routes(route_ptr, route_depot, a, b, circuity)
    out = _launch.device_empty(n_routes, np.float64)
    if n_routes:
        blocks, threads = _launch.launch_config(n_routes)
        _route_lengths[blocks, threads](
            _launch.to_device(route_ptr, np.int64), _launch.to_device(route_nodes, np.int32),
            _launch.to_device(route_depot, np.int32),
            _launch.to_device(a, np.float64), _launch.to_device(b, np.float64),
            _launch.to_device(circuity, np.float64), int(metric), float(scale), out,
        )
    return out


def unit_vectors(lat: Any, lon: Any) -> Any:
    """Unit vectors (device float64[n, 3]) of points in degrees; see :func:`kernels.cpu.distance.unit_vectors`."""
    n = check_points(lat, lon)
    out = _launch.device_empty((n, 3), np.float64)
    if n:
        _unit_vectors[_launch.launch_config(n)](_launch.to_device(lat, np.float64), _launch.to_device(lon, np.float64),
                                                out)
    return out
