"""Stage 4, route: per hub, a giant tour cut by Split into capacity- and shift-feasible routes.

The giant tour visits a hub's stops in Hilbert order (and, as a second
candidate, in sweep order around the hub); Split (Prins 2004) cuts it
optimally under the vehicles' kg and parcel capacities, the shift length and
the hub's number of vehicles. When the fleet cannot carry everything, stops are
kept in tier order (priority, express, standard; nearer stops first within a
tier) and the largest prefix of that order whose Hilbert tour a next-fit cut
serves with the hub's vehicles is found by bisection (O(n) per step, where
Split is O(n L)); the rest is deferred with a reason. Next-fit succeeding is a
feasible cut, so the final fleet-limited Split always finds one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels._scalar import reference as scalar
from planner.compute import Compute
from planner.fleet import Fleet, Nodes

REASON_NO_VEHICLES = "hub has no vehicles today"
REASON_TOO_HEAVY = "stop is heavier than one vehicle of its hub carries"
REASON_TOO_MANY = "stop has more parcels than one vehicle of its hub carries"
REASON_TOO_FAR = "stop cannot be reached and served within one shift"
REASON_FLEET_FULL = "hub's vehicles are full today"

#: reasons that mean "not enough capacity today" (tier order applies to these)
CAPACITY_REASONS = (REASON_FLEET_FULL,)


@dataclass
class RouteSet:
    """Routes in the kernels' padded layout: row r holds route r's stop nodes, -1 padded."""

    routes: np.ndarray  # int32[R, L]
    route_len: np.ndarray  # int32[R]
    route_hub: np.ndarray  # int32[R]

    @property
    def size(self) -> int:
        """Number of routes (empty ones included until :meth:`compact`)."""
        return int(self.route_len.size)

    def depots(self, n_stops: int) -> np.ndarray:
        """Node id of each route's hub."""
        return (n_stops + self.route_hub).astype(np.int32)

    def compact(self) -> "RouteSet":
        """Drop empty routes and trim the padding to the longest route."""
        keep = self.route_len > 0
        width = max(1, int(self.route_len.max(initial=0)))
        return RouteSet(np.ascontiguousarray(self.routes[keep, :width]), self.route_len[keep].copy(),
                        self.route_hub[keep].copy())

    def widen(self, width: int) -> "RouteSet":
        """A copy with room for routes of up to ``width`` stops (for moves between routes)."""
        out = np.full((self.size, max(width, self.routes.shape[1])), -1, dtype=np.int32)
        out[:, : self.routes.shape[1]] = self.routes
        return RouteSet(out, self.route_len.copy(), self.route_hub.copy())

    def stop_positions(self, n_stops: int) -> tuple[np.ndarray, np.ndarray]:
        """(route, 0-based position) of every stop node; -1 for stops on no route."""
        route = np.full(n_stops, -1, dtype=np.int32)
        pos = np.full(n_stops, -1, dtype=np.int32)
        r, p = np.nonzero(self.routes >= 0)
        route[self.routes[r, p]] = r
        pos[self.routes[r, p]] = p
        return route, pos


@dataclass(frozen=True)
class _Limits:
    """Per-hub route limits as the Split kernel wants them."""

    cap_kg: np.ndarray
    cap_n: np.ndarray
    shift_s: np.ndarray
    vehicles: np.ndarray

    @classmethod
    def of(cls, fleet: Fleet) -> "_Limits":
        return cls(fleet.capacity_kg.astype(np.float64), fleet.capacity_parcels.astype(np.float64),
                   fleet.shift_s.astype(np.float64), fleet.vehicles.astype(np.int32))


def _single_stop_reasons(hub: np.ndarray, routable: np.ndarray, dist_to_hub: np.ndarray, nodes: Nodes,
                         fleet: Fleet) -> np.ndarray:
    """Why a stop cannot be served even alone on a vehicle of its hub (None when it can)."""
    reasons = np.full(hub.size, None, dtype=object)
    idx = np.flatnonzero(routable)
    if idx.size == 0:
        return reasons
    h = hub[idx]
    d = dist_to_hub[idx]
    hub_speed = nodes.speed_kmh[nodes.n_stops + h]
    there_and_back = 2.0 * scalar.leg_seconds(d, hub_speed, nodes.speed_kmh[idx]) + nodes.service_s[idx]
    checks = (
        (fleet.vehicles[h] <= 0, REASON_NO_VEHICLES),
        (nodes.demand_kg[idx] > fleet.capacity_kg[h], REASON_TOO_HEAVY),
        (nodes.demand_n[idx] > fleet.capacity_parcels[h], REASON_TOO_MANY),
        (there_and_back > fleet.shift_s[h], REASON_TOO_FAR),
    )
    for bad, text in reversed(checks):  # the first failing check wins
        reasons[idx[bad]] = text
    return reasons


