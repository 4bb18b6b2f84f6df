"""Stage 6, schedule and cost: ETAs along every route, durations, cost and CO2.

A route's legs are hub -> first stop -> ... -> last stop -> hub. Leg times use
the scalar core's ``leg_seconds`` (the speeds of both ends), so the numbers
here are those the kernels optimised.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels._scalar import reference as scalar
from planner.device import Compute
from planner.model import Nodes, RouteSet
from planner.settings import CostSettings


@dataclass(frozen=True)
class LegTable:
    """Every leg of every route in a [R, L+1] layout (leg j ends at stop j, leg len ends at the hub)."""

    distance: np.ndarray  # float64[R, L+1], 0 beyond the route
    seconds: np.ndarray  # float64[R, L+1], 0 beyond the route


def leg_table(routes: RouteSet, nodes: Nodes, compute: Compute) -> LegTable:
    """Distances and driving times of all legs, computed by the distance kernel from the resident coordinates."""
    n_routes, width = routes.routes.shape
    depot = routes.depots(nodes.n_stops)
    seq = np.full((n_routes, width + 2), -1, dtype=np.int64)
    seq[:, 0] = depot
    seq[:, 1:-1] = routes.routes
    seq[np.arange(n_routes), routes.route_len + 1] = depot
    frm, to = seq[:, :-1], seq[:, 1:]
    valid = (frm >= 0) & (to >= 0) & (routes.route_len[:, None] > 0)
    f, t = frm[valid], to[valid]
    dist = np.zeros((n_routes, width + 1))
    secs = np.zeros((n_routes, width + 1))
    d = compute.node_distances(f, t, nodes)
    dist[valid] = d
    secs[valid] = scalar.leg_seconds(d, nodes.speed_kmh[f], nodes.speed_kmh[t])
    return LegTable(dist, secs)


@dataclass(frozen=True)
class Schedule:
    """Per route and per stop results of the schedule stage."""

    distance_km: np.ndarray  # float64[R]
    duration_s: np.ndarray  # int32[R]
    load_kg: np.ndarray  # float64[R]
    n_parcels: np.ndarray  # int32[R]
    n_stops: np.ndarray  # int32[R]
    cost_usd: np.ndarray  # float64[R]
    co2_kg: np.ndarray  # float64[R]
    stop_route: np.ndarray  # int32[S], -1 when not on a route
    stop_seq: np.ndarray  # int32[S], 1-based, 0 when not on a route
    stop_eta_s: np.ndarray  # int32[S], -1 when not on a route


def row_sums(x: np.ndarray) -> np.ndarray:
    """Sum of each row added left to right, so trailing padding never changes the last bit
    (``ndarray.sum`` adds pairwise, in blocks that depend on the width)."""
    if x.shape[1] == 0:
        return np.zeros(x.shape[0])
    return np.cumsum(x, axis=1)[:, -1]


def schedule_routes(routes: RouteSet, nodes: Nodes, compute: Compute, cost: CostSettings) -> Schedule:
    """ETAs (arrival at each stop, seconds after the route starts), durations and costs."""
    return schedule_legs(routes, nodes, leg_table(routes, nodes, compute), cost)


def schedule_legs(routes: RouteSet, nodes: Nodes, legs: LegTable, cost: CostSettings) -> Schedule:
    """The schedule of routes whose legs are given (the kernels' estimates, or road legs in the order driven)."""
    n_routes, width = routes.routes.shape
    on = routes.routes >= 0
    safe = np.where(on, routes.routes, 0)
    service = np.where(on, nodes.service_s[safe], 0.0)
    # arrival at stop j = driving of legs 0..j + service at stops 0..j-1
    arrive = np.cumsum(legs.seconds[:, :width], axis=1) + np.cumsum(service, axis=1) - service
    duration = row_sums(legs.seconds) + row_sums(service)
    distance = row_sums(legs.distance)
    load = row_sums(np.where(on, nodes.demand_kg[safe], 0.0))
    parcels = row_sums(np.where(on, nodes.demand_n[safe], 0.0))

    stop_route = np.full(nodes.n_stops, -1, dtype=np.int32)
    stop_seq = np.zeros(nodes.n_stops, dtype=np.int32)
    stop_eta = np.full(nodes.n_stops, -1, dtype=np.int32)
    r, p = np.nonzero(on)
    s = routes.routes[r, p]
    stop_route[s] = r
    stop_seq[s] = p + 1
    stop_eta[s] = np.rint(arrive[r, p]).astype(np.int32)
    hours = duration / 3600.0
    usd = cost.usd_per_km * distance + cost.usd_per_hour * hours + cost.usd_per_route * (routes.route_len > 0)
    return Schedule(
        distance_km=distance,
        duration_s=np.rint(duration).astype(np.int32),
        load_kg=load,
        n_parcels=np.rint(parcels).astype(np.int32),
        n_stops=routes.route_len.astype(np.int32),
        cost_usd=usd,
        co2_kg=cost.co2_kg_per_km * distance,
        stop_route=stop_route,
        stop_seq=stop_seq,
        stop_eta_s=stop_eta,
    )
