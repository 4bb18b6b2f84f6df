"""The route-quality engine: SISR ruin-and-recreate under a time budget, hub by hub.

:mod:`kernels.cpu.sisr` holds the compiled search of one depot's routes;
this module prepares its inputs (node rows, granular neighbour lists from a
k-d tree - never a distance matrix), runs it in chunks of iterations so the
clock is read only between chunks, and splits the budget between
independent groups (hubs) in proportion to their number of stops. The same
:func:`improve_group` serves the national pipeline (:func:`search`) and the
CVRP command (:mod:`planner.cvrp`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from kernels import GREAT_CIRCLE
from kernels.cpu import sisr
from planner.fleet import Nodes
from planner.route import RouteSet

#: iterations per call of the compiled search; the clock is read between calls
CHUNK = 256


@dataclass(frozen=True)
class SisrParams:
    """SISR's parameters (Christiaens & Vanden Berghe 2020); temperatures are per mean route edge."""

    avg_removed: float = 10.0  # c-bar: mean stops removed per iteration
    max_string: float = 10.0  # L-max: longest string removed from one route
    split_rate: float = 0.5  # chance a string keeps a preserved middle part
    split_depth: float = 0.01  # beta: chance to stop growing the preserved part
    blink: float = 0.01  # chance to skip a candidate position in recreate
    t0: float = 0.4  # start temperature, times the initial mean edge length
    tf: float = 0.004  # end temperature of each cycle, same unit
    cycle_per_stop: float = 60.0  # first annealing cycle, iterations per stop (cycles then double)
    max_iterations_per_stop: int = 20_000  # converged by then; small groups leave their time to the others


@dataclass(frozen=True)
class Group:
    """One depot's search problem: node rows (stops, then the depot) and its limits."""

    node: np.ndarray  # float64[n + 1, 6]: a, b, kg, parcels, service s, speed km/h
    neighbours: np.ndarray  # int32[n, K]: nearest stops, -1 padded
    cap_kg: float
    cap_n: float
    max_duration_s: float
    max_routes: float
    metric: int
    scale: float

    @property
    def n(self) -> int:
        """Number of stops."""
        return int(self.node.shape[0] - 1)


@dataclass(frozen=True)
class GroupResult:
    """Best routes of one group as CSR over local stop indices, with their distance."""

    flat: np.ndarray  # int32[n]
    ptr: np.ndarray  # int64[R + 1]
    cost: float
    iterations: int


def neighbour_lists(a: np.ndarray, b: np.ndarray, metric: int, k: int) -> np.ndarray:
    """The ``k`` nearest other points of each point (int32[n, k], -1 padded), by k-d tree.

    Great-circle points are placed on the unit sphere, where chord length
    orders neighbours as great-circle distance does.
    """
    n = a.size
    out = np.full((n, max(k, 1)), -1, dtype=np.int32)
    if n < 2 or k < 1:
        return out
    if metric == GREAT_CIRCLE:
        la, lo = np.radians(a), np.radians(b)
        pts = np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
    else:
        pts = np.column_stack([a, b])
    kk = min(k + 1, n)
    _, idx = cKDTree(pts).query(pts, k=kk)
    idx = np.asarray(idx).reshape(n, kk)
    # drop each point itself (wherever ties put it) and keep distance order
    not_self = idx != np.arange(n)[:, None]
    order = np.argsort(~not_self, axis=1, kind="stable")
    found = np.take_along_axis(np.where(not_self, idx, -1), order, axis=1)[:, : kk - 1]
    out[:, : found.shape[1]] = found
    return out


def _params(group: Group, cost: float, edges: int, params: SisrParams) -> np.ndarray:
    """The kernel's parameter vector; temperatures scale with the initial mean edge length."""
    unit = cost / max(edges, 1) if cost > 0 else 1.0
    prm = np.zeros(sisr.N_PARAMS)
    prm[sisr.P_METRIC] = group.metric
    prm[sisr.P_SCALE] = group.scale
    prm[sisr.P_CAP_KG] = group.cap_kg
    prm[sisr.P_CAP_N] = group.cap_n
    prm[sisr.P_MAX_DUR] = group.max_duration_s
    prm[sisr.P_MAX_ROUTES] = group.max_routes
    prm[sisr.P_T0] = params.t0 * unit
    prm[sisr.P_TF] = params.tf * unit
    prm[sisr.P_CBAR] = params.avg_removed
    prm[sisr.P_LMAX] = params.max_string
    prm[sisr.P_SPLIT_RATE] = params.split_rate
    prm[sisr.P_SPLIT_DEPTH] = params.split_depth
    prm[sisr.P_BLINK] = params.blink
    prm[sisr.P_CYCLE0] = max(1.0, params.cycle_per_stop * group.n)
    return prm


