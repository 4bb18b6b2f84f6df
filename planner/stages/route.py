"""Stage 4, route: per hub, the best of its starts: Clarke-Wright savings, two Split cuts and a next-fit cut.

Savings (:mod:`kernels.core.savings`) merges routes along granular neighbour
pairs; Split (Prins 2004) cuts a giant tour visiting the hub's stops in
Hilbert order, or in sweep order around the hub, optimally under the
vehicles' kg and parcel capacities, the shift length and the hub's number of
vehicles. Each hub keeps the shortest feasible start (ties to the Hilbert
cut, then the sweep cut, then next-fit). Savings wins wherever its routes fit
the fleet (on national, New York and Los Angeles loads the best Split cut
was 21-46 % longer at every hub), so the two Split DPs, a quarter of the
stage, run only at hubs where savings needs more routes than there are
vehicles (``split_everywhere`` runs them at every hub; the plan is the same
wherever savings is shorter). When the fleet cannot carry everything, stops are
kept in tier order (priority, express, standard; nearer stops first within a
tier) and the largest prefix of that order whose Hilbert tour a next-fit cut
serves with the hub's vehicles is found by bisection (O(n) per step, where
Split is O(n L)); the rest is deferred with a reason. Next-fit succeeding is a
feasible cut, so the final fleet-limited Split always finds one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels import GREAT_CIRCLE
from kernels._scalar import reference as scalar
from planner.contract.schemas import (
    NO_REASON,
    R_BEYOND_SHIFT,
    R_FLEET_FULL,
    R_HUB_NO_VEHICLES,
    R_TOO_HEAVY,
    R_TOO_MANY_PARCELS,
)
from planner.device import Compute
from planner.model import Hubs, Nodes, RouteSet
from planner.settings import RouteSettings
from planner.stages.neighbours import as_local, node_neighbours


@dataclass(frozen=True)
class _Limits:
    """Per-hub route limits as the Split kernel wants them."""

    cap_kg: np.ndarray
    cap_n: np.ndarray
    shift_s: np.ndarray
    vehicles: np.ndarray

    @classmethod
    def of(cls, hubs: Hubs) -> "_Limits":
        return cls(hubs.capacity_kg.astype(np.float64), hubs.capacity_parcels.astype(np.float64),
                   hubs.shift_s.astype(np.float64), hubs.vehicles.astype(np.int32))


def _single_stop_reasons(hub: np.ndarray, dist_to_hub: np.ndarray, nodes: Nodes, hubs: Hubs) -> np.ndarray:
    """Why a stop cannot be served even alone on a vehicle of its hub (int8 reason codes, NO_REASON when it can)."""
    h = hub
    hub_speed = nodes.speed_kmh[nodes.n_stops + h]
    stops = np.arange(hub.size)
    there_and_back = 2.0 * scalar.leg_seconds(dist_to_hub, hub_speed, nodes.speed_kmh[stops]) + nodes.service_s[stops]
    checks = (
        (hubs.vehicles[h] <= 0, R_HUB_NO_VEHICLES),
        (nodes.demand_kg[stops] > hubs.capacity_kg[h], R_TOO_HEAVY),
        (nodes.demand_n[stops] > hubs.capacity_parcels[h], R_TOO_MANY_PARCELS),
        (there_and_back > hubs.shift_s[h], R_BEYOND_SHIFT),
    )
    reasons = np.full(hub.size, NO_REASON, dtype=np.int8)
    for bad, code in reversed(checks):  # the first failing check wins
        reasons[bad] = code
    return reasons


class _TourBuilder:
    """Builds giant tours of selected stops, grouped by hub, in a fixed visiting order.

    All stops are sorted once (hub, then the order key, then index); the tours of any selection are that
    order filtered, in linear time, so the bisection and every start reuse one sort.
    """

    def __init__(self, hub: np.ndarray, order_key: np.ndarray):
        self.hub = hub
        self.order = np.lexsort((order_key, hub))  # stable: equal keys stay in index order

    def tours(self, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tour_hub, tour_ptr, tour_nodes) for the selected stops, one tour per hub that has any."""
        idx = self.order[selected[self.order]]
        h = self.hub[idx]
        first = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if idx.size else np.zeros(0, np.int64)
        ptr = np.append(first, idx.size).astype(np.int64)
        return h[first].astype(np.int32), ptr, idx.astype(np.int32)


