"""Normalised input tables, as planner.io hands them to the index and assign stages."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from planner.contract.arrays import parcels_model, string_codes
from planner.model import Parcels


def parcels_table(lat: Sequence[float], lon: Sequence[float], *, address: Sequence[str | None] | None = None,
                  hub: Sequence[int] | None = None, tier: Sequence[int] | None = None,
                  weight: Sequence[float] | None = None) -> pa.Table:
    """A normalised parcels table as planner.io hands it to the index stage."""
    n = len(lat)
    address_id = pa.array([None] * n if address is None else address, pa.string())
    return pa.table({
        "row": pa.array(np.arange(n), pa.int64()),
        "parcel_id": pa.array([f"p{i}" for i in range(n)], pa.string()),
        "lat": pa.array(lat, pa.float64()),
        "lon": pa.array(lon, pa.float64()),
        "weight_kg": pa.array(np.ones(n) if weight is None else weight, pa.float32()),
        "tier_code": pa.array(np.full(n, 2) if tier is None else tier, pa.int8()),
        "address_id": address_id,
        "address_code": pa.array(string_codes(address_id), pa.int64()),
        "hub_index": pa.array(np.full(n, -1) if hub is None else hub, pa.int32()),
        "shipper": pa.array([None] * n, pa.string()),
        "fee_usd": pa.array(np.zeros(n), pa.float32()),
    })


def parcels(lat: Sequence[float], lon: Sequence[float], **columns) -> Parcels:
    """The model's parcels of :func:`parcels_table`, as the index stage takes them."""
    return parcels_model(parcels_table(lat, lon, **columns))
