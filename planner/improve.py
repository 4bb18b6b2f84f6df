"""Stage 5, improve: local search on all routes at once under a time budget.

Local search first: each round runs the intra-route kernel (2-opt and Or-opt to a local optimum
in every route) and then a batch of inter-route rounds (relocate, swap,
2-opt* between routes of one hub, restricted to granular neighbour lists of
the k nearest stops). It stops at a local optimum of both neighbourhoods, at
``max_rounds``, or when the time budget is spent. The work done is bounded by
rounds, not by the clock, so that a run that finishes within its budget is
deterministic; a run cut short by the clock says so in its statistics.
Then SISR ruin-and-recreate (:mod:`planner.search`) escapes the local
optimum, bounded the same way by iterations per stop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from kernels import GREAT_CIRCLE
from planner.compute import Compute, LocalSearch
from planner.fleet import Fleet, Nodes
from planner.route import RouteSet
from planner.schedule import leg_table
from planner.settings import ImproveSettings

#: inter-route rounds per call of the inter kernel between intra passes
INTER_ROUNDS_PER_STEP = 25
#: 2-opt / Or-opt passes per call of the intra kernel
INTRA_PASSES = 1000
#: most routes per call of the intra kernel (the clock is checked between calls)
INTRA_BATCH = 4096
#: routes in the first call of a pass, which measures the kernel's rate for sizing the next calls
INTRA_PROBE = 64


@dataclass(frozen=True)
class ImproveStats:
    """What the improve stage did."""

    distance_before: float
    distance_after: float
    rounds: int
    inter_moves: int
    seconds: float
    stopped_by_clock: bool


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere: chord length grows with great-circle distance."""
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def granular_neighbours(routes: RouteSet, nodes: Nodes, k: int, metric: int) -> np.ndarray:
    """For every stop node on a route, its k nearest stops on routes of the same hub (-1 padded).

    One k-d tree serves all hubs: the hub index is a fourth coordinate
    spaced far beyond any distance between points, so every neighbour found
    first lies in the same hub.
    """
    out = np.full((nodes.a.size, k), -1, dtype=np.int32)
    r, p = np.nonzero(routes.routes >= 0)
    stop_nodes = routes.routes[r, p]
    if stop_nodes.size < 2:
        return out
    hub = routes.route_hub[r].astype(np.float64)
    if metric == GREAT_CIRCLE:
        xyz = _unit_vectors(nodes.a[stop_nodes], nodes.b[stop_nodes])
    else:
        xyz = np.column_stack([nodes.a[stop_nodes], nodes.b[stop_nodes]])
    spread = float(np.ptp(xyz, axis=0).max()) + 1.0
    pts = np.column_stack([xyz, hub * spread * 4.0])
    kk = min(k + 1, stop_nodes.size)
    _, idx = cKDTree(pts).query(pts, k=kk, workers=-1)
    idx = idx.reshape(stop_nodes.size, kk)
    same_hub = hub[idx] == hub[:, None]
    not_self = idx != np.arange(stop_nodes.size)[:, None]
    found = np.where(same_hub & not_self, stop_nodes[idx], -1)
    # Move the valid entries to the front of each row, keeping their distance order.
    order = np.argsort(found < 0, axis=1, kind="stable")
    found = np.take_along_axis(found, order, axis=1)[:, :k]
    out[stop_nodes, : found.shape[1]] = found
    return out


def total_distance(routes: RouteSet, nodes: Nodes, compute: Compute) -> float:
    """Sum of route distances (hub -> stops -> hub)."""
    legs = leg_table(routes, nodes, compute)
    return float(legs.distance.sum())


def _intra_on(search: LocalSearch, dirty: np.ndarray, deadline: float) -> bool:
    """Run the intra-route kernel on the dirty routes only (the others are at a local optimum).

    Routes go in batches so that the clock can stop a long first pass; returns
    False when it did. The first batch is small and times the kernel, and each
    later one is sized to take about half the time left (at most
    :data:`INTRA_BATCH`), so a pass the budget cannot afford stops near the
    deadline instead of one large call past it. Each route is improved on its
    own, so the batching never changes a result, only where the clock stops.
    """
    idx = np.flatnonzero(dirty & (search.lengths() > 2))
    start, size, per_route = 0, INTRA_PROBE, 0.0
    while start < idx.size:
        now = time.perf_counter()
        if now > deadline:
            return False
        if per_route > 0.0:
            size = int(min(INTRA_BATCH, max(INTRA_PROBE, 0.5 * (deadline - now) / per_route)))
        part = idx[start:start + size]
        search.intra(part, INTRA_PASSES)
        per_route = max(per_route, (time.perf_counter() - now) / part.size)
        start += part.size
    return True


