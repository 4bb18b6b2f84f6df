"""The planning pipeline: validate, index, assign on the client; then route, improve and
schedule per hub group, in-process or on a Dask cluster; then the contract tables.

``plan(parcels, hubs, settings)`` is the Python entry point and
``plan_files`` the one the command line uses; both produce a :class:`Plan`
whose tables follow shared/CONTRACT.md. Hub groups (planner.groups) do not
depend on where they run, so the runner (planner.distributed) never changes
the plan.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kernels import GREAT_CIRCLE
from kernels.backend import resolve
from planner import __version__
from planner import io as contract_io
from planner import schemas as S
from planner.assign import assign_stops
from planner.compute import Compute
from planner.distributed import InProcess, Runner
from planner.fleet import Fleet
from planner.groups import Merged, group_inputs, merge_groups, plan_group
from planner.improve import ImproveStats
from planner.index import build_stops
from planner.schedule import Schedule
from planner.settings import Settings
from planner.timing import StageClock

log = logging.getLogger("hexroute")

#: client-side stages; "hubs" is route + improve + schedule over every hub group
STAGES = ("validate", "index", "assign", "hubs", "tables")
#: the stages inside a hub group, reported in place of "hubs"
GROUP_STAGES = ("route", "improve", "schedule")
SHIPPER_OPERATOR = {"amazon": "amazon"}  # every other shipper bought from the postal carrier
DEFAULT_SELLER = "usps"


@dataclass
class Plan:
    """A finished plan: the contract's output tables and the summary document."""

    assignments: pa.Table
    routes: pa.Table
    hubs: pa.Table
    rejects: pa.Table
    summary: dict[str, Any]
    improve: ImproveStats | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pa.Table]:
        """The output tables by file name."""
        return {"assignments": self.assignments, "routes": self.routes, "hubs": self.hubs,
                "rejects": self.rejects}

    def write(self, out_dir: str | Path) -> dict[str, Any]:
        """Write every output atomically (manifest.json last); returns the manifest."""
        return contract_io.write_outputs(out_dir, self.tables(), {"summary": self.summary})


def plan(parcels: pa.Table, hubs: pa.Table, settings: Settings | None = None,
         progress: bool | None = None, runner: Runner | None = None) -> Plan:
    """Plan a day: parcels and hubs as contract input tables in, a :class:`Plan` out.

    ``runner`` decides where the hub groups run (default: in this process);
    ``settings.cluster.group_stops`` is the target size of a hub group in routable stops.
    """
    settings = settings or Settings()
    clock = StageClock(STAGES, progress)
    try:
        with clock.stage("validate"):
            inputs = contract_io.validate(parcels, hubs)
        return _plan_inputs(inputs, settings, clock, runner or InProcess())
    finally:
        clock.close()


def plan_files(parcels_path: str | Path, hubs_path: str | Path, out_dir: str | Path,
               settings: Settings | None = None, progress: bool | None = None,
               runner: Runner | None = None) -> Plan:
    """Read the input files, plan (see :func:`plan`), and write the outputs to ``out_dir``."""
    settings = settings or Settings()
    clock = StageClock(STAGES, progress)
    try:
        with clock.stage("validate"):
            inputs = contract_io.load_inputs(parcels_path, hubs_path)
        result = _plan_inputs(inputs, settings, clock, runner or InProcess())
    finally:
        clock.close()
    result.write(out_dir)
    return result


def _plan_inputs(inputs: contract_io.Inputs, settings: Settings, clock: StageClock, runner: Runner) -> Plan:
    group_stops = settings.cluster.group_stops
    backend = resolve(settings.backend)
    compute = Compute(backend, GREAT_CIRCLE, settings.circuity)
    fleet = Fleet.from_table(inputs.hubs)
    with clock.stage("index"):
        stops = build_stops(inputs.parcels, settings)
    with clock.stage("assign"):
        assignment = assign_stops(stops, inputs.hubs, settings, backend=compute.name)
    with clock.stage("hubs"):
        # Hilbert keys depend on the bounding box of all stops: computed once, here.
        hilbert = compute.hilbert_keys(stops.lat, stops.lon)
        groups = group_inputs(stops, assignment.hub, assignment.status == 0, hilbert, fleet, settings, group_stops)
        where = runner.describe()
        log.info("planning %d hub groups (%s)", len(groups), where["mode"])
        merged = merge_groups(runner.map(plan_group, groups), stops.size)
    with clock.stage("tables"):
        outcome = _StopOutcome.of(assignment, merged.route_reasons, merged.schedule)
        tables = _Tables(inputs, fleet, merged, outcome, stops.parcel_stop)
        summary = _summary(inputs, stops.size, fleet, tables, merged.schedule, settings, backend, merged.improve)
    summary["hub_groups"] = {"groups": len(groups), "group_stops": group_stops, "backends": merged.backends,
                             "worker_seconds": merged.seconds, **where,
                             "device_memory": merged.device_memory, "transfers": merged.transfers}
    summary["timings_s"] = _timings(clock.seconds, merged)
    log.info("planned %d of %d parcels on %d routes, %.0f km", summary["totals"]["parcels_planned"],
             summary["totals"]["parcels"], summary["totals"]["routes"], summary["totals"]["distance_km"])
    return Plan(tables.assignments, tables.routes, tables.hubs, inputs.rejects, summary, merged.improve)


