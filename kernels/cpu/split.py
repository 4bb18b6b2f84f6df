"""Split on the CPU: one tour per ``prange`` iteration, scratch allocated per tour (see :mod:`kernels.core.split`)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from kernels.core import host as _core
from kernels.core.split import FLOAT_SLOTS, INT_SLOTS, build_split_core, check_tours

_split = build_split_core(njit(inline="always", cache=True), _core)
_split_unlimited = _split.split_unlimited
_split_layers = _split.split_layers
_greedy_count = _split.greedy_count
_cut_cost = _split.cut_cost


@njit(cache=True)
def _split_one(nodes, depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes,
               metric, scale, start):  # type: ignore[no-untyped-def]
    """Optimal cut of one tour into ``start``; returns its distance or +inf."""
    n = nodes.shape[0]
    fws = np.empty(FLOAT_SLOTS * (n + 1))
    iws = np.empty(INT_SLOTS * (n + 1), np.int32)
    cost, needs_layers = _split_unlimited(
        nodes, depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes,
        metric, scale, fws, iws, start,
    )
    if not needs_layers:
        return cost
    layers = min(max_routes, n)
    vk = np.empty((layers + 1) * (n + 1))
    pk = np.empty((layers + 1) * (n + 1), np.int32)
    return _split_layers(nodes, demand_kg, demand_n, service_s, cap_kg, cap_n, max_dur, layers, fws, iws, vk, pk, start)


@njit(parallel=True, cache=True)
def _split_tours(tour_ptr, tour_nodes, tour_depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg,
                 cap_n, max_duration_s, max_routes, metric, scale, route_start, tour_cost):  # type: ignore[no-untyped-def]
    for t in prange(tour_cost.shape[0]):
        lo = tour_ptr[t]
        hi = tour_ptr[t + 1]
        tour_cost[t] = _split_one(
            tour_nodes[lo:hi], tour_depot[t], a, b, circ, demand_kg, demand_n, service_s, speed_kmh,
            cap_kg[t], cap_n[t], max_duration_s[t], max_routes[t], metric, scale, route_start[lo:hi],
        )


@njit(parallel=True, cache=True)
def _route_counts(tour_ptr, tour_nodes, tour_depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg,
                  cap_n, max_duration_s, metric, scale, counts):  # type: ignore[no-untyped-def]
    for t in prange(counts.shape[0]):
        lo = tour_ptr[t]
        hi = tour_ptr[t + 1]
        fws = np.empty(FLOAT_SLOTS * (hi - lo + 1))
        counts[t] = _greedy_count(
            tour_nodes[lo:hi], tour_depot[t], a, b, circ, demand_kg, demand_n, service_s, speed_kmh,
            cap_kg[t], cap_n[t], max_duration_s[t], metric, scale, fws, np.empty(0, np.int8),
        )


@njit(parallel=True, cache=True)
def _next_fit(tour_ptr, tour_nodes, tour_depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg,
              cap_n, max_duration_s, metric, scale, route_start, tour_cost):  # type: ignore[no-untyped-def]
    for t in prange(tour_cost.shape[0]):
        lo = tour_ptr[t]
        hi = tour_ptr[t + 1]
        n = hi - lo
        fws = np.empty(FLOAT_SLOTS * (n + 1))
        count = _greedy_count(tour_nodes[lo:hi], tour_depot[t], a, b, circ, demand_kg, demand_n, service_s, speed_kmh,
                              cap_kg[t], cap_n[t], max_duration_s[t], metric, scale, fws, route_start[lo:hi])
        tour_cost[t] = math.inf if count < 0 else _cut_cost(route_start[lo:hi], fws[0:n + 1], fws[n + 1:2 * (n + 1)])




def split_tours(
    tour_ptr: np.ndarray,
    tour_nodes: np.ndarray,
    tour_depot: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    circuity: np.ndarray,
    demand_kg: np.ndarray,
    demand_n: np.ndarray,
    service_s: np.ndarray,
    speed_kmh: np.ndarray,
    cap_kg: np.ndarray,
    cap_n: np.ndarray,
    max_duration_s: np.ndarray,
    max_routes: np.ndarray,
    metric: int,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut each giant tour (order fixed) into the least-distance feasible routes.

    Tour ``t`` visits ``tour_nodes[tour_ptr[t]:tour_ptr[t + 1]]`` from depot
    ``tour_depot[t]``; every route keeps load <= ``cap_kg[t]``, parcels <=
    ``cap_n[t]``, duration (legs + service) <= ``max_duration_s[t]`` (+inf: no
    shift limit, which enables the linear-time DP) and the tour uses at most
    ``max_routes[t]`` routes. Returns ``route_start`` (int8[m], 1 where a route
    begins) and ``tour_cost`` (float64[T], total distance; +inf with no starts
    marked when the tour cannot be cut feasibly; 0 for an empty tour).
    """
    n_tours = check_tours(tour_ptr, tour_nodes, {
        "tour_depot": tour_depot, "cap_kg": cap_kg, "cap_n": cap_n,
        "max_duration_s": max_duration_s, "max_routes": max_routes,
    })
    route_start = np.zeros(len(tour_nodes), dtype=np.int8)
    tour_cost = np.empty(n_tours, dtype=np.float64)
    _split_tours(*_tour_args(tour_ptr, tour_nodes, tour_depot, a, b, circuity, demand_kg, demand_n, service_s,
                             speed_kmh, cap_kg, cap_n, max_duration_s),
                 np.ascontiguousarray(max_routes, np.int32), int(metric), float(scale), route_start, tour_cost)
    return route_start, tour_cost