def _never_binding_width(routes: RouteSet, fleet: Fleet) -> int:
    """Padded width no feasible route of these hubs can outgrow: a hub's stops, at most its parcel capacity.

    A width that never binds keeps a hub's search independent of which
    other hubs share the call (so hub groups give identical plans).
    """
    stops = np.bincount(routes.route_hub, weights=routes.route_len, minlength=fleet.size)
    bound = np.minimum(stops, fleet.capacity_parcels)[np.unique(routes.route_hub)]
    return int(max(bound.max(initial=0), routes.route_len.max(initial=0), 1))


def improve_routes(routes: RouteSet, nodes: Nodes, fleet: Fleet, compute: Compute, settings: ImproveSettings,
                   budget_s: float, seed: int, hub_key: np.ndarray | None = None) -> tuple[RouteSet, ImproveStats]:
    """Improve all routes (returning the compacted set) within ``budget_s`` seconds.

    First the local-search kernels to a local optimum of both neighbourhoods,
    then SISR ruin-and-recreate (:mod:`planner.search`) hub by hub for
    ``settings.search_iterations(budget_s, stops)`` iterations per stop, on as many
    threads as Numba has, with what is left of the budget as a cap. Each hub's
    search is seeded from ``seed`` and its ``hub_key`` (default: its index in
    ``fleet``): give the run-wide hub index so that a hub's plan does not
    depend on which other hubs share the call.
    """
    neighbours_k, max_rounds = settings.neighbours, settings.max_rounds
    t0 = time.perf_counter()
    before = total_distance(routes, nodes, compute)
    if routes.size == 0:
        return routes, ImproveStats(before, before, 0, 0, 0.0, False)
    work = routes.widen(_never_binding_width(routes, fleet))
    depot = work.depots(nodes.n_stops)
    hub = work.route_hub
    cap_kg = fleet.capacity_kg[hub].astype(np.float64)
    cap_n = fleet.capacity_parcels[hub].astype(np.float64)
    shift = fleet.shift_s[hub].astype(np.float64)
    neighbours = granular_neighbours(work, nodes, neighbours_k, compute.metric)
    # On CUDA the routes stay on the device from here until the search is done.
    search = compute.local_search(work.routes, work.route_len, depot, hub, neighbours, nodes, cap_kg, cap_n, shift)

    rounds = moves = 0
    deadline = t0 + budget_s
    finished = True
    dirty = np.ones(work.size, dtype=bool)  # routes whose order may not be 2-opt/Or-opt optimal
    while rounds < max_rounds:
        finished = _intra_on(search, dirty, deadline)
        rounds += 1
        if not finished or time.perf_counter() > deadline:
            finished = False
            break
        applied, dirty = search.inter(INTER_ROUNDS_PER_STEP)
        moves += applied
        if applied == 0:
            break
    result = RouteSet(*search.result(), hub).compact()
    left = budget_s - (time.perf_counter() - t0)
    per_stop = settings.search_iterations(budget_s, int(result.route_len.sum()))
    if finished and per_stop > 0 and result.size:
        if left <= 0:
            finished = False
        else:
            key = np.arange(fleet.size) if hub_key is None else np.asarray(hub_key)
            result, finished = _search(result, nodes, fleet, compute, settings, left, seed, key, per_stop)
    after = total_distance(result, nodes, compute)
    return result, ImproveStats(before, after, rounds, moves, time.perf_counter() - t0, not finished)


def _search(routes: RouteSet, nodes: Nodes, fleet: Fleet, compute: Compute, settings: ImproveSettings,
            seconds: float, seed: int, hub_key: np.ndarray, per_stop: float) -> tuple[RouteSet, bool]:
    """SISR on every hub's routes, ``per_stop`` iterations per stop; returns the routes and whether it
    finished before the clock (``seconds``)."""
    import numba

    from planner.search import search

    hub = routes.route_hub
    t_end = time.perf_counter() + seconds
    out = search(routes, nodes, fleet.capacity_kg[hub].astype(np.float64),
                 fleet.capacity_parcels[hub].astype(np.float64), fleet.shift_s[hub].astype(np.float64), hub_key[hub],
                 compute.metric, compute.scale, seconds, seed, neighbours_k=settings.search_neighbours,
                 max_routes=fleet.vehicles[hub].astype(np.float64),
                 iterations_per_stop=per_stop, workers=numba.get_num_threads())
    return out, time.perf_counter() < t_end
