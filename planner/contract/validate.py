"""Validation: both input tables checked row by row against the contract's "Bad input" rules.

:func:`validate` turns both input tables into the normalised tables the
pipeline works on and moves every row that cannot be planned to ``rejects``
with its reason. It is vectorised (Arrow compute and NumPy) so a national
day of 10-20 million parcels validates in seconds.

Row checks, first match wins (so each rejected row has exactly one reason):
hubs in the order of ``schemas.HUB_CHECKS``, parcels in the order of
``schemas.PARCEL_CHECKS``. Duplicates are judged on the raw ids: the first
row with an id keeps it, every later row with that id is rejected, whatever
happens to the first. A null in an optional column takes the column's
default; a null in a required value column (coordinates, vehicles,
capacity_kg) fails that column's check. A parcel's weight is checked against
the largest capacity_kg of the valid hubs that have a vehicle; with no such
hub that check is skipped (nothing can be planned, the parcels are reported
unassigned downstream). Parcels that share an address_id are one stop, so a
parcel is rejected when another parcel of its address_id (among the rows that
pass every other check) lies more than ``schemas.ADDRESS_CONFLICT_M`` away:
planning it at the other's location would send it to the wrong place.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planner import grouping
from planner.contract import schemas as S
from planner.contract.arrays import first_rows_of_strings, numpy_column, string_codes
from planner.contract.read import conform, read_table


@dataclass(frozen=True)
class Inputs:
    """Validated inputs: normalised ``parcels`` and ``hubs`` (schemas.PARCELS_SCHEMA,
    schemas.HUBS_SCHEMA) and the rows that were set aside (schemas.REJECTS_SCHEMA)."""

    parcels: pa.Table
    hubs: pa.Table
    rejects: pa.Table



def _spec(name: str, column: str) -> S.ColumnSpec:
    return next(s for s in S.INPUT_COLUMNS[name] if s.name == column)


def _nulls(table: pa.Table, column: str) -> np.ndarray:
    """True where the column is null (all False when the column is absent)."""
    if column not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    return numpy_column(table.column(column).is_null())


def _values(table: pa.Table, name: str, column: str, fill: Any = None) -> np.ndarray:
    """A numeric column as NumPy in its contract dtype; nulls and an absent
    column become ``fill`` (default: the contract default)."""
    spec = _spec(name, column)
    fill = spec.default if fill is None else fill
    dtype = spec.type.to_pandas_dtype()
    if column not in table.column_names:
        return np.full(table.num_rows, fill, dtype=dtype)
    values = table.column(column)
    if values.null_count:  # fill_null copies the column even when there is nothing to fill
        values = values.fill_null(pa.scalar(fill, spec.type))
    return numpy_column(values).astype(dtype, copy=False)


def _strings(table: pa.Table, column: str, default: str | None = None) -> pa.ChunkedArray:
    """A string column, nulls replaced by ``default`` when given; all-null when absent."""
    if column not in table.column_names:
        fill = pa.nulls(table.num_rows, pa.string()) if default is None else pa.repeat(default, table.num_rows)
        return pa.chunked_array([fill], type=pa.string())
    values = table.column(column)
    return values if default is None else values.fill_null(default)


def _first_failure(n: int, checks: tuple[str, ...], failures: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per row, the 1-based position in ``checks`` of the first failed check
    (0: passed all); ``failures`` maps each check's reason to its row mask."""
    if set(failures) != set(checks):
        raise ValueError(f"checks and failure masks differ: {sorted(set(checks) ^ set(failures))}")
    codes = np.zeros(n, dtype=np.int8)
    for number, reason in enumerate(checks, start=1):
        codes[(codes == 0) & failures[reason]] = number
    return codes


def _later_duplicates(ids: pa.ChunkedArray) -> np.ndarray:
    """True for every non-null id already seen in an earlier row: one whose first row
    (planner.grouping, one hashing pass) is not itself."""
    if len(ids) == 0:
        return np.zeros(0, dtype=bool)
    first = first_rows_of_strings(ids)
    return (first >= 0) & (first != np.arange(first.size))


