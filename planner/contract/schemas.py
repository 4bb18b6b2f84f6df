"""The Arrow data contract (shared/CONTRACT.md) in one place.

Input files are described column by column (:class:`ColumnSpec`: contract
type, whether required, default for absent columns and null values); the
normalised tables that :func:`planner.io.validate` hands to the pipeline and
the output tables have fixed schemas. Every output schema carries
``SCHEMA_VERSION`` in its metadata so a consumer can tell which contract a
file follows. Reject reasons are constants so tests and consumers can match
them exactly.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = "1.0"
#: schema metadata key of every output table
VERSION_KEY = b"hexroute.schema_version"

#: service tiers; a parcel's ``tier_code`` is the index in this tuple
TIERS = ("priority", "express", "standard")
DEFAULT_TIER_CODE = TIERS.index("standard")
#: values of the ``status`` column of ``assignments``; a stop's status code is the index in this tuple
STATUSES = ("planned", "deferred", "unassigned")
PLANNED, DEFERRED, UNASSIGNED = range(len(STATUSES))
#: int32 stand-in for "no limit" (capacity_parcels, daily_capacity)
UNLIMITED = 2**31 - 1
DEFAULT_SHIFT_S = 28800
DEFAULT_OPERATOR = "usps"
#: who sold a parcel's shipping, by its ``shipper``: the revenue split pays this operator, and with separate
#: networks (settings ``network``) only its hubs may deliver the parcel; every other shipper, and none,
#: bought from DEFAULT_SELLER
SHIPPER_OPERATOR = {"amazon": "amazon"}
DEFAULT_SELLER = "usps"
#: area class of a parcel's stop, by the parcel density around it (``speeds.urban_density`` and
#: ``speeds.suburban_density``); a parcel's ``area_code`` is the index in this tuple
AREAS = ("urban", "suburban", "rural")

# Reject reasons. Rows are checked in the order of PARCEL_CHECKS / HUB_CHECKS
# and get the first reason that applies.
REASON_MISSING_PARCEL_ID = "missing parcel_id"
REASON_DUPLICATE_PARCEL_ID = "duplicate parcel_id"
REASON_MISSING_HUB_ID = "missing hub_id"
REASON_DUPLICATE_HUB_ID = "duplicate hub_id"
REASON_MISSING_COORDS = "missing coordinates"
REASON_NONFINITE_COORDS = "non-finite coordinates"
REASON_COORDS_OUT_OF_RANGE = "coordinates out of range"
REASON_WEIGHT_NOT_POSITIVE = "weight_kg must be > 0"
REASON_WEIGHT_OVER_CAPACITY = "weight_kg above every vehicle's capacity"
#: formatted with the offending value: ``REASON_UNKNOWN_TIER.format(tier=...)``
REASON_UNKNOWN_TIER = "unknown tier '{tier}'"
REASON_BAD_FEE = "fee_usd must be a finite number >= 0"
REASON_UNKNOWN_HUB = "hub_id names no hub"
#: formatted with the parcel's address_id: ``REASON_ADDRESS_CONFLICT.format(address_id=...)``
REASON_ADDRESS_CONFLICT = "address_id '{address_id}' shared with parcels more than 200 m away"
#: parcels of one address_id farther apart than this are in conflict (one stop cannot be in two places)
ADDRESS_CONFLICT_M = 200.0
REASON_BAD_VEHICLES = "vehicles must be >= 0"
REASON_BAD_CAPACITY_KG = "capacity_kg must be > 0"
REASON_BAD_CAPACITY_PARCELS = "capacity_parcels must be > 0"
REASON_BAD_SHIFT = "shift_s must be > 0"
REASON_BAD_DAILY_CAPACITY = "daily_capacity must be >= 0"

# Outcome reasons: why a valid parcel is deferred or unassigned (the ``reason`` column of
# ``assignments``). Stages carry the code (int8, an index into OUTCOME_REASONS); the text is made only
# when the table is built. ``{max_hub_km:g}`` is filled in from the settings (outcome_reasons()).
# Each reason fixes the status: ``deferred`` when tomorrow can serve the parcel (today's capacity is
# used up), ``unassigned`` when no vehicle of the network as given can ever take it.
_OUTCOMES = (
    (None, PLANNED),  # planned: no reason
    ("hub daily capacity exceeded", DEFERRED),  # the hub's daily_capacity (sorting) is used up
    ("forced hub daily capacity exceeded", DEFERRED),
    ("no hub with vehicles within {max_hub_km:g} km", UNASSIGNED),
    ("forced hub has no vehicles", UNASSIGNED),
    ("hub has no vehicles today", UNASSIGNED),
    ("stop is heavier than one vehicle of its hub carries", UNASSIGNED),
    ("stop has more parcels than one vehicle of its hub carries", UNASSIGNED),
    ("stop cannot be reached and served within one shift", UNASSIGNED),
    ("hub's vehicles are full today", DEFERRED),  # routing: the fleet cannot carry every stop
    ("hub's vehicles are full today (kg)", DEFERRED),  # assignment: vehicles x capacity_kg used up
    ("hub's vehicles are full today (parcels)", DEFERRED),  # assignment: vehicles x capacity_parcels used up
    ("forced hub's vehicles are full today (kg)", DEFERRED),
    ("forced hub's vehicles are full today (parcels)", DEFERRED),
    ("no valid hub in the hubs file", UNASSIGNED),
    ("no hub has vehicles today", UNASSIGNED),
    ("route over its shift on road times", DEFERRED),  # roads: the road legs made its route too long today
)
OUTCOME_REASONS: tuple[str | None, ...] = tuple(text for text, _ in _OUTCOMES)
#: status code (index into STATUSES) that each outcome reason code implies
OUTCOME_STATUS = np.array([status for _, status in _OUTCOMES], dtype=np.int8)
(NO_REASON, R_HUB_CAPACITY, R_FORCED_HUB_CAPACITY, R_NO_HUB_IN_REACH, R_FORCED_HUB_NO_VEHICLES, R_HUB_NO_VEHICLES,
 R_TOO_HEAVY, R_TOO_MANY_PARCELS, R_BEYOND_SHIFT, R_FLEET_FULL, R_HUB_KG_FULL, R_HUB_PARCELS_FULL,
 R_FORCED_HUB_KG_FULL, R_FORCED_HUB_PARCELS_FULL, R_NO_HUBS, R_NO_VEHICLES,
 R_ROAD_SHIFT) = range(len(OUTCOME_REASONS))


def outcome_reasons(max_hub_km: float) -> tuple[str | None, ...]:
    """OUTCOME_REASONS with the settings filled in (e.g. ``no hub with vehicles within 120 km``)."""
    return tuple(None if text is None else text.format(max_hub_km=max_hub_km) for text in OUTCOME_REASONS)


#: parcel checks, first match wins
PARCEL_CHECKS = (
    REASON_MISSING_PARCEL_ID, REASON_DUPLICATE_PARCEL_ID, REASON_MISSING_COORDS,
    REASON_NONFINITE_COORDS, REASON_COORDS_OUT_OF_RANGE, REASON_WEIGHT_NOT_POSITIVE,
    REASON_WEIGHT_OVER_CAPACITY, REASON_UNKNOWN_TIER, REASON_BAD_FEE, REASON_UNKNOWN_HUB,
    REASON_ADDRESS_CONFLICT,
)
#: hub checks, first match wins
HUB_CHECKS = (
    REASON_MISSING_HUB_ID, REASON_DUPLICATE_HUB_ID, REASON_MISSING_COORDS,
    REASON_NONFINITE_COORDS, REASON_COORDS_OUT_OF_RANGE, REASON_BAD_VEHICLES,
    REASON_BAD_CAPACITY_KG, REASON_BAD_CAPACITY_PARCELS, REASON_BAD_SHIFT,
    REASON_BAD_DAILY_CAPACITY,
)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input file: its contract type, whether the file must
    have it, and the value used when it is absent or null (None: stays null,
    or for required columns, the row is judged by its check)."""

    name: str
    type: pa.DataType
    required: bool = False
    default: Any = None
    #: dictionary<string> is accepted as is (the tier column)
    dictionary_ok: bool = False