class _TourBuilder:
    """Builds giant tours of selected stops, grouped by hub, in a fixed visiting order."""

    def __init__(self, hub: np.ndarray, order_key: np.ndarray):
        self.hub = hub
        self.order_key = order_key

    def tours(self, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tour_hub, tour_ptr, tour_nodes) for the selected stops, one tour per hub that has any."""
        idx = np.flatnonzero(selected)
        idx = idx[np.lexsort((idx, self.order_key[idx], self.hub[idx]))]
        hubs, counts = np.unique(self.hub[idx], return_counts=True)
        ptr = np.zeros(hubs.size + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        return hubs.astype(np.int32), ptr, idx.astype(np.int32)


def _split(builder: _TourBuilder, selected: np.ndarray, nodes: Nodes, limits: _Limits,
           compute: Compute) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the tours of the selected stops: (tour_hub, tour_ptr, tour_nodes, route_start, tour_cost)."""
    tour_hub, ptr, tour_nodes = builder.tours(selected)
    start, cost = compute.split_tours(ptr, tour_nodes, (nodes.n_stops + tour_hub).astype(np.int32), nodes,
                                      limits.cap_kg[tour_hub], limits.cap_n[tour_hub], limits.shift_s[tour_hub],
                                      limits.vehicles[tour_hub])
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
    safe = np.maximum(hub, 0)
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


def _sweep_key(nodes: Nodes, hub: np.ndarray) -> np.ndarray:
    """Angle of each stop around its hub (planar approximation), for the sweep tour."""
    safe = np.maximum(hub, 0)
    hub_a = nodes.a[nodes.n_stops + safe]
    hub_b = nodes.b[nodes.n_stops + safe]
    da = nodes.a[: nodes.n_stops] - hub_a
    db = (nodes.b[: nodes.n_stops] - hub_b) * np.cos(np.radians(hub_a))
    return np.arctan2(da, db)


def _routes_from_split(tour_hub, ptr, tour_nodes, start) -> RouteSet:
    """Turn Split's route starts into the padded route layout."""
    if tour_nodes.size == 0:
        return RouteSet(np.full((0, 1), -1, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32))
    route_of = np.cumsum(start.astype(np.int64)) - 1
    n_routes = int(route_of[-1]) + 1
    first = np.flatnonzero(start)
    lens = np.diff(np.append(first, tour_nodes.size)).astype(np.int32)
    pos = np.arange(tour_nodes.size) - first[route_of]
    routes = np.full((n_routes, int(lens.max())), -1, dtype=np.int32)
    routes[route_of, pos] = tour_nodes
    tour_of_pos = np.repeat(np.arange(tour_hub.size), np.diff(ptr))
    return RouteSet(routes, lens, tour_hub[tour_of_pos[first]].astype(np.int32))


def build_routes(hub: np.ndarray, routable: np.ndarray, tier: np.ndarray, hilbert: np.ndarray, nodes: Nodes,
                 fleet: Fleet, compute: Compute) -> tuple[RouteSet, np.ndarray]:
    """Cut every hub's routable stops into feasible routes.

    ``hub`` is each stop's hub (-1 none), ``routable`` marks stops the
    assignment sent to routing, ``tier`` is each stop's most urgent tier and
    ``hilbert`` its Hilbert key. Returns the routes and, per stop, the reason
    it was deferred here (None for stops on a route or not routable).
    """
    limits = _Limits.of(fleet)
    dist_to_hub = np.zeros(hub.size)
    idx = np.flatnonzero(routable)
    dist_to_hub[idx] = compute.node_distances(idx, nodes.n_stops + hub[idx], nodes)
    reasons = _single_stop_reasons(hub, routable, dist_to_hub, nodes, fleet)
    routable = routable & (reasons == None)  # noqa: E711 - elementwise on an object array
    safe_hub = np.maximum(hub, 0)
    rank = _keep_rank(hub, routable, tier, dist_to_hub)
    count = np.bincount(hub[routable], minlength=fleet.size).astype(np.int64)

    hilbert_tours = _TourBuilder(hub, hilbert)
    keep = _largest_feasible_prefix(hilbert_tours, rank, count, hub, routable, nodes, limits, compute)
    selected = routable & (rank < keep[safe_hub])
    reasons[routable & ~selected] = REASON_FLEET_FULL

    # Final cut: the better of the Hilbert and the sweep tour, hub by hub.
    candidates = [_split(b, selected, nodes, limits, compute)
                  for b in (hilbert_tours, _TourBuilder(hub, _sweep_key(nodes, hub)))]
    costs = np.stack([c[4] for c in candidates])
    best = np.argmin(costs, axis=0)
    uncut = candidates[0][0][~np.isfinite(costs.min(axis=0))]
    if uncut.size:  # cannot happen when next-fit found a cut; never lose stops if it does
        lost = selected & np.isin(hub, uncut)
        reasons[lost] = REASON_FLEET_FULL
    parts = [_restrict(c, (best == i) & np.isfinite(costs.min(axis=0))) for i, c in enumerate(candidates)]
    route_sets = [_routes_from_split(*p) for p in parts]
    return _concat(route_sets), reasons


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
