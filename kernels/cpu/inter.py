"""Inter-route relocate / swap / 2-opt* on the CPU: stops in ``prange`` loops (bodies in :mod:`kernels.core.inter`)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.core import host as _core
from kernels.core.inter import build_moves, check_inputs, n_groups, select_moves, touched_routes
from kernels.cpu._jit import array_body

_moves = build_moves(array_body, _core)
_route_stats = _moves.route_stats
_eval_stop = _moves.eval_stop
_apply_move = _moves.apply_move
_stale = _moves.stale


@njit(parallel=True, cache=True)
def _evaluate_all(routes, route_len, route_depot, route_group, neighbours, a, b, circ, kg, pn, svc, spd,
                  cap_kg, cap_n, max_dur, metric, scale, node_int, node_f, route_f, first_empty,
                  prev_empty, route_dirty, group_dirty, gain, move):  # type: ignore[no-untyped-def]
    """Steps (1) and (2) of a round: maps of the changed routes, then the best move of every stale stop.

    ``node_int`` starts as -1 everywhere: a stop's row is rewritten whenever
    its route changes (every stop stays in exactly one route), hubs and
    unrouted nodes keep -1. Every other stop keeps last round's move, which
    a fresh evaluation would reproduce (see ``stale``).
    """
    n_routes = route_len.shape[0]
    for r in prange(n_routes):
        if route_dirty[r]:
            _route_stats(r, routes, route_len, route_depot, a, b, circ, kg, pn, svc, spd, metric, scale,
                         node_int, node_f, route_f)
    first_empty[:] = n_routes
    for r in range(n_routes - 1, -1, -1):
        if route_len[r] == 0:
            first_empty[route_group[r]] = r
    for g in range(first_empty.shape[0]):
        group_dirty[g] = first_empty[g] != prev_empty[g]
        prev_empty[g] = first_empty[g]
    for u in prange(node_int.shape[0]):
        if _stale(u, neighbours, route_group, node_int, route_dirty, group_dirty):
            _eval_stop(u, route_len, route_depot, route_group, neighbours, a, b, circ, kg, pn, svc, spd,
                       cap_kg, cap_n, max_dur, metric, scale, routes.shape[1], node_int, node_f, route_f,
                       first_empty, gain, move)








@njit(cache=True)
def _apply_all(accepted, old, routes, route_len, node_int, move):  # type: ignore[no-untyped-def]
    """Step (4), sequentially: the moves touch disjoint routes and are cheap next to step (2)."""
    for t in range(accepted.shape[0]):
        _apply_move(accepted[t], old, routes, route_len, node_int, move)








class _Workspace:
    """Per-call state carried from round to round: maps, totals and every stop's cached best move.

    Everything starts stale (all routes dirty), so the first round evaluates
    every stop; later rounds only those around the routes the last one changed.
    """

    def __init__(self, n_nodes: int, n_routes: int, groups: int) -> None:
        self.node_int = np.full((n_nodes, 4), -1, np.int32)
        self.node_f = np.zeros((n_nodes, 7), np.float64)
        self.route_f = np.zeros((n_routes, 4), np.float64)
        self.first_empty = np.empty(groups, np.int32)
        self.prev_empty = np.full(groups, -1, np.int32)
        self.route_dirty = np.ones(n_routes, np.bool_)
        self.group_dirty = np.ones(groups, np.bool_)
        self.gain = np.zeros(n_nodes, np.float64)
        self.move = np.full((n_nodes, 4), -1, np.int32)


def _evaluate(ws: _Workspace, routes: np.ndarray, route_len: np.ndarray, route_depot: np.ndarray,
              route_group: np.ndarray, neighbours: np.ndarray, a: np.ndarray, b: np.ndarray, circuity: np.ndarray,
              demand_kg: np.ndarray, demand_n: np.ndarray, service_s: np.ndarray, speed_kmh: np.ndarray,
              cap_kg: np.ndarray, cap_n: np.ndarray, max_duration_s: np.ndarray, metric: int, scale: float) -> None:
    """Steps (1) and (2) of a round into the workspace."""
    _evaluate_all(routes, route_len, route_depot, route_group, neighbours, a, b, circuity, demand_kg, demand_n,
                  service_s, speed_kmh, cap_kg, cap_n, max_duration_s, metric, scale, ws.node_int,
                  ws.node_f, ws.route_f, ws.first_empty, ws.prev_empty, ws.route_dirty, ws.group_dirty,
                  ws.gain, ws.move)


def best_moves(routes: np.ndarray, route_len: np.ndarray, route_depot: np.ndarray, route_group: np.ndarray,
               neighbours: np.ndarray, a: np.ndarray, b: np.ndarray, circuity: np.ndarray, demand_kg: np.ndarray,
               demand_n: np.ndarray, service_s: np.ndarray, speed_kmh: np.ndarray, cap_kg: np.ndarray,
               cap_n: np.ndarray, max_duration_s: np.ndarray, metric: int,
               scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Every stop's best improving move without applying any: ``(gain float64[n], move int32[n, 4])``.

    ``move`` rows are (kind, r1, r2, q) as described in the module docstring;
    stops without an improving move have gain 0 and kind -1. Used for
    diagnostics and to check the evaluation against a naive reference.
    """
    n_nodes = a.shape[0]
    check_inputs(routes, route_len, route_depot, route_group, neighbours, n_nodes,
                 (cap_kg, cap_n, max_duration_s), (a, b, circuity, demand_kg, demand_n, service_s, speed_kmh))
    ws = _Workspace(n_nodes, routes.shape[0], n_groups(route_group))
    _evaluate(ws, routes, route_len, route_depot, route_group, neighbours, a, b, circuity, demand_kg, demand_n,
              service_s, speed_kmh, cap_kg, cap_n, max_duration_s, int(metric), float(scale))
    return ws.gain, ws.move


