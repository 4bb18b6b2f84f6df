"""Arrow to NumPy at the edge of the contract: the one column converter, and the model's parcels and hubs.

The normalised tables of :func:`planner.contract.validate.validate` become
:class:`planner.model.Parcels` and :class:`planner.model.Hubs` here, once;
every stage after that sees NumPy arrays only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from planner.model import Hubs, Parcels


def numpy_column(values: pa.Array | pa.ChunkedArray, dtype: Any = None) -> np.ndarray:
    """An Arrow array as NumPy (copied only when Arrow must, or to change to ``dtype``)."""
    out = np.asarray(values.to_numpy(zero_copy_only=False))
    return out if dtype is None else out.astype(dtype, copy=False)


def _address_codes(ids: pa.ChunkedArray) -> np.ndarray:
    """int64 code of each row's address_id (equal ids, equal codes); -1 where it is null."""
    codes = ids.combine_chunks().dictionary_encode().indices.fill_null(-1)
    return numpy_column(codes, np.int64)


def parcels_model(parcels: pa.Table) -> Parcels:
    """The normalised parcels table (schemas.PARCELS_SCHEMA) as model arrays."""
    col = parcels.column
    return Parcels(lat=numpy_column(col("lat"), np.float64), lon=numpy_column(col("lon"), np.float64),
                   weight_kg=numpy_column(col("weight_kg"), np.float64), tier=numpy_column(col("tier_code"), np.int8),
                   address=_address_codes(col("address_id")), forced_hub=numpy_column(col("hub_index"), np.int32))


def hubs_model(hubs: pa.Table) -> Hubs:
    """The normalised hubs table (schemas.HUBS_SCHEMA) as model arrays."""
    def col(name: str, dtype: Any) -> np.ndarray:
        return numpy_column(hubs.column(name)).astype(dtype)

    return Hubs(
        hub_id=np.asarray(hubs.column("hub_id").to_pylist(), dtype=object),
        operator=np.asarray(hubs.column("operator").to_pylist(), dtype=object),
        lat=col("lat", np.float64),
        lon=col("lon", np.float64),
        vehicles=col("vehicles", np.int32),
        capacity_kg=col("capacity_kg", np.float64),
        capacity_parcels=col("capacity_parcels", np.float64),
        shift_s=col("shift_s", np.float64),
        daily_capacity=col("daily_capacity", np.int64),
    )