def _split(builder: _TourBuilder, selected: np.ndarray, nodes: Nodes, limits: _Limits, compute: Compute,
           layer_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the tours of the selected stops: (tour_hub, tour_ptr, tour_nodes, route_start, tour_cost).

    The fleet-limited DP (O(n K L)) runs only on tours where K x n is at most ``layer_cells``; elsewhere
    the unlimited cut stands, at +inf when it needs more routes than the hub has vehicles (the next-fit
    candidate then holds the fleet).
    """
    tour_hub, ptr, tour_nodes = builder.tours(selected)
    lengths = np.diff(ptr)
    vehicles = limits.vehicles[tour_hub]
    layered = vehicles.astype(np.int64) * lengths <= layer_cells
    max_routes = np.where(layered, vehicles, lengths + 1).astype(np.int32)
    start, cost = compute.split_tours(ptr, tour_nodes, (nodes.n_stops + tour_hub).astype(np.int32), nodes,
                                      limits.cap_kg[tour_hub], limits.cap_n[tour_hub], limits.shift_s[tour_hub],
                                      max_routes)
    routes = np.add.reduceat(start.astype(np.int64), ptr[:-1]) if start.size else np.zeros(lengths.size, np.int64)
    routes = np.where(lengths > 0, routes, 0)
    cost = np.where(routes > vehicles, np.inf, cost)
    return tour_hub, ptr, tour_nodes, start, cost


def _next_fit(builder: _TourBuilder, selected: np.ndarray, nodes: Nodes, limits: _Limits,
              compute: Compute) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The next-fit cut of the Hilbert tours, the fewest routes: feasible wherever the keep bisection found
    the hub's selected stops to fit its fleet."""
    tour_hub, ptr, tour_nodes = builder.tours(selected)
    start, cost = compute.next_fit_tours(ptr, tour_nodes, (nodes.n_stops + tour_hub).astype(np.int32), nodes,
                                         limits.cap_kg[tour_hub], limits.cap_n[tour_hub], limits.shift_s[tour_hub])
    return tour_hub, ptr, tour_nodes, start, cost


def _savings(builder: _TourBuilder, selected: np.ndarray, nodes: Nodes, limits: _Limits, compute: Compute,
             dist_to_hub: np.ndarray, table: np.ndarray,
             k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clarke-Wright routes of the selected stops along the first ``k`` columns of their neighbour ``table``,
    in the layout of :func:`_split` (routes listed in Hilbert order of their first stop); a hub whose routes
    outnumber its vehicles costs +inf."""
    tour_hub, ptr, hub_stops = builder.tours(selected)
    idx = np.flatnonzero(selected)
    local_hub = np.searchsorted(tour_hub, builder.hub[idx]).astype(np.int64)
    near = as_local(table, idx, k)
    rows = np.broadcast_to(np.arange(idx.size)[:, None], near.shape)
    valid = near >= 0
    dist = np.full(near.shape, np.inf)
    dist[valid] = compute.node_distances(idx[rows[valid]], idx[near[valid]], nodes)
    pair_ptr, pi, pj, pd, _ = compute.savings_pairs(local_hub, near, dist_to_hub[idx], dist, tour_hub.size)
    tour_nodes, start, cost = compute.savings_tours(
        ptr, hub_stops, (nodes.n_stops + tour_hub).astype(np.int32), pair_ptr, idx[pi].astype(np.int32),
        idx[pj].astype(np.int32), pd, nodes, limits.cap_kg[tour_hub], limits.cap_n[tour_hub],
        limits.shift_s[tour_hub], limits.vehicles[tour_hub])
    return tour_hub, ptr, tour_nodes, start, cost


def _fleet_fits(builder: _TourBuilder, selected: np.ndarray, nodes: Nodes, limits: _Limits,
                compute: Compute) -> np.ndarray:
    """Per hub, whether its selected stops can be cut into at most ``vehicles`` feasible routes (O(n))."""
    tour_hub, ptr, tour_nodes = builder.tours(selected)
    counts = compute.route_counts(ptr, tour_nodes, (nodes.n_stops + tour_hub).astype(np.int32), nodes,
                                  limits.cap_kg[tour_hub], limits.cap_n[tour_hub], limits.shift_s[tour_hub])
    fits = np.ones(limits.vehicles.size, dtype=bool)  # a hub with nothing selected fits
    fits[tour_hub] = (counts >= 0) & (counts <= limits.vehicles[tour_hub])
    return fits


def _largest_feasible_prefix(builder: _TourBuilder, rank: np.ndarray, count: np.ndarray, hub: np.ndarray,
                             routable: np.ndarray, nodes: Nodes, limits: _Limits, compute: Compute) -> np.ndarray:
    """Per hub, the most stops (in keep order) its fleet can route, by bisection on the next-fit route count."""
    safe = hub
    short = ~_fleet_fits(builder, routable, nodes, limits, compute)
    lo = np.where(short, 0, count)
    hi = count.copy()
    while True:
        active = short & (hi - lo > 1)
        if not active.any():
            break
        mid = (lo + hi) // 2
        selected = routable & active[safe] & (rank < mid[safe])
        fits = _fleet_fits(builder, selected, nodes, limits, compute)
        lo = np.where(active & fits, mid, lo)
        hi = np.where(active & ~fits, mid, hi)
    return lo


def _keep_rank(hub: np.ndarray, routable: np.ndarray, tier: np.ndarray, dist_to_hub: np.ndarray) -> np.ndarray:
    """Position of each routable stop in its hub's keep order: tier, then distance, then index."""
    rank = np.full(hub.size, np.iinfo(np.int64).max, dtype=np.int64)
    idx = np.flatnonzero(routable)
    order = idx[np.lexsort((idx, dist_to_hub[idx], tier[idx], hub[idx]))]
    h = hub[order]
    first = np.searchsorted(h, h, side="left")
    rank[order] = np.arange(order.size) - first
    return rank


def _sweep_key(nodes: Nodes, hub: np.ndarray, metric: int) -> np.ndarray:
    """Angle of each stop around its hub, for the sweep tour: planar coordinates as they are, latitude and
    longitude with the longitude shrunk by the cosine of the hub's latitude."""
    hub_a = nodes.a[nodes.n_stops + hub]
    hub_b = nodes.b[nodes.n_stops + hub]
    da = nodes.a[: nodes.n_stops] - hub_a
    db = nodes.b[: nodes.n_stops] - hub_b
    if metric == GREAT_CIRCLE:
        db = db * np.cos(np.radians(hub_a))
    return np.arctan2(da, db)


def _routes_from_split(tour_hub, ptr, tour_nodes, start) -> RouteSet:
    """Turn Split's route starts into the padded route layout."""
    if tour_nodes.size == 0:
        return RouteSet.empty()
    route_of = np.cumsum(start.astype(np.int64)) - 1
    n_routes = int(route_of[-1]) + 1
    first = np.flatnonzero(start)
    lens = np.diff(np.append(first, tour_nodes.size)).astype(np.int32)
    pos = np.arange(tour_nodes.size) - first[route_of]
    routes = np.full((n_routes, int(lens.max())), -1, dtype=np.int32)
    routes[route_of, pos] = tour_nodes
    tour_of_pos = np.repeat(np.arange(tour_hub.size), np.diff(ptr))
    return RouteSet(routes, lens, tour_hub[tour_of_pos[first]].astype(np.int32))


def build_routes(hub: np.ndarray, tier: np.ndarray, hilbert: np.ndarray, nodes: Nodes, hubs: Hubs,
                 compute: Compute, settings: RouteSettings,
                 neighbours_k: int = 0) -> tuple[RouteSet, np.ndarray, np.ndarray]:
    """Cut every hub's stops into feasible routes.

    ``hub`` is each stop's hub, ``tier`` its most urgent tier and ``hilbert``
    its Hilbert key. Returns the routes, per stop the code of the reason it
    was deferred here (NO_REASON for stops on a route), and the neighbour
    table of the routed stops (planner.stages.neighbours.node_neighbours) with
    at least ``neighbours_k`` columns, built once for savings and for the
    improve stage after it.
    """
    limits = _Limits.of(hubs)
    stops = np.arange(hub.size)
    dist_to_hub = compute.node_distances(stops, nodes.n_stops + hub, nodes)
    reasons = _single_stop_reasons(hub, dist_to_hub, nodes, hubs)
    routable = reasons == NO_REASON
    rank = _keep_rank(hub, routable, tier, dist_to_hub)
    count = np.bincount(hub[routable], minlength=hubs.size).astype(np.int64)

    hilbert_tours = _TourBuilder(hub, hilbert)
    keep = _largest_feasible_prefix(hilbert_tours, rank, count, hub, routable, nodes, limits, compute)
    selected = routable & (rank < keep[hub])
    reasons[routable & ~selected] = R_FLEET_FULL
    on_route = np.flatnonzero(selected)
    table = node_neighbours(on_route, hub[on_route], nodes, max(neighbours_k, settings.savings_neighbours), compute)

    # The start, hub by hub: the shortest of the savings routes, the next-fit cut and the Hilbert and sweep
    # Split cuts; Split only where savings does not fit the fleet unless settings.split_everywhere.
    saved = (_savings(hilbert_tours, selected, nodes, limits, compute, dist_to_hub, table, settings.savings_neighbours)
             if settings.savings_neighbours > 0 else None)
    split_at = selected
    if saved is not None and not settings.split_everywhere:
        split_at = selected & np.isin(hub, saved[0][~np.isfinite(saved[4])])
    candidates = []
    if split_at.any():
        candidates = [_split(b, split_at, nodes, limits, compute, settings.split_layer_cells)
                      for b in (hilbert_tours, _TourBuilder(hub, _sweep_key(nodes, hub, compute.metric)))]
    candidates.append(_next_fit(hilbert_tours, selected, nodes, limits, compute))
    if saved is not None:
        candidates.append(saved)
    costs = np.full((len(candidates), hubs.size), np.inf)  # per hub; +inf where a candidate has no cut
    for i, c in enumerate(candidates):
        costs[i, c[0]] = c[4]
    best, cut = np.argmin(costs, axis=0), np.isfinite(costs.min(axis=0))  # ties to the earlier candidate
    routed_hubs = np.zeros(hubs.size, dtype=bool)
    routed_hubs[hub[selected]] = True
    uncut = np.flatnonzero(routed_hubs & ~cut)
    if uncut.size:  # cannot happen when next-fit found a cut; never lose stops if it does
        lost = selected & np.isin(hub, uncut)
        reasons[lost] = R_FLEET_FULL
        on_route = np.flatnonzero(selected & ~lost)
        table = node_neighbours(on_route, hub[on_route], nodes, table.shape[1], compute)
    parts = [_restrict(c, ((best == i) & cut)[c[0]]) for i, c in enumerate(candidates)]
    route_sets = [_routes_from_split(*p) for p in parts]
    return _concat(route_sets), reasons, table


def _restrict(split_result, tours_mask: np.ndarray):
    """Keep only the chosen tours of a Split result."""
    tour_hub, ptr, tour_nodes, start, _ = split_result
    lengths = np.diff(ptr)
    pos_mask = np.repeat(tours_mask, lengths)
    new_ptr = np.zeros(int(tours_mask.sum()) + 1, dtype=np.int64)
    np.cumsum(lengths[tours_mask], out=new_ptr[1:])
    return tour_hub[tours_mask], new_ptr, tour_nodes[pos_mask], start[pos_mask]


def _concat(sets: list[RouteSet]) -> RouteSet:
    """One route set from several, ordered by hub (stable)."""
    width = max(s.routes.shape[1] for s in sets)
    routes = np.concatenate([s.widen(width).routes for s in sets])
    lens = np.concatenate([s.route_len for s in sets])
    hubs = np.concatenate([s.route_hub for s in sets])
    order = np.argsort(hubs, kind="stable")
    return RouteSet(routes[order], lens[order], hubs[order])
