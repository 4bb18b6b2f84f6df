"""SISR ruin-and-recreate with simulated annealing for one depot's routes (CPU).

Slack Induction by String Removals (Christiaens & Vanden Berghe 2020): each
iteration removes a few *strings* (runs of consecutive stops) from routes
near a random seed stop, reinserts the removed stops one by one at their
cheapest feasible position (skipping each position with a small "blink"
probability), and accepts the result by simulated annealing. Two choices
keep it linear in the number of stops and fast on large instances:

* granular recreate: a stop is tried only next to its K nearest stops
  (before or after each one that is routed) or on a new route; all routes
  are scanned only when none of those positions fits;
* distances are computed on the fly from coordinates (no distance matrix),
  except the K neighbour distances of each stop and its distance to the
  depot, computed once (:func:`neighbour_distances`, O(n K)); great-circle
  distances come from unit vectors (``2 R asin(chord / 2)``, no trigonometry
  but one arcsine), added to the node rows by :func:`prepare_nodes`, times the
  two ends' circuity multipliers' mean (:func:`kernels._scalar.build`);
* the distance into each routed stop from its predecessor is cached
  (``ed``, kept up to date by every removal and insertion), so a position
  next to a neighbour costs one new distance, and its arcsine only where
  the chord's lower bound (:func:`_dist_floor`) does not already make the
  position lose to the best one so far; the shift is checked only for a
  position that wins on distance. Both skips leave every choice as it was
  (2.4-2.8x the iterations per second on national hubs), and the winner's
  two distances go on to the insertion;
* shift limits are checked on incrementally updated route durations (the
  same leg and service times, kept under the shift by ``DUR_TOL``; a route
  that only lost stops is checked too, since speeds differ per stop and a
  shortcut can take longer); the touched routes' durations are recomputed
  from scratch whenever a new best solution is stored, so rounding never
  accumulates;
* the best solution is a copy of the current one kept up to date by copying
  only the rows changed since the two last agreed.
* tight limits are crossed at a price (as PyVRP's penalty manager does): a
  place on a route over the shift or the load after the insertion competes
  at its added distance plus a weight per second over the shift and per
  mean stop's demand (kg, parcels) over the load, the acceptance test reads the same penalised cost,
  and only solutions within every limit become the best one. Each weight
  rises by ``penalty_step`` after a window of iterations in which fewer than
  ``penalty_target`` of the current solutions were within its limit, and
  falls otherwise, so the search works along the limits instead of stopping
  at them: on the five largest hubs of the 1M national day, 9 iterations a
  stop end 1.0 % shorter (PyVRP ratio 1.054 -> 1.044), 30 a stop 1.1 %;
  the shift is the wall of rural hubs, where a route cannot take a stop
  without first giving one up.
* strings never empty a route of a hundred stops, so a hub started on more
  routes than it needs keeps their depot round trips; while the penalised
  search has more than ``route_ruin_slack`` routes above the fewest that can
  carry the hub's kg, parcels and service time (:func:`route_floor`), an
  iteration removes the route with the fewest stops whole instead, with
  chance ``route_ruin``, and the penalties take its stops onto the others:
  on the rural hub of the five (22 routes where PyVRP drives 19) 9
  iterations a stop end 1.9 % shorter, 30 a stop 1.8 %.

* the search's steps are inlined into one loop compiled without Numba's
  reference counting (:func:`_build_run`, ``_nrt=False``): its scratch
  arrays come from :func:`workspace`, so nothing in it allocates, and no
  array handed to a step is counted up and down atomically around it.
  Counted, those atomics took 45 % of the search's time; without them the
  282 largest hubs of the 1M day search 1.88x as fast, to the same routes.

The solution is a doubly linked list per route: ``ns[c] = (succ, pred,
route)`` with -1 for the depot, and per-route ``ri[r] = (first, last,
count)``, ``rs[r] = (kg, parcels, duration)``. A rejected move is undone
from a journal of the rows it touched, so an iteration costs what it
changes, not O(n).

Determinism: the random stream (xorshift64*), the temperature and the
penalty weights' windows depend only on the seed and the global iteration
index (the weights and window counts live in the state), so running iterations
``[0, k)`` in any number of chunks gives the same trajectory, and a longer
run replays a shorter one before going on. The temperature falls
geometrically from ``t0`` to ``tf`` over cycles that double in length,
each cycle restarting from the best solution; the best solution found so
far is kept, so more iterations never give a worse result.
"""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
from numba import njit

from kernels._scalar import GREAT_CIRCLE
from kernels.core.host import chord_km, chord_km_floor, leg_seconds, node_distance, pair_circuity
from kernels.cpu.distance import unit_vectors
from kernels.cpu.intra import improve_on_table

# node columns of the search's rows (float64[n + 1, N_NODE]; row n is the depot; CIRC is the node's
# circuity multiplier); X, Y, Z (the unit vector of great-circle points) and DEPOT (distance to the depot)
# are derived by :func:`prepare_nodes`. What every distance reads (X, Y, Z, CIRC) comes first, in one
# 32-byte run, so that a leg touches as few cache lines as it can.
X, Y, Z, CIRC, A, B, KG, NP, SVC, SPD, DEPOT = range(11)
N_NODE = 11
#: the input's columns (a, b, demand_kg, demand_n, service_s, speed_kmh, circuity) and where they go
INPUT_COLUMNS = [A, B, KG, NP, SVC, SPD, CIRC]
N_INPUT = len(INPUT_COLUMNS)
# ``ns`` columns (int32[n, 3])
SUCC, PRED, ROUTE = 0, 1, 2
# ``ri`` columns (int32[R, 3])
FIRST, LAST, CARD = 0, 1, 2
# ``rs`` columns (float64[R, 3])
LOAD_KG, LOAD_N, DUR = 0, 1, 2
# ``sc`` entries (float64[N_SCORES]): the current and best solutions' figures, then the penalties' state: the
# weights (km a second over the shift, km a mean stop's demand over the load), the current solution's seconds and
# mean stops' demands over them, its count of routes over each, and the current window's count of iterations within each
(COST, N_ROUTES, BEST_COST, BEST_ROUTES, W_DUR, W_LOAD, OVER_DUR, OVER_LOAD, N_OVER_DUR, N_OVER_LOAD, WITHIN_DUR,
 WITHIN_LOAD) = range(12)
N_SCORES = 12
# ``prm`` entries (float64[N_PARAMS]); P_PER_KG and P_PER_N count kg and parcels over the load in mean stops'
# demands (1 / the stops' mean kg and parcels; 0 where the stops have none); P_FLOOR_DUR and P_FLOOR_LOAD are the
# lowest the penalty weights fall to; P_PENALISE picks the penalised search (RUN_PENALISED), P_PENALISE_LOAD the load
# among its penalised limits; P_ROUTE_RUIN is the chance that a penalised iteration ruins a whole route, while the
# solution has more routes than P_ROUTE_FLOOR (:func:`route_floor`)
(P_METRIC, P_SCALE, P_CAP_KG, P_CAP_N, P_MAX_DUR, P_MAX_ROUTES, P_T0, P_TF, P_CBAR, P_LMAX, P_SPLIT_RATE,
 P_SPLIT_DEPTH, P_BLINK, P_CYCLE0, P_PENALISE, P_TARGET, P_STEP, P_WINDOW, P_PER_KG, P_PER_N, P_FLOOR_DUR,
 P_FLOOR_LOAD, P_PENALISE_LOAD, P_ROUTE_RUIN, P_ROUTE_FLOOR) = range(25)