def _relabel(ids: np.ndarray, new_of_old: np.ndarray) -> np.ndarray:
    """``ids`` mapped through ``new_of_old``, -1 padding kept."""
    return np.where(ids >= 0, new_of_old[np.maximum(ids, 0)], -1).astype(np.int32)


def _route_order(routes: np.ndarray, n_nodes: int) -> np.ndarray:
    """``old_of_new``: node ids renumbered so that stops come in route order, other nodes after.

    A round is bound by memory latency on per-node rows; in route order a
    stop's neighbours (same hub) lie close in memory. Nothing else depends on
    the numbering except the tie order of :func:`select_moves`, which gets the
    original ids.
    """
    stops = routes[routes >= 0]
    others = np.ones(n_nodes, np.bool_)
    others[stops] = False
    return np.concatenate([stops, np.flatnonzero(others)]).astype(np.int32)


def improve_inter(routes: np.ndarray, route_len: np.ndarray, route_depot: np.ndarray, route_group: np.ndarray,
                  neighbours: np.ndarray, a: np.ndarray, b: np.ndarray, circuity: np.ndarray, demand_kg: np.ndarray,
                  demand_n: np.ndarray, service_s: np.ndarray, speed_kmh: np.ndarray, cap_kg: np.ndarray,
                  cap_n: np.ndarray, max_duration_s: np.ndarray, metric: int, scale: float,
                  max_rounds: int) -> int:
    """Improve routes by inter-route moves in place; return the number of moves applied.

    Runs rounds until one finds no improving move or ``max_rounds`` is
    reached; each round applies a set of moves on pairwise disjoint routes,
    so total distance strictly decreases and capacities, parcels and
    durations hold after every move (see the module docstring).
    """
    n_nodes = a.shape[0]
    check_inputs(routes, route_len, route_depot, route_group, neighbours, n_nodes,
                 (cap_kg, cap_n, max_duration_s), (a, b, circuity, demand_kg, demand_n, service_s, speed_kmh))
    old_of_new = _route_order(routes, n_nodes)
    new_of_old = np.empty(n_nodes, np.int32)
    new_of_old[old_of_new] = np.arange(n_nodes, dtype=np.int32)
    work = _relabel(routes, new_of_old)
    depot = _relabel(route_depot, new_of_old)
    near = _relabel(neighbours[old_of_new], new_of_old)
    per_node = [np.ascontiguousarray(x[old_of_new]) for x in (a, b, circuity, demand_kg, demand_n, service_s,
                                                              speed_kmh)]
    ws = _Workspace(n_nodes, routes.shape[0], n_groups(route_group))
    applied = 0
    for _ in range(int(max_rounds)):
        _evaluate(ws, work, route_len, depot, route_group, near, *per_node, cap_kg, cap_n, max_duration_s,
                  int(metric), float(scale))
        accepted = select_moves(ws.gain, ws.move, routes.shape[0], old_of_new)
        if accepted.shape[0] == 0:
            break
        _apply_all(accepted, work.copy(), work, route_len, ws.node_int, ws.move)
        ws.route_dirty = touched_routes(accepted, ws.move, routes.shape[0])
        applied += int(accepted.shape[0])
    routes[...] = _relabel(work, old_of_new)
    return applied
