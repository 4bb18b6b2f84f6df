"""Inter-route local search on the CPU: relocate, swap and 2-opt* over granular neighbours.

One round (see :func:`improve_inter`) keeps every route's load, parcels,
duration and distance plus per-stop maps (route, position, neighbours on the
route, prefix load and time), lets every stop ``u`` find its best improving
move towards the routes of its K nearest stops, keeps a set of moves on
pairwise disjoint routes (largest gain first, ties by ``u``) and applies them.
Moves on disjoint routes do not interact, so the round's gain is the sum of the
accepted gains and the total distance strictly decreases every round.

A stop's best move depends only on its own route, its neighbours' routes and
the first empty route of its group, so the maps and moves are cached across
rounds: a round recomputes the maps of the routes the last round rewrote and
re-evaluates only the stops that touch them (or whose group's first empty
route changed). The result is exactly that of re-evaluating every stop.
On the CPU the call renumbers the nodes in route order first (see
``_route_order``), for memory locality; the moves found do not change.

The per-route, per-stop and per-move bodies are built once by
:func:`build_moves` around a JIT decorator and the scalar cores, so the CUDA
version in :mod:`kernels.cuda.inter` runs exactly the same arithmetic and
finds exactly the same moves.

Moves of stop ``u`` (route r1, position i) towards neighbour ``v`` (route r2,
position j), all encoded as (kind, r1, r2, q):

* relocate after ``v`` / before ``v``: ``u`` is inserted at index ``q`` of r2
  (``q = j + 1`` / ``q = j``); an empty route of the group takes ``q = 0``;
* swap: ``u`` and ``v`` (at index ``q = j``) change places;
* 2-opt*: r1 keeps its head up to ``u`` and takes r2's tail from index ``q``,
  r2 keeps its head before ``q`` and takes r1's tail after ``u``. ``q = j + 1``
  exchanges the tails after ``u`` and after ``v`` (edges u-succ(v), v-succ(u));
  ``q = j`` links ``u`` to ``v`` (edges u-v, pred(v)-succ(u)). Only between
  routes of the same depot, since each tail carries its return leg.

A limit holds for a changed route when its new value is within the limit or,
for a route already over it, not larger than before.
"""
from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import njit

#: A move must gain more than this (distance units) to count as improving.
MIN_GAIN = 1e-9

# Move kinds.
RELOCATE = 0
SWAP = 1
TAILS = 2  # 2-opt*

# Columns of the int32 per-node map ``node_int[n_nodes, 4]``.
N_ROUTE = 0  # route holding the stop, -1 for hubs and unrouted nodes
N_POS = 1  # position in the route
N_PREV = 2  # predecessor node (the depot for the first stop)
N_NEXT = 3  # successor node (the depot for the last stop)

# Columns of the float64 per-node map ``node_f[n_nodes, 7]``.
F_DPREV = 0  # distance from the predecessor
F_DNEXT = 1  # distance to the successor
F_TPREV = 2  # leg seconds from the predecessor
F_TNEXT = 3  # leg seconds to the successor
F_KG = 4  # load of the route up to and including the stop
F_N = 5  # parcels of the route up to and including the stop
F_HEAD = 6  # seconds from leaving the depot to the end of the stop's service

# Columns of the float64 per-route totals ``route_f[R, 4]``.
R_KG = 0
R_N = 1
R_DUR = 2
R_DIST = 3

# Columns of the int32 best move per stop ``move[n_nodes, 4]``.
M_KIND = 0
M_R1 = 1
M_R2 = 2
M_Q = 3


