"""Clarke-Wright savings on the CPU: one hub per ``prange`` iteration (body in :mod:`kernels.core.savings`)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.core import host as _core
from kernels.core.savings import build_savings_core, check_hubs

_hub_savings = build_savings_core(njit(cache=True), _core).hub_savings


@njit(parallel=True, cache=True)
def _savings(hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, a, b, demand_kg, demand_n, service_s,
             speed_kmh, cap_kg, cap_n, max_dur, max_routes, metric, scale, tour_nodes, route_start,
             cost):  # type: ignore[no-untyped-def]
    n = a.shape[0]
    rid = np.empty(n, np.int32)
    nxt = np.empty(n, np.int32)
    prv = np.empty(n, np.int32)
    first = np.empty(n, np.int32)
    last = np.empty(n, np.int32)
    size = np.empty(n, np.int32)
    load_kg = np.empty(n)
    load_n = np.empty(n)
    dur = np.empty(n)
    d0 = np.empty(n)
    t0 = np.empty(n)
    for h in prange(cost.shape[0]):
        cost[h] = _hub_savings(h, hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, a, b, demand_kg,
                               demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes, metric, scale,
                               rid, nxt, prv, first, last, size, load_kg, load_n, dur, d0, t0, tour_nodes,
                               route_start)


def savings_tours(hub_ptr: np.ndarray, hub_stops: np.ndarray, hub_depot: np.ndarray, pair_ptr: np.ndarray,
                  pair_i: np.ndarray, pair_j: np.ndarray, pair_d: np.ndarray, a: np.ndarray, b: np.ndarray,
                  demand_kg: np.ndarray, demand_n: np.ndarray, service_s: np.ndarray, speed_kmh: np.ndarray,
                  cap_kg: np.ndarray, cap_n: np.ndarray, max_duration_s: np.ndarray, max_routes: np.ndarray,
                  metric: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clarke-Wright routes of every hub: ``(tour_nodes int32[m], route_start int8[m], cost float64[H])``.

    Hub ``h`` routes the stops ``hub_stops[hub_ptr[h]:hub_ptr[h + 1]]`` (node ids) from depot node
    ``hub_depot[h]`` by merging along its pairs ``pair_*[pair_ptr[h]:pair_ptr[h + 1]]`` (sorted by
    decreasing saving, :func:`kernels.core.savings.savings_pairs`); the tour lists its routes one after
    another (``route_start`` 1 at each route's first stop). ``cost`` is +inf where the routes outnumber
    ``max_routes``.
    """
    n_hubs = len(hub_depot)
    check_hubs(hub_ptr, hub_stops, pair_ptr, n_hubs)
    f64, i32 = np.float64, np.int32
    tour_nodes = np.empty(len(hub_stops), i32)
    route_start = np.zeros(len(hub_stops), np.int8)
    cost = np.empty(n_hubs, f64)
    _savings(np.ascontiguousarray(hub_ptr, np.int64), np.ascontiguousarray(hub_stops, i32),
             np.ascontiguousarray(hub_depot, i32), np.ascontiguousarray(pair_ptr, np.int64),
             np.ascontiguousarray(pair_i, i32), np.ascontiguousarray(pair_j, i32), np.ascontiguousarray(pair_d, f64),
             *(np.ascontiguousarray(x, f64) for x in (a, b, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n,
                                                     max_duration_s, max_routes)),
             int(metric), float(scale), tour_nodes, route_start, cost)
    return tour_nodes, route_start, cost
