"""The written plan on roads: each finished route's own road matrix, its stops re-sequenced, exact legs.

After the search (on calibrated estimates) the routes are fixed. Each route
then gets the road figures among its hub and its stops, in both directions
(an (L+1) x (L+1) block: memory is the sum of the routes' squared lengths,
bounded per batch, never n x n), its stops are re-sequenced on them
(asymmetric 2-opt and Or-opt, :func:`planner.device.Compute.resequence_routes`),
and the schedule is rebuilt from the road legs in the order driven, so every
``distance_km``, ``duration_s`` and ``eta_s`` is a road figure. A route the
road times put over its shift drops the stops that save it the most time,
deferred with :data:`planner.contract.schemas.R_ROAD_SHIFT`, so the plan keeps
the contract's ``duration_s <= shift_s``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels._scalar import reference as scalar
from planner.contract.schemas import NO_REASON, R_ROAD_SHIFT
from planner.device import Compute
from planner.model import Hubs, Nodes, RouteSet, Stops
from planner.roads.engine import RoadEngine
from planner.settings import Settings
from planner.stages.schedule import LegTable, Schedule, schedule_legs

#: most road figures fetched and held at once (the routes of one batch, each (L+1)^2)
BATCH_ENTRIES = 1 << 21


@dataclass(frozen=True)
class RoadPlan:
    """The schedule on road legs and what it took."""

    schedule: Schedule
    routes: RouteSet  # the routes in their driven order (global stop ids), as the schedule has them
    reasons: np.ndarray  # int8[S], R_ROAD_SHIFT for stops a road-timed route had to drop, else NO_REASON
    estimate_km: float  # the search's own figure for its routes
    retimed_km: float  # road km of the search's stop order
    road_km: float  # road km written (re-sequenced, trimmed)
    resequence_passes: int
    dropped_stops: int
    unroutable_legs: int  # legs with no road route (kept at their estimate)
    matrix_entries: int  # road figures fetched for the routes' matrices
    largest_batch_entries: int

    def as_dict(self) -> dict[str, float | int]:
        """The figures for summary.json."""
        return {"estimate_km": round(self.estimate_km, 3), "retimed_km": round(self.retimed_km, 3),
                "road_km": round(self.road_km, 3), "resequence_passes": self.resequence_passes,
                "dropped_stops": self.dropped_stops, "unroutable_legs": self.unroutable_legs,
                "route_matrix_entries": self.matrix_entries, "largest_batch_entries": self.largest_batch_entries}


def route_lists(schedule: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """``(route_ptr int64[R+1], stops int64[M])``: each route's stops in driving order."""
    on = np.flatnonzero(schedule.stop_route >= 0)
    order = np.lexsort((schedule.stop_seq[on], schedule.stop_route[on]))
    stops = on[order].astype(np.int64)
    count = np.bincount(schedule.stop_route[stops], minlength=schedule.distance_km.size)
    return np.r_[0, np.cumsum(count)].astype(np.int64), stops


