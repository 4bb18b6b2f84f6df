"""Clarke-Wright savings over granular neighbour lists: a start worth improving, without a distance matrix.

Every stop starts on a route of its own (hub -> stop -> hub). Pairs (i, j) of
near stops (each stop's k nearest, deduplicated, both of one hub) are taken
in decreasing order of their saving ``d(0, i) + d(0, j) - d(i, j)`` and merge
the two routes that end at i and start at j whenever the merged route keeps
the vehicle's kg and parcel capacities and the shift (Clarke & Wright 1964,
the parallel version; Vidal et al.'s granular restriction). Leg times use
both endpoints' speeds symmetrically, so a route reversed keeps its duration
and a merge may reverse either route; the smaller one is reversed. The pairs
come sorted per hub (on the host, :func:`kernels.cpu.savings.savings_pairs`); the
merges of one hub are sequential by nature, so each hub is one ``prange``
iteration on the CPU and one thread on CUDA, running the same body.

Per-stop and per-route state is indexed by node id (a route is named by the
stop it started from), so hubs never share a slot. The routes of a hub are
written as one tour in the caller's stop order with route starts marked, the
layout Split returns, with their total distance; a hub whose routes outnumber
its vehicles gets +inf (the caller then keeps a Split cut).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np


def build_savings_core(jit: Callable, core: SimpleNamespace) -> SimpleNamespace:
    """Return the per-hub savings body compiled with ``jit`` on top of ``core``'s scalar cores."""
    node_distance = core.node_distance
    leg_seconds = core.leg_seconds

    @jit
    def reverse(r, first, last, nxt, prv):  # type: ignore[no-untyped-def]
        """Reverse route ``r`` in place (swap each stop's links, then the route's ends)."""
        x = first[r]
        while x >= 0:
            y = nxt[x]
            nxt[x] = prv[x]
            prv[x] = y
            x = y
        x = first[r]
        first[r] = last[r]
        last[r] = x

    @jit
    def hub_savings(h, hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, a, b, circ, demand_kg,
                    demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur, max_routes, metric, scale, rid, nxt, prv,
                    first, last, size, load_kg, load_n, dur, d0, t0, tour_nodes, route_start):  # type: ignore[no-untyped-def]
        """Merge hub ``h``'s routes by its sorted pairs; write its tour and starts; return its distance.

        ``pair_d`` are the pairs' distances as the caller computed them (with the circuity multipliers
        ``circ``, as the hub legs here are)."""
        depot = hub_depot[h]
        lo = hub_ptr[h]
        hi = hub_ptr[h + 1]
        routes = hi - lo
        for p in range(lo, hi):
            s = hub_stops[p]
            d = node_distance(metric, scale, circ[depot], circ[s], a[depot], b[depot], a[s], b[s])
            t = leg_seconds(d, speed_kmh[depot], speed_kmh[s])
            d0[s] = d
            t0[s] = t
            rid[s] = s
            nxt[s] = -1
            prv[s] = -1
            first[s] = s
            last[s] = s
            size[s] = 1
            load_kg[s] = demand_kg[s]
            load_n[s] = demand_n[s]
            dur[s] = 2.0 * t + service_s[s]
        for q in range(pair_ptr[h], pair_ptr[h + 1]):
            i = pair_i[q]
            j = pair_j[q]
            ri = rid[i]
            rj = rid[j]
            if ri == rj:
                continue
            i_end = first[ri] == i or last[ri] == i
            j_end = first[rj] == j or last[rj] == j
            if not (i_end and j_end):
                continue
            if load_kg[ri] + load_kg[rj] > cap_kg[h] or load_n[ri] + load_n[rj] > cap_n[h]:
                continue
            dij = pair_d[q]
            merged = dur[ri] + dur[rj] - t0[i] - t0[j] + leg_seconds(dij, speed_kmh[i], speed_kmh[j])
            if merged > max_dur[h]:
                continue
            # the smaller route moves behind the larger one's end (reversing whichever needs it)
            big, small, b_end, s_end = ri, rj, i, j
            if size[rj] > size[ri]:
                big, small, b_end, s_end = rj, ri, j, i
            if last[big] != b_end:
                reverse(big, first, last, nxt, prv)
            if first[small] != s_end:
                reverse(small, first, last, nxt, prv)
            nxt[b_end] = s_end
            prv[s_end] = b_end
            last[big] = last[small]
            x = s_end
            while x >= 0:
                rid[x] = big
                x = nxt[x]
            size[big] += size[small]
            load_kg[big] += load_kg[small]
            load_n[big] += load_n[small]
            dur[big] = merged
            size[small] = 0
            routes -= 1
        # the tour: routes in the order of their first stop in the hub's stop list
        w = lo
        total = 0.0
        for p in range(lo, hi):
            s = hub_stops[p]
            if prv[s] >= 0:
                continue
            x = s
            prev = depot
            while x >= 0:
                tour_nodes[w] = x
                route_start[w] = 1 if prev == depot else 0
                total += node_distance(metric, scale, circ[prev], circ[x], a[prev], b[prev], a[x], b[x])
                prev = x
                x = nxt[x]
                w += 1
            total += node_distance(metric, scale, circ[prev], circ[depot], a[prev], b[prev], a[depot], b[depot])
        if routes > max_routes[h]:
            return math.inf
        return total

    return SimpleNamespace(hub_savings=hub_savings)


def check_hubs(hub_ptr: np.ndarray, hub_stops: np.ndarray, pair_ptr: np.ndarray, n_hubs: int) -> None:
    """Raise if the CSR pointers of the hubs' stops and pairs disagree with ``n_hubs``."""
    if len(hub_ptr) != n_hubs + 1 or len(pair_ptr) != n_hubs + 1:
        raise ValueError(f"hub_ptr and pair_ptr must hold {n_hubs + 1} offsets")
    if int(hub_ptr[-1]) != len(hub_stops):
        raise ValueError(f"hub_ptr must end at len(hub_stops) = {len(hub_stops)}")
