"""Arrow to NumPy at the edge of the contract: the one column converter, and the model's parcels and hubs.

The normalised tables of :func:`planner.contract.validate.validate` become
:class:`planner.model.Parcels` and :class:`planner.model.Hubs` here, once;
every stage after that sees NumPy arrays only.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planner import grouping
from planner.contract import schemas as S
from planner.model import Hubs, Parcels


def numpy_column(values: pa.Array | pa.ChunkedArray, dtype: Any = None) -> np.ndarray:
    """An Arrow array as NumPy (copied only when Arrow must, or to change to ``dtype``)."""
    out = np.asarray(values.to_numpy(zero_copy_only=False))
    return out if dtype is None else out.astype(dtype, copy=False)


def _string_buffers(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A string column as ``(offsets int32 or int64 [n + 1], bytes uint8, valid bool[n])``, read in place from
    its Arrow buffers (chunks joined first); None when it is not plain (large) strings."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    if isinstance(values, pa.ChunkedArray):
        try:
            values = values.combine_chunks()
        except pa.ArrowInvalid:  # over 2 GiB of strings: 64-bit offsets
            values = values.cast(pa.large_string()).combine_chunks()
    n = len(values)
    if n == 0:
        return np.zeros(1, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.bool_)
    _, offset_buffer, data_buffer = values.buffers()
    width = np.dtype(np.int32 if pa.types.is_string(values.type) else np.int64)
    offsets = np.frombuffer(offset_buffer, width, count=n + 1, offset=values.offset * width.itemsize)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    valid = ~numpy_column(values.is_null()) if values.null_count else np.ones(n, np.bool_)
    return offsets, data, valid


def first_rows_of_strings(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """For every row of a string column, the first row (int64) with the same string; -1 where it is null.
    Linear, by hashing (planner.grouping); other types go through Arrow's hash encoding."""
    if pa.types.is_dictionary(values.type):  # its indices need not follow first appearance: decode
        values = values.cast(values.type.value_type)
    buffers = _string_buffers(values)
    if buffers is not None:
        return grouping.first_rows_of_strings(*buffers)
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    codes = numpy_column(encoded.indices.fill_null(-1), np.int64)
    if codes.size == 0:
        return codes
    # codes are numbered by first appearance: a code's first row is where it exceeds every earlier code
    heads = np.flatnonzero(codes > np.concatenate(([-1], np.maximum.accumulate(codes)[:-1])))
    return np.where(codes >= 0, heads[np.maximum(codes, 0)] if heads.size else -1, -1)


def string_codes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 code of each row's string, numbered by first appearance (the indices of ``dictionary_encode``);
    -1 where it is null."""
    return grouping.codes(first_rows_of_strings(values))[0]


def seller_codes(shipper: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The operators that sell shipping (object[K]: schemas.SHIPPER_OPERATOR's values, then DEFAULT_SELLER;
    a name may repeat) and each parcel's index into them (int64[P]), with no Python object per parcel."""
    if isinstance(shipper, pa.ChunkedArray):
        shipper = shipper.combine_chunks()
    names = np.array([*S.SHIPPER_OPERATOR.values(), S.DEFAULT_SELLER], dtype=object)
    where = pc.index_in(shipper, value_set=pa.array(list(S.SHIPPER_OPERATOR), pa.string()))
    return names, numpy_column(where.fill_null(len(names) - 1), np.int64)


def seller_operators(shipper: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The operator that sold each parcel's shipping (object[P]), from its shipper (schemas.SHIPPER_OPERATOR)."""
    names, codes = seller_codes(shipper)
    return names[codes]


def network_codes(parcels: pa.Table, hubs: Hubs, network: str) -> np.ndarray:
    """Each parcel's network (int16[P], Parcels.network): -1, any hub, when the networks are shared; when
    they are separate, the code (Hubs.networks) of the operator that sold its shipping, or -2 when that
    operator runs no hub."""
    if network == "shared":
        return np.full(parcels.num_rows, -1, np.int16)
    names, seller = seller_codes(parcels.column("shipper"))
    operators = hubs.networks()[0].tolist()
    network_of = np.array([operators.index(name) if name in operators else -2 for name in names], np.int16)
    return network_of[seller]


def parcels_model(parcels: pa.Table, network: np.ndarray | None = None) -> Parcels:
    """The normalised parcels table (schemas.PARCELS_SCHEMA) as model arrays; ``network`` from
    :func:`network_codes` (default: every parcel may use any hub)."""
    col = parcels.column
    if network is None:
        network = np.full(parcels.num_rows, -1, np.int16)
    return Parcels(lat=numpy_column(col("lat"), np.float64), lon=numpy_column(col("lon"), np.float64),
                   weight_kg=numpy_column(col("weight_kg"), np.float64), tier=numpy_column(col("tier_code"), np.int8),
                   address=numpy_column(col("address_code"), np.int64),
                   forced_hub=numpy_column(col("hub_index"), np.int32), network=np.asarray(network, np.int16))


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