PARCEL_COLUMNS = (
    ColumnSpec("parcel_id", pa.string(), required=True),
    ColumnSpec("lat", pa.float64(), required=True),
    ColumnSpec("lon", pa.float64(), required=True),
    ColumnSpec("weight_kg", pa.float32(), default=1.0),
    ColumnSpec("tier", pa.string(), default=TIERS[DEFAULT_TIER_CODE], dictionary_ok=True),
    ColumnSpec("address_id", pa.string()),
    ColumnSpec("hub_id", pa.string()),
    ColumnSpec("shipper", pa.string()),
    ColumnSpec("fee_usd", pa.float32(), default=0.0),
    #: the delivery address's ZIP code, where known (reported per area class; the plan does not use it)
    ColumnSpec("zip", pa.string()),
)

HUB_COLUMNS = (
    ColumnSpec("hub_id", pa.string(), required=True),
    ColumnSpec("lat", pa.float64(), required=True),
    ColumnSpec("lon", pa.float64(), required=True),
    ColumnSpec("operator", pa.string(), default=DEFAULT_OPERATOR),
    ColumnSpec("vehicles", pa.int32(), required=True),
    ColumnSpec("capacity_kg", pa.float32(), required=True),
    ColumnSpec("capacity_parcels", pa.int32(), default=UNLIMITED),
    ColumnSpec("shift_s", pa.int32(), default=DEFAULT_SHIFT_S),
    ColumnSpec("daily_capacity", pa.int32(), default=UNLIMITED),
)

