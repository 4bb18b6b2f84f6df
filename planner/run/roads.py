"""A run on real roads: the engine checked before any input is read, the search calibrated, the plan on road legs.

With ``[roads] engine = "osrm"`` the client (never a Dask worker) talks to
the engine in two stages around the hub groups:

- ``roads`` (after assign): the routable stops and the hubs are snapped once;
  each stop's ``k`` nearest stops and its hub are fetched both ways
  (:mod:`planner.roads.calibrate`, O(n k)); the run's circuity, each stop's
  own circuity and each stop's speed are fitted to them, and the hub groups
  plan on those estimates;
- ``road legs`` (after the groups): every route is re-sequenced on its own
  road matrix and its legs, ETAs, duration and cost are the road figures in
  the order driven (:mod:`planner.roads.legs`).

Without a road engine nothing here runs and the plan is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from planner.contract.schemas import NO_REASON, ROUTE_SHAPES_SCHEMA
from planner.device import Compute
from planner.model import Hubs, Stops
from planner.roads import RoadEngine, make_engine
from planner.roads.calibrate import Calibration, NodeRoads, calibrate, sample_roads
from planner.roads.legs import RoadPlan, road_plan, route_shapes
from planner.run.groups import Merged
from planner.settings import Settings

#: client stages a road run adds (after "assign", and before "tables")
ROAD_STAGES = ("roads", "road legs")


def open_engine(settings: Settings) -> RoadEngine | None:
    """The configured engine, checked (an unreachable server is a one-line RoadEngineError, exit 2)."""
    engine = make_engine(settings.roads)
    if engine is not None:
        try:
            engine.check()
        except BaseException:
            engine.close()
            raise
    return engine


@dataclass
class RoadRun:
    """One run's road state: snapped points, the per-stop road sample, the calibration and the road plan."""

    engine: RoadEngine
    settings: Settings
    routable: np.ndarray | None = None  # int64[m], stops the search plans
    road_lat: np.ndarray | None = None  # float64[S], snapped (NaN where not routable)
    road_lon: np.ndarray | None = None
    hub_lat: np.ndarray | None = None  # float64[H], snapped hubs
    hub_lon: np.ndarray | None = None
    snap_m: np.ndarray | None = None  # metres each routable stop moved
    sample: NodeRoads | None = None
    fit: Calibration | None = None
    speed_kmh: np.ndarray | None = None  # float64[S], calibrated where routable
    circuity: float | None = None  # the search's circuity: fitted, else the settings'
    stop_circuity: np.ndarray | None = None  # float64[S], each stop's multiplier of it; None: 1.0 everywhere
    result: RoadPlan | None = None

    def calibrate(self, stops: Stops, routable: np.ndarray, stop_hub: np.ndarray, hubs: Hubs,
                  hilbert: np.ndarray, compute: Compute) -> tuple[Stops, float, np.ndarray | None]:
        """Snap, sample and fit (stage ``roads``): the stops with their fitted speeds, the run's circuity and
        each stop's circuity multiplier (float64[S], 1.0 where not routable; None without a per-stop fit)."""
        idx = np.flatnonzero(routable).astype(np.int64)
        self.routable = idx
        snapped = self.engine.snap(stops.lat[idx], stops.lon[idx])
        hub_snap = self.engine.snap(hubs.lat, hubs.lon)
        self.hub_lat, self.hub_lon = hub_snap.lat, hub_snap.lon
        self.road_lat = np.full(stops.size, np.nan)
        self.road_lon = np.full(stops.size, np.nan)
        self.road_lat[idx], self.road_lon[idx] = snapped.lat, snapped.lon
        self.snap_m = snapped.snap_m
        hub = stop_hub[idx].astype(np.int64)
        order = np.argsort(hilbert[idx], kind="stable")
        roads = self.settings.roads
        self.sample = sample_roads(self.engine, snapped.lat, snapped.lon, hub, self.hub_lat, self.hub_lon, order,
                                   roads.neighbours, compute)
        speed = stops.speed_kmh.copy()
        circuity = self.settings.circuity
        multiplier = None
        if roads.calibrate:
            self.fit = calibrate(self.sample, stops.lat[idx], stops.lon[idx], hub, hubs.lat, hubs.lon,
                                 stops.speed_kmh[idx], self.settings.speeds.suburban_kmh, self.settings.circuity,
                                 compute, per_stop=roads.node_circuity)
            speed[idx] = self.fit.speed_kmh
            circuity = self.fit.circuity
            if roads.node_circuity:
                multiplier = np.ones(stops.size)
                multiplier[idx] = self.fit.stop_circuity
        self.speed_kmh, self.circuity, self.stop_circuity = speed, circuity, multiplier
        return replace(stops, speed_kmh=speed), circuity, multiplier

    def finish(self, merged: Merged, stops: Stops, hubs: Hubs, compute: Compute) -> Merged:
        """The groups' routes on road legs (stage ``road legs``, after :meth:`calibrate`)."""
        assert self.road_lat is not None and self.road_lon is not None and self.speed_kmh is not None
        assert self.hub_lat is not None and self.hub_lon is not None and self.circuity is not None
        self.result = road_plan(merged.schedule, merged.route_hub, stops, hubs, self.road_lat, self.road_lon,
                                self.hub_lat, self.hub_lon, self.speed_kmh, self.circuity, self.stop_circuity,
                                self.engine, compute, self.settings)
        reasons = np.where(self.result.reasons != NO_REASON, self.result.reasons, merged.route_reasons)
        return replace(merged, schedule=self.result.schedule, route_reasons=reasons.astype(np.int8))

    def shapes(self, route_id: pa.Array) -> pa.Table:
        """The road geometry of the first ``roads.geometry_routes`` routes (one ``route`` request each)."""
        assert self.result is not None and self.road_lat is not None and self.road_lon is not None
        assert self.hub_lat is not None and self.hub_lon is not None
        paths = route_shapes(self.engine, self.result.routes, self.road_lat, self.road_lon, self.hub_lat,
                             self.hub_lon, self.settings.roads.geometry_routes)
        sizes = np.array([p.shape[0] for p in paths], np.int64)
        points = np.concatenate(paths) if paths else np.zeros((0, 2))
        ids = route_id.take(pa.array(np.repeat(np.arange(len(paths)), sizes)))
        point = np.concatenate([np.arange(k, dtype=np.int32) for k in sizes]) if paths else np.zeros(0, np.int32)
        return pa.table([ids, pa.array(point, pa.int32()), pa.array(points[:, 0]), pa.array(points[:, 1])],
                        schema=ROUTE_SHAPES_SCHEMA)

    def summary(self) -> dict[str, Any]:
        """The ``roads`` block of summary.json: engine, URL, requests and seconds, calibration, road km."""
        roads = self.settings.roads
        out: dict[str, Any] = {"engine": roads.engine, "url": roads.url, "profile": roads.profile,
                               "requests": self.engine.counters()}
        if self.snap_m is not None and self.snap_m.size:
            out["snap_m"] = {"median": round(float(np.median(self.snap_m)), 1),
                             "max": round(float(self.snap_m.max()), 1)}
        if self.sample is not None:
            out["node_table"] = {"stops": int(self.sample.neighbour.shape[0]), "neighbours": roads.neighbours,
                                 "entries": self.sample.entries, "bytes": self.sample.nbytes}
        if self.fit is not None:
            fit = self.fit
            out["calibration"] = {"circuity": round(fit.circuity, 4), "legs": fit.legs, "fit_legs": fit.fit_legs,
                                  "unroutable_legs": fit.unroutable,
                                  "speed_ratio_p10_p50_p90": [round(x, 3) for x in fit.speed_ratio],
                                  "circuity_stops": fit.circuity_stops,
                                  "stop_circuity_p10_p50_p90": [round(x, 3) for x in fit.stop_circuity_spread]}
        else:
            out["calibration"] = None
        if self.result is not None:
            out["routes"] = self.result.as_dict()
        return out

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.close()
