"""The road sample the search is calibrated on: each stop's nearest neighbours and its hub, both ways, O(n k).

The kernels plan on estimates (great-circle km x circuity x the mean of the
two ends' circuity multipliers, and per-stop speeds in ``leg_seconds``). With
a road engine, the run first fetches the road legs the search looks at most
(each stop to its ``k`` nearest stops and back, and to and from its hub) and
keeps them per stop (:class:`NodeRoads`, ``O(n k)``, never ``n x n``). From
them it fits the run's circuity (the median ratio of road km to great-circle
km), every stop's own circuity (the median ratio over its own legs, as a
multiplier of the run's) and every stop's speed (its legs' median ratio of
estimated to road seconds, the estimate already with both circuities, so
that the speed corrects time only), so that the estimates the search uses
for any other pair are the road network's as seen around its two ends
(:class:`Calibration`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels._scalar import reference as scalar
from planner.device import Compute
from planner.roads.engine import RoadEngine
from planner.roads.pairs import pair_table
from planner.stages.neighbours import neighbour_lists

#: legs shorter than this (great-circle km) are left out of the circuity fit: snapping dominates them
MIN_FIT_KM = 0.2
#: legs whose estimated time is below this (s) are left out of the speed fit
MIN_FIT_S = 10.0
#: fewest usable legs for a run-wide circuity; below it the settings' circuity stays
MIN_FIT_LEGS = 10
#: bounds of a fitted circuity and of a stop's speed correction (a guard against a bad snap)
CIRCUITY_BOUNDS = (1.0, 3.0)
SPEED_BOUNDS = (0.25, 4.0)
#: bounds of a stop's own circuity relative to the run's (a guard against a bad snap; the stop's circuity also
#: stays within CIRCUITY_BOUNDS)
NODE_CIRCUITY_BOUNDS = (0.5, 2.0)
#: fewest usable legs (of its 2 k neighbour legs and 2 hub legs) for a stop's own circuity; below it the
#: stop keeps the run's (multiplier 1.0)
MIN_NODE_LEGS = 4


@dataclass(frozen=True)
class NodeRoads:
    """Road legs per stop: ``k`` neighbours each way and the hub legs; arrays of n rows (float32 figures)."""

    neighbour: np.ndarray  # int32[n, k], stop index of each neighbour, -1 pads
    out_km: np.ndarray  # float32[n, k], stop -> neighbour
    out_s: np.ndarray
    back_km: np.ndarray  # float32[n, k], neighbour -> stop
    back_s: np.ndarray
    hub_km: np.ndarray  # float32[n, 2]: hub -> stop, stop -> hub
    hub_s: np.ndarray

    @property
    def entries(self) -> int:
        """Road figures held (each a km and a seconds value)."""
        return int(self.out_km.size + self.back_km.size + self.hub_km.size)

    @property
    def nbytes(self) -> int:
        """Bytes of all arrays: linear in the stops."""
        return int(sum(getattr(self, f).nbytes for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class Calibration:
    """The estimates fitted to the road sample."""

    circuity: float  # run-wide road km / great-circle km
    speed_kmh: np.ndarray  # float64[n], each stop's speed for ``leg_seconds``
    legs: int  # road legs fetched
    unroutable: int  # legs the engine found no route for (left out)
    fit_legs: int  # legs the circuity was fitted on
    speed_ratio: tuple[float, float, float]  # 10th, 50th, 90th percentile of fitted / given speed
    #: float64[n], each stop's circuity relative to ``circuity`` (planner.model.Nodes.circuity), 1.0 where it
    #: has fewer than MIN_NODE_LEGS usable legs or the per-stop fit is off
    stop_circuity: np.ndarray
    circuity_stops: int  # stops with a circuity of their own
    stop_circuity_spread: tuple[float, float, float]  # 10th, 50th, 90th percentile of circuity x stop_circuity


def sample_roads(engine: RoadEngine, lat: np.ndarray, lon: np.ndarray, hub: np.ndarray, hub_lat: np.ndarray,
                 hub_lon: np.ndarray, order: np.ndarray, k: int, compute: Compute) -> NodeRoads:
    """Fetch the road legs of each stop to its ``k`` nearest stops and to its ``hub``, both ways.

    Stops are ``lat``/``lon`` (already snapped); ``order`` is a spatial order
    of them (the run's Hilbert keys' argsort), so that each request's block
    of consecutive sources shares most of its targets.
    """
    n = int(lat.size)
    k = int(min(k, max(n - 1, 0)))
    # the search's own k-nearest lists (k <= n - 1, so every row is full)
    neighbour = neighbour_lists(compute.embed(lat, lon), k)[:, :k]
    # points in the spatial order: stops 0..n-1 renumbered, hubs after them
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    pts_lat = np.concatenate([lat[order], hub_lat])
    pts_lon = np.concatenate([lon[order], hub_lon])
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = neighbour.reshape(-1).astype(np.int64)
    hub_pt = n + hub.astype(np.int64)
    src = np.concatenate([rank[rows], rank[cols], hub_pt, rank])
    dst = np.concatenate([rank[cols], rank[rows], rank, hub_pt])
    km, sec = pair_table(engine, pts_lat, pts_lon, src, dst)
    m = rows.size
    f32 = np.float32
    return NodeRoads(
        neighbour=neighbour,
        out_km=km[:m].astype(f32).reshape(n, k), out_s=sec[:m].astype(f32).reshape(n, k),
        back_km=km[m:2 * m].astype(f32).reshape(n, k), back_s=sec[m:2 * m].astype(f32).reshape(n, k),
        hub_km=np.column_stack([km[2 * m:2 * m + n], km[2 * m + n:]]).astype(f32),
        hub_s=np.column_stack([sec[2 * m:2 * m + n], sec[2 * m + n:]]).astype(f32),
    )


def calibrate(roads: NodeRoads, lat: np.ndarray, lon: np.ndarray, hub: np.ndarray, hub_lat: np.ndarray,
              hub_lon: np.ndarray, speed_kmh: np.ndarray, hub_speed_kmh: float, circuity: float,
              compute: Compute, per_stop: bool = True) -> Calibration:
    """Fit the run's circuity, each stop's own (``per_stop``) and each stop's speed to the road sample (see the
    module docstring)."""
    n, k = roads.neighbour.shape
    has = roads.neighbour >= 0
    i = np.repeat(np.arange(n), k).reshape(n, k)[has]
    j = roads.neighbour[has].astype(np.int64)
    # every sampled leg as (stop, other end's coordinates and speed, road km and s), both directions
    o_lat = np.concatenate([lat[j], lat[j], hub_lat[hub], hub_lat[hub]])
    o_lon = np.concatenate([lon[j], lon[j], hub_lon[hub], hub_lon[hub]])
    o_speed = np.concatenate([speed_kmh[j], speed_kmh[j], np.full(2 * n, hub_speed_kmh)])
    stop = np.concatenate([i, i, np.arange(n), np.arange(n)])
    road_km = np.concatenate([roads.out_km[has], roads.back_km[has], roads.hub_km[:, 0], roads.hub_km[:, 1]])
    road_s = np.concatenate([roads.out_s[has], roads.back_s[has], roads.hub_s[:, 0], roads.hub_s[:, 1]])
    road_km = road_km.astype(np.float64)
    road_s = road_s.astype(np.float64)
    gc = compute.pair_distances(lat[stop], lon[stop], o_lat, o_lon) / compute.scale
    routable = np.isfinite(road_km) & np.isfinite(road_s)
    fit = routable & (gc >= MIN_FIT_KM)
    c = circuity
    if int(fit.sum()) >= MIN_FIT_LEGS:
        c = float(np.clip(np.median(road_km[fit] / gc[fit]), *CIRCUITY_BOUNDS))
    mult, own = np.ones(n), np.zeros(n, bool)
    if per_stop:
        mult, own = fit_stop_circuity(stop[fit], road_km[fit] / gc[fit], n, c)
    # the estimate the kernels make for each leg (hubs keep the run's circuity), so the speeds correct time only
    o_mult = np.concatenate([mult[j], mult[j], np.ones(2 * n)])
    est_s = scalar.leg_seconds(c * gc * scalar.pair_circuity(mult[stop], o_mult), speed_kmh[stop], o_speed)
    use = routable & (est_s >= MIN_FIT_S) & (road_s > 0)
    factor = np.ones(n)
    ratio, _ = median_by(stop[use], road_s[use] / est_s[use], n)
    fitted_stop = ~np.isnan(ratio)
    factor[fitted_stop] = np.clip(ratio[fitted_stop], *SPEED_BOUNDS)
    fitted = speed_kmh / factor
    q = np.percentile(fitted / speed_kmh, [10, 50, 90]) if n else np.ones(3)
    qc = np.percentile(c * mult, [10, 50, 90]) if n else np.full(3, c)
    return Calibration(circuity=c, speed_kmh=fitted, legs=int(road_km.size), unroutable=int((~routable).sum()),
                       fit_legs=int(fit.sum()), speed_ratio=(float(q[0]), float(q[1]), float(q[2])),
                       stop_circuity=mult, circuity_stops=int(own.sum()),
                       stop_circuity_spread=(float(qc[0]), float(qc[1]), float(qc[2])))


def fit_stop_circuity(stop: np.ndarray, ratio: np.ndarray, n: int, circuity: float) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``n`` stops' circuity relative to the run's ``circuity``, and whether it has one of its own.

    A stop's own is the median road / great-circle ``ratio`` of its usable legs (``stop`` names each leg's
    stop) over ``circuity``, within NODE_CIRCUITY_BOUNDS (and the stop's circuity within CIRCUITY_BOUNDS); a
    stop with fewer than MIN_NODE_LEGS legs keeps 1.0.
    """
    med, count = median_by(stop, ratio, n)
    own = count >= MIN_NODE_LEGS
    lo = max(circuity * NODE_CIRCUITY_BOUNDS[0], CIRCUITY_BOUNDS[0])
    hi = min(circuity * NODE_CIRCUITY_BOUNDS[1], CIRCUITY_BOUNDS[1])
    out = np.ones(n)
    out[own] = np.clip(med[own], lo, hi) / circuity
    return out, own


def median_by(group: np.ndarray, value: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The median of ``value`` per ``group`` (ids 0..n-1; NaN where a group has no value) and each group's count."""
    med = np.full(n, np.nan)
    count = np.zeros(n, np.int64)
    if group.size:
        sort = np.lexsort((value, group))
        by, v = group[sort], value[sort]
        start = np.flatnonzero(np.r_[True, by[1:] != by[:-1]])
        size = np.diff(np.r_[start, by.size])
        med[by[start]] = 0.5 * (v[start + (size - 1) // 2] + v[start + size // 2])
        count[by[start]] = size
    return med, count