def improve_group(group: Group, flat: np.ndarray, ptr: np.ndarray, seconds: float, seed: int,
                  iterations: int | None = None, params: SisrParams = SisrParams(),
                  clock_stops: bool | None = None) -> GroupResult:
    """Search from the routes ``flat[ptr[r]:ptr[r + 1]]`` until ``seconds`` or ``iterations`` run out.

    The trajectory depends only on ``seed`` and the iteration index, so the
    same seed and iteration count give the same routes, and a longer run is
    never worse than a shorter one. The input routes must be feasible; the
    result is never longer than they are. The clock stops a run that has no
    ``iterations`` bound; ``clock_stops=True`` makes it a cap on one that has.
    """
    clock_stops = iterations is None if clock_stops is None else clock_stops
    t_end = time.perf_counter() + max(seconds, 0.0)
    n = group.n
    n_slots = max(n, ptr.size - 1) + 1
    ns = np.empty((n, 3), np.int32)
    ri = np.empty((n_slots, 3), np.int32)
    rs = np.empty((n_slots, 3), np.float64)
    sc = np.zeros(4)
    slot_ptr = np.zeros(n_slots + 1, np.int64)
    slot_ptr[: ptr.size] = ptr
    slot_ptr[ptr.size:] = ptr[-1]
    prm = np.zeros(sisr.N_PARAMS)
    prm[sisr.P_METRIC] = group.metric
    prm[sisr.P_SCALE] = group.scale
    node = sisr.prepare_nodes(group.node, group.metric, group.scale)
    nbr = np.ascontiguousarray(group.neighbours, np.int32)
    sisr.load_routes(node, np.ascontiguousarray(flat, np.int32), slot_ptr, ns, ri, rs, sc, prm)
    prm = _params(group, sc[sisr.COST], n + int(sc[sisr.N_ROUTES]), params)
    best = (ns.copy(), ri.copy(), rs.copy())
    rng = sisr.seed_rng(abs(int(seed)))
    cap = params.max_iterations_per_stop * max(n, 1)
    limit = cap if iterations is None else min(cap, int(iterations))
    nd = sisr.neighbour_distances(node, nbr, group.metric, group.scale) if n > 1 and limit > 0 else None
    done = 0
    while n > 1 and done < limit:
        step = min(CHUNK, limit - done)
        sisr.run(node, nbr, nd, ns, ri, rs, sc, *best, prm, rng, done, done + step)
        done += step
        if clock_stops and time.perf_counter() >= t_end:
            break
    out_flat, out_ptr = sisr.export_routes(best[0], best[1])
    return GroupResult(out_flat, out_ptr, float(sc[sisr.BEST_COST]), done)


def _group_of(routes: RouteSet, rows: np.ndarray, nodes: Nodes, cap_kg: np.ndarray, cap_n: np.ndarray,
              max_duration_s: np.ndarray, max_routes: np.ndarray | None, metric: int, scale: float,
              neighbours_k: int) -> tuple[Group, np.ndarray, np.ndarray, np.ndarray]:
    """The :class:`Group` of the routes ``rows`` (one depot) and its stops: (group, stop nodes, flat, ptr)."""
    lens = routes.route_len[rows].astype(np.int64)
    stops = np.concatenate([routes.routes[r, : routes.route_len[r]] for r in rows]).astype(np.int64)
    depot = nodes.n_stops + int(routes.route_hub[rows[0]])
    ids = np.append(stops, depot)
    node = np.column_stack([nodes.a[ids], nodes.b[ids], nodes.demand_kg[ids], nodes.demand_n[ids],
                            nodes.service_s[ids], nodes.speed_kmh[ids]]).astype(np.float64)
    ptr = np.zeros(rows.size + 1, np.int64)
    np.cumsum(lens, out=ptr[1:])
    group = Group(
        node=np.ascontiguousarray(node),
        neighbours=neighbour_lists(node[:-1, 0], node[:-1, 1], metric, neighbours_k),
        cap_kg=float(cap_kg[rows].min()), cap_n=float(cap_n[rows].min()),
        max_duration_s=float(max_duration_s[rows].min()),
        max_routes=float(max_routes[rows].min()) if max_routes is not None else float(stops.size + 1),
        metric=int(metric), scale=float(scale),
    )
    return group, stops, np.arange(stops.size, dtype=np.int32), ptr