def build_moves(jit: Callable, core: SimpleNamespace) -> SimpleNamespace:
    """Return ``route_stats``, ``eval_stop`` and ``apply_move`` compiled with ``jit`` on ``core``."""
    node_distance = core.node_distance
    leg_seconds = core.leg_seconds

    @jit
    def fits(new, old, limit):  # type: ignore[no-untyped-def]
        """A limit holds if respected, or for an already violating route if not made worse."""
        return new <= limit or new <= old

    @jit
    def dist(x, y, a, b, circ, metric, scale):  # type: ignore[no-untyped-def]
        """Distance between nodes ``x`` and ``y`` with their circuity multipliers ``circ``."""
        return node_distance(metric, scale, circ[x], circ[y], a[x], b[x], a[y], b[y])

    @jit
    def route_stats(r, routes, route_len, route_depot, a, b, circ, kg, pn, svc, spd, metric, scale,
                    node_int, node_f, route_f):  # type: ignore[no-untyped-def]
        """Walk route ``r`` once: its totals and every stop's maps (prefix sums from the depot)."""
        m = route_len[r]
        h = route_depot[r]
        prev = h
        d_tot = 0.0
        t_tot = 0.0
        kg_tot = 0.0
        n_tot = 0.0
        for k in range(m):
            s = routes[r, k]
            dd = dist(prev, s, a, b, circ, metric, scale)
            tt = leg_seconds(dd, spd[prev], spd[s])
            node_int[s, N_ROUTE] = r
            node_int[s, N_POS] = k
            node_int[s, N_PREV] = prev
            node_f[s, F_DPREV] = dd
            node_f[s, F_TPREV] = tt
            if k > 0:
                node_int[prev, N_NEXT] = s
                node_f[prev, F_DNEXT] = dd
                node_f[prev, F_TNEXT] = tt
            d_tot += dd
            t_tot += tt + svc[s]
            kg_tot += kg[s]
            n_tot += pn[s]
            node_f[s, F_KG] = kg_tot
            node_f[s, F_N] = n_tot
            node_f[s, F_HEAD] = t_tot
            prev = s
        if m > 0:
            dd = dist(prev, h, a, b, circ, metric, scale)
            tt = leg_seconds(dd, spd[prev], spd[h])
            node_int[prev, N_NEXT] = h
            node_f[prev, F_DNEXT] = dd
            node_f[prev, F_TNEXT] = tt
            d_tot += dd
            t_tot += tt
        route_f[r, R_KG] = kg_tot
        route_f[r, R_N] = n_tot
        route_f[r, R_DUR] = t_tot
        route_f[r, R_DIST] = d_tot

    @jit
    def eval_stop(u, route_len, route_depot, route_group, neighbours, a, b, circ, kg, pn, svc, spd,
                  cap_kg, cap_n, max_dur, metric, scale, width, node_int, node_f, route_f,
                  first_empty, gain_out, move_out):  # type: ignore[no-untyped-def]
        """Write stop ``u``'s best improving move (gain 0 and kind -1 when it has none).

        Candidates are tried in a fixed order (neighbours in list order; per
        neighbour relocate after, relocate before, swap, 2-opt* tails, 2-opt*
        u-v; finally an empty route) and only a strictly larger gain replaces
        the best, so the choice is deterministic.
        """
        gain_out[u] = 0.0
        move_out[u, M_KIND] = -1
        move_out[u, M_R1] = -1
        move_out[u, M_R2] = -1
        move_out[u, M_Q] = -1
        r1 = node_int[u, N_ROUTE]
        if r1 < 0:
            return
        n_routes = route_len.shape[0]
        i = node_int[u, N_POS]
        m1 = route_len[r1]
        pu = node_int[u, N_PREV]
        nu = node_int[u, N_NEXT]
        g = route_group[r1]
        kg1 = route_f[r1, R_KG]
        n1 = route_f[r1, R_N]
        dur1 = route_f[r1, R_DUR]
        d_pu = node_f[u, F_DPREV]
        d_nu = node_f[u, F_DNEXT]
        t_pu = node_f[u, F_TPREV]
        t_nu = node_f[u, F_TNEXT]
        head_u = node_f[u, F_HEAD]
        rest1 = dur1 - head_u - t_nu  # seconds after u's successor leg, back at the depot
        d_gap = dist(pu, nu, a, b, circ, metric, scale)
        rem_d = d_gap - d_pu - d_nu  # distance change of r1 when u leaves it
        dur1_rem = dur1 + leg_seconds(d_gap, spd[pu], spd[nu]) - t_pu - t_nu - svc[u]
        leave_ok = fits(dur1_rem, dur1, max_dur[r1])

        best = MIN_GAIN
        b_kind = -1
        b_r2 = -1
        b_q = -1
        for k in range(neighbours.shape[1]):
            v = neighbours[u, k]
            if v < 0:
                continue
            r2 = node_int[v, N_ROUTE]
            if r2 < 0 or r2 == r1 or route_group[r2] != g:
                continue
            j = node_int[v, N_POS]
            m2 = route_len[r2]
            pv = node_int[v, N_PREV]
            nv = node_int[v, N_NEXT]
            kg2 = route_f[r2, R_KG]
            n2 = route_f[r2, R_N]
            dur2 = route_f[r2, R_DUR]
            d_pv = node_f[v, F_DPREV]
            d_nv = node_f[v, F_DNEXT]
            t_pv = node_f[v, F_TPREV]
            t_nv = node_f[v, F_TNEXT]
            d_uv = dist(u, v, a, b, circ, metric, scale)
            d_unv = dist(u, nv, a, b, circ, metric, scale)
            d_pvu = dist(pv, u, a, b, circ, metric, scale)
            d_puv = dist(pu, v, a, b, circ, metric, scale)
            d_vnu = dist(v, nu, a, b, circ, metric, scale)

            # relocate u after v, then before v
            if (leave_ok and m2 + 1 <= width and fits(kg2 + kg[u], kg2, cap_kg[r2])
                    and fits(n2 + pn[u], n2, cap_n[r2])):
                gain = -(rem_d + d_uv + d_unv - d_nv)
                if gain > best:
                    dur2n = (dur2 + leg_seconds(d_uv, spd[u], spd[v])
                             + leg_seconds(d_unv, spd[u], spd[nv]) - t_nv + svc[u])
                    if fits(dur2n, dur2, max_dur[r2]):
                        best, b_kind, b_r2, b_q = gain, RELOCATE, r2, j + 1
                gain = -(rem_d + d_pvu + d_uv - d_pv)
                if gain > best:
                    dur2n = (dur2 + leg_seconds(d_pvu, spd[pv], spd[u])
                             + leg_seconds(d_uv, spd[u], spd[v]) - t_pv + svc[u])
                    if fits(dur2n, dur2, max_dur[r2]):
                        best, b_kind, b_r2, b_q = gain, RELOCATE, r2, j

            # swap u and v
            gain = -(d_puv + d_vnu - d_pu - d_nu + d_pvu + d_unv - d_pv - d_nv)
            if gain > best:
                kg1n = kg1 - kg[u] + kg[v]
                kg2n = kg2 - kg[v] + kg[u]
                n1n = n1 - pn[u] + pn[v]
                n2n = n2 - pn[v] + pn[u]
                dur1n = (dur1 + leg_seconds(d_puv, spd[pu], spd[v]) + leg_seconds(d_vnu, spd[v], spd[nu])
                         - t_pu - t_nu - svc[u] + svc[v])
                dur2n = (dur2 + leg_seconds(d_pvu, spd[pv], spd[u]) + leg_seconds(d_unv, spd[u], spd[nv])
                         - t_pv - t_nv - svc[v] + svc[u])
                if (fits(kg1n, kg1, cap_kg[r1]) and fits(kg2n, kg2, cap_kg[r2])
                        and fits(n1n, n1, cap_n[r1]) and fits(n2n, n2, cap_n[r2])
                        and fits(dur1n, dur1, max_dur[r1]) and fits(dur2n, dur2, max_dur[r2])):
                    best, b_kind, b_r2, b_q = gain, SWAP, r2, j

            if route_depot[r1] != route_depot[r2]:
                continue
            head_v = node_f[v, F_HEAD]
            pre_kg_u = node_f[u, F_KG]
            pre_n_u = node_f[u, F_N]
            pre_kg_v = node_f[v, F_KG]
            pre_n_v = node_f[v, F_N]
            # 2-opt*: exchange the tails after u and after v
            gain = -(d_unv + d_vnu - d_nu - d_nv)
            if gain > best and i + 1 + m2 - j - 1 <= width and j + 1 + m1 - i - 1 <= width:
                kg1n = pre_kg_u + kg2 - pre_kg_v
                kg2n = pre_kg_v + kg1 - pre_kg_u
                n1n = pre_n_u + n2 - pre_n_v
                n2n = pre_n_v + n1 - pre_n_u
                dur1n = head_u + leg_seconds(d_unv, spd[u], spd[nv]) + (dur2 - head_v - t_nv)
                dur2n = head_v + leg_seconds(d_vnu, spd[v], spd[nu]) + rest1
                if (fits(kg1n, kg1, cap_kg[r1]) and fits(kg2n, kg2, cap_kg[r2])
                        and fits(n1n, n1, cap_n[r1]) and fits(n2n, n2, cap_n[r2])
                        and fits(dur1n, dur1, max_dur[r1]) and fits(dur2n, dur2, max_dur[r2])):
                    best, b_kind, b_r2, b_q = gain, TAILS, r2, j + 1
            # 2-opt*: u followed by v's tail from v, pred(v) followed by u's tail
            d_pvnu = dist(pv, nu, a, b, circ, metric, scale)
            gain = -(d_uv + d_pvnu - d_nu - d_pv)
            if gain > best and i + 1 + m2 - j <= width and j + m1 - i - 1 <= width:
                kg1n = pre_kg_u + kg2 - pre_kg_v + kg[v]
                kg2n = pre_kg_v - kg[v] + kg1 - pre_kg_u
                n1n = pre_n_u + n2 - pre_n_v + pn[v]
                n2n = pre_n_v - pn[v] + n1 - pre_n_u
                before_v = head_v - svc[v] - t_pv  # seconds up to the end of pred(v)'s service
                dur1n = head_u + leg_seconds(d_uv, spd[u], spd[v]) + (dur2 - before_v - t_pv)
                dur2n = before_v + leg_seconds(d_pvnu, spd[pv], spd[nu]) + rest1
                if (fits(kg1n, kg1, cap_kg[r1]) and fits(kg2n, kg2, cap_kg[r2])
                        and fits(n1n, n1, cap_n[r1]) and fits(n2n, n2, cap_n[r2])
                        and fits(dur1n, dur1, max_dur[r1]) and fits(dur2n, dur2, max_dur[r2])):
                    best, b_kind, b_r2, b_q = gain, TAILS, r2, j

        # relocate u alone into an empty route of its group
        e = first_empty[g]
        if e < n_routes and leave_ok and width >= 1:
            h2 = route_depot[e]
            d_hu = dist(h2, u, a, b, circ, metric, scale)
            gain = -(rem_d + 2.0 * d_hu)
            if gain > best and kg[u] <= cap_kg[e] and pn[u] <= cap_n[e]:
                if 2.0 * leg_seconds(d_hu, spd[h2], spd[u]) + svc[u] <= max_dur[e]:
                    best, b_kind, b_r2, b_q = gain, RELOCATE, e, 0

        if b_kind >= 0:
            gain_out[u] = best
            move_out[u, M_KIND] = b_kind
            move_out[u, M_R1] = r1
            move_out[u, M_R2] = b_r2
            move_out[u, M_Q] = b_q

    @jit
    def apply_move(u, old, routes, route_len, node_int, move):  # type: ignore[no-untyped-def]
        """Rewrite the two routes of ``u``'s move from the round's snapshot ``old``."""
        kind = move[u, M_KIND]
        r1 = move[u, M_R1]
        r2 = move[u, M_R2]
        q = move[u, M_Q]
        i = node_int[u, N_POS]
        m1 = route_len[r1]
        m2 = route_len[r2]
        if kind == RELOCATE:
            for k in range(i, m1 - 1):
                routes[r1, k] = old[r1, k + 1]
            routes[r1, m1 - 1] = -1
            for k in range(m2, q, -1):
                routes[r2, k] = old[r2, k - 1]
            routes[r2, q] = u
            route_len[r1] = m1 - 1
            route_len[r2] = m2 + 1
        elif kind == SWAP:
            routes[r1, i] = old[r2, q]
            routes[r2, q] = u
        else:
            n1 = i + 1 + m2 - q
            n2 = q + m1 - i - 1
            for k in range(m2 - q):
                routes[r1, i + 1 + k] = old[r2, q + k]
            for k in range(n1, m1):
                routes[r1, k] = -1
            for k in range(m1 - i - 1):
                routes[r2, q + k] = old[r1, i + 1 + k]
            for k in range(n2, m2):
                routes[r2, k] = -1
            route_len[r1] = n1
            route_len[r2] = n2

    @jit
    def stale(u, neighbours, route_group, node_int, route_dirty, group_dirty):  # type: ignore[no-untyped-def]
        """Whether stop ``u``'s cached best move may differ from a fresh evaluation.

        ``eval_stop`` reads only u's route, its neighbours' routes (maps and
        totals) and the first empty route of u's group, so the cached move
        holds unless one of those routes changed in the last round or the
        group's first empty route moved. Non-stops never become stale.
        """
        r1 = node_int[u, N_ROUTE]
        if r1 < 0:
            return False
        if route_dirty[r1] or group_dirty[route_group[r1]]:
            return True
        for k in range(neighbours.shape[1]):
            v = neighbours[u, k]
            if v >= 0:
                r2 = node_int[v, N_ROUTE]
                if r2 >= 0 and route_dirty[r2]:
                    return True
        return False

    return SimpleNamespace(route_stats=route_stats, eval_stop=eval_stop, apply_move=apply_move, stale=stale)