#: input column specs by file name
INPUT_COLUMNS: Mapping[str, tuple[ColumnSpec, ...]] = {"parcels": PARCEL_COLUMNS, "hubs": HUB_COLUMNS}

# Normalised inputs: what validate() returns. ``row`` is the 0-based row in
# the input file; ``hub_index`` indexes the normalised hubs table (-1: free).
PARCELS_SCHEMA = pa.schema([
    pa.field("row", pa.int64(), nullable=False),
    pa.field("parcel_id", pa.string(), nullable=False),
    pa.field("lat", pa.float64(), nullable=False),
    pa.field("lon", pa.float64(), nullable=False),
    pa.field("weight_kg", pa.float32(), nullable=False),
    pa.field("tier_code", pa.int8(), nullable=False),
    pa.field("address_id", pa.string()),
    pa.field("address_code", pa.int64(), nullable=False),  # equal address_ids, equal codes; -1 for a null
    pa.field("hub_index", pa.int32(), nullable=False),
    pa.field("shipper", pa.string()),
    pa.field("fee_usd", pa.float32(), nullable=False),
])

HUBS_SCHEMA = pa.schema([
    pa.field("row", pa.int64(), nullable=False),
    pa.field("hub_id", pa.string(), nullable=False),
    pa.field("lat", pa.float64(), nullable=False),
    pa.field("lon", pa.float64(), nullable=False),
    pa.field("operator", pa.string(), nullable=False),
    pa.field("vehicles", pa.int32(), nullable=False),
    pa.field("capacity_kg", pa.float32(), nullable=False),
    pa.field("capacity_parcels", pa.int32(), nullable=False),
    pa.field("shift_s", pa.int32(), nullable=False),
    pa.field("daily_capacity", pa.int32(), nullable=False),
])


def _versioned(fields: list[pa.Field]) -> pa.Schema:
    return pa.schema(fields, metadata={VERSION_KEY: SCHEMA_VERSION.encode()})


