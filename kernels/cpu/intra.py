"""2-opt and Or-opt on the CPU: one route per ``prange`` iteration (bodies in :mod:`kernels.core.intra`)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from kernels.core import host as _core
from kernels.core.intra import OR_MAX, SLOTS_PER_K, build_intra_core, check_routes
from kernels.cpu._jit import array_body

_intra = build_intra_core(array_body, _core)
_encode = _intra.encode
_list_length = _intra.list_length
_nearest_row = _intra.nearest_row
_granular = _intra.granular
_ends = _intra.ends
_touch = _intra.touch
_looks = _intra.looks
_schedule = _intra.schedule
_removal = _intra.removal
_insertion = _intra.insertion
_set_positions = _intra.set_positions
_delta = _intra.delta
_acceptable = _intra.acceptable
_apply = _intra.apply
_totals = _intra.totals
_node_distance = _core.node_distance


@njit(cache=True)
def _best_full_move(tab, m, spd, perm, n, i, cur_dur, max_dur, move):  # type: ignore[no-untyped-def]
    """Best acceptable move of anchor ``i`` in the full neighbourhood into ``move`` = (k, j, rev); False if none.

    Loops run in candidate-index order (see ``decode``) with strict ``<``, so
    ties go to the lowest index exactly as in the GPU's (gain, index) reduction.
    """
    best = math.inf
    for j in range(i + 1, n + 1):
        dd = _delta(tab, m, perm, i, 0, j, 0)
        if dd < best and _acceptable(dd, tab, m, spd, perm, i, 0, j, 0, cur_dur, max_dur):
            best = dd
            move[0] = 0
            move[1] = j
            move[2] = 0
    for k in range(1, min(OR_MAX, n - i + 1) + 1):
        p, q, _, _, s0, se = _ends(perm, i, k, i)
        rem = _removal(tab, m, p, q, s0, se)
        for u in range(n + 1):
            if u >= i - 1 and u <= i + k - 1:
                continue
            x = perm[u]
            y = perm[u + 1]
            for rev in range(2 if k > 1 else 1):
                if rev == 1:
                    dd = _insertion(tab, m, x, y, se, s0) - rem
                else:
                    dd = _insertion(tab, m, x, y, s0, se) - rem
                if dd < best and _acceptable(dd, tab, m, spd, perm, i, k, u, rev, cur_dur, max_dur):
                    best = dd
                    move[0] = k
                    move[1] = u
                    move[2] = rev
    return best < math.inf


@njit(cache=True)
def _best_granular_move(tab, m, spd, perm, pos, nn, kk, n, i, cur_dur, max_dur, move):  # type: ignore[no-untyped-def]
    """Best acceptable granular move of anchor ``i`` into ``move`` = (k, j, rev); False if none.

    The smallest (distance change, candidate index) wins, exactly as in the
    full scan and the GPU's reduction, whatever order the slots are visited in.
    """
    best = math.inf
    best_c = -1
    for t in range(SLOTS_PER_K * kk):
        k, j, rev = _granular(n, i, t, kk, perm, pos, nn)
        if k < 0:
            continue
        dd = _delta(tab, m, perm, i, k, j, rev)
        if dd > best:
            continue
        c = _encode(n, i, k, j, rev)
        if (dd < best or c < best_c) and _acceptable(dd, tab, m, spd, perm, i, k, j, rev, cur_dur, max_dur):
            best = dd
            best_c = c
            move[0] = k
            move[1] = j
            move[2] = rev
    return best < math.inf


@njit(cache=True)
def improve_route(nodes, depot, a, b, circ, service_s, speed_kmh, max_dur, metric, scale, max_passes,
                  granular_k, confirm):  # type: ignore[no-untyped-def]
    """Improve one route's stops ``nodes`` in place (node ids into ``a`` ... ``speed_kmh``, ``depot`` its depot's);
    returns its new distance."""
    n = nodes.shape[0]
    if n == 0:
        return 0.0
    m = n + 1
    local = np.empty(m, np.int32)
    local[0] = depot
    local[1:] = nodes
    tab = np.empty(m * m)
    spd = np.empty(m)
    service = 0.0
    for x in range(m):
        u = local[x]
        spd[x] = speed_kmh[u]
        if x > 0:
            service += service_s[u]
        tab[x * m + x] = 0.0
        for y in range(x + 1, m):
            v = local[y]
            d = _node_distance(metric, scale, circ[u], circ[v], a[u], b[u], a[v], b[v])
            tab[x * m + y] = d
            tab[y * m + x] = d
    return improve_on_table(nodes, local, tab, spd, service, max_dur, max_passes, granular_k, confirm)


@njit(cache=True)
def improve_on_table(nodes, local, tab, spd, service, max_dur, max_passes, granular_k,
                     confirm):  # type: ignore[no-untyped-def]
    """:func:`improve_route` on a route's table already built: ``local`` its node ids (depot first), ``tab`` their
    (n+1)^2 distances, ``spd`` their speeds and ``service`` the stops' service seconds. Serial, so that
    :func:`kernels.cpu.sisr.search` can polish its routes with it from the improve stage's hub threads, on a
    table of its own distances."""
    n = nodes.shape[0]
    m = n + 1
    kk = _list_length(n, granular_k)
    nn = np.empty(max(m * kk, 1), np.int32)
    for x in range(m if kk > 0 else 0):
        _nearest_row(tab, m, x, kk, nn, x * kk)
    perm = np.empty(n + 2, np.int32)
    pos = np.empty(m, np.int32)
    active = np.ones(m, np.bool_)
    active[0] = False
    move = np.empty(3, np.int64)
    for k in range(m):
        perm[k] = k
    perm[n + 1] = 0
    _set_positions(perm, pos, n)
    dist, legs = _totals(tab, m, spd, perm, n)
    full = kk == 0
    sweep = True
    checked = not confirm  # the first granular optimum is confirmed by a full pass unless told not to
    for _ in range(max_passes):
        moved = False
        for i in range(1, n + 1):
            if not _looks(full, perm, i, active):
                continue
            if full:
                found = _best_full_move(tab, m, spd, perm, n, i, legs + service, max_dur, move)
            else:
                found = _best_granular_move(tab, m, spd, perm, pos, nn, kk, n, i, legs + service, max_dur, move)
            if found:
                _touch(perm, i, move[0], move[1], active)
                _apply(perm, i, move[0], move[1], move[2])
                _set_positions(perm, pos, n)
                dist, legs = _totals(tab, m, spd, perm, n)
                moved = True
            else:
                active[perm[i]] = False
        stop, full, sweep, checked, wake = _schedule(kk, moved, full, sweep, checked)
        if stop:
            break
        if wake:
            active[1:] = True
    for k in range(n):
        nodes[k] = local[perm[k + 1]]
    return dist


@njit(parallel=True, cache=True)
def _improve_intra(routes, route_len, route_depot, a, b, circ, service_s, speed_kmh, max_duration_s, metric, scale,
                   max_passes, granular_k, confirm, out):  # type: ignore[no-untyped-def]
    for r in prange(out.shape[0]):
        out[r] = improve_route(
            routes[r, :route_len[r]], route_depot[r], a, b, circ, service_s, speed_kmh,
            max_duration_s[r], metric, scale, max_passes, granular_k, confirm,
        )




def improve_intra(
    routes: np.ndarray,
    route_len: np.ndarray,
    route_depot: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    circuity: np.ndarray,
    service_s: np.ndarray,
    speed_kmh: np.ndarray,
    max_duration_s: np.ndarray,
    metric: int,
    scale: float,
    max_passes: int,
    granular_k: int,
    rows: np.ndarray | None = None,
    confirm: bool = True,
) -> np.ndarray:
    """Reorder each route's stops by 2-opt and Or-opt, in place; return the new distances (float64[R]).

    ``routes`` must be a C-contiguous int32[R, L] array (it is modified in
    place); ``route_len[r]`` stops of route ``r`` start and end at
    ``route_depot[r]``; legs are measured with the nodes' ``circuity``
    multipliers. No route gets longer, and no route within
    ``max_duration_s[r]`` (legs + service) leaves it. ``granular_k`` is the
    nearest-node list length of the granular neighbourhood (<= 0: full); with
    ``confirm`` a granular search's first optimum is checked by one full pass.
    ``rows`` (default all) picks the routes to improve; the distances
    returned are those of ``rows``, in its order.
    """
    if not (isinstance(routes, np.ndarray) and routes.dtype == np.int32 and routes.flags.c_contiguous):
        raise TypeError("routes must be a C-contiguous int32 NumPy array (it is improved in place)")
    if rows is not None:  # gather the rows, improve them, scatter them back
        sub = np.ascontiguousarray(routes[rows])
        out = improve_intra(sub, route_len[rows], route_depot[rows], a, b, circuity, service_s, speed_kmh,
                            max_duration_s[rows], metric, scale, max_passes, granular_k, confirm=confirm)
        routes[rows] = sub
        return out
    f64 = np.float64
    n_routes = check_routes(routes, route_len, route_depot, max_duration_s)
    out = np.empty(n_routes, dtype=f64)
    _improve_intra(
        routes, np.ascontiguousarray(route_len, np.int32), np.ascontiguousarray(route_depot, np.int32),
        np.ascontiguousarray(a, f64), np.ascontiguousarray(b, f64), np.ascontiguousarray(circuity, f64),
        np.ascontiguousarray(service_s, f64), np.ascontiguousarray(speed_kmh, f64),
        np.ascontiguousarray(max_duration_s, f64), int(metric), float(scale), int(max_passes), int(granular_k),
        bool(confirm), out,
    )
    return out
