"""The local search: 2-opt / Or-opt inside routes and relocate / swap / 2-opt* between them, in rounds.

Each round runs the intra-route kernel (to a local optimum in every route it
is given) and then a batch of inter-route rounds (granular neighbour lists of
the k nearest stops, routes of one hub only). Only the routes the inter-route
moves changed are searched again by the next intra pass: the others are at
their local optimum already. It stops at a local optimum of both
neighbourhoods, after ``budget.max_rounds``, or when the clock passes the
deadline; the work is bounded by rounds, so a run that finishes within its
time repeats exactly, and a run the clock cuts says so.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.device import Compute, LocalSearch
from planner.model import Hubs, Nodes, RouteSet
from planner.settings import ImproveSettings


@dataclass(frozen=True)
class SearchStats:
    """What one local search did."""

    rounds: int
    moves: int
    finished: bool  # False when the clock cut it


def _intra_on(search: LocalSearch, dirty: np.ndarray, deadline: float, settings: ImproveSettings) -> bool:
    """Run the intra-route kernel on the dirty routes only (the others are at a local optimum).

    Routes go in batches so that the clock can stop a long first pass; returns
    False when it did. The first batch is small and times the kernel, and each
    later one is sized to take about half the time left (at most
    ``settings.intra_batch``), so a pass the budget cannot afford stops near the
    deadline instead of one large call past it. Each route is improved on its
    own, so the batching never changes a result, only where the clock stops.
    """
    idx = np.flatnonzero(dirty & (search.lengths() > 2))
    start, size, per_route = 0, settings.intra_probe, 0.0
    while start < idx.size:
        now = time.perf_counter()
        if now > deadline:
            return False
        if per_route > 0.0:
            size = int(min(settings.intra_batch, max(settings.intra_probe, 0.5 * (deadline - now) / per_route)))
        part = idx[start:start + size]
        search.intra(part, settings.intra_passes, settings.intra_neighbours, settings.intra_confirm)
        per_route = max(per_route, (time.perf_counter() - now) / part.size)
        start += part.size
    return True


def local_search(work: RouteSet, nodes: Nodes, hubs: Hubs, compute: Compute, settings: ImproveSettings,
                 max_rounds: int, deadline: float, table: np.ndarray,
                 ordered: bool = False) -> tuple[RouteSet, SearchStats]:
    """Improve ``work`` (padded wide enough for every move) to a local optimum in at most ``max_rounds`` rounds;
    returns the compacted routes.

    ``table`` lists the routed stops' nearest stops of their hub (planner.stages.neighbours.node_neighbours),
    of which the first ``settings.neighbours`` are the moves' granular neighbourhood. ``ordered``: every route is
    at a 2-opt / Or-opt optimum already (SISR's polish, granular over fewer neighbours), so the first round skips
    the intra pass and only the routes the inter-route moves change are searched again.
    """
    hub = work.route_hub
    neighbours = np.ascontiguousarray(table[:, : settings.neighbours])
    # On CUDA the routes stay on the device from here until the search is done.
    search = compute.local_search(work.routes, work.route_len, work.depots(nodes.n_stops), hub, neighbours, nodes,
                                  hubs.capacity_kg[hub].astype(np.float64),
                                  hubs.capacity_parcels[hub].astype(np.float64), hubs.shift_s[hub].astype(np.float64))
    rounds = moves = 0
    finished = True
    dirty = np.full(work.size, not ordered)  # routes whose order may not be 2-opt/Or-opt optimal
    while rounds < max_rounds:
        finished = _intra_on(search, dirty, deadline, settings)
        rounds += 1
        if not finished or time.perf_counter() > deadline:
            finished = False
            break
        applied, dirty = search.inter(settings.inter_rounds_per_step)
        moves += applied
        if applied == 0:
            break
    return RouteSet(*search.result(), hub).compact(), SearchStats(rounds, moves, finished)
