"""planner.run.tables: route ids, tier counts and the revenue split built from arrays equal the per-row Python
they replace (tests.naive), value for value."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from kernels.backend import resolve
from planner.contract import schemas as S
from planner.contract.validate import Inputs
from planner.model import Hubs
from planner.run.tables import route_ids, summary
from planner.settings import RevenueSettings, Settings
from planner.stages.improve import ImproveStats
from planner.stages.schedule import Schedule
from tests import naive


def _hubs(ids: list[str], operators: list[str]) -> Hubs:
    h = len(ids)
    return Hubs(hub_id=np.array(ids, dtype=object), operator=np.array(operators, dtype=object),
                lat=np.zeros(h), lon=np.zeros(h), vehicles=np.ones(h, np.int32), capacity_kg=np.ones(h),
                capacity_parcels=np.ones(h), shift_s=np.ones(h), daily_capacity=np.ones(h, np.int64))


def test_route_ids_equal_the_f_strings(rng: np.random.Generator) -> None:
    hubs = _hubs(["H0", "hub-1", "Zürich 3", "", "東京"], ["usps"] * 5)
    hub = np.sort(np.concatenate([rng.integers(0, 5, 300), np.full(1200, 2)])).astype(np.int32)  # > 999 on hub 2
    out = route_ids(hubs, hub)
    assert out.type == pa.string()
    assert out.to_pylist() == naive.route_ids_by_fstrings(hubs.hub_id, hub)
    assert route_ids(hubs, np.zeros(0, np.int32)).to_pylist() == []


@pytest.mark.parametrize("hub_operators", [["usps", "amazon", "usps"], ["usps", "usps", "usps"], ["dhl", "usps", "ups"],
                                           []])
def test_summary_tiers_and_revenue_equal_the_per_parcel_strings(rng: np.random.Generator,
                                                                hub_operators: list[str]) -> None:
    n = 5000
    hubs = _hubs([f"h{i}" for i in range(len(hub_operators))], hub_operators)
    shipper = [None if r < 0.1 else str(s) for r, s in zip(rng.random(n), rng.choice(["amazon", "usps", "etsy"], n))]
    fee = rng.uniform(0, 20, n).astype(np.float32)
    parcels = pa.table({"shipper": pa.array(shipper, pa.string()), "fee_usd": pa.array(fee)})
    rejects = pa.table({"file": pa.array(["hubs", "parcels", "parcels"] * 7), "row": pa.array(np.arange(21))})
    inputs = Inputs(parcels=parcels, hubs=pa.table({}), rejects=rejects)
    status = rng.integers(0, 3, n).astype(np.int8)
    if not hub_operators:
        status[:] = S.UNASSIGNED
    tier = rng.integers(0, 3, n).astype(np.int8)
    parcel_hub = np.where(status == S.UNASSIGNED, -1, rng.integers(0, max(len(hub_operators), 1), n)).astype(np.int32)
    t = SimpleNamespace(parcel_status=status, parcel_tier=tier, parcel_hub=parcel_hub,
                        parcel_fee=fee.astype(np.float64))
    schedule = Schedule(*(np.ones(2) for _ in range(7)), *(np.zeros(3, np.int32) for _ in range(3)))
    settings = Settings(revenue=RevenueSettings(delivery_share=0.37))
    doc = summary(inputs, 3, hubs, t, schedule, settings, resolve("cpu"), ImproveStats(0, 0, 0, 0, 0, False))
    assert doc["tiers"] == naive.tier_counts_by_masks(tier, status, S.TIERS, S.STATUSES)
    planned = status == S.PLANNED
    expected = naive.revenue_split_by_objects(shipper, hubs.operator, parcel_hub, planned, t.parcel_fee, 0.37,
                                              S.SHIPPER_OPERATOR, S.DEFAULT_SELLER)
    assert list(doc["revenue"]["by_operator"].items()) == list(expected.items())
    assert doc["totals"]["parcels_rejected"] == 14
