"""SISR ruin-and-recreate, hub by hub: every hub's routes searched on their own, side by side.

:func:`kernels.cpu.sisr.search` runs the compiled search of one depot's
routes (through :meth:`planner.device.Compute.sisr`); this module prepares
its inputs (node rows, granular neighbour lists from a k-d tree, never a
distance matrix) and shares the work between hubs: a number of iterations
per stop (deterministic, the national plan), or, without one, the seconds
left in proportion to each hub's stops (``hexroute cvrp``'s time budget).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from planner.device import Compute
from planner.model import Hubs, Nodes, RouteSet
from planner.settings import ImproveSettings
from planner.stages.neighbours import as_local, neighbour_lists


@dataclass(frozen=True)
class Depot:
    """One depot's search problem: node rows (stops, then the depot) and its route limits."""

    node: np.ndarray  # float64[n + 1, 7]: a, b, kg, parcels, service s, speed km/h, circuity multiplier
    neighbours: np.ndarray  # int32[n, K]: nearest stops, -1 padded
    limits: tuple[float, float, float, float]  # kg, parcels, shift seconds, routes

    @property
    def n(self) -> int:
        """Number of stops."""
        return int(self.node.shape[0] - 1)


def hub_seed(seed: int, hub: int) -> int:
    """A hub's own 64-bit seed from the run's seed (any size) and the hub's run-wide index: a hash, so that it
    never overflows and neighbouring seeds give unrelated streams."""
    return int(np.random.SeedSequence([int(seed), int(hub)]).generate_state(1, np.uint64)[0])


def depot_problem(routes: RouteSet, rows: np.ndarray, nodes: Nodes, hubs: Hubs, compute: Compute,
                  neighbours_k: int,
                  table: np.ndarray | None = None) -> tuple[Depot, np.ndarray, np.ndarray, np.ndarray]:
    """The :class:`Depot` of the routes ``rows`` (one hub) and its stops: (depot, stop nodes, flat, ptr).

    Its neighbour lists come from ``table`` (planner.stages.neighbours.node_neighbours of the routed stops)
    where given, else from an exact k-nearest search over the hub's stops; its node rows are the kernel node
    arrays' columns, in their order (planner.model.Nodes.kernel_args)."""
    lens = routes.route_len[rows].astype(np.int64)
    stops = np.concatenate([routes.routes[r, : routes.route_len[r]] for r in rows]).astype(np.int64)
    hub = int(routes.route_hub[rows[0]])
    ids = np.append(stops, nodes.n_stops + hub)
    node = np.column_stack([column[ids] for column in nodes.kernel_args()]).astype(np.float64)
    ptr = np.zeros(rows.size + 1, np.int64)
    np.cumsum(lens, out=ptr[1:])
    limits = (float(hubs.capacity_kg[hub]), float(hubs.capacity_parcels[hub]), float(hubs.shift_s[hub]),
              float(hubs.vehicles[hub]))
    if table is None:
        near = neighbour_lists(compute.embed(node[:-1, 0], node[:-1, 1]), neighbours_k)
    else:
        near = as_local(table, stops, neighbours_k)
    depot = Depot(np.ascontiguousarray(node), near, limits)
    return depot, stops, np.arange(stops.size, dtype=np.int32), ptr


def search(routes: RouteSet, nodes: Nodes, hubs: Hubs, compute: Compute, settings: ImproveSettings, seconds: float,
           seed: int, hub_key: np.ndarray, per_stop: float | None,
           table: np.ndarray | None = None) -> tuple[RouteSet, bool, int]:
    """SISR on every hub's routes: the compacted routes (by hub), whether the clock left it alone, and the
    iterations run.

    With ``per_stop`` each hub runs ``ceil(per_stop * stops)`` iterations
    (the clock only caps them) on as many threads as Numba has, largest hub
    first; without it hubs run one after another, each getting the time left
    in proportion to its share of the stops left. A hub's seed derives from
    ``seed`` and its ``hub_key`` (its run-wide index), so its result does not
    depend on which other hubs share the call. No hub's distance grows.
    ``table``: the routed stops' neighbour table, when the caller has one.
    """
    t_end = time.perf_counter() + max(seconds, 0.0)
    keep = np.flatnonzero(routes.route_len > 0)
    ids = np.unique(routes.route_hub[keep])
    groups = [keep[routes.route_hub[keep] == h] for h in ids]
    left = int(routes.route_len[keep].sum())

    def one(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, int]:
        """Hub ``k``'s search: its stop nodes, routes (flat, ptr), whether the clock cut its work, iterations."""
        nonlocal left
        depot, stops, flat, ptr = depot_problem(routes, groups[k], nodes, hubs, compute, settings.search_neighbours,
                                             table)
        seed_k = hub_seed(seed, int(hub_key[ids[k]]))
        if per_stop is None:
            share = max(t_end - time.perf_counter(), 0.0) * depot.n / max(left, 1)
            left -= depot.n
            out = compute.sisr(depot.node, depot.neighbours, flat, ptr, depot.limits, settings.sisr, seed_k, None,
                               share, True)
            return stops, out[0], out[1], False, out[3]
        work = int(np.ceil(per_stop * depot.n))
        out = compute.sisr(depot.node, depot.neighbours, flat, ptr, depot.limits, settings.sisr, seed_k, work,
                           t_end - time.perf_counter(), True)
        wanted = min(work, settings.sisr.max_iterations_per_stop * max(depot.n, 1)) if depot.n > 1 else 0
        return stops, out[0], out[1], out[3] < wanted, out[3]

    order = range(len(groups))
    if per_stop is not None and numba.get_num_threads() > 1 and len(groups) > 1:
        big_first = sorted(order, key=lambda k: (-int(routes.route_len[groups[k]].sum()), k))
        with ThreadPoolExecutor(max_workers=numba.get_num_threads()) as pool:
            by_hub = dict(zip(big_first, pool.map(one, big_first)))
        results = [by_hub[k] for k in order]
    else:
        results = [one(k) for k in order]
    out_routes: list[np.ndarray] = []
    out_hub: list[int] = []
    for h, (stops, flat, ptr, _, _) in zip(ids, results):
        for r in range(ptr.size - 1):
            out_routes.append(stops[flat[ptr[r]:ptr[r + 1]]])
            out_hub.append(int(h))
    cut = any(r[3] for r in results)
    iterations = sum(r[4] for r in results)
    return RouteSet.from_lists(out_routes, out_hub), not cut and time.perf_counter() < t_end, iterations