def _tour_args(tour_ptr, tour_nodes, tour_depot, *reals) -> tuple[np.ndarray, ...]:  # type: ignore[no-untyped-def]
    """The CSR tour arrays and the float64 node and per-tour arrays, contiguous, as the kernels take them."""
    return (np.ascontiguousarray(tour_ptr, np.int64), np.ascontiguousarray(tour_nodes, np.int32),
            np.ascontiguousarray(tour_depot, np.int32), *(np.ascontiguousarray(x, np.float64) for x in reals))


def route_counts(
    tour_ptr: np.ndarray,
    tour_nodes: np.ndarray,
    tour_depot: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    circuity: np.ndarray,
    demand_kg: np.ndarray,
    demand_n: np.ndarray,
    service_s: np.ndarray,
    speed_kmh: np.ndarray,
    cap_kg: np.ndarray,
    cap_n: np.ndarray,
    max_duration_s: np.ndarray,
    metric: int,
    scale: float,
) -> np.ndarray:
    """Routes a next-fit cut of each tour needs (int32[T]; -1 when a stop fits no route), in O(n).

    The fleet check of :func:`split_tours` in linear time: a tour whose count
    is at most its fleet can be cut feasibly with that fleet.
    """
    n_tours = check_tours(tour_ptr, tour_nodes, {
        "tour_depot": tour_depot, "cap_kg": cap_kg, "cap_n": cap_n, "max_duration_s": max_duration_s,
    })
    counts = np.empty(n_tours, dtype=np.int32)
    _route_counts(*_tour_args(tour_ptr, tour_nodes, tour_depot, a, b, circuity, demand_kg, demand_n, service_s,
                              speed_kmh, cap_kg, cap_n, max_duration_s), int(metric), float(scale), counts)
    return counts


def next_fit_tours(
    tour_ptr: np.ndarray,
    tour_nodes: np.ndarray,
    tour_depot: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    circuity: np.ndarray,
    demand_kg: np.ndarray,
    demand_n: np.ndarray,
    service_s: np.ndarray,
    speed_kmh: np.ndarray,
    cap_kg: np.ndarray,
    cap_n: np.ndarray,
    max_duration_s: np.ndarray,
    metric: int,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The next-fit cut of each tour (every route as long as it stays feasible), in O(n):
    ``(route_start int8[m], tour_cost float64[T])``, +inf where a stop fits no route. The fewest routes
    Split can use (see :func:`route_counts`): the cut to fall back on when the fleet binds.
    """
    n_tours = check_tours(tour_ptr, tour_nodes, {
        "tour_depot": tour_depot, "cap_kg": cap_kg, "cap_n": cap_n, "max_duration_s": max_duration_s,
    })
    route_start = np.zeros(len(tour_nodes), dtype=np.int8)
    tour_cost = np.empty(n_tours, dtype=np.float64)
    _next_fit(*_tour_args(tour_ptr, tour_nodes, tour_depot, a, b, circuity, demand_kg, demand_n, service_s,
                          speed_kmh, cap_kg, cap_n, max_duration_s), int(metric), float(scale), route_start, tour_cost)
    return route_start, tour_cost