def _timings(client: dict[str, float], merged: Merged) -> dict[str, float]:
    """Wall seconds per stage, adding up to the run's: the "hubs" stage is shared out to route,
    improve and schedule in proportion to the groups' seconds in each (worker seconds on a cluster)."""
    out: dict[str, float] = {}
    worker = sum(merged.seconds.values())
    for name, seconds in client.items():
        if name != "hubs":
            out[name] = seconds
            continue
        for stage in GROUP_STAGES:
            share = merged.seconds[stage] / worker if worker > 0 else float(stage == GROUP_STAGES[0])
            out[stage] = round(seconds * share, 4)
    return out


@dataclass(frozen=True)
class _StopOutcome:
    """Final status, hub and reason of every stop."""

    status: np.ndarray  # int8: index into S.STATUSES
    hub: np.ndarray  # int32, -1 when unassigned
    reason: np.ndarray  # object, None when planned

    @classmethod
    def of(cls, assignment, route_reasons: np.ndarray, schedule: Schedule) -> "_StopOutcome":
        planned = schedule.stop_route >= 0
        status = np.where(planned, 0, np.where(assignment.status == 2, 2, 1)).astype(np.int8)
        reason = np.asarray(assignment.reasons, dtype=object)[assignment.reason]
        reason = np.where(route_reasons != None, route_reasons, reason)  # noqa: E711
        reason[planned] = None
        lost = (assignment.status == 0) & ~planned & (route_reasons == None)  # noqa: E711
        if lost.any():
            raise RuntimeError(f"internal error: {int(lost.sum())} routable stops are on no route")
        hub = np.where(status == 2, -1, assignment.hub).astype(np.int32)
        return cls(status, hub, reason)