ASSIGNMENTS_SCHEMA = _versioned([
    pa.field("parcel_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),
    pa.field("hub_id", pa.string()),
    pa.field("route_id", pa.string()),
    pa.field("stop_seq", pa.int32()),
    pa.field("eta_s", pa.int32()),
    pa.field("reason", pa.string()),
])

ROUTES_SCHEMA = _versioned([
    pa.field("route_id", pa.string(), nullable=False),
    pa.field("hub_id", pa.string(), nullable=False),
    pa.field("n_stops", pa.int32(), nullable=False),
    pa.field("n_parcels", pa.int32(), nullable=False),
    pa.field("load_kg", pa.float64(), nullable=False),
    pa.field("distance_km", pa.float64(), nullable=False),
    pa.field("duration_s", pa.int32(), nullable=False),
    pa.field("cost_usd", pa.float64(), nullable=False),
    pa.field("co2_kg", pa.float64(), nullable=False),
])

HUB_REPORT_SCHEMA = _versioned([
    pa.field("hub_id", pa.string(), nullable=False),
    pa.field("parcels_planned", pa.int32(), nullable=False),
    pa.field("parcels_deferred", pa.int32(), nullable=False),
    pa.field("routes", pa.int32(), nullable=False),
    pa.field("vehicles", pa.int32(), nullable=False),
    pa.field("distance_km", pa.float64(), nullable=False),
    pa.field("cost_usd", pa.float64(), nullable=False),
])

REJECTS_SCHEMA = _versioned([
    pa.field("row", pa.int64(), nullable=False),
    pa.field("file", pa.string(), nullable=False),
    pa.field("id", pa.string()),
    pa.field("reason", pa.string(), nullable=False),
])

# A simulation over several days (shared/CONTRACT.md, "Several days"): every parcel still deferred at
# the end, with its tier, the day it first came in (1-based) and the days it has waited (the times it
# was carried over to a next day).
BACKLOG_SCHEMA = _versioned([
    pa.field("parcel_id", pa.string(), nullable=False),
    pa.field("tier", pa.string(), nullable=False),
    pa.field("first_day", pa.int32(), nullable=False),
    pa.field("age_days", pa.int32(), nullable=False),
])

# A comparison of shared and separate networks: the parcels only the shared network reaches (planned there,
# unassigned with separate networks), where they are, who sold them and whose hub delivered them.
REACH_SCHEMA = _versioned([
    pa.field("parcel_id", pa.string(), nullable=False),
    pa.field("lat", pa.float64(), nullable=False),
    pa.field("lon", pa.float64(), nullable=False),
    pa.field("zip", pa.string()),
    pa.field("tier", pa.string(), nullable=False),
    pa.field("area", pa.string(), nullable=False),
    pa.field("seller", pa.string(), nullable=False),
    pa.field("delivered_by", pa.string(), nullable=False),
    pa.field("first_day", pa.int32(), nullable=False),
    pa.field("day_planned", pa.int32(), nullable=False),
])

# With a road engine: the road geometry of (up to roads.geometry_routes) routes, hub to hub, point by point.
ROUTE_SHAPES_SCHEMA = _versioned([
    pa.field("route_id", pa.string(), nullable=False),
    pa.field("point", pa.int32(), nullable=False),
    pa.field("lat", pa.float64(), nullable=False),
    pa.field("lon", pa.float64(), nullable=False),
])

#: tables a plan writes only in some runs (``route_shapes.arrow``: with a road engine)
OPTIONAL_OUTPUT_SCHEMAS: Mapping[str, pa.Schema] = {"route_shapes": ROUTE_SHAPES_SCHEMA}

#: output tables by name (written as ``<name>.arrow``)
OUTPUT_SCHEMAS: Mapping[str, pa.Schema] = {
    "assignments": ASSIGNMENTS_SCHEMA,
    "routes": ROUTES_SCHEMA,
    "hubs": HUB_REPORT_SCHEMA,
    "rejects": REJECTS_SCHEMA,
}
#: every table a plan may write, by name: the four of every plan and the optional ones
PLAN_TABLE_SCHEMAS: Mapping[str, pa.Schema] = {**OUTPUT_SCHEMAS, **OPTIONAL_OUTPUT_SCHEMAS}


def _as_arrow(value: Any, field: pa.Field) -> pa.Array | pa.ChunkedArray:
    """One column as Arrow of the field's type; a masked numpy array's mask becomes nulls."""
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        arr = value
    elif isinstance(value, np.ma.MaskedArray):
        arr = pa.array(np.ma.getdata(value), mask=np.ma.getmaskarray(value))
    elif isinstance(value, np.ndarray):
        arr = pa.array(value)
    else:
        arr = pa.array(list(value), type=field.type)
    if arr.type != field.type:
        arr = arr.cast(field.type)
    if not field.nullable and arr.null_count:
        raise ValueError(f"column '{field.name}' must not contain nulls")
    return arr


def table_from_columns(schema: pa.Schema, columns: Mapping[str, Any]) -> pa.Table:
    """Build a table of exactly ``schema`` from numpy arrays, Arrow arrays or
    sequences (``np.ma.MaskedArray`` masks become nulls), casting safely, so
    every producer of an output table gets the contract's types and metadata.

    Raises ValueError when a column is missing, extra, of the wrong length,
    null where the contract forbids it, or not castable.
    """
    names = set(schema.names)
    if set(columns) != names:
        missing, extra = sorted(names - set(columns)), sorted(set(columns) - names)
        raise ValueError(f"columns do not match the schema: missing {missing}, extra {extra}")
    arrays = [_as_arrow(columns[f.name], f) for f in schema]
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: {sorted(lengths)}")
    return pa.Table.from_arrays(arrays, schema=schema)