N_PARAMS = 25
#: seconds of slack kept under the shift so a recomputed duration never exceeds it
DUR_TOL = 1e-6
#: a solution must be cheaper by more than this to count as a new best
EPS = 1e-9
#: the highest a penalty weight rises to, so that it never overflows
W_MAX = 1e9


@njit(cache=True, inline="always")
def _rand(rng):  # type: ignore[no-untyped-def]
    """Next float in [0, 1) of the xorshift64* stream held in ``rng[0]``."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return float((x * np.uint64(2685821657736338717)) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _randint(rng, k):  # type: ignore[no-untyped-def]
    """Uniform integer in [0, k)."""
    return min(int(_rand(rng) * k), k - 1)


@njit(cache=True, inline="always")
def _dist(node, metric, scale, u, v):  # type: ignore[no-untyped-def]
    if metric == GREAT_CIRCLE:  # the haversine distance, from the chord between unit vectors
        return (chord_km(scale, node[u, X] - node[v, X], node[u, Y] - node[v, Y], node[u, Z] - node[v, Z])
                * pair_circuity(node[u, CIRC], node[v, CIRC]))
    return node_distance(metric, scale, node[u, CIRC], node[v, CIRC], node[u, A], node[u, B], node[v, A], node[v, B])


@njit(cache=True, inline="always")
def _dist_floor(node, metric, scale, u, v):  # type: ignore[no-untyped-def]
    """A lower bound of :func:`_dist` that skips the great circle's arcsine (planar metrics: the distance)."""
    if metric == GREAT_CIRCLE:
        return (chord_km_floor(scale, node[u, X] - node[v, X], node[u, Y] - node[v, Y], node[u, Z] - node[v, Z])
                * pair_circuity(node[u, CIRC], node[v, CIRC]))
    return _dist(node, metric, scale, u, v)


def prepare_nodes(node: np.ndarray, metric: int, scale: float) -> np.ndarray:
    """The node rows the search takes: ``node``'s N_INPUT columns plus X, Y, Z and DEPOT."""
    n = node.shape[0] - 1
    out = np.zeros((n + 1, N_NODE))
    out[:, INPUT_COLUMNS] = node[:, :N_INPUT]
    if metric == GREAT_CIRCLE:
        out[:, X:Z + 1] = unit_vectors(node[:, 0], node[:, 1])
    _depot_distances(out, metric, scale)
    return out


@njit(cache=True, nogil=True)
def _depot_distances(node, metric, scale):  # type: ignore[no-untyped-def]
    n = node.shape[0] - 1
    for c in range(n + 1):
        node[c, DEPOT] = _dist(node, metric, scale, n, c)


@njit(cache=True, nogil=True)
def neighbour_distances(node, nbr, metric, scale):  # type: ignore[no-untyped-def]
    """float64[n, K]: the distance from each stop to each of its neighbours ``nbr`` (+inf where -1)."""
    out = np.full(nbr.shape, np.inf)
    for c in range(nbr.shape[0]):
        for j in range(nbr.shape[1]):
            if nbr[c, j] >= 0:
                out[c, j] = _dist(node, metric, scale, c, nbr[c, j])
    return out


@njit(cache=True, inline="always")
def _leg(node, d, u, v):  # type: ignore[no-untyped-def]
    return leg_seconds(d, node[u, SPD], node[v, SPD])


@njit(cache=True, inline="always")
def _dur_over(dur, max_dur):  # type: ignore[no-untyped-def]
    """Seconds a route of ``dur`` runs over the shift (with the ``DUR_TOL`` slack the hard check keeps)."""
    return max(0.0, dur - (max_dur - DUR_TOL))


@njit(cache=True, inline="always")
def _load_over(kg, parcels, prm):  # type: ignore[no-untyped-def]
    """How much a route of this load carries over its capacity, in mean stops' demands (kg and parcels)."""
    return max(0.0, kg - prm[P_CAP_KG]) * prm[P_PER_KG] + max(0.0, parcels - prm[P_CAP_N]) * prm[P_PER_N]


@njit(cache=True, inline="always")
def _count(sc, over, n_over, before, after):  # type: ignore[no-untyped-def]
    """Book one route's change from ``before`` to ``after`` over a limit into the totals ``sc[over]``,
    ``sc[n_over]``."""
    sc[over] += after - before
    sc[n_over] += (1.0 if after > 0.0 else 0.0) - (1.0 if before > 0.0 else 0.0)


@njit(cache=True, inline="always")
def _book_route(sc, rs, r, prm, dur0, load0):  # type: ignore[no-untyped-def]
    """Book route ``r``'s change from ``dur0`` seconds over the shift and ``load0`` over the load to what its row
    now runs over them."""
    _count(sc, OVER_DUR, N_OVER_DUR, dur0, _dur_over(rs[r, DUR], prm[P_MAX_DUR]))
    _count(sc, OVER_LOAD, N_OVER_LOAD, load0, _load_over(rs[r, LOAD_KG], rs[r, LOAD_N], prm))


@njit(cache=True, inline="always")
def _load_penalty(rs, r, kg, parcels, sc, prm):  # type: ignore[no-untyped-def]
    """What adding ``kg`` and ``parcels`` to route ``r`` adds to the load penalty."""
    return sc[W_LOAD] * (_load_over(rs[r, LOAD_KG] + kg, rs[r, LOAD_N] + parcels, prm)
                         - _load_over(rs[r, LOAD_KG], rs[r, LOAD_N], prm))


