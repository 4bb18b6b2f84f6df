"""Clarke-Wright savings on the CPU: one hub per ``prange`` iteration (body in :mod:`kernels.core.savings`)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.core import host as _core
from kernels.core.savings import build_savings_core, check_hubs
from kernels.cpu._jit import array_body

_hub_savings = build_savings_core(array_body, _core).hub_savings


@njit(parallel=True, cache=True)
def _savings(hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, a, b, circ, demand_kg, demand_n,
             service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes, metric, scale, tour_nodes, route_start,
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
        cost[h] = _hub_savings(h, hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, a, b, circ,
                               demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes, metric,
                               scale, rid, nxt, prv, first, last, size, load_kg, load_n, dur, d0, t0, tour_nodes,
                               route_start)


@njit(cache=True)
def _listed(neighbours, row, x):  # type: ignore[no-untyped-def]
    """Whether ``x`` is on ``row``'s neighbour list."""
    for c in range(neighbours.shape[1]):
        if neighbours[row, c] == x:
            return True
    return False


@njit(cache=True)
def _keep(neighbours, i, c):  # type: ignore[no-untyped-def]
    """Whether entry ``c`` of row ``i`` names a pair's first occurrence in row-major order."""
    j = neighbours[i, c]
    return j >= 0 and (i < j or not _listed(neighbours, j, i))


#: bits per digit of the savings' radix sort (2,048 buckets: a hub's counts stay in L1)
_DIGIT = 11


@njit(cache=True)
def _by_decreasing(values):  # type: ignore[no-untyped-def]
    """``np.argsort(-values, kind="mergesort")`` for positive doubles, in linear time: a stable LSD radix
    sort on the complemented bit patterns (a positive double's bits order as its value), skipping the
    digits every value shares."""
    m = values.size
    order = np.arange(m)
    spare = np.empty(m, np.int64)
    keys = ~values.view(np.uint64)
    spare_keys = np.empty(m, np.uint64)
    buckets = 1 << _DIGIT
    count = np.empty(buckets + 1, np.int64)
    for shift in range(0, 64, _DIGIT):
        count[:] = 0
        for t in range(m):
            count[((keys[t] >> np.uint64(shift)) & np.uint64(buckets - 1)) + 1] += 1
        if count.max() == m:  # one digit for all: the pass would not move anything
            continue
        for c in range(buckets):
            count[c + 1] += count[c]
        for t in range(m):
            d = (keys[t] >> np.uint64(shift)) & np.uint64(buckets - 1)
            at = count[d]
            count[d] = at + 1
            spare[at] = order[t]
            spare_keys[at] = keys[t]
        order, spare = spare, order
        keys, spare_keys = spare_keys, keys
    return order


@njit(parallel=True, cache=True)
def _pairs(hub_rows, row_ptr, neighbours, d0, dist, count, pair_i, pair_j, pair_d, pair_s):  # type: ignore[no-untyped-def]
    """Hub by hub (one ``prange`` iteration each): its pairs, first in (i, j) order, then stably by saving,
    written from slot ``row_ptr[h] * k`` on (room for every entry of its rows), their number in ``count``."""
    n, k = neighbours.shape
    for h in prange(row_ptr.size - 1):
        room = (row_ptr[h + 1] - row_ptr[h]) * k
        key = np.empty(room, np.int64)
        ii = np.empty(room, np.int32)
        jj = np.empty(room, np.int32)
        dd = np.empty(room)
        ss = np.empty(room)
        m = 0
        for q in range(row_ptr[h], row_ptr[h + 1]):
            i = hub_rows[q]
            for c in range(k):
                if _keep(neighbours, i, c):
                    j = neighbours[i, c]
                    a, b = min(i, j), max(i, j)
                    saving = d0[a] + d0[b] - dist[i, c]
                    if saving > 0.0:
                        key[m] = np.int64(a) * n + b
                        ii[m] = a
                        jj[m] = b
                        dd[m] = dist[i, c]
                        ss[m] = saving
                        m += 1
        order = _by_decreasing(ss[:m])
        t = 0
        while t < m:  # equal savings in key order: keys are unique, so this is the one (-saving, key) order
            u = t + 1
            while u < m and ss[order[u]] == ss[order[t]]:
                u += 1
            if u - t > 1:
                run = order[t:u].copy()
                order[t:u] = run[np.argsort(key[run])]
            t = u
        at = row_ptr[h] * k
        for t in range(m):
            pair_i[at + t] = ii[order[t]]
            pair_j[at + t] = jj[order[t]]
            pair_d[at + t] = dd[order[t]]
            pair_s[at + t] = ss[order[t]]
        count[h] = m


