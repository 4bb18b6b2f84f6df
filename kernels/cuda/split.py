"""Split on the GPU: one thread per giant tour (grid-stride), the CPU's DP bodies.

The per-tour bodies come from :func:`kernels.core.split.build_split_core`, so
costs and cuts equal the CPU's. Scratch is one flat workspace where tour
``t`` owns ``(len + 1)`` rows of ``FLOAT_SLOTS`` / ``INT_SLOTS`` entries at
offset ``tour_ptr[t] + t``. Tours whose unlimited optimum needs more routes
than their fleet are solved in a second launch, with layer storage sized on
the host for just those tours.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from kernels.core.split import FLOAT_SLOTS, INT_SLOTS, build_split_core, check_tours
from kernels.cuda import _core, _launch

_split = build_split_core(cuda.jit(device=True, inline=True), _core)
_split_unlimited = _split.split_unlimited
_split_layers = _split.split_layers
_greedy_count = _split.greedy_count
_cut_cost = _split.cut_cost


@cuda.jit(cache=True)
def _unlimited_kernel(tour_ptr, tour_nodes, tour_depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg,
                      cap_n, max_duration_s, max_routes, metric, scale, fws, iws, route_start, tour_cost,
                      needs_layers):  # type: ignore[no-untyped-def]
    for t in range(cuda.grid(1), tour_cost.shape[0], cuda.gridsize(1)):
        lo = tour_ptr[t]
        hi = tour_ptr[t + 1]
        base = lo + t
        rows = hi - lo + 1
        cost, needs = _split_unlimited(
            tour_nodes[lo:hi], tour_depot[t], a, b, circ, demand_kg, demand_n, service_s, speed_kmh,
            cap_kg[t], cap_n[t], max_duration_s[t], max_routes[t], metric, scale,
            fws[FLOAT_SLOTS * base:FLOAT_SLOTS * (base + rows)], iws[INT_SLOTS * base:INT_SLOTS * (base + rows)],
            route_start[lo:hi],
        )
        tour_cost[t] = cost
        needs_layers[t] = 1 if needs else 0


@cuda.jit(cache=True)
def _layers_kernel(todo, layer_ptr, tour_ptr, tour_nodes, demand_kg, demand_n, service_s, cap_kg, cap_n,
                   max_duration_s, max_routes, fws, iws, vk, pk, route_start, tour_cost):  # type: ignore[no-untyped-def]
    for w in range(cuda.grid(1), todo.shape[0], cuda.gridsize(1)):
        t = todo[w]
        lo = tour_ptr[t]
        hi = tour_ptr[t + 1]
        base = lo + t
        rows = hi - lo + 1
        layers = min(max_routes[t], hi - lo)
        off = layer_ptr[w]
        size = (layers + 1) * rows
        tour_cost[t] = _split_layers(
            tour_nodes[lo:hi], demand_kg, demand_n, service_s, cap_kg[t], cap_n[t], max_duration_s[t], layers,
            fws[FLOAT_SLOTS * base:FLOAT_SLOTS * (base + rows)], iws[INT_SLOTS * base:INT_SLOTS * (base + rows)],
            vk[off:off + size], pk[off:off + size], route_start[lo:hi],
        )


@cuda.jit(cache=True)
def _counts_kernel(tour_ptr, tour_nodes, tour_depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg,
                   cap_n, max_duration_s, metric, scale, fws, counts):  # type: ignore[no-untyped-def]
    for t in range(cuda.grid(1), counts.shape[0], cuda.gridsize(1)):
        lo = tour_ptr[t]
        hi = tour_ptr[t + 1]
        base = lo + t
        rows = hi - lo + 1
        counts[t] = _greedy_count(
            tour_nodes[lo:hi], tour_depot[t], a, b, circ, demand_kg, demand_n, service_s, speed_kmh,
            cap_kg[t], cap_n[t], max_duration_s[t], metric, scale, fws[FLOAT_SLOTS * base:FLOAT_SLOTS * (base + rows)],
            tour_nodes[0:0],
        )


@cuda.jit(cache=True)
def _next_fit_kernel(tour_ptr, tour_nodes, tour_depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg,
                     cap_n, max_duration_s, metric, scale, fws, route_start, tour_cost):  # type: ignore[no-untyped-def]
    for t in range(cuda.grid(1), tour_cost.shape[0], cuda.gridsize(1)):
        lo = tour_ptr[t]
        hi = tour_ptr[t + 1]
        base = lo + t
        rows = hi - lo + 1
        ws = fws[FLOAT_SLOTS * base:FLOAT_SLOTS * (base + rows)]
        count = _greedy_count(tour_nodes[lo:hi], tour_depot[t], a, b, circ, demand_kg, demand_n, service_s, speed_kmh,
                              cap_kg[t], cap_n[t], max_duration_s[t], metric, scale, ws, route_start[lo:hi])
        if count < 0:
            tour_cost[t] = math.inf
        else:
            tour_cost[t] = _cut_cost(route_start[lo:hi], ws[0:rows], ws[rows:2 * rows])


def route_counts(tour_ptr: Any, tour_nodes: Any, tour_depot: Any, a: Any, b: Any, circuity: Any, demand_kg: Any,
                 demand_n: Any, service_s: Any, speed_kmh: Any, cap_kg: Any, cap_n: Any, max_duration_s: Any,
                 metric: int, scale: float) -> Any:
    """GPU :func:`kernels.cpu.split.route_counts`: one thread per tour; int32[T] on the device."""
    ptr_host = np.asarray(_launch.to_host(tour_ptr), dtype=np.int64)
    n_tours = check_tours(ptr_host, tour_nodes, {
        "tour_depot": tour_depot, "cap_kg": cap_kg, "cap_n": cap_n, "max_duration_s": max_duration_s,
    })
    counts = _launch.device_empty(n_tours, np.int32)
    if n_tours == 0:
        return counts
    f64, i32 = np.float64, np.int32
    fws = _launch.device_empty(FLOAT_SLOTS * (int(ptr_host[-1]) + n_tours), f64)
    _counts_kernel[_launch.launch_config(n_tours)](
        _launch.to_device(ptr_host, np.int64), _launch.to_device(tour_nodes, i32),
        _launch.to_device(tour_depot, i32), _launch.to_device(a, f64), _launch.to_device(b, f64),
        *(_launch.to_device(x, f64) for x in (circuity, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n,
                                              max_duration_s)),
        int(metric), float(scale), fws, counts,
    )
    return counts


def next_fit_tours(tour_ptr: Any, tour_nodes: Any, tour_depot: Any, a: Any, b: Any, circuity: Any, demand_kg: Any,
                   demand_n: Any, service_s: Any, speed_kmh: Any, cap_kg: Any, cap_n: Any, max_duration_s: Any,
                   metric: int, scale: float) -> tuple[Any, Any]:
    """GPU :func:`kernels.cpu.split.next_fit_tours`: one thread per tour; device arrays out."""
    ptr_host = np.asarray(_launch.to_host(tour_ptr), dtype=np.int64)
    n_tours = check_tours(ptr_host, tour_nodes, {
        "tour_depot": tour_depot, "cap_kg": cap_kg, "cap_n": cap_n, "max_duration_s": max_duration_s,
    })
    m = int(ptr_host[-1])
    route_start = _launch.device_empty(m, np.int8)  # every slot of a tour with a cut is written
    tour_cost = _launch.device_empty(n_tours, np.float64)
    if n_tours == 0:
        return route_start, tour_cost
    f64, i32 = np.float64, np.int32
    fws = _launch.device_empty(FLOAT_SLOTS * (m + n_tours), f64)
    _next_fit_kernel[_launch.launch_config(n_tours)](
        _launch.to_device(ptr_host, np.int64), _launch.to_device(tour_nodes, i32),
        _launch.to_device(tour_depot, i32), _launch.to_device(a, f64), _launch.to_device(b, f64),
        *(_launch.to_device(x, f64) for x in (circuity, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n,
                                              max_duration_s)),
        int(metric), float(scale), fws, route_start, tour_cost,
    )
    return route_start, tour_cost


def split_tours(
    tour_ptr: Any,
    tour_nodes: Any,
    tour_depot: Any,
    a: Any,
    b: Any,
    circuity: Any,
    demand_kg: Any,
    demand_n: Any,
    service_s: Any,
    speed_kmh: Any,
    cap_kg: Any,
    cap_n: Any,
    max_duration_s: Any,
    max_routes: Any,
    metric: int,
    scale: float,
) -> tuple[Any, Any]:
    """GPU :func:`kernels.cpu.split.split_tours`: same arguments, device arrays out.

    Inputs may be NumPy or device arrays; ``route_start`` (int8[m]) and
    ``tour_cost`` (float64[T]) come back on the device (CuPy when present).
    """
    ptr_host = np.asarray(_launch.to_host(tour_ptr), dtype=np.int64)
    routes_host = np.asarray(_launch.to_host(max_routes), dtype=np.int64)
    n_tours = check_tours(ptr_host, tour_nodes, {
        "tour_depot": tour_depot, "cap_kg": cap_kg, "cap_n": cap_n,
        "max_duration_s": max_duration_s, "max_routes": max_routes,
    })
    m = int(ptr_host[-1])
    f64, i32 = np.float64, np.int32
    d_ptr = _launch.to_device(ptr_host, np.int64)
    d_nodes = _launch.to_device(tour_nodes, i32)
    d_kg, d_n, d_svc = (_launch.to_device(x, f64) for x in (demand_kg, demand_n, service_s))
    d_cap_kg, d_cap_n, d_dur = (_launch.to_device(x, f64) for x in (cap_kg, cap_n, max_duration_s))
    d_routes = _launch.to_device(routes_host, i32)
    fws = _launch.device_empty(FLOAT_SLOTS * (m + n_tours), f64)
    iws = _launch.device_empty(INT_SLOTS * (m + n_tours), i32)
    route_start = _launch.device_empty(m, np.int8)
    tour_cost = _launch.device_empty(n_tours, f64)
    needs_layers = _launch.device_empty(n_tours, np.int8)
    if n_tours == 0:
        return route_start, tour_cost
    _unlimited_kernel[_launch.launch_config(n_tours)](
        d_ptr, d_nodes, _launch.to_device(tour_depot, i32), _launch.to_device(a, f64), _launch.to_device(b, f64),
        _launch.to_device(circuity, f64), d_kg, d_n, d_svc, _launch.to_device(speed_kmh, f64), d_cap_kg, d_cap_n,
        d_dur, d_routes, int(metric), float(scale), fws, iws, route_start, tour_cost, needs_layers,
    )
    todo = np.flatnonzero(_launch.to_host(needs_layers)).astype(i32)
    if len(todo):
        lengths = ptr_host[todo + 1] - ptr_host[todo]
        sizes = (np.minimum(routes_host[todo], lengths) + 1) * (lengths + 1)
        layer_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        _layers_kernel[_launch.launch_config(len(todo))](
            _launch.to_device(todo, i32), _launch.to_device(layer_ptr, np.int64), d_ptr, d_nodes, d_kg, d_n, d_svc,
            d_cap_kg, d_cap_n, d_dur, d_routes, fws, iws,
            _launch.device_empty(int(layer_ptr[-1]), f64), _launch.device_empty(int(layer_ptr[-1]), i32),
            route_start, tour_cost,
        )
    return route_start, tour_cost
