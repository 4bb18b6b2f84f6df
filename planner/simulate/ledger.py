"""Every parcel of a simulation, once: where it came from and how it ended.

A parcel gets its row when it first comes in; the day it is planned,
reported unassigned or rejected settles it; a parcel still deferred at the
end is in the backlog. Rows are numbered in the order the parcels came in
(day 1's in input order, then day 2's new ones, ...), which depends only on
the days' inputs, so two simulations of the same days (shared and separate
networks) number their parcels alike and can be compared row by row.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from planner.contract import schemas as S

#: a parcel's final outcome: the plan's statuses (``deferred``: still in the backlog at the end) and ``rejected``
OUTCOMES = (*S.STATUSES, "rejected")
REJECTED = OUTCOMES.index("rejected")
#: days after its first day by which a tier's promise is kept: priority the same day, express within 24 h (the
#: next day at the latest); standard has no promise
PROMISE_DAYS = {"priority": 0, "express": 1}
NO_PROMISE = np.iinfo(np.int32).max
DEADLINE = np.array([PROMISE_DAYS.get(t, NO_PROMISE) for t in S.TIERS], dtype=np.int64)


def deadline(tier: np.ndarray) -> np.ndarray:
    """Promise in days after the first day, per tier code (NO_PROMISE for standard and unknown tiers)."""
    return np.where(tier >= 0, DEADLINE[np.maximum(tier, 0)], NO_PROMISE)


def operator_names(hub_operators: list[str | None]) -> tuple[str, ...]:
    """Every operator a simulation names, sorted: the hubs' and the sellers' (schemas.SHIPPER_OPERATOR)."""
    named = {S.DEFAULT_OPERATOR if op is None else op for op in hub_operators}
    return tuple(sorted(named | set(S.SHIPPER_OPERATOR.values()) | {S.DEFAULT_SELLER}))


@dataclass
class Ledger:
    """Per parcel of the whole simulation (row = order of arrival), NumPy columns grown day by day."""

    operators: tuple[str, ...]
    tier: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # index into S.TIERS, -1 unknown
    first_day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    seller: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # index into operators
    area: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # index into S.AREAS, -1 not known
    lat: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    lon: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    outcome: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # index into OUTCOMES
    day: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # day it was settled (0: in backlog)
    deliverer: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # operator of its hub, -1 none
    cost_usd: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))  # its share of its route's cost
    parcel_id: list[pa.Array] = field(default_factory=list)  # one chunk per day
    zip: list[pa.Array] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Parcels so far."""
        return int(self.tier.size)

    def add(self, parcels: pa.Table, tier: np.ndarray, day: int, seller: np.ndarray) -> np.ndarray:
        """Rows for the new parcels of ``day`` (a CARRY_SCHEMA table), open until settled; returns their rows."""
        n = parcels.num_rows
        rows = np.arange(self.size, self.size + n, dtype=np.int64)

        def grow(column: np.ndarray, values: np.ndarray) -> np.ndarray:
            return np.concatenate([column, values.astype(column.dtype, copy=False)])

        self.tier = grow(self.tier, tier)
        self.first_day = grow(self.first_day, np.full(n, day))
        self.seller = grow(self.seller, seller)
        self.area = grow(self.area, np.full(n, -1))
        coords = {c: np.asarray(parcels.column(c).fill_null(np.nan).to_numpy(zero_copy_only=False))
                  for c in ("lat", "lon")}
        self.lat = grow(self.lat, coords["lat"])
        self.lon = grow(self.lon, coords["lon"])
        self.outcome = grow(self.outcome, np.full(n, S.DEFERRED))
        self.day = grow(self.day, np.zeros(n))
        self.deliverer = grow(self.deliverer, np.full(n, -1))
        self.cost_usd = grow(self.cost_usd, np.zeros(n))
        self.parcel_id.append(parcels.column("parcel_id").combine_chunks())
        self.zip.append(parcels.column("zip").combine_chunks())
        return rows

    def ids(self, rows: np.ndarray) -> pa.Array:
        """parcel_id of ``rows``."""
        return _concat(self.parcel_id, pa.string()).take(pa.array(rows, pa.int64()))

    def zips(self, rows: np.ndarray) -> pa.Array:
        """ZIP code of ``rows`` (null where not known)."""
        return _concat(self.zip, pa.string()).take(pa.array(rows, pa.int64()))

    def kept(self) -> np.ndarray:
        """Parcels of a promised tier planned within its promise."""
        return self.promised() & (self.outcome == S.PLANNED) & (self.day - self.first_day <= deadline(self.tier))

    def promised(self) -> np.ndarray:
        """Parcels of a tier with a promise (priority, express)."""
        return deadline(self.tier) != NO_PROMISE


def _concat(chunks: list[pa.Array], type_: pa.DataType) -> pa.Array:
    if not chunks:
        return pa.array([], type_)
    return pa.concat_arrays([c.cast(type_) for c in chunks])