@njit(cache=True)
def _greedy(order, move, n_routes):  # type: ignore[no-untyped-def]
    taken = np.zeros(n_routes, np.bool_)
    out = np.empty(order.shape[0], np.int32)
    c = 0
    for u in order:
        r1 = move[u, M_R1]
        r2 = move[u, M_R2]
        if taken[r1] or taken[r2]:
            continue
        taken[r1] = True
        taken[r2] = True
        out[c] = u
        c += 1
    return out[:c]



def select_moves(gain: np.ndarray, move: np.ndarray, n_routes: int, stop_id: np.ndarray | None = None) -> np.ndarray:
    """Stops whose moves are applied this round (step 3), as int32 node ids.

    Candidates go by gain descending, ties by stop id (``stop_id[u]`` when
    the nodes were renumbered); each is accepted only if neither of its
    routes is already taken. Shared with the CUDA host loop.
    """
    cand = np.flatnonzero(gain > MIN_GAIN)
    order = cand[np.lexsort((cand if stop_id is None else stop_id[cand], -gain[cand]))]
    return _greedy(order.astype(np.int64), move, n_routes)



def touched_routes(accepted: np.ndarray, move: np.ndarray, n_routes: int) -> np.ndarray:
    """bool[R]: the routes the accepted moves rewrite (the next round re-evaluates around them)."""
    dirty = np.zeros(n_routes, np.bool_)
    dirty[move[accepted, M_R1]] = True
    dirty[move[accepted, M_R2]] = True
    return dirty



