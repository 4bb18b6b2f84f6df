"""Stage 5, improve: SISR hub by hub, after a local search where the budget asks for one, and one on its plan.

The local search (:mod:`planner.stages.local_search`, ``budget.max_rounds``
rounds; by default only where they are a small share of the effort, see
:meth:`planner.settings.ImproveSettings.rounds_for`) takes the routes to a
local optimum of its neighbourhoods; SISR ruin-and-recreate
(:mod:`planner.stages.sisr`) works every hub, for a number of iterations per
stop, and the local search then takes SISR's plan to a local optimum of its
moves between routes (``settings.final_rounds``). All are bounded by work
(rounds, iterations), so a run
that finishes within the budget's seconds is deterministic; a run cut short
by the clock says so in its statistics.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.device import Compute
from planner.model import Hubs, Nodes, RouteSet
from planner.settings import Budget, ImproveSettings
from planner.stages.local_search import SearchStats, local_search
from planner.stages.neighbours import granular_neighbours
from planner.stages.schedule import leg_table
from planner.stages.sisr import search


@dataclass(frozen=True)
class ImproveStats:
    """What the improve stage did."""

    distance_before: float
    distance_after: float
    rounds: int
    inter_moves: int
    seconds: float
    stopped_by_clock: bool
    sisr_iterations: int = 0
    local_search_s: float = 0.0
    sisr_s: float = 0.0
    #: moves and seconds of the local search on SISR's plan (``settings.final_rounds``)
    final_moves: int = 0
    final_s: float = 0.0

    @classmethod
    def total(cls, stats: list["ImproveStats"]) -> "ImproveStats":
        """The stage's figures over several calls (hub groups): sums, the most rounds, any clock cut."""
        return cls(distance_before=float(sum(s.distance_before for s in stats)),
                   distance_after=float(sum(s.distance_after for s in stats)),
                   rounds=max((s.rounds for s in stats), default=0), inter_moves=sum(s.inter_moves for s in stats),
                   seconds=float(sum(s.seconds for s in stats)),
                   stopped_by_clock=any(s.stopped_by_clock for s in stats),
                   sisr_iterations=sum(s.sisr_iterations for s in stats),
                   local_search_s=float(sum(s.local_search_s for s in stats)),
                   sisr_s=float(sum(s.sisr_s for s in stats)), final_moves=sum(s.final_moves for s in stats),
                   final_s=float(sum(s.final_s for s in stats)))


def total_distance(routes: RouteSet, nodes: Nodes, compute: Compute) -> float:
    """Sum of route distances (hub -> stops -> hub)."""
    return float(leg_table(routes, nodes, compute).distance.sum())


def _never_binding_width(routes: RouteSet, hubs: Hubs) -> int:
    """Padded width no feasible route of these hubs can outgrow: a hub's stops, at most its parcel capacity.

    A width that never binds keeps a hub's search independent of which
    other hubs share the call (so hub groups give identical plans).
    """
    stops = np.bincount(routes.route_hub, weights=routes.route_len, minlength=hubs.size)
    bound = np.minimum(stops, hubs.capacity_parcels)[np.unique(routes.route_hub)]
    return int(max(bound.max(initial=0), routes.route_len.max(initial=0), 1))


def wants_sisr(budget: Budget) -> bool:
    """Whether the budget asks for any SISR iterations."""
    return budget.sisr_per_stop is None or budget.sisr_per_stop > 0


def improve_routes(routes: RouteSet, nodes: Nodes, hubs: Hubs, compute: Compute, settings: ImproveSettings,
                   budget: Budget, seed: int, hub_key: np.ndarray | None = None,
                   neighbours: np.ndarray | None = None) -> tuple[RouteSet, ImproveStats]:
    """Improve all routes (returning the compacted set) within ``budget``.

    First, when ``budget.max_rounds`` asks for it, the local search to a
    local optimum of both neighbourhoods, then SISR hub by hub for ``budget.sisr_per_stop`` iterations per stop, on as
    many threads as Numba has, with what is left of the seconds as a cap, then the local search again on SISR's
    plan for at most ``settings.final_rounds`` rounds where SISR ran ``settings.final_min_per_stop`` a stop.
    Each hub's search is seeded from ``seed`` and its ``hub_key`` (default:
    its index in ``hubs``): give the run-wide hub index so that a hub's plan
    does not depend on which other hubs share the call. ``neighbours`` is the
    route stage's neighbour table of the routed stops (default: built here).
    """
    t0 = time.perf_counter()
    before = total_distance(routes, nodes, compute)
    if routes.size == 0:
        return routes, ImproveStats(before, before, 0, 0, 0.0, False)
    if neighbours is None:
        neighbours = granular_neighbours(routes, nodes, settings.neighbour_depth, compute)
    if budget.max_rounds > 0:
        work = routes.widen(_never_binding_width(routes, hubs))
        result, ls = local_search(work, nodes, hubs, compute, settings, budget.max_rounds, t0 + budget.seconds,
                                  neighbours)
    else:
        result, ls = routes.compact(), SearchStats(0, 0, True)
    t_ls = time.perf_counter()
    finished = ls.finished
    left = budget.seconds - (time.perf_counter() - t0)
    iterations = 0
    if finished and wants_sisr(budget) and result.size:
        if left <= 0:
            finished = False
        else:
            key = np.arange(hubs.size) if hub_key is None else np.asarray(hub_key)
            result, finished, iterations = search(result, nodes, hubs, compute, settings, left, seed, key,
                                                  budget.sisr_per_stop, neighbours)
            finished = finished or budget.sisr_per_stop is None  # a time-bound search ends by the clock
    t_sisr = time.perf_counter()
    final = SearchStats(0, 0, True)
    if (finished and iterations > 0 and budget.sisr_per_stop is not None and settings.final_rounds > 0
            and budget.sisr_per_stop >= settings.final_min_per_stop):
        # SISR's strings and the polish leave relocate / swap / 2-opt* moves between routes: 0.27 % of the 1M day
        # for an eighth of SISR's time, more than as many more iterations buy; a race (``hexroute cvrp``) has
        # spent its seconds on SISR already
        work = result.widen(_never_binding_width(result, hubs))
        result, final = local_search(work, nodes, hubs, compute, settings, settings.final_rounds,
                                     t0 + budget.seconds, neighbours, ordered=settings.sisr.polish_passes > 0)
        finished = final.finished
    after = total_distance(result, nodes, compute)
    return result, ImproveStats(before, after, ls.rounds, ls.moves, time.perf_counter() - t0, not finished,
                                iterations, t_ls - t0, t_sisr - t_ls, final.moves, time.perf_counter() - t_sisr)