def _coordinate_failures(table: pa.Table, name: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The coordinate checks' failure masks by reason, and the lat, lon values."""
    lat = _values(table, name, "lat", fill=np.nan)
    lon = _values(table, name, "lon", fill=np.nan)
    missing = _nulls(table, "lat") | _nulls(table, "lon")
    with np.errstate(invalid="ignore"):
        nonfinite = ~(np.isfinite(lat) & np.isfinite(lon))
        out_of_range = (np.abs(lat) > 90.0) | (np.abs(lon) > 180.0)
    return ({S.REASON_MISSING_COORDS: missing, S.REASON_NONFINITE_COORDS: nonfinite,
             S.REASON_COORDS_OUT_OF_RANGE: out_of_range}, lat, lon)


def _tier_codes_of(values: pa.Array) -> np.ndarray:
    """Tier codes of plain string values: null -> standard, unknown -> -1."""
    codes = numpy_column(pc.index_in(values, value_set=pa.array(S.TIERS, pa.string())).fill_null(-1)).astype(np.int8)
    codes[numpy_column(values.is_null())] = S.DEFAULT_TIER_CODE
    return codes


def _tier_codes(table: pa.Table) -> np.ndarray:
    """int8 tier code per parcel (-1: unknown tier); dictionary columns are
    decoded through their dictionaries, not row by row."""
    if "tier" not in table.column_names:
        return np.full(table.num_rows, S.DEFAULT_TIER_CODE, dtype=np.int8)
    parts = []
    for chunk in table.column("tier").chunks:
        if pa.types.is_dictionary(chunk.type):
            lookup = np.append(_tier_codes_of(chunk.dictionary), np.int8(S.DEFAULT_TIER_CODE))
            parts.append(lookup[numpy_column(chunk.indices.fill_null(len(chunk.dictionary)))])
        else:
            parts.append(_tier_codes_of(chunk))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)


def _rejects(file: str, codes: np.ndarray, checks: tuple[str, ...], ids: pa.ChunkedArray,
             formatted: Mapping[str, tuple[str, pa.ChunkedArray]] | None = None) -> pa.Table:
    """Rejects rows for one input: every row with a non-zero check code. A reason of ``formatted``
    (reason -> (field, column)) gets its ``{field}`` filled in with the row's value of the column."""
    rows = np.flatnonzero(codes)
    reasons = pa.array(checks, pa.string()).take(pa.array(codes[rows].astype(np.int32) - 1))
    for reason, (name, column) in (formatted or {}).items():
        if not len(rows):
            break
        hit = codes[rows] == checks.index(reason) + 1
        if hit.any():
            values = column.take(pa.array(rows[hit])).cast(pa.string())
            prefix, suffix = reason.split("{" + name + "}")
            text = pc.binary_join_element_wise(prefix, values, suffix, "")
            reasons = pc.replace_with_mask(reasons, pa.array(hit), text.combine_chunks())
    return S.table_from_columns(S.REJECTS_SCHEMA, {
        "row": rows.astype(np.int64), "file": pa.repeat(file, len(rows)),
        "id": ids.take(pa.array(rows)), "reason": reasons,
    })