def _is(arr: Any, dtype: type, shape: tuple[int | None, ...]) -> bool:
    """True if ``arr`` has ``dtype`` and ``shape`` (None matches any extent)."""
    got = tuple(getattr(arr, "shape", ()))
    return (getattr(arr, "dtype", None) == dtype and len(got) == len(shape)
            and all(want is None or want == have for want, have in zip(shape, got)))



def check_inputs(routes: Any, route_len: Any, route_depot: Any, route_group: Any, neighbours: Any,
                 n_nodes: int, limits: tuple[Any, ...], node_arrays: tuple[Any, ...]) -> None:
    """Raise ValueError naming the first array whose dtype or shape breaks the layout.

    Works on NumPy and device arrays alike (only ``dtype`` and ``shape`` are read),
    and keeps the compiled kernels to one signature.
    """
    if not _is(routes, np.int32, (None, None)):
        raise ValueError("routes must be an int32 array of shape [R, L]")
    n_routes = routes.shape[0]
    for name, arr in (("route_len", route_len), ("route_depot", route_depot), ("route_group", route_group)):
        if not _is(arr, np.int32, (n_routes,)):
            raise ValueError(f"{name} must be an int32 array of shape [{n_routes}]")
    if not _is(neighbours, np.int32, (n_nodes, None)):
        raise ValueError(f"neighbours must be an int32 array of shape [{n_nodes}, K]")
    if not all(_is(arr, np.float64, (n_routes,)) for arr in limits):
        raise ValueError(f"cap_kg, cap_n and max_duration_s must be float64 arrays of shape [{n_routes}]")
    if not all(_is(arr, np.float64, (n_nodes,)) for arr in node_arrays):
        raise ValueError("a, b, circuity, demand_kg, demand_n, service_s and speed_kmh must be float64 arrays "
                         f"of shape [{n_nodes}]")



def n_groups(route_group: np.ndarray) -> int:
    """Size of the per-group table: one past the largest group id (groups must be >= 0)."""
    if route_group.shape[0] == 0:
        return 1
    if int(route_group.min()) < 0:
        raise ValueError("route_group must be >= 0")
    return int(route_group.max()) + 1