class _Tables:
    """Builds the contract's output tables from the stage results."""

    def __init__(self, inputs: contract_io.Inputs, fleet: Fleet, merged: Merged, outcome: _StopOutcome,
                 parcel_stop: np.ndarray):
        parcels = inputs.parcels
        self.inputs = inputs
        self.fleet = fleet
        self.route_ids = _route_ids(fleet, merged.route_hub)
        self.parcel_tier = _col(parcels, "tier_code").astype(np.int8)
        self.parcel_fee = _col(parcels, "fee_usd").astype(np.float64)
        self._build(merged.route_hub, merged.schedule, outcome, parcel_stop)

    def _build(self, route_hub: np.ndarray, s: Schedule, o: _StopOutcome, ps: np.ndarray) -> None:
        self.parcel_status = o.status[ps]
        self.parcel_hub = o.hub[ps]
        route = s.stop_route[ps]
        planned = self.parcel_status == 0
        hub_ids = pa.array(self.fleet.hub_id.tolist(), type=pa.string())
        self.assignments = S.table_from_columns(S.ASSIGNMENTS_SCHEMA, {
            "parcel_id": self.inputs.parcels.column("parcel_id"),
            "status": pa.array(list(S.STATUSES), type=pa.string()).take(pa.array(self.parcel_status.astype(np.int32))),
            "hub_id": hub_ids.take(pa.array(self.parcel_hub, mask=self.parcel_hub < 0)),
            "route_id": pa.array(self.route_ids, type=pa.string()).take(pa.array(route, mask=~planned)),
            "stop_seq": np.ma.masked_array(s.stop_seq[ps], mask=~planned),
            "eta_s": np.ma.masked_array(s.stop_eta_s[ps], mask=~planned),
            "reason": pa.array(o.reason[ps], type=pa.string()),
        })
        self.routes = S.table_from_columns(S.ROUTES_SCHEMA, {
            "route_id": self.route_ids,
            "hub_id": hub_ids.take(pa.array(route_hub)),
            "n_stops": s.n_stops, "n_parcels": s.n_parcels, "load_kg": s.load_kg,
            "distance_km": s.distance_km, "duration_s": s.duration_s, "cost_usd": s.cost_usd, "co2_kg": s.co2_kg,
        })
        h = self.fleet.size
        pl = np.bincount(self.parcel_hub[planned], minlength=h)
        deferred = (self.parcel_status == 1) & (self.parcel_hub >= 0)
        de = np.bincount(self.parcel_hub[deferred], minlength=h)
        self.hubs = S.table_from_columns(S.HUB_REPORT_SCHEMA, {
            "hub_id": hub_ids,
            "parcels_planned": pl.astype(np.int32), "parcels_deferred": de.astype(np.int32),
            "routes": np.bincount(route_hub, minlength=h).astype(np.int32),
            "vehicles": self.fleet.vehicles.astype(np.int32),
            "distance_km": np.bincount(route_hub, weights=s.distance_km, minlength=h),
            "cost_usd": np.bincount(route_hub, weights=s.cost_usd, minlength=h),
        })


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def _route_ids(fleet: Fleet, hub: np.ndarray) -> list[str]:
    """``<hub_id>-R<k>``: routes numbered from 1 within their hub, in route order (``hub`` sorted)."""
    first = np.searchsorted(hub, hub, side="left")
    k = np.arange(hub.size) - first + 1
    return [f"{fleet.hub_id[h]}-R{n:03d}" for h, n in zip(hub.tolist(), k.tolist())]


def _summary(inputs, n_stops: int, fleet: Fleet, t: _Tables, schedule: Schedule, settings: Settings,
             backend, stats: ImproveStats) -> dict[str, Any]:
    """summary.json: totals, tiers, revenue split, settings, backend, version."""
    status = t.parcel_status
    tiers = {name: {st: int(((t.parcel_tier == code) & (status == k)).sum()) for k, st in enumerate(S.STATUSES)}
             for code, name in enumerate(S.TIERS)}
    planned = status == 0
    rejected = int(inputs.rejects.column("file").to_pylist().count("parcels"))
    seller = np.asarray([SHIPPER_OPERATOR.get(x, DEFAULT_SELLER) if x is not None else DEFAULT_SELLER
                         for x in inputs.parcels.column("shipper").to_pylist()], dtype=object)
    fee = t.parcel_fee
    share = settings.revenue.delivery_share
    split: dict[str, float] = {}
    deliverer = fleet.operator[np.maximum(t.parcel_hub, 0)]
    for op in sorted(set(fleet.operator.tolist()) | set(seller[planned].tolist()) | {DEFAULT_SELLER}):
        amount = share * fee[planned & (deliverer == op)].sum() + (1 - share) * fee[planned & (seller == op)].sum()
        split[op] = round(float(amount), 2)
    return {
        "version": __version__,
        "schema_version": S.SCHEMA_VERSION,
        "backend": backend.name,
        "device": backend.device,
        "totals": {
            "parcels": int(inputs.parcels.num_rows) + rejected,
            "parcels_valid": int(inputs.parcels.num_rows),
            "parcels_planned": int(planned.sum()),
            "parcels_deferred": int((status == 1).sum()),
            "parcels_unassigned": int((status == 2).sum()),
            "parcels_rejected": rejected,
            "stops": int(n_stops),
            "routes": int(schedule.distance_km.size),
            "distance_km": round(float(schedule.distance_km.sum()), 3),
            "duration_h": round(float(schedule.duration_s.sum()) / 3600.0, 3),
            "cost_usd": round(float(schedule.cost_usd.sum()), 2),
            "co2_kg": round(float(schedule.co2_kg.sum()), 3),
        },
        "tiers": tiers,
        "revenue": {"total_usd": round(float(fee[planned].sum()), 2), "delivery_share": share, "by_operator": split},
        "improve": {"distance_before_km": round(stats.distance_before, 3),
                    "distance_after_km": round(stats.distance_after, 3), "rounds": stats.rounds,
                    "inter_moves": stats.inter_moves, "stopped_by_clock": stats.stopped_by_clock},
        "settings": settings.to_dict(),
    }