def savings_pairs(stop_hub: np.ndarray, neighbours: np.ndarray, d0: np.ndarray, dist: np.ndarray,
                  n_hubs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pairs Clarke-Wright tries, sorted per hub by decreasing saving, built hub by hub in parallel.

    ``neighbours[s]`` lists stop rows near stop row ``s`` (-1 padded, same hub), ``d0`` each stop's
    distance from its hub and ``dist[s, k]`` the distance to ``neighbours[s, k]``. Returns
    ``(pair_ptr int64[H + 1], pair_i, pair_j (stop rows, int32), pair_d float64, saving float64)``:
    every unordered pair once (its distance from the row that lists it first), positive savings only, hub
    by hub, ties in (i, j) order. No global sort: each hub's pairs are found from its own rows (a pair
    listed by both ends is kept from the smaller row) and sorted on their own.
    """
    neighbours = np.ascontiguousarray(neighbours, np.int32)
    d0 = np.ascontiguousarray(d0, np.float64)
    dist = np.ascontiguousarray(dist, np.float64)
    stop_hub = np.asarray(stop_hub, np.int64)
    hub_rows = np.argsort(stop_hub, kind="stable").astype(np.int64)
    row_ptr = np.zeros(n_hubs + 1, np.int64)
    np.cumsum(np.bincount(stop_hub, minlength=n_hubs), out=row_ptr[1:])
    room = neighbours.size
    count = np.zeros(n_hubs, np.int64)
    pair_i, pair_j = np.empty(room, np.int32), np.empty(room, np.int32)
    pair_d, saving = np.empty(room, np.float64), np.empty(room, np.float64)
    _pairs(hub_rows, row_ptr, neighbours, d0, dist, count, pair_i, pair_j, pair_d, saving)
    k = neighbours.shape[1]
    slot = np.arange(room) - np.repeat(row_ptr[:-1] * k, np.diff(row_ptr) * k)
    used = slot < np.repeat(count, np.diff(row_ptr) * k)
    ptr = np.zeros(n_hubs + 1, np.int64)
    np.cumsum(count, out=ptr[1:])
    return ptr, pair_i[used], pair_j[used], pair_d[used], saving[used]


def savings_tours(hub_ptr: np.ndarray, hub_stops: np.ndarray, hub_depot: np.ndarray, pair_ptr: np.ndarray,
                  pair_i: np.ndarray, pair_j: np.ndarray, pair_d: np.ndarray, a: np.ndarray, b: np.ndarray,
                  circuity: np.ndarray, demand_kg: np.ndarray, demand_n: np.ndarray, service_s: np.ndarray,
                  speed_kmh: np.ndarray, cap_kg: np.ndarray, cap_n: np.ndarray, max_duration_s: np.ndarray,
                  max_routes: np.ndarray, metric: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
             *(np.ascontiguousarray(x, f64) for x in (a, b, circuity, demand_kg, demand_n, service_s, speed_kmh,
                                                     cap_kg, cap_n, max_duration_s, max_routes)),
             int(metric), float(scale), tour_nodes, route_start, cost)
    return tour_nodes, route_start, cost
