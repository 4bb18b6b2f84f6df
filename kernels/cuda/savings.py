"""Clarke-Wright savings on a CUDA device: one thread per hub (body in :mod:`kernels.core.savings`).

A hub's merges are sequential, so a thread runs them; thousands of hubs keep
the device busy. The per-node state lives in device scratch indexed by node id,
so threads never share a slot.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from kernels.core.savings import build_savings_core, check_hubs
from kernels.cuda import _core, _launch

_hub_savings = build_savings_core(cuda.jit(device=True), _core).hub_savings


@cuda.jit(cache=True)
def _savings_kernel(hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, a, b, circ, demand_kg, demand_n,
                    service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes, metric, scale, rid, nxt, prv, first,
                    last, size, load_kg, load_n, dur, d0, t0, tour_nodes, route_start,
                    cost):  # type: ignore[no-untyped-def]
    for h in range(cuda.grid(1), cost.shape[0], cuda.gridsize(1)):
        cost[h] = _hub_savings(h, hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, a, b, circ,
                               demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes, metric,
                               scale, rid, nxt, prv, first, last, size, load_kg, load_n, dur, d0, t0, tour_nodes,
                               route_start)


def savings_tours(hub_ptr: Any, hub_stops: Any, hub_depot: Any, pair_ptr: Any, pair_i: Any, pair_j: Any,
                  pair_d: Any, a: Any, b: Any, circuity: Any, demand_kg: Any, demand_n: Any, service_s: Any,
                  speed_kmh: Any, cap_kg: Any, cap_n: Any, max_duration_s: Any, max_routes: Any, metric: int,
                  scale: float) -> tuple[Any, Any, Any]:
    """GPU :func:`kernels.cpu.savings.savings_tours`: the same tours, starts and costs, on the device."""
    n_hubs = len(hub_depot)
    check_hubs(_launch.to_host(hub_ptr), hub_stops, _launch.to_host(pair_ptr), n_hubs)
    f64, i32 = np.float64, np.int32
    m = int(hub_stops.shape[0])
    n = int(a.shape[0])
    tour_nodes = _launch.device_empty(m, i32)
    route_start = _launch.device_empty(m, np.int8)
    cost = _launch.device_empty(n_hubs, f64)
    if n_hubs == 0:
        return tour_nodes, route_start, cost
    ints = [_launch.device_empty(n, i32) for _ in range(6)]
    reals = [_launch.device_empty(n, f64) for _ in range(5)]
    _savings_kernel[_launch.launch_config(n_hubs)](
        _launch.to_device(hub_ptr, np.int64), _launch.to_device(hub_stops, i32), _launch.to_device(hub_depot, i32),
        _launch.to_device(pair_ptr, np.int64), _launch.to_device(pair_i, i32), _launch.to_device(pair_j, i32),
        _launch.to_device(pair_d, f64),
        *(_launch.to_device(x, f64) for x in (a, b, circuity, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n,
                                             max_duration_s, max_routes)),
        int(metric), float(scale), *ints, *reals, tour_nodes, route_start, cost)
    return tour_nodes, route_start, cost
