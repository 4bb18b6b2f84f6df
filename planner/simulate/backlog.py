"""The parcels carried from one day to the next.

A parcel deferred on day d is planned again on day d + 1 with the same row
(parcel_id, coordinates, weight, tier, shipper, fee, address), its first day
and its age: the days it has waited, one more each time it is carried. Each
day's input is the carried parcels first (oldest first), then the day's new
ones; the plan serves tiers in order, so a carried parcel competes with the
new parcels of its tier, and within a tier the carried ones come first where
the planner breaks ties by input order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planner.contract import schemas as S
from planner.contract.read import conform

#: the columns a day's parcels are kept in (every contract column; one that a file lacks is null, i.e. its
#: contract default), so that the carried rows and a day's new rows make one table
CARRY_SCHEMA = pa.schema([pa.field(c.name, c.type) for c in S.PARCEL_COLUMNS])


def canonical(parcels: pa.Table, label: str) -> pa.Table:
    """The contract columns of ``parcels`` in their contract types (CARRY_SCHEMA); other columns are dropped.

    Raises InputError (naming ``label`` and the column) as reading a file does.
    """
    parcels = conform(parcels, "parcels", label)
    columns = []
    for field in CARRY_SCHEMA:
        if field.name in parcels.column_names:
            columns.append(parcels.column(field.name).cast(field.type))
        else:
            columns.append(pa.chunked_array([pa.nulls(parcels.num_rows, field.type)], type=field.type))
    return pa.Table.from_arrays(columns, schema=CARRY_SCHEMA)


def tier_codes(parcels: pa.Table) -> np.ndarray:
    """Tier code (index into schemas.TIERS) of each row of a CARRY_SCHEMA table; null is the default tier and an
    unknown tier -1 (such a row is rejected by the plan)."""
    codes = pc.index_in(parcels.column("tier"), value_set=pa.array(S.TIERS, pa.string()))
    out = np.asarray(codes.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int8)
    out[np.asarray(parcels.column("tier").is_null().to_numpy(zero_copy_only=False))] = S.DEFAULT_TIER_CODE
    return out


@dataclass(frozen=True)
class Backlog:
    """Parcels deferred so far and waiting for the next day, row by row."""

    parcels: pa.Table  # CARRY_SCHEMA
    tier: np.ndarray  # int8: index into schemas.TIERS
    first_day: np.ndarray  # int32: the day the parcel came in (1-based)
    age_days: np.ndarray  # int32: days waited by the next day (times carried)
    ledger: np.ndarray  # int64: the parcel's row in the simulation's ledger

    @classmethod
    def empty(cls) -> Backlog:
        """No parcel waiting."""
        return cls(CARRY_SCHEMA.empty_table(), np.zeros(0, np.int8), np.zeros(0, np.int32), np.zeros(0, np.int32),
                   np.zeros(0, np.int64))

    @property
    def size(self) -> int:
        """Parcels waiting."""
        return int(self.first_day.size)

    def table(self) -> pa.Table:
        """backlog.arrow (schemas.BACKLOG_SCHEMA)."""
        return S.table_from_columns(S.BACKLOG_SCHEMA, {
            "parcel_id": self.parcels.column("parcel_id"),
            "tier": pa.array(S.TIERS, pa.string()).take(pa.array(self.tier.astype(np.int32))),
            "first_day": self.first_day, "age_days": self.age_days,
        })