def _batches(route_ptr: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive route ranges whose matrices hold at most BATCH_ENTRIES figures (a longer route alone)."""
    size = (np.diff(route_ptr) + 1) ** 2
    out, start, total = [], 0, 0
    for r, entries in enumerate(size.tolist()):
        if total and total + entries > BATCH_ENTRIES:
            out.append((start, r))
            start, total = r, 0
        total += entries
    if route_ptr.size > 1:
        out.append((start, route_ptr.size - 1))
    return out


def _drop_over_shift(tour: np.ndarray, km: np.ndarray, sec: np.ndarray, service: np.ndarray,
                     shift_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions kept (matrix indices, hub excluded) and dropped, removing the stop that saves most time
    until the route's driving plus service fits ``shift_s`` (ties: the earlier position)."""
    keep = list(tour)
    dropped: list[int] = []

    def total(seq: list[int]) -> float:
        closed = [0, *seq, 0]
        return float(sum(sec[a, b] for a, b in zip(closed[:-1], closed[1:], strict=False))
                     + sum(service[i] for i in seq))

    while keep and total(keep) > shift_s:
        closed = [0, *keep, 0]
        best, gain = 0, -np.inf
        for p in range(len(keep)):
            a, i, b = closed[p], closed[p + 1], closed[p + 2]
            g = sec[a, i] + sec[i, b] - sec[a, b] + service[i]
            if g > gain:
                best, gain = p, g
        dropped.append(keep.pop(best))
    return np.array(keep, np.int64), np.array(dropped, np.int64)


def road_plan(schedule: Schedule, route_hub: np.ndarray, stops: Stops, hubs: Hubs, road_lat: np.ndarray,
              road_lon: np.ndarray, hub_road_lat: np.ndarray, hub_road_lon: np.ndarray, speed_kmh: np.ndarray,
              circuity: float, stop_circuity: np.ndarray | None, engine: RoadEngine, compute: Compute,
              settings: Settings) -> RoadPlan:
    """The routes of ``schedule`` on road legs (see the module docstring).

    ``road_lat``/``road_lon`` are the stops' snapped points (requests), ``speed_kmh``,
    ``circuity`` and ``stop_circuity`` (each stop's multiplier of it, None: 1.0) the
    calibrated estimates (for a leg the engine cannot route).
    """
    route_ptr, flat = route_lists(schedule)
    n_routes = route_ptr.size - 1
    hub_speed = settings.speeds.suburban_kmh
    node_speed = np.concatenate([speed_kmh, np.full(hubs.size, hub_speed)])
    node_lat, node_lon = np.r_[stops.lat, hubs.lat], np.r_[stops.lon, hubs.lon]  # for legs the roads cannot route
    node_circuity = None if stop_circuity is None else np.r_[stop_circuity, np.ones(hubs.size)]
    new_lists: list[np.ndarray] = []
    legs_km: list[np.ndarray] = []
    legs_s: list[np.ndarray] = []
    reasons = np.full(stops.size, NO_REASON, np.int8)
    retimed = passes = unroutable = entries = largest = dropped_total = 0
    for lo, hi in _batches(route_ptr):
        blocks, members = [], []
        for r in range(lo, hi):
            s = flat[route_ptr[r]:route_ptr[r + 1]]
            h = int(route_hub[r])
            la = np.r_[hub_road_lat[h], road_lat[s]]
            lo_ = np.r_[hub_road_lon[h], road_lon[s]]
            blocks.append((la, lo_, la, lo_))
            members.append(np.r_[stops.size + h, s])  # node ids: hub first
        tables = engine.tables(blocks)
        km_parts, sec_parts, mat_ptr, offset = [], [], [], 0
        for node, (km, sec) in zip(members, tables, strict=True):
            bad = ~(np.isfinite(km) & np.isfinite(sec))
            np.fill_diagonal(bad, False)
            if bad.any():
                unroutable += int(bad.sum())
                i, j = np.nonzero(bad)
                d = compute.pair_distances(node_lat[node[i]], node_lon[node[i]], node_lat[node[j]],
                                           node_lon[node[j]])
                d = d * (circuity / compute.scale)
                if node_circuity is not None:
                    d = d * scalar.pair_circuity(node_circuity[node[i]], node_circuity[node[j]])
                km, sec = km.copy(), sec.copy()
                km[i, j] = d
                sec[i, j] = scalar.leg_seconds(d, node_speed[node[i]], node_speed[node[j]])
            np.fill_diagonal(km, 0.0)
            np.fill_diagonal(sec, 0.0)
            km_parts.append(km.ravel())
            sec_parts.append(sec.ravel())
            mat_ptr.append(offset)
            offset += km.size
        entries += offset
        largest = max(largest, offset)
        km_flat, sec_flat = np.concatenate(km_parts), np.concatenate(sec_parts)
        ptr = route_ptr[lo:hi + 1] - route_ptr[lo]
        owner = np.repeat(np.arange(hi - lo), np.diff(ptr))
        service_total = np.bincount(owner, weights=stops.service_s[flat[route_ptr[lo]:route_ptr[hi]]],
                                    minlength=hi - lo)
        limit = hubs.shift_s[route_hub[lo:hi]] - service_total
        order, used = compute.resequence_routes(ptr, np.array(mat_ptr, np.int64), km_flat, sec_flat, limit,
                                                settings.roads.resequence_passes)
        passes += int(used.sum())
        for b, node in enumerate(members):
            width = node.size
            km = km_flat[mat_ptr[b]:mat_ptr[b] + width * width].reshape(width, width)
            sec = sec_flat[mat_ptr[b]:mat_ptr[b] + width * width].reshape(width, width)
            given = np.r_[0, np.arange(1, width), 0]
            retimed += float(km[given[:-1], given[1:]].sum())
            tour = order[ptr[b]:ptr[b + 1]].astype(np.int64)
            service = np.r_[0.0, stops.service_s[node[1:]]]
            r = lo + b
            tour, out = _drop_over_shift(tour, km, sec, service, float(hubs.shift_s[route_hub[r]]))
            if out.size:
                reasons[node[out]] = R_ROAD_SHIFT
                dropped_total += int(out.size)
            closed = np.r_[0, tour, 0]
            new_lists.append(node[tour])
            legs_km.append(km[closed[:-1], closed[1:]])
            legs_s.append(sec[closed[:-1], closed[1:]])
    routes = _padded(new_lists, route_hub)
    width = routes.routes.shape[1]
    dist = np.zeros((n_routes, width + 1))
    secs = np.zeros((n_routes, width + 1))
    for r in range(n_routes):
        if new_lists[r].size:
            dist[r, :legs_km[r].size] = legs_km[r]
            secs[r, :legs_s[r].size] = legs_s[r]
    nodes = Nodes.build(stops.lat, stops.lon, stops.weight_kg, stops.n_parcels, stops.service_s, speed_kmh, hubs,
                        hub_speed)
    road = schedule_legs(routes, nodes, LegTable(dist, secs), settings.cost)
    return RoadPlan(road, routes, reasons, float(schedule.distance_km.sum()), retimed, float(road.distance_km.sum()),
                    passes, dropped_total, unroutable, entries, largest)


def _padded(lists: list[np.ndarray], route_hub: np.ndarray) -> RouteSet:
    """Routes in the kernels' padded layout from their stop lists (global stop ids)."""
    width = max([1] + [x.size for x in lists])
    routes = np.full((len(lists), width), -1, np.int32)
    for r, x in enumerate(lists):
        routes[r, :x.size] = x
    return RouteSet(routes, np.array([x.size for x in lists], np.int32), np.asarray(route_hub, np.int32))


def route_shapes(engine: RoadEngine, routes: RouteSet, road_lat: np.ndarray, road_lon: np.ndarray,
                 hub_road_lat: np.ndarray, hub_road_lon: np.ndarray, max_routes: int) -> list[np.ndarray]:
    """The road geometry (float64[P, 2] lat, lon) of the first ``max_routes`` routes, hub to hub."""
    out = []
    for r in range(min(max_routes, routes.size)):  # one request each: a few hundred at most
        s = routes.routes[r, :routes.route_len[r]]
        if s.size == 0:
            out.append(np.zeros((0, 2)))
            continue
        h = int(routes.route_hub[r])
        out.append(engine.route_geometry(np.r_[hub_road_lat[h], road_lat[s], hub_road_lat[h]],
                                         np.r_[hub_road_lon[h], road_lon[s], hub_road_lon[h]]))
    return out