def search(routes: RouteSet, nodes: Nodes, cap_kg: np.ndarray, cap_n: np.ndarray, max_duration_s: np.ndarray,
           route_group: np.ndarray, metric: int, scale: float, seconds: float, seed: int, neighbours_k: int = 40,
           max_routes: np.ndarray | None = None, iterations: int | None = None,
           params: SisrParams = SisrParams(), iterations_per_stop: float | None = None,
           workers: int = 1) -> RouteSet:
    """Improve feasible routes of many independent groups (hubs) within ``seconds``.

    ``cap_kg``, ``cap_n``, ``max_duration_s`` (+inf: no shift limit) and the
    optional ``max_routes`` (vehicles of the route's group) are per route;
    routes with equal ``route_group`` share a depot (their ``route_hub``) and
    exchange stops. Without a work bound groups run one after another, each
    getting the remaining time in proportion to its share of the remaining
    stops. ``iterations`` (per group) or ``iterations_per_stop`` bound the
    work instead (deterministic runs); the clock then only caps it, and
    ``workers`` threads search groups side by side (the compiled search
    releases the GIL), largest first. Each group's seed derives from ``seed``
    and its group id, so a group's result does not depend on the others in
    the call. Returns the compacted routes, ordered by group; each group's
    distance is never above its input distance.
    """
    t_end = time.perf_counter() + max(seconds, 0.0)
    route_group = np.asarray(route_group)
    keep = np.flatnonzero(routes.route_len > 0)
    ids = np.unique(route_group[keep])
    groups = [keep[route_group[keep] == g] for g in ids]
    bounded = iterations is not None or iterations_per_stop is not None
    left = int(routes.route_len[keep].sum())

    def one(k: int) -> tuple[np.ndarray, GroupResult]:
        nonlocal left
        rows = groups[k]
        group, stops, flat, ptr = _group_of(routes, rows, nodes, cap_kg, cap_n, max_duration_s, max_routes,
                                            metric, scale, neighbours_k)
        group_seed = int(seed) * 1_000_003 + int(ids[k])
        if bounded:
            work = iterations if iterations is not None else int(np.ceil(iterations_per_stop * group.n))
            return stops, improve_group(group, flat, ptr, t_end - time.perf_counter(), group_seed, work, params,
                                        clock_stops=True)
        share = max(t_end - time.perf_counter(), 0.0) * group.n / max(left, 1)
        left -= group.n
        return stops, improve_group(group, flat, ptr, share, group_seed, None, params)

    if bounded and workers > 1 and len(groups) > 1:
        from concurrent.futures import ThreadPoolExecutor

        order = sorted(range(len(groups)), key=lambda k: (-int(routes.route_len[groups[k]].sum()), k))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = dict(zip(order, pool.map(one, order)))
        results = [done[k] for k in range(len(groups))]
    else:
        results = [one(k) for k in range(len(groups))]
    out_routes: list[np.ndarray] = []
    out_hub: list[int] = []
    for rows, (stops, result) in zip(groups, results):
        for r in range(result.ptr.size - 1):
            out_routes.append(stops[result.flat[result.ptr[r]:result.ptr[r + 1]]])
            out_hub.append(int(routes.route_hub[rows[0]]))
    width = max((r.size for r in out_routes), default=1)
    padded = np.full((len(out_routes), max(width, 1)), -1, np.int32)
    for i, r in enumerate(out_routes):
        padded[i, : r.size] = r
    return RouteSet(padded, np.array([r.size for r in out_routes], np.int32), np.array(out_hub, np.int32))