def _validate_hubs(hubs: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Normalised valid hubs and the hub rejects."""
    n = hubs.num_rows
    ids = hubs.column("hub_id")
    coord_failures, lat, lon = _coordinate_failures(hubs, "hubs")
    vehicles = _values(hubs, "hubs", "vehicles", fill=0)
    capacity_kg = _values(hubs, "hubs", "capacity_kg", fill=np.nan)
    capacity_parcels = _values(hubs, "hubs", "capacity_parcels")
    shift_s = _values(hubs, "hubs", "shift_s")
    daily = _values(hubs, "hubs", "daily_capacity")
    with np.errstate(invalid="ignore"):
        bad_capacity_kg = ~(capacity_kg > 0)
    codes = _first_failure(n, S.HUB_CHECKS, {
        S.REASON_MISSING_HUB_ID: _nulls(hubs, "hub_id"),
        S.REASON_DUPLICATE_HUB_ID: _later_duplicates(ids),
        **coord_failures,
        S.REASON_BAD_VEHICLES: _nulls(hubs, "vehicles") | (vehicles < 0),
        S.REASON_BAD_CAPACITY_KG: bad_capacity_kg,
        S.REASON_BAD_CAPACITY_PARCELS: capacity_parcels <= 0,
        S.REASON_BAD_SHIFT: shift_s <= 0,
        S.REASON_BAD_DAILY_CAPACITY: daily < 0,
    })
    table = pa.Table.from_arrays([
        np.arange(n, dtype=np.int64), ids, lat, lon, _strings(hubs, "operator", S.DEFAULT_OPERATOR),
        vehicles, capacity_kg, capacity_parcels, shift_s, daily,
    ], schema=S.HUBS_SCHEMA)
    return table.filter(pa.array(codes == 0)), _rejects("hubs", codes, S.HUB_CHECKS, ids)


def _largest_vehicle_kg(hubs: pa.Table) -> float:
    """Largest capacity_kg among valid hubs with a vehicle; inf when there is none."""
    with_vehicles = numpy_column(hubs.column("vehicles")) > 0
    capacities = numpy_column(hubs.column("capacity_kg"))[with_vehicles]
    return float(capacities.max()) if capacities.size else np.inf


#: metres per radian of latitude (the kernels' mean Earth radius, kernels._scalar.EARTH_RADIUS_KM)
_EARTH_RADIUS_M = 6_371_008.8
#: directions the address check projects on: a farthest partner is found to within 1 - cos(pi / 64), 0.12 %
_CONFLICT_DIRECTIONS = 32


def _address_conflicts(codes: np.ndarray, lat: np.ndarray, lon: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """True for each ``candidate`` row whose address_id (``codes``: arrays.string_codes of the column) is
    shared by another candidate row more than ``schemas.ADDRESS_CONFLICT_M`` away.

    Linear in the rows: a hash of the address_ids and per-address extents in degrees clear nearly every
    address at once; only the addresses that may be wider than the limit are sorted and put on a local
    plane around their first point. There a parcel's farthest partner is bounded from below by its
    distance to the address's extremes along 32 directions; that bound exceeds the limit exactly when
    the farthest partner does, up to 0.12 % (a partner at 200.25 m may be missed; one at 200 m or less
    never counts).
    """
    out = np.zeros(lat.size, dtype=bool)
    if np.count_nonzero(candidate) < 2:
        return out
    rows = np.flatnonzero(candidate & (codes >= 0))
    code = codes[rows]
    shared = np.bincount(code, minlength=int(codes.max(initial=-1)) + 1)[code] >= 2  # alone, no partner
    rows = rows[shared]
    if rows.size == 0:
        return out
    c, _ = grouping.group_rows(code[shared])
    la, lo = lat[rows], lon[rows]
    (lat_lo, lon_lo, abs_lo), (lat_hi, lon_hi, _) = grouping.group_min_max(c, int(c.max()) + 1, la, lo, np.abs(la))
    metres = _EARTH_RADIUS_M * np.pi / 180.0
    wide = np.hypot(lat_hi - lat_lo, (lon_hi - lon_lo) * np.cos(np.radians(abs_lo))) * metres > S.ADDRESS_CONFLICT_M
    rows = rows[wide[c]]
    if rows.size == 0:
        return out
    codes = codes[rows]
    order = np.argsort(codes, kind="stable")
    rows, codes = rows[order], codes[order]
    start = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    group = np.repeat(np.arange(start.size), np.diff(np.r_[start, rows.size]))
    ref = start[group]
    lat_r, lon_r = np.radians(lat[rows]), np.radians(lon[rows])
    x = _EARTH_RADIUS_M * np.cos(lat_r[ref]) * (np.mod(lon_r - lon_r[ref] + np.pi, 2 * np.pi) - np.pi)
    y = _EARTH_RADIUS_M * (lat_r - lat_r[ref])
    reach = np.zeros(rows.size)
    for angle in np.arange(_CONFLICT_DIRECTIONS) * (np.pi / _CONFLICT_DIRECTIONS):
        u = x * np.cos(angle) + y * np.sin(angle)
        reach = np.maximum(reach, np.maximum(np.maximum.reduceat(u, start)[group] - u,
                                             u - np.minimum.reduceat(u, start)[group]))
    out[rows[reach > S.ADDRESS_CONFLICT_M]] = True
    return out


def _validate_parcels(parcels: pa.Table, hubs: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Normalised valid parcels (hub_id resolved against the valid ``hubs``) and the parcel rejects."""
    n = parcels.num_rows
    ids = parcels.column("parcel_id")
    coord_failures, lat, lon = _coordinate_failures(parcels, "parcels")
    weight = _values(parcels, "parcels", "weight_kg")
    fee = _values(parcels, "parcels", "fee_usd")
    tier_code = _tier_codes(parcels)
    forced = _strings(parcels, "hub_id")
    if forced.null_count == len(forced):  # no parcel names a hub (a column of nulls is hashed as slowly)
        hub_index = np.full(n, -1, np.int32)
    else:
        hub_index = numpy_column(pc.index_in(forced, value_set=hubs.column("hub_id").combine_chunks())
                                 .fill_null(-1)).astype(np.int32)
    with np.errstate(invalid="ignore"):
        bad_weight = ~(weight > 0)
        over_capacity = weight > np.float32(_largest_vehicle_kg(hubs))
        bad_fee = ~(np.isfinite(fee) & (fee >= 0))
    codes = _first_failure(n, S.PARCEL_CHECKS, {
        S.REASON_MISSING_PARCEL_ID: _nulls(parcels, "parcel_id"),
        S.REASON_DUPLICATE_PARCEL_ID: _later_duplicates(ids),
        **coord_failures,
        S.REASON_WEIGHT_NOT_POSITIVE: bad_weight,
        S.REASON_WEIGHT_OVER_CAPACITY: over_capacity,
        S.REASON_UNKNOWN_TIER: tier_code < 0,
        S.REASON_BAD_FEE: bad_fee,
        S.REASON_UNKNOWN_HUB: (hub_index < 0) & ~numpy_column(forced.is_null()),
        S.REASON_ADDRESS_CONFLICT: np.zeros(n, dtype=bool),  # judged below, among the rows that pass the rest
    })
    address = _strings(parcels, "address_id")
    address_code = string_codes(address)  # kept in the table: the index stage groups stops by it
    conflict = _address_conflicts(address_code, lat, lon, codes == 0)
    codes[conflict] = S.PARCEL_CHECKS.index(S.REASON_ADDRESS_CONFLICT) + 1
    table = pa.Table.from_arrays([
        np.arange(n, dtype=np.int64), ids, lat, lon, weight, tier_code,
        address, address_code, hub_index, _strings(parcels, "shipper"), fee,
    ], schema=S.PARCELS_SCHEMA)
    formatted = {S.REASON_ADDRESS_CONFLICT: ("address_id", address)}
    if "tier" in parcels.column_names:
        formatted[S.REASON_UNKNOWN_TIER] = ("tier", parcels.column("tier"))
    valid = codes == 0
    kept = table if valid.all() else table.filter(pa.array(valid))  # a filter copies every column, even of all rows
    return kept, _rejects("parcels", codes, S.PARCEL_CHECKS, ids, formatted)


def validate(parcels: pa.Table, hubs: pa.Table) -> Inputs:
    """Check every row of both inputs against the contract's "Bad input"
    rules; return the normalised valid tables and the rejects (hubs first,
    then parcels, each by row). Every input row ends up in exactly one of
    them. Raises InputError only for table-level problems (a missing required
    column, an uncastable column)."""
    hubs = conform(hubs, "hubs", "hubs table")
    parcels = conform(parcels, "parcels", "parcels table")
    valid_hubs, hub_rejects = _validate_hubs(hubs)
    valid_parcels, parcel_rejects = _validate_parcels(parcels, valid_hubs)
    rejects = pa.concat_tables([hub_rejects, parcel_rejects]).combine_chunks()
    return Inputs(parcels=valid_parcels, hubs=valid_hubs, rejects=rejects)


def load_inputs(parcels_path: str | os.PathLike[str], hubs_path: str | os.PathLike[str]) -> Inputs:
    """Read both input files (see :func:`read_table`) and :func:`validate` them."""
    return validate(read_table(parcels_path, "parcels"), read_table(hubs_path, "hubs"))