@njit(cache=True, nogil=True)
def seed_rng(seed: int) -> np.ndarray:
    """A xorshift64* state (uint64[1]) from ``seed`` through splitmix64, never zero."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    out = np.empty(1, np.uint64)
    out[0] = z if z != np.uint64(0) else np.uint64(1)
    return out


@njit(cache=True, inline="always")
def route_duration(node, ns, ri, ed, r, metric, scale):  # type: ignore[no-untyped-def]
    """Legs plus service seconds of route ``r``, summed from scratch; the legs into the stops from ``ed``
    (:func:`_edges`: each the distance from its predecessor, computed as :func:`_dist` computes it, so the sum is
    the one a walk recomputing every distance gives, without its arcsines), the leg back to the depot computed."""
    n = ns.shape[0]
    u = n
    c = ri[r, FIRST]
    total = 0.0
    while c >= 0:
        total += _leg(node, ed[c], u, c) + node[c, SVC]
        u = c
        c = ns[c, SUCC]
    return total + _leg(node, _dist(node, metric, scale, u, n), u, n)


@njit(cache=True, nogil=True)
def load_routes(node, flat, ptr, ns, ri, rs, sc, prm):  # type: ignore[no-untyped-def]
    """Fill the state from routes ``flat[ptr[r]:ptr[r + 1]]`` (local stop indices); sets cost and route count."""
    n = ns.shape[0]
    metric = int(prm[P_METRIC])
    scale = prm[P_SCALE]
    ns[:, :] = -1
    ri[:, :] = -1
    ri[:, CARD] = 0
    rs[:, :] = 0.0
    cost = 0.0
    routes = 0
    ed = np.empty(n, np.float64)
    for r in range(ptr.shape[0] - 1):
        lo, hi = ptr[r], ptr[r + 1]
        if hi == lo:
            continue
        u = n
        for p in range(lo, hi):
            c = flat[p]
            ns[c, ROUTE] = r
            ns[c, PRED] = flat[p - 1] if p > lo else -1
            ns[c, SUCC] = flat[p + 1] if p + 1 < hi else -1
            rs[r, LOAD_KG] += node[c, KG]
            rs[r, LOAD_N] += node[c, NP]
            ed[c] = _dist(node, metric, scale, u, c)
            cost += ed[c]
            u = c
        cost += _dist(node, metric, scale, u, n)
        ri[r, FIRST] = flat[lo]
        ri[r, LAST] = flat[hi - 1]
        ri[r, CARD] = hi - lo
        rs[r, DUR] = route_duration(node, ns, ri, ed, r, metric, scale)
        routes += 1
    sc[COST] = cost
    sc[N_ROUTES] = routes
    sc[BEST_COST] = cost
    sc[BEST_ROUTES] = routes


@njit(cache=True, inline="always")
def book_overs(ri, rs, sc, prm):  # type: ignore[no-untyped-def]
    """Sum, from scratch, what the routes run over the shift and carry over the load into ``sc``."""
    for k in (OVER_DUR, OVER_LOAD, N_OVER_DUR, N_OVER_LOAD):
        sc[k] = 0.0
    for r in range(ri.shape[0]):
        if ri[r, CARD] > 0:
            _book_route(sc, rs, r, prm, 0.0, 0.0)


@njit(cache=True, nogil=True)
def export_routes(ns, ri):  # type: ignore[no-untyped-def]
    """The non-empty routes as (flat int32[n], ptr int64[R' + 1]), in route slot order."""
    n = ns.shape[0]
    flat = np.empty(n, np.int32)
    count = 0
    for r in range(ri.shape[0]):
        if ri[r, CARD] > 0:
            count += 1
    ptr = np.zeros(count + 1, np.int64)
    k = 0
    p = 0
    for r in range(ri.shape[0]):
        if ri[r, CARD] == 0:
            continue
        c = ri[r, FIRST]
        while c >= 0:
            flat[p] = c
            p += 1
            c = ns[c, SUCC]
        k += 1
        ptr[k] = p
    return flat[:p], ptr


@njit(cache=True, inline="always")
def _save_node(x, ns, jn, stamp, jc, it):  # type: ignore[no-untyped-def]
    if stamp[x] != it:
        stamp[x] = it
        k = jc[0]
        jn[k, 0] = x
        jn[k, 1] = ns[x, 0]
        jn[k, 2] = ns[x, 1]
        jn[k, 3] = ns[x, 2]
        jc[0] = k + 1


@njit(cache=True, inline="always")
def _save_route(r, ri, rs, jri, jrf, stamp, jc, it):  # type: ignore[no-untyped-def]
    if stamp[r] != it:
        stamp[r] = it
        k = jc[1]
        jri[k, 0] = r
        jri[k, 1] = ri[r, 0]
        jri[k, 2] = ri[r, 1]
        jri[k, 3] = ri[r, 2]
        jrf[k, 0] = rs[r, 0]
        jrf[k, 1] = rs[r, 1]
        jrf[k, 2] = rs[r, 2]
        jc[1] = k + 1


@njit(cache=True, inline="always")
def _edge(node, ns, ed, x, metric, scale):  # type: ignore[no-untyped-def]
    """Set ``ed[x]``, the distance into stop ``x`` from its predecessor (or the depot)."""
    p = ns[x, PRED]
    ed[x] = _dist(node, metric, scale, p if p >= 0 else ns.shape[0], x)


@njit(cache=True, inline="always")
def _undo(node, ns, ed, ri, rs, jn, jri, jrf, jc, metric, scale):  # type: ignore[no-untyped-def]
    """Restore every node and route row saved in the journal (and the restored nodes' ``ed``)."""
    for k in range(jc[0]):
        x = jn[k, 0]
        ns[x, 0] = jn[k, 1]
        ns[x, 1] = jn[k, 2]
        ns[x, 2] = jn[k, 3]
        if ns[x, ROUTE] >= 0:
            _edge(node, ns, ed, x, metric, scale)
    for k in range(jc[1]):
        r = jri[k, 0]
        ri[r, 0] = jri[k, 1]
        ri[r, 1] = jri[k, 2]
        ri[r, 2] = jri[k, 3]
        rs[r, 0] = jrf[k, 0]
        rs[r, 1] = jrf[k, 1]
        rs[r, 2] = jrf[k, 2]


@njit(cache=True, inline="always")
def _journal_move(c, r, p, q, ns, ri, rs, jn, jri, jrf, st_n, st_r, jc, it):  # type: ignore[no-untyped-def]
    """Journal what moving stop ``c`` between ``p`` and ``q`` (-1: depot) of route ``r`` changes.

    Returns ``p`` and ``q`` as node rows, the depot's row (``n``) for -1.
    """
    n = ns.shape[0]
    _save_node(c, ns, jn, st_n, jc, it)
    if p >= 0:
        _save_node(p, ns, jn, st_n, jc, it)
    if q >= 0:
        _save_node(q, ns, jn, st_n, jc, it)
    _save_route(r, ri, rs, jri, jrf, st_r, jc, it)
    return (p if p >= 0 else n), (q if q >= 0 else n)


@njit(cache=True, inline="always")
def _remove(c, node, ns, ed, ri, rs, sc, prm, pen, metric, scale, has_dur, jn, jri, jrf, st_n, st_r, jc, it):  # type: ignore[no-untyped-def]
    """Take stop ``c`` out of its route (journaled); with ``pen`` (a constant of each compiled search) book what
    the route then runs over its limits."""
    r = ns[c, ROUTE]
    if pen:
        dur0 = _dur_over(rs[r, DUR], prm[P_MAX_DUR])
        load0 = _load_over(rs[r, LOAD_KG], rs[r, LOAD_N], prm)
    p = ns[c, PRED]
    q = ns[c, SUCC]
    pu, qu = _journal_move(c, r, p, q, ns, ri, rs, jn, jri, jrf, st_n, st_r, jc, it)
    d1 = ed[c]
    d2 = ed[q] if q >= 0 else node[c, DEPOT]
    d0 = _dist(node, metric, scale, pu, qu)
    if q >= 0:
        ed[q] = d0
    sc[COST] += d0 - d1 - d2
    if has_dur:
        rs[r, DUR] += _leg(node, d0, pu, qu) - _leg(node, d1, pu, c) - _leg(node, d2, c, qu) - node[c, SVC]
    rs[r, LOAD_KG] -= node[c, KG]
    rs[r, LOAD_N] -= node[c, NP]
    if p >= 0:
        ns[p, SUCC] = q
    else:
        ri[r, FIRST] = q
    if q >= 0:
        ns[q, PRED] = p
    else:
        ri[r, LAST] = p
    ri[r, CARD] -= 1
    if ri[r, CARD] == 0:
        sc[N_ROUTES] -= 1
        rs[r, LOAD_KG] = 0.0
        rs[r, LOAD_N] = 0.0
        rs[r, DUR] = 0.0
    if pen:
        _book_route(sc, rs, r, prm, dur0, load0)
    ns[c, SUCC] = -1
    ns[c, PRED] = -1
    ns[c, ROUTE] = -1


@njit(cache=True, inline="always")
def _insert(c, r, p, q, d1, d2, node, ns, ed, ri, rs, sc, prm, pen, has_dur, jn, jri, jrf, st_n, st_r, jc, it):  # type: ignore[no-untyped-def]
    """Put stop ``c`` between ``p`` and ``q`` (-1: depot) of route ``r`` (journaled); ``d1`` and ``d2`` are
    its distances from ``p`` and to ``q``."""
    if pen:
        dur0 = _dur_over(rs[r, DUR], prm[P_MAX_DUR])
        load0 = _load_over(rs[r, LOAD_KG], rs[r, LOAD_N], prm)
    pu, qu = _journal_move(c, r, p, q, ns, ri, rs, jn, jri, jrf, st_n, st_r, jc, it)
    if q >= 0:
        d0 = ed[q]
        ed[q] = d2
    elif p >= 0:
        d0 = node[p, DEPOT]
    else:
        d0 = 0.0
    ed[c] = d1
    if ri[r, CARD] == 0:
        sc[N_ROUTES] += 1
    sc[COST] += d1 + d2 - d0
    if has_dur:
        rs[r, DUR] += _leg(node, d1, pu, c) + _leg(node, d2, c, qu) - _leg(node, d0, pu, qu) + node[c, SVC]
    rs[r, LOAD_KG] += node[c, KG]
    rs[r, LOAD_N] += node[c, NP]
    if pen:
        _book_route(sc, rs, r, prm, dur0, load0)
    if p >= 0:
        ns[p, SUCC] = c
    else:
        ri[r, FIRST] = c
    if q >= 0:
        ns[q, PRED] = c
    else:
        ri[r, LAST] = c
    ns[c, SUCC] = q
    ns[c, PRED] = p
    ns[c, ROUTE] = r
    ri[r, CARD] += 1


@njit(cache=True, inline="always")
def _side_delta(node, rs, c, u, v, d_uc, d_cv, d_uv, r, has_dur, max_dur, best, w_dur):  # type: ignore[no-untyped-def]
    """Added distance of ``c`` between nodes ``u`` and ``v`` of route ``r`` (depot = row n), plus ``w_dur`` a
    second by which it makes the route's overrun of the shift grow (``w_dur`` < 0: the shift is a hard limit, and
    +inf over it); +inf, unchecked, when the distance alone is no less than ``best``."""
    delta = d_uc + d_cv - d_uv
    if delta >= best:
        return math.inf
    if has_dur:
        dur = rs[r, DUR] + _leg(node, d_uc, u, c) + _leg(node, d_cv, c, v) - _leg(node, d_uv, u, v) + node[c, SVC]
        if w_dur >= 0.0:
            return delta + w_dur * (_dur_over(dur, max_dur) - _dur_over(rs[r, DUR], max_dur))
        if dur > max_dur - DUR_TOL:
            return math.inf
    return delta


@njit(cache=True, inline="always")
def _best_position(c, node, nbr, nd, ns, ed, ri, rs, sc, prm, pen, rng, has_dur):  # type: ignore[no-untyped-def]
    """Cheapest (route, pred, succ, d_pc, d_cs) for ``c``: granular first, then a new route, then every route;
    d_pc and d_cs are the distances into and out of ``c`` there.

    A place's cost is the distance it adds; with penalties (``pen``) plus ``sc[W_DUR]`` a second
    by which it makes its route's overrun of the shift grow and, where the load is penalised too
    (``prm[P_PENALISE_LOAD]``), ``sc[W_LOAD]`` a mean stop's demand over the load (:func:`_load_over`); a place
    over a limit that is not penalised does not fit. Next to neighbour ``v`` the distance c-v comes from ``nd``, the
    route's edges from ``ed`` and distances to the depot from the node rows; the one distance left is computed
    only where its lower bound (:func:`_dist_floor`) does not already lose to the best position so far, and the
    shift only where the distance wins, so both cost what they can change (the result is the same as computing
    every position). Returns route -1 when nothing fits (the fleet is full).
    """
    n = ns.shape[0]
    metric = int(prm[P_METRIC])
    scale = prm[P_SCALE]
    max_dur = prm[P_MAX_DUR]
    blink = prm[P_BLINK]
    cap_kg = prm[P_CAP_KG]
    cap_n = prm[P_CAP_N]
    kg = node[c, KG]
    np_ = node[c, NP]
    pen_load = pen and prm[P_PENALISE_LOAD] > 0.0
    w_dur = sc[W_DUR] if pen else -1.0
    dur_bounds = pen and has_dur  # whether a route over the shift can come back under it
    best = math.inf
    br = -1
    bp = -1
    bq = -1
    b1 = 0.0
    b2 = 0.0
    for j in range(nbr.shape[1]):
        v = nbr[c, j]
        if v < 0:
            break
        r = ns[v, ROUTE]
        if r < 0:
            continue
        extra = 0.0  # the load penalty of the route
        if rs[r, LOAD_KG] + kg > cap_kg or rs[r, LOAD_N] + np_ > cap_n:
            if not pen_load:
                continue
            extra = _load_penalty(rs, r, kg, np_, sc, prm)
        lim = best - extra  # what the distance and shift terms must beat on this route
        # what the distance bounds must beat: none skips a place on a route over the shift, which a stop that speeds
        # it up can bring back under it
        bounded = not (dur_bounds and rs[r, DUR] > max_dur - DUR_TOL)
        gate = lim if bounded else math.inf
        d_cv = nd[c, j]
        if _rand(rng) >= blink:  # before v
            p = ns[v, PRED]
            u = p if p >= 0 else n
            if p < 0 or _dist_floor(node, metric, scale, p, c) + d_cv - ed[v] < gate:
                d_uc = _dist(node, metric, scale, p, c) if p >= 0 else node[c, DEPOT]
                delta = _side_delta(node, rs, c, u, v, d_uc, d_cv, ed[v], r, has_dur, max_dur, gate, w_dur)
                if delta < lim:
                    lim = delta
                    if bounded:
                        gate = delta
                    best = delta + extra
                    br = r
                    bp = p
                    bq = v
                    b1 = d_uc
                    b2 = d_cv
        if _rand(rng) >= blink:  # after v
            q = ns[v, SUCC]
            if q < 0 or d_cv + _dist_floor(node, metric, scale, c, q) - ed[q] < gate:
                if q >= 0:
                    d_cq = _dist(node, metric, scale, c, q)
                    delta = _side_delta(node, rs, c, v, q, d_cv, d_cq, ed[q], r, has_dur, max_dur, gate, w_dur)
                else:
                    d_cq = node[c, DEPOT]
                    delta = _side_delta(node, rs, c, v, n, d_cv, d_cq, node[v, DEPOT], r, has_dur, max_dur, gate,
                                        w_dur)
                if delta < lim:
                    best = delta + extra
                    br = r
                    bp = v
                    bq = q
                    b1 = d_cv
                    b2 = d_cq
    if sc[N_ROUTES] < prm[P_MAX_ROUTES]:
        d = 2.0 * node[c, DEPOT]
        fits = True
        if has_dur:
            fits = 2.0 * _leg(node, d * 0.5, n, c) + node[c, SVC] <= max_dur - DUR_TOL
        if fits and d < best:
            best = d
            br = -2
            bp = -1
            bq = -1
            b1 = node[c, DEPOT]
            b2 = node[c, DEPOT]
    if br == -1:  # no neighbour position fits and no new route: scan every route
        for r in range(ri.shape[0]):
            if ri[r, CARD] == 0:
                continue
            extra = 0.0
            if rs[r, LOAD_KG] + kg > cap_kg or rs[r, LOAD_N] + np_ > cap_n:
                if not pen_load:
                    continue
                extra = _load_penalty(rs, r, kg, np_, sc, prm)
            lim = best - extra
            bounded = not (dur_bounds and rs[r, DUR] > max_dur - DUR_TOL)
            gate = lim if bounded else math.inf
            p = -1
            q = ri[r, FIRST]
            while True:
                u = p if p >= 0 else n
                v = q if q >= 0 else n
                d_uv = ed[q] if q >= 0 else node[p, DEPOT]
                if _dist_floor(node, metric, scale, u, c) + _dist_floor(node, metric, scale, c, v) - d_uv < gate:
                    d_uc = _dist(node, metric, scale, u, c)
                    d_cv = _dist(node, metric, scale, c, v)
                    delta = _side_delta(node, rs, c, u, v, d_uc, d_cv, d_uv, r, has_dur, max_dur, gate, w_dur)
                    if delta < lim:
                        lim = delta
                        if bounded:
                            gate = delta
                        best = delta + extra
                        br = r
                        bp = p
                        bq = q
                        b1 = d_uc
                        b2 = d_cv
                if q < 0:
                    break
                p = q
                q = ns[q, SUCC]
    if br == -2:
        for r in range(ri.shape[0]):
            if ri[r, CARD] == 0:
                br = r
                break
    return br, bp, bq, b1, b2


@njit(cache=True, inline="always")
def _ruin(node, nbr, ns, ed, ri, rs, sc, prm, pen, rng, has_dur, removed, ruined, tmp, jn, jri, jrf, st_n, st_r, jc,
          it):  # type: ignore[no-untyped-def]
    """Remove strings from routes near a random seed stop; returns (removed count, ruined route count).

    In the penalised search, while the solution has more routes than ``prm[P_ROUTE_FLOOR]``, an iteration removes
    instead, with chance ``prm[P_ROUTE_RUIN]``, the whole route with the fewest stops (:func:`_ruin_route`)."""
    n = ns.shape[0]
    metric = int(prm[P_METRIC])
    scale = prm[P_SCALE]
    if pen and prm[P_ROUTE_RUIN] > 0.0 and sc[N_ROUTES] > prm[P_ROUTE_FLOOR] and _rand(rng) < prm[P_ROUTE_RUIN]:
        ruined[0] = _fewest_stops(ri)
        return _ruin_route(ruined[0], node, ns, ed, ri, rs, sc, prm, pen, has_dur, removed, jn, jri, jrf, st_n, st_r,
                           jc, it), 1
    avg_card = n / max(sc[N_ROUTES], 1.0)
    ls_max = min(prm[P_LMAX], avg_card)
    ks_max = 4.0 * prm[P_CBAR] / (1.0 + ls_max) - 1.0
    ks = int(_rand(rng) * ks_max) + 1
    seed = _randint(rng, n)
    n_rem = 0
    n_ruined = 0
    for j in range(-1, nbr.shape[1]):
        if n_ruined >= ks:
            break
        c = seed if j < 0 else nbr[seed, j]
        if c < 0:
            break
        r = ns[c, ROUTE]
        if r < 0:
            continue
        done = False
        for k in range(n_ruined):
            if ruined[k] == r:
                done = True
        if done:
            continue
        card = ri[r, CARD]
        l_max = min(float(card), ls_max)
        ell = min(int(_rand(rng) * l_max) + 1, card)
        keep = 0
        if ell < card and _rand(rng) < prm[P_SPLIT_RATE]:
            keep = 1
            while ell + keep < card and _rand(rng) > prm[P_SPLIT_DEPTH]:
                keep += 1
        width = ell + keep
        # the string holds c and lies in the route: it starts at most `back` and at least width - 1 - `ahead`
        # stops before c, both found by walking from c, never the whole route
        back = 0
        x = c
        while back < width - 1 and ns[x, PRED] >= 0:
            x = ns[x, PRED]
            back += 1
        ahead = 0
        x = c
        while ahead < width - 1 and ns[x, SUCC] >= 0:
            x = ns[x, SUCC]
            ahead += 1
        before = back - _randint(rng, back - (width - 1 - ahead) + 1)
        x = c
        for _ in range(before):
            x = ns[x, PRED]
        for t in range(width):
            tmp[t] = x
            x = ns[x, SUCC]
        kept_at = _randint(rng, ell + 1) if keep > 0 else width
        for t in range(width):
            if t >= kept_at and t < kept_at + keep:
                continue
            _remove(tmp[t], node, ns, ed, ri, rs, sc, prm, pen, metric, scale, has_dur, jn, jri, jrf, st_n, st_r, jc,
                    it)
            removed[n_rem] = tmp[t]
            n_rem += 1
        ruined[n_ruined] = r
        n_ruined += 1
    return n_rem, n_ruined


@njit(cache=True, inline="always")
def _fewest_stops(ri):  # type: ignore[no-untyped-def]
    """The route with the fewest stops (the first of them), -1 when none has any."""
    best = -1
    for r in range(ri.shape[0]):
        if ri[r, CARD] > 0 and (best < 0 or ri[r, CARD] < ri[best, CARD]):
            best = r
    return best


@njit(cache=True, inline="always")
def _ruin_route(r, node, ns, ed, ri, rs, sc, prm, pen, has_dur, removed, jn, jri, jrf, st_n, st_r, jc,
                it):  # type: ignore[no-untyped-def]
    """Remove every stop of route ``r`` (first to last) into ``removed``; returns their count.

    Strings never empty a route of a hundred stops, so without this the search keeps the start's number of routes
    where a rural hub's depot round trips are what its routes lose to fewer, longer ones; with penalties the
    recreate step can put the stops on the other routes past their limits, and the weights then steer the
    solution back within them."""
    metric = int(prm[P_METRIC])
    scale = prm[P_SCALE]
    k = 0
    x = ri[r, FIRST]
    while x >= 0:
        nxt = ns[x, SUCC]
        _remove(x, node, ns, ed, ri, rs, sc, prm, pen, metric, scale, has_dur, jn, jri, jrf, st_n, st_r, jc, it)
        removed[k] = x
        k += 1
        x = nxt
    return k


@njit(cache=True, inline="always")
def _order(node, removed, k, rng, key):  # type: ignore[no-untyped-def]
    """Reorder ``removed[:k]`` for recreate: random (4), demand (4), far (2) or close (1) first."""
    n = node.shape[0] - 1
    u = _rand(rng) * 11.0
    for i in range(k - 1, 0, -1):  # shuffle first: ties in the sorts below are broken at random
        j = _randint(rng, i + 1)
        removed[i], removed[j] = removed[j], removed[i]
    if u < 4.0:
        return
    for i in range(k):
        c = removed[i]
        if u < 8.0:
            key[i] = -node[c, KG]
        else:
            dx = node[c, A] - node[n, A]
            dy = node[c, B] - node[n, B]
            key[i] = -(dx * dx + dy * dy) if u < 10.0 else dx * dx + dy * dy
    for i in range(1, k):  # insertion sort: k is small
        c = removed[i]
        kc = key[i]
        j = i - 1
        while j >= 0 and key[j] > kc:
            removed[j + 1] = removed[j]
            key[j + 1] = key[j]
            j -= 1
        removed[j + 1] = c
        key[j + 1] = kc


@njit(cache=True, inline="always")
def _sync(src_ns, src_ri, src_rs, dst_ns, dst_ri, dst_rs, dirty_n, dirty_r, mark_n, mark_r, dc):  # type: ignore[no-untyped-def]
    """Copy the rows changed since the last sync (all of them when ``dc[2]`` is set); clear the marks."""
    if dc[2] != 0:
        _copy_all(src_ns, dst_ns)
        _copy_all(src_ri, dst_ri)
        _copy_all(src_rs, dst_rs)
        mark_n[:] = 0
        mark_r[:] = 0
    else:
        _copy_rows(src_ns, dst_ns, dirty_n, dc[0], mark_n)
        _copy_rows(src_ri, dst_ri, dirty_r, dc[1], mark_r)
        _copy_rows(src_rs, dst_rs, dirty_r, dc[1], mark_r)
    dc[0] = 0
    dc[1] = 0
    dc[2] = 0


@njit(cache=True, inline="always")
def _edges(node, ns, ed, metric, scale):  # type: ignore[no-untyped-def]
    """``ed`` of every routed stop, from scratch."""
    for x in range(ns.shape[0]):
        if ns[x, ROUTE] >= 0:
            _edge(node, ns, ed, x, metric, scale)


@njit(cache=True, inline="always")
def _copy_all(src, dst):  # type: ignore[no-untyped-def]
    """``dst[:, :] = src`` element by element (a whole-array assignment needs Numba's runtime, which :func:`run`
    is compiled without)."""
    for x in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[x, j] = src[x, j]


@njit(cache=True, inline="always")
def _copy_rows(src, dst, rows, count, mark):  # type: ignore[no-untyped-def]
    """``dst[x] = src[x]`` for the first ``count`` ``rows``; clears their marks."""
    for k in range(count):
        x = rows[k]
        for j in range(src.shape[1]):
            dst[x, j] = src[x, j]
        mark[x] = 0


@njit(cache=True, inline="always")
def _mark_rows(journal, count, dirty, mark, dc, slot):  # type: ignore[no-untyped-def]
    """Add the rows ``journal[:count, 0]`` to ``dirty`` (its length in ``dc[slot]``) unless marked already."""
    for k in range(count):
        x = journal[k, 0]
        if mark[x] == 0:
            mark[x] = 1
            dirty[dc[slot]] = x
            dc[slot] += 1


@njit(cache=True, inline="always")
def _mark(jn, jri, jc, dirty_n, dirty_r, mark_n, mark_r, dc):  # type: ignore[no-untyped-def]
    """Record the rows of an accepted move (the journal's) as differing from the best solution."""
    if dc[2] == 0:
        _mark_rows(jn, jc[0], dirty_n, mark_n, dc, 0)
        _mark_rows(jri, jc[1], dirty_r, mark_r, dc, 1)


@njit(cache=True, inline="always")
def _cycle(it, cycle0):  # type: ignore[no-untyped-def]
    """(start, length) of the annealing cycle holding iteration ``it``; lengths double from ``cycle0``."""
    start = 0
    length = cycle0
    while it >= start + length:
        start += length
        length *= 2
    return start, length


def _build_run(penalised: bool):  # type: ignore[no-untyped-def]
    """:func:`run` compiled for one kind of limits, ``penalised`` or hard, each its own machine code: ``penalised``
    is a constant there, passed as one to every step, so the hard search (CVRPLIB: no shift, short routes) carries
    none of the penalties' bookkeeping."""

    @njit(cache=True, nogil=True, _nrt=False)
    def run(node, nbr, nd, ns, ri, rs, sc, best_ns, best_ri, best_rs, prm, rng, it0, it1, removed, ruined, tmp, key,
            jn, jri, jrf, st_n, st_r, jc, dirty_n, dirty_r, mark_n, mark_r, dc, ed):  # type: ignore[no-untyped-def]
        """Run SISR iterations ``[it0, it1)`` on the state, keeping the best solution in ``best_*``.

        ``node`` is float64[n + 1, N_NODE] (:func:`prepare_nodes`; row n the
        depot), ``nbr`` int32[n, K] the nearest stops of each stop (-1 padded),
        ``nd`` their distances (:func:`neighbour_distances`), ``prm`` the
        float64[N_PARAMS] parameters; the arrays after ``it1`` are the scratch of :func:`workspace`. Returns the
        number of accepted moves.

        Compiled without Numba's reference counting (``_nrt=False``; the scratch comes from the caller, so nothing
        here allocates): every array handed to the inlined steps was otherwise counted up and down atomically at
        each of them, 45 % of the search's time.
        """
        n = ns.shape[0]
        metric = int(prm[P_METRIC])
        scale = prm[P_SCALE]
        max_dur = prm[P_MAX_DUR]
        has_dur = max_dur < math.inf
        pen = penalised
        t0 = prm[P_T0]
        tf = prm[P_TF]
        cycle0 = max(int(prm[P_CYCLE0]), 1)
        # rows where the current solution may differ from the best: all of them until the first sync
        mark_n[:] = 0
        mark_r[:] = 0
        dc[0] = 0
        dc[1] = 0
        dc[2] = 1
        ed[:] = 0.0
        accepted = 0
        if n == 0:
            return 0
        _edges(node, ns, ed, metric, scale)
        for it in range(it0, it1):
            start, length = _cycle(it, cycle0)
            if it == start and it > 0:
                _sync(best_ns, best_ri, best_rs, ns, ri, rs, dirty_n, dirty_r, mark_n, mark_r, dc)
                _edges(node, ns, ed, metric, scale)
                sc[COST] = sc[BEST_COST]
                sc[N_ROUTES] = sc[BEST_ROUTES]
                book_overs(ri, rs, sc, prm)
            temp = t0 * (tf / t0) ** ((it - start) / length)
            cost0 = sc[COST]
            routes0 = sc[N_ROUTES]
            over_dur0 = sc[OVER_DUR]
            over_load0 = sc[OVER_LOAD]
            n_over_dur0 = sc[N_OVER_DUR]
            n_over_load0 = sc[N_OVER_LOAD]
            jc[0] = 0
            jc[1] = 0
            n_rem, n_ruined = _ruin(node, nbr, ns, ed, ri, rs, sc, prm, pen, rng, has_dur, removed, ruined, tmp,
                                    jn, jri, jrf, st_n, st_r, jc, it)
            _order(node, removed, n_rem, rng, key)
            ok = True
            for i in range(n_rem):
                c = removed[i]
                r, p, q, d1, d2 = _best_position(c, node, nbr, nd, ns, ed, ri, rs, sc, prm, pen, rng, has_dur)
                if r < 0:
                    ok = False
                    break
                _insert(c, r, p, q, d1, d2, node, ns, ed, ri, rs, sc, prm, pen, has_dur, jn, jri, jrf, st_n, st_r, jc,
                        it)
            if ok and has_dur and not pen:  # routes that only lost stops may have grown longer (speeds differ per stop)
                for k in range(jc[1]):
                    r = jri[k, 0]
                    if ri[r, CARD] > 0 and rs[r, DUR] > max_dur - DUR_TOL:
                        ok = False
            penalty = sc[W_DUR] * (sc[OVER_DUR] - over_dur0) + sc[W_LOAD] * (sc[OVER_LOAD] - over_load0) if pen else 0.0
            if ok and sc[COST] + penalty < cost0 - temp * math.log(1.0 - _rand(rng)):
                accepted += 1
                _mark(jn, jri, jc, dirty_n, dirty_r, mark_n, mark_r, dc)
                if sc[COST] < sc[BEST_COST] - EPS and _within(sc, pen):
                    if has_dur:  # exact durations of the touched routes, so rounding never accumulates
                        for k in range(jc[1]):
                            r = jri[k, 0]
                            if ri[r, CARD] > 0:
                                before = _dur_over(rs[r, DUR], max_dur)
                                rs[r, DUR] = route_duration(node, ns, ri, ed, r, metric, scale)
                                if pen:
                                    _count(sc, OVER_DUR, N_OVER_DUR, before, _dur_over(rs[r, DUR], max_dur))
                    if _within(sc, pen):
                        _sync(ns, ri, rs, best_ns, best_ri, best_rs, dirty_n, dirty_r, mark_n, mark_r, dc)
                        sc[BEST_COST] = sc[COST]
                        sc[BEST_ROUTES] = sc[N_ROUTES]
            else:
                _undo(node, ns, ed, ri, rs, jn, jri, jrf, jc, metric, scale)
                sc[COST] = cost0
                sc[N_ROUTES] = routes0
                sc[OVER_DUR] = over_dur0
                sc[OVER_LOAD] = over_load0
                sc[N_OVER_DUR] = n_over_dur0
                sc[N_OVER_LOAD] = n_over_load0
            if pen:
                _steer(sc, prm, it)
        return accepted

    return run


@njit(cache=True, inline="always")
def _within(sc, pen):  # type: ignore[no-untyped-def]
    """Whether the current solution keeps every route within the shift and the load."""
    return not pen or (sc[N_OVER_DUR] < 0.5 and sc[N_OVER_LOAD] < 0.5)


@njit(cache=True, inline="always")
def _steer(sc, prm, it):  # type: ignore[no-untyped-def]
    """Count whether the current solution is within each limit, and at the end of each window of
    ``prm[P_WINDOW]`` iterations raise the limit's weight by ``prm[P_STEP]`` when fewer than ``prm[P_TARGET]``
    of the window were within it, else lower it (PyVRP's penalty manager does the same for its limits)."""
    sc[WITHIN_DUR] += 1.0 if sc[N_OVER_DUR] < 0.5 else 0.0
    sc[WITHIN_LOAD] += 1.0 if sc[N_OVER_LOAD] < 0.5 else 0.0
    window = prm[P_WINDOW]
    if (it + 1) % int(window) == 0:
        for w, within, floor in ((W_DUR, WITHIN_DUR, P_FLOOR_DUR), (W_LOAD, WITHIN_LOAD, P_FLOOR_LOAD)):
            if sc[within] < prm[P_TARGET] * window:
                sc[w] = min(sc[w] * prm[P_STEP], W_MAX)
            else:
                sc[w] = max(sc[w] / prm[P_STEP], prm[floor])
            sc[within] = 0.0


RUN_HARD = _build_run(False)
RUN_PENALISED = _build_run(True)


def workspace(n: int, n_routes_max: int) -> tuple[np.ndarray, ...]:
    """The scratch arrays of :func:`run` for ``n`` stops and ``n_routes_max`` route slots, in its argument order:
    removed, ruined, tmp, key, the journal (jn, jri, jrf, its stamps st_n and st_r, its counts jc), the rows that
    differ from the best (dirty_n, dirty_r, mark_n, mark_r, their counts dc) and ``ed``. The stamps hold iteration
    indices, which only grow, so one workspace serves every chunk of a search."""
    return (np.empty(n, np.int32), np.empty(n_routes_max, np.int32), np.empty(n, np.int32), np.empty(n, np.float64),
            np.empty((3 * n + 3, 4), np.int32), np.empty((n_routes_max, 4), np.int32),
            np.empty((n_routes_max, 3), np.float64), np.full(n, -1, np.int64), np.full(n_routes_max, -1, np.int64),
            np.zeros(2, np.int64), np.empty(n, np.int32), np.empty(n_routes_max, np.int32), np.zeros(n, np.uint8),
            np.zeros(n_routes_max, np.uint8), np.zeros(3, np.int64), np.zeros(n, np.float64))


class Params(NamedTuple):
    """SISR's parameters; temperatures are per mean route edge of the start solution."""

    avg_removed: float
    max_string: float
    split_rate: float
    split_depth: float
    blink: float
    t0: float
    tf: float
    cycle_per_stop: float
    max_iterations_per_stop: int
    chunk: int
    penalties: bool
    penalty_target: float
    penalty_step: float
    penalty_window: int
    shift_penalty: float
    load_penalty: float
    penalty_floor: float
    load_penalty_min_stops: float
    polish_passes: int
    polish_neighbours: int
    route_ruin: float
    route_ruin_slack: int
    route_ruin_min_per_stop: float


def _mean_edge(cost: float, edges: int) -> float:
    """The start solution's mean edge length, the unit of the temperatures and of the load penalty."""
    return cost / max(edges, 1) if cost > 0 else 1.0


def route_floor(node: np.ndarray, limits: tuple[float, float, float, float]) -> float:
    """The fewest routes that can carry the stops of ``node`` (N_INPUT columns, the depot last) within
    ``limits``: the most of their kg, parcels and service seconds over one route's capacity and shift."""
    bound = 0.0
    for col, cap in ((KG, limits[0]), (NP, limits[1]), (SVC, limits[2])):
        if 0.0 < cap < math.inf:
            bound = max(bound, math.ceil(float(node[:-1, INPUT_COLUMNS.index(col)].sum()) / cap))
    return bound


def _parameters(limits: tuple[float, float, float, float], metric: int, scale: float, params: Params, n: int,
                cost: float, edges: int, per_kg: float, per_n: float, floor: float, iterations: int) -> np.ndarray:
    """The kernel's parameter vector; temperatures scale with the start solution's mean edge length; ``floor`` is
    :func:`route_floor`, ``iterations`` the search's."""
    unit = _mean_edge(cost, edges)
    prm = np.zeros(N_PARAMS)
    prm[P_METRIC] = metric
    prm[P_SCALE] = scale
    prm[P_CAP_KG], prm[P_CAP_N], prm[P_MAX_DUR], prm[P_MAX_ROUTES] = limits
    prm[P_T0] = params.t0 * unit
    prm[P_TF] = params.tf * unit
    prm[P_CBAR] = params.avg_removed
    prm[P_LMAX] = params.max_string
    prm[P_SPLIT_RATE] = params.split_rate
    prm[P_SPLIT_DEPTH] = params.split_depth
    prm[P_BLINK] = params.blink
    prm[P_CYCLE0] = max(1.0, params.cycle_per_stop * n)
    prm[P_TARGET] = params.penalty_target
    prm[P_STEP] = params.penalty_step
    prm[P_WINDOW] = params.penalty_window
    prm[P_PER_KG] = per_kg
    prm[P_PER_N] = per_n
    prm[P_PENALISE_LOAD] = 1.0 if params.penalties and n >= params.load_penalty_min_stops * max(edges - n, 1) else 0.0
    # with neither limit penalised (no shift, short routes) the search is the hard-limit one, bookkeeping and all
    prm[P_PENALISE] = 1.0 if prm[P_PENALISE_LOAD] > 0.0 or (params.penalties and limits[2] < math.inf) else 0.0
    # a whole route costs some 15 strings' work: too dear where a hub gets few iterations (10M day at 1.1 a stop:
    # 0.65 % longer and 14 % slower with it)
    prm[P_ROUTE_RUIN] = params.route_ruin if iterations >= params.route_ruin_min_per_stop * n else 0.0
    prm[P_ROUTE_FLOOR] = floor + params.route_ruin_slack
    return prm


def _start_weights(sc: np.ndarray, prm: np.ndarray, node: np.ndarray, params: Params, unit: float) -> None:
    """The penalty weights a search starts from, and their floors (``params.penalty_floor`` of them):
    ``params.shift_penalty`` times the km a vehicle drives in a second at the stops' mean speed, and
    ``params.load_penalty`` times the start's mean edge per mean stop's demand over the load."""
    speed = float(np.mean(node[:-1, INPUT_COLUMNS.index(SPD)])) if node.shape[0] > 1 else 0.0
    sc[W_DUR] = params.shift_penalty * max(speed, 1e-9) / 3600.0
    sc[W_LOAD] = params.load_penalty * unit
    prm[P_FLOOR_DUR] = params.penalty_floor * sc[W_DUR]
    prm[P_FLOOR_LOAD] = params.penalty_floor * sc[W_LOAD]


@njit(cache=True, nogil=True)
def polish_routes(node, flat, ptr, max_dur, metric, scale, passes, granular_k):  # type: ignore[no-untyped-def]
    """2-opt and Or-opt inside each route ``flat[ptr[r]:ptr[r + 1]]`` of prepared ``node`` rows (the depot last),
    in place, to a granular local optimum within the shift (:func:`kernels.cpu.intra.improve_on_table`, on a
    table of the search's own distances); returns the routes' total distance. One route after another: it runs
    on the improve stage's hub threads."""
    depot = node.shape[0] - 1
    total = 0.0
    for r in range(ptr.size - 1):
        stops = flat[ptr[r]:ptr[r + 1]]
        m = stops.size + 1
        local = np.empty(m, np.int32)
        local[0] = depot
        local[1:] = stops
        tab = np.empty(m * m)
        spd = np.empty(m)
        service = 0.0
        for x in range(m):
            u = local[x]
            spd[x] = node[u, SPD]
            if x > 0:
                service += node[u, SVC]
            tab[x * m + x] = 0.0
            for y in range(x + 1, m):
                d = _dist(node, metric, scale, u, local[y])
                tab[x * m + y] = d
                tab[y * m + x] = d
        total += improve_on_table(stops, local, tab, spd, service, max_dur, passes, granular_k, False)
    return total


def search(node: np.ndarray, neighbours: np.ndarray, flat: np.ndarray, ptr: np.ndarray,
           limits: tuple[float, float, float, float], metric: int, scale: float, params: Params, seed: int,
           iterations: int | None, seconds: float, clock_stops: bool) -> tuple[np.ndarray, np.ndarray, float, int]:
    """SISR on one depot's routes ``flat[ptr[r]:ptr[r + 1]]`` (local stop indices).

    ``node`` holds N_INPUT columns per stop and the depot last; ``limits`` is
    (kg, parcels, duration, routes). Runs ``iterations`` (at most
    ``params.max_iterations_per_stop`` per stop; None: that many) in chunks
    of ``params.chunk``; when ``clock_stops``, stops after the chunk that
    passes ``seconds``. The trajectory depends only on ``seed`` and the
    iteration index. The best routes, where any iteration ran, then get
    ``params.polish_passes`` passes of 2-opt and Or-opt each (granular over
    ``params.polish_neighbours`` nearest stops of the route; 0 passes: none):
    string removals reorder a long route slowly, and on the five largest
    hubs of the 1M national day the polish shortens the routes by 0.27 % for
    3 % of the search's time. More iterations never give a worse best
    solution; the polish of a better one is in practice shorter too (the
    tests check it), though not by construction. Returns
    the routes (flat, ptr), their distance and the iterations run.
    """
    t_end = time.perf_counter() + max(seconds, 0.0)
    n = node.shape[0] - 1
    n_slots = max(n, ptr.size - 1) + 1
    ns = np.empty((n, 3), np.int32)
    ri = np.empty((n_slots, 3), np.int32)
    rs = np.empty((n_slots, 3), np.float64)
    sc = np.zeros(N_SCORES)
    slot_ptr = np.zeros(n_slots + 1, np.int64)
    slot_ptr[: ptr.size] = ptr
    slot_ptr[ptr.size:] = ptr[-1]
    prm = np.zeros(N_PARAMS)
    prm[P_METRIC] = metric
    prm[P_SCALE] = scale
    rows = prepare_nodes(node, metric, scale)
    nbr = np.ascontiguousarray(neighbours, np.int32)
    load_routes(rows, np.ascontiguousarray(flat, np.int32), slot_ptr, ns, ri, rs, sc, prm)
    kg, parcels = (float(node[:-1, INPUT_COLUMNS.index(col)].sum()) for col in (KG, NP))
    edges = n + int(sc[N_ROUTES])
    cap = params.max_iterations_per_stop * max(n, 1)
    limit = cap if iterations is None else min(cap, int(iterations))
    prm = _parameters(limits, metric, scale, params, n, sc[COST], edges, n / kg if kg > 0 else 0.0,
                      n / parcels if parcels > 0 else 0.0, route_floor(node, limits), limit)
    _start_weights(sc, prm, node, params, _mean_edge(sc[COST], edges))
    book_overs(ri, rs, sc, prm)
    best = (ns.copy(), ri.copy(), rs.copy())
    rng = seed_rng(np.uint64(int(seed) % 2**64))
    nd = neighbour_distances(rows, nbr, metric, scale) if n > 1 and limit > 0 else None
    done = 0
    run = RUN_PENALISED if prm[P_PENALISE] > 0.0 else RUN_HARD
    work = workspace(n, n_slots)
    while n > 1 and done < limit:
        step = min(params.chunk, limit - done)
        run(rows, nbr, nd, ns, ri, rs, sc, *best, prm, rng, done, done + step, *work)
        done += step
        if clock_stops and time.perf_counter() >= t_end:
            break
    out_flat, out_ptr = export_routes(best[0], best[1])
    cost = float(sc[BEST_COST])
    if done > 0 and params.polish_passes > 0:
        cost = float(polish_routes(rows, out_flat, out_ptr, float(limits[2]), metric, scale, int(params.polish_passes),
                                   int(params.polish_neighbours)))
    return out_flat, out_ptr, cost, done
