"""The contract's output tables and summary.json, built from the stage results of a whole run."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planner import __version__
from planner.contract import schemas as S
from planner.contract.arrays import numpy_column, seller_codes
from planner.contract.validate import Inputs
from planner.model import Hubs
from planner.run.groups import Merged
from planner.settings import Settings
from planner.stages.assign import Assignment
from planner.stages.improve import ImproveStats
from planner.stages.schedule import Schedule


@dataclass(frozen=True)
class StopOutcome:
    """Final status, hub and reason code of every stop."""

    status: np.ndarray  # int8: index into S.STATUSES
    hub: np.ndarray  # int32, -1 when unassigned
    reason: np.ndarray  # int8: index into S.OUTCOME_REASONS (NO_REASON when planned)

    @classmethod
    def of(cls, assignment: Assignment, route_reasons: np.ndarray, schedule: Schedule) -> "StopOutcome":
        """Planned where a route holds the stop; otherwise the routing's reason, else the assignment's, and the
        status that reason implies (schemas.OUTCOME_STATUS: deferred when tomorrow can serve it, unassigned
        when no vehicle ever can)."""
        planned = schedule.stop_route >= 0
        by_route = route_reasons != S.NO_REASON
        reason = np.where(by_route, route_reasons, assignment.reason).astype(np.int8)
        reason[planned] = S.NO_REASON
        lost = (assignment.status == S.PLANNED) & ~planned & ~by_route
        if lost.any():
            raise RuntimeError(f"internal error: {int(lost.sum())} routable stops are on no route")
        status = np.where(planned, S.PLANNED, S.OUTCOME_STATUS[reason]).astype(np.int8)
        hub = np.where(status == S.UNASSIGNED, -1, assignment.hub).astype(np.int32)
        return cls(status, hub, reason)


def route_ids(hubs: Hubs, hub: np.ndarray) -> pa.StringArray:
    """``<hub_id>-R<k>``: routes numbered from 1 within their hub, in route order (``hub`` sorted), ``k``
    zero-padded to three digits (``f"{k:03d}"``); built by Arrow, not one Python string per route."""
    hub = np.asarray(hub, np.int64)
    first = np.searchsorted(hub, hub, side="left")
    k = np.arange(hub.size) - first + 1
    number = pc.utf8_lpad(pc.cast(pa.array(k, pa.int64()), pa.string()), width=3, padding="0")
    hub_ids = pa.array(hubs.hub_id.tolist(), type=pa.string()).take(pa.array(hub, pa.int64()))
    return pc.binary_join_element_wise(hub_ids, number, "-R")


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
            "route_id": self.route_ids.take(pa.array(route, mask=~planned)),
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


def tier_counts(tier: np.ndarray, status: np.ndarray) -> dict[str, dict[str, int]]:
    """Parcels per tier and status (summary.json ``tiers``), from one bincount over both codes."""
    n_status = len(S.STATUSES)
    counts = np.bincount(tier.astype(np.int64) * n_status + status, minlength=len(S.TIERS) * n_status)
    return {name: {st: int(counts[code * n_status + k]) for k, st in enumerate(S.STATUSES)}
            for code, name in enumerate(S.TIERS)}


def revenue_split(shipper: pa.ChunkedArray, hubs: Hubs, parcel_hub: np.ndarray, planned: np.ndarray,
                  fee: np.ndarray, share: float) -> dict[str, float]:
    """Revenue per operator (sorted: the hubs', the sellers' of planned parcels and DEFAULT_SELLER): ``share`` of
    the fees of the planned parcels it delivered plus the rest of those whose shipping it sold. Operators are
    compared as small integer codes, not as one Python string per parcel."""
    seller_names, seller_code = seller_codes(shipper)
    sold_any = np.bincount(seller_code[planned], minlength=len(seller_names)) > 0
    hub_ops = hubs.operator.tolist()
    ops = sorted(set(hub_ops) | {seller_names[j] for j in np.flatnonzero(sold_any)} | {S.DEFAULT_SELLER})
    number = {op: k for k, op in enumerate(ops)}
    seller = np.array([number.get(name, -1) for name in seller_names], np.int64)[seller_code]
    # only planned parcels (which have a hub) count; with no valid hub at all there is nothing to index
    deliverer = (np.array([number[op] for op in hub_ops], np.int64)[np.maximum(parcel_hub, 0)] if hubs.size
                 else np.full(parcel_hub.size, -1, np.int64))
    split: dict[str, float] = {}
    for k, op in enumerate(ops):
        amount = share * fee[planned & (deliverer == k)].sum() + (1 - share) * fee[planned & (seller == k)].sum()
        split[op] = round(float(amount), 2)
    return split


def summary(inputs: Inputs, n_stops: int, hubs: Hubs, t: Tables, schedule: Schedule, settings: Settings,
            backend: Any, stats: ImproveStats) -> dict[str, Any]:
    """summary.json: totals, tiers, revenue split, settings, backend, version."""
    status = t.parcel_status
    tiers = tier_counts(t.parcel_tier, status)
    planned = status == S.PLANNED
    rejected = int(pc.sum(pc.equal(inputs.rejects.column("file"), "parcels")).as_py() or 0)
    fee = t.parcel_fee
    share = settings.revenue.delivery_share
    split = revenue_split(inputs.parcels.column("shipper"), hubs, t.parcel_hub, planned, fee, share)
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
                    "inter_moves": stats.inter_moves, "stopped_by_clock": stats.stopped_by_clock,
                    "sisr_iterations": stats.sisr_iterations, "local_search_s": round(stats.local_search_s, 3),
                    "sisr_s": round(stats.sisr_s, 3), "final_moves": stats.final_moves,
                    "final_s": round(stats.final_s, 3)},
        "settings": settings.to_dict(),
    }
