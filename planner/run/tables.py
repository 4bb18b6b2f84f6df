"""The contract's output tables and summary.json, built from the stage results of a whole run."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from planner import __version__
from planner.contract import schemas as S
from planner.contract.arrays import numpy_column
from planner.contract.validate import Inputs
from planner.model import Hubs
from planner.run.groups import Merged
from planner.settings import Settings
from planner.stages.assign import Assignment
from planner.stages.improve import ImproveStats
from planner.stages.schedule import Schedule

SHIPPER_OPERATOR = {"amazon": "amazon"}  # every other shipper bought from the postal carrier
DEFAULT_SELLER = "usps"


@dataclass(frozen=True)
class StopOutcome:
    """Final status, hub and reason code of every stop."""

    status: np.ndarray  # int8: index into S.STATUSES
    hub: np.ndarray  # int32, -1 when unassigned
    reason: np.ndarray  # int8: index into S.OUTCOME_REASONS (NO_REASON when planned)

    @classmethod
    def of(cls, assignment: Assignment, route_reasons: np.ndarray, schedule: Schedule) -> "StopOutcome":
        """Planned where a route holds the stop; otherwise the routing's reason, else the assignment's."""
        planned = schedule.stop_route >= 0
        status = np.where(planned, S.PLANNED, np.where(assignment.status == S.UNASSIGNED, S.UNASSIGNED,
                                                       S.DEFERRED)).astype(np.int8)
        by_route = route_reasons != S.NO_REASON
        reason = np.where(by_route, route_reasons, assignment.reason).astype(np.int8)
        reason[planned] = S.NO_REASON
        lost = (assignment.status == S.PLANNED) & ~planned & ~by_route
        if lost.any():
            raise RuntimeError(f"internal error: {int(lost.sum())} routable stops are on no route")
        hub = np.where(status == S.UNASSIGNED, -1, assignment.hub).astype(np.int32)
        return cls(status, hub, reason)


def route_ids(hubs: Hubs, hub: np.ndarray) -> list[str]:
    """``<hub_id>-R<k>``: routes numbered from 1 within their hub, in route order (``hub`` sorted)."""
    first = np.searchsorted(hub, hub, side="left")
    k = np.arange(hub.size) - first + 1
    return [f"{hubs.hub_id[h]}-R{n:03d}" for h, n in zip(hub.tolist(), k.tolist())]


class Tables:
    """Builds the contract's output tables from the stage results."""

    def __init__(self, inputs: Inputs, hubs: Hubs, merged: Merged, outcome: StopOutcome, parcel_stop: np.ndarray,
                 settings: Settings):
        parcels = inputs.parcels
        self.inputs = inputs
        self.fleet = hubs
        self.route_ids = route_ids(hubs, merged.route_hub)
        self.parcel_tier = numpy_column(parcels.column("tier_code"), np.int8)
        self.parcel_fee = numpy_column(parcels.column("fee_usd"), np.float64)
        self.reasons = pa.array(S.outcome_reasons(settings.max_hub_km), type=pa.string())
        self._build(merged.route_hub, merged.schedule, outcome, parcel_stop)

    def _build(self, route_hub: np.ndarray, s: Schedule, o: StopOutcome, ps: np.ndarray) -> None:
        self.parcel_status = o.status[ps]
        self.parcel_hub = o.hub[ps]
        route = s.stop_route[ps]
        planned = self.parcel_status == S.PLANNED
        hub_ids = pa.array(self.fleet.hub_id.tolist(), type=pa.string())
        self.assignments = S.table_from_columns(S.ASSIGNMENTS_SCHEMA, {
            "parcel_id": self.inputs.parcels.column("parcel_id"),
            "status": pa.array(list(S.STATUSES), type=pa.string()).take(pa.array(self.parcel_status.astype(np.int32))),
            "hub_id": hub_ids.take(pa.array(self.parcel_hub, mask=self.parcel_hub < 0)),
            "route_id": pa.array(self.route_ids, type=pa.string()).take(pa.array(route, mask=~planned)),
            "stop_seq": np.ma.masked_array(s.stop_seq[ps], mask=~planned),
            "eta_s": np.ma.masked_array(s.stop_eta_s[ps], mask=~planned),
            "reason": self.reasons.take(pa.array(o.reason[ps].astype(np.int32))),
        })
        self.routes = S.table_from_columns(S.ROUTES_SCHEMA, {
            "route_id": self.route_ids,
            "hub_id": hub_ids.take(pa.array(route_hub)),
            "n_stops": s.n_stops, "n_parcels": s.n_parcels, "load_kg": s.load_kg,
            "distance_km": s.distance_km, "duration_s": s.duration_s, "cost_usd": s.cost_usd, "co2_kg": s.co2_kg,
        })
        h = self.fleet.size
        pl = np.bincount(self.parcel_hub[planned], minlength=h)
        deferred = (self.parcel_status == S.DEFERRED) & (self.parcel_hub >= 0)
        de = np.bincount(self.parcel_hub[deferred], minlength=h)
        self.hubs = S.table_from_columns(S.HUB_REPORT_SCHEMA, {
            "hub_id": hub_ids,
            "parcels_planned": pl.astype(np.int32), "parcels_deferred": de.astype(np.int32),
            "routes": np.bincount(route_hub, minlength=h).astype(np.int32),
            "vehicles": self.fleet.vehicles.astype(np.int32),
            "distance_km": np.bincount(route_hub, weights=s.distance_km, minlength=h),
            "cost_usd": np.bincount(route_hub, weights=s.cost_usd, minlength=h),
        })


def summary(inputs: Inputs, n_stops: int, hubs: Hubs, t: Tables, schedule: Schedule, settings: Settings,
            backend: Any, stats: ImproveStats) -> dict[str, Any]:
    """summary.json: totals, tiers, revenue split, settings, backend, version."""
    status = t.parcel_status
    tiers = {name: {st: int(((t.parcel_tier == code) & (status == k)).sum()) for k, st in enumerate(S.STATUSES)}
             for code, name in enumerate(S.TIERS)}
    planned = status == S.PLANNED
    rejected = int(inputs.rejects.column("file").to_pylist().count("parcels"))
    seller = np.asarray([SHIPPER_OPERATOR.get(x, DEFAULT_SELLER) if x is not None else DEFAULT_SELLER
                         for x in inputs.parcels.column("shipper").to_pylist()], dtype=object)
    fee = t.parcel_fee
    share = settings.revenue.delivery_share
    split: dict[str, float] = {}
    deliverer = hubs.operator[np.maximum(t.parcel_hub, 0)]
    for op in sorted(set(hubs.operator.tolist()) | set(seller[planned].tolist()) | {DEFAULT_SELLER}):
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
            "parcels_deferred": int((status == S.DEFERRED).sum()),
            "parcels_unassigned": int((status == S.UNASSIGNED).sum()),
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
