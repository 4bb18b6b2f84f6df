"""Where a simulation's days come from: one parcels file (or table) per day, a load repeated every day, or
synthetic days.

Every source yields day ``d``'s *new* parcels as a contract parcels table
(shared/CONTRACT.md, "parcels"); the backlog (planner.simulate.backlog) adds the
parcels carried over from earlier days. A parcel_id must be unique over all
the days of a simulation: a repeated or synthetic load gets a day prefix
(``D03-``) on its parcel_id and address_id so that the days' parcels and
addresses stay apart.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from planner.contract import read_table
from planner.contract.read import IPC_SUFFIXES, PARQUET_SUFFIXES, conform
from planner.errors import InputError, first_line

#: random streams of a simulation's seed: the synthetic days, and each day's plan
SYNTH_STREAM, PLAN_STREAM = 1, 2


def derive_seed(seed: int, stream: int, day: int) -> int:
    """A day's seed (31 bits) from the simulation's seed: independent across streams and days, the same on
    every run."""
    return int(np.random.SeedSequence([seed, stream, day]).generate_state(1, np.uint32)[0] >> 1)


def day_prefix(day: int) -> str:
    """The id prefix of day ``day``'s parcels in repeated and synthetic loads."""
    return f"D{day:02d}-"


def prefix_ids(parcels: pa.Table, prefix: str) -> pa.Table:
    """``parcels`` with ``prefix`` before every parcel_id and address_id (nulls stay null)."""
    for name in ("parcel_id", "address_id"):
        if name in parcels.column_names:
            where = parcels.column_names.index(name)
            values = parcels.column(name).cast(pa.string())
            parcels = parcels.set_column(where, name, pc.binary_join_element_wise(prefix, values, ""))
    return parcels


class DaySource(Protocol):
    """The new parcels of each day of a simulation."""

    @property
    def days(self) -> int:
        """Number of days."""
        ...

    def check(self) -> None:
        """Raise InputError, before any day is planned, for what can be seen to fail without planning."""
        ...

    def day(self, day: int) -> pa.Table:
        """Day ``day``'s new parcels (1-based) as a contract parcels table."""
        ...

    def describe(self) -> dict[str, Any]:
        """Where the days come from, for simulation.json."""
        ...


@dataclass(frozen=True)
class DayTables:
    """One parcels table per day, as given."""

    tables: tuple[pa.Table, ...]

    @property
    def days(self) -> int:
        """Number of days."""
        return len(self.tables)

    def check(self) -> None:
        """Each table must have the contract's required columns, castable to their types."""
        for d, table in enumerate(self.tables, start=1):
            conform(table.schema.empty_table(), "parcels", f"parcels table of day {d}")

    def day(self, day: int) -> pa.Table:
        """The table of day ``day``."""
        return self.tables[day - 1]

    def describe(self) -> dict[str, Any]:
        """Tables given in memory."""
        return {"kind": "tables", "days": self.days, "parcels": [t.num_rows for t in self.tables]}


def _file_schema(path: Path) -> pa.Schema:
    """The schema of a parcels file, read without its rows."""
    label = f"parcels file {path}"
    if not path.is_file():
        raise InputError(f"{label}: no such file")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return pq.read_schema(path)
        with pa.memory_map(str(path)) as source:
            try:
                return pa.ipc.open_file(source).schema
            except pa.ArrowInvalid:
                source.seek(0)
                return pa.ipc.open_stream(source).schema
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"{label}: cannot be read: {first_line(exc)}") from exc


@dataclass(frozen=True)
class DayFiles:
    """One parcels file per day (Arrow IPC or Parquet), in the order given."""

    paths: tuple[Path, ...]

    @classmethod
    def of_directory(cls, directory: str | os.PathLike[str], days: int | None = None) -> DayFiles:
        """The parcels files of ``directory`` in name order (the first ``days`` of them when given)."""
        root = Path(directory)
        if not root.is_dir():
            raise InputError(f"days directory {root}: no such directory")
        suffixes = IPC_SUFFIXES + PARQUET_SUFFIXES
        paths = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in suffixes
                       and not p.name.startswith("."))
        if not paths:
            raise InputError(f"days directory {root}: no parcels file ({', '.join(suffixes)})")
        if days is not None:
            if days > len(paths):
                raise InputError(f"days directory {root}: {days} days asked for, {len(paths)} files there")
            paths = paths[:days]
        return cls(tuple(paths))

    @property
    def days(self) -> int:
        """Number of days."""
        return len(self.paths)

    def check(self) -> None:
        """Every file must be readable, with the required columns in castable types."""
        for path in self.paths:
            conform(_file_schema(path).empty_table(), "parcels", f"parcels file {path}")

    def day(self, day: int) -> pa.Table:
        """The file of day ``day``, read."""
        return read_table(self.paths[day - 1], "parcels")

    def describe(self) -> dict[str, Any]:
        """The files, by name."""
        return {"kind": "files", "days": self.days, "files": [str(p) for p in self.paths]}


@dataclass(frozen=True)
class Repeated:
    """The same load every day; with more than one day each copy's ids get the day's prefix."""

    table: pa.Table
    count: int

    @property
    def days(self) -> int:
        """Number of days."""
        return self.count

    def check(self) -> None:
        """The table must have the contract's required columns, castable to their types."""
        conform(self.table.schema.empty_table(), "parcels", "parcels table")

    def day(self, day: int) -> pa.Table:
        """The load, its ids prefixed with the day when there are several days."""
        return self.table if self.count == 1 else prefix_ids(self.table, day_prefix(day))

    def describe(self) -> dict[str, Any]:
        """The repeated load's size."""
        return {"kind": "repeated", "days": self.count, "parcels_per_day": self.table.num_rows}


@dataclass(frozen=True)
class Synthetic:
    """Synthetic days (planner.synth): ``parcels_per_day`` new parcels a day at population-weighted
    addresses of ``region``, day ``d`` drawn with seed ``derive_seed(seed, SYNTH_STREAM, d)``, shippers
    leaning toward the operator of the nearest of ``hubs``."""

    region: str
    parcels_per_day: int
    count: int
    seed: int
    hubs: pa.Table | None = None

    @property
    def days(self) -> int:
        """Number of days."""
        return self.count

    def check(self) -> None:
        """The region and the counts must be valid."""
        from planner.synth.load import REGIONS

        if self.region not in REGIONS:
            raise InputError(f"unknown region {self.region!r}; valid regions: {', '.join(REGIONS)}")
        for name, value in (("--parcels-per-day", self.parcels_per_day), ("--days", self.count)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive integer, not {value!r}")

    def day(self, day: int) -> pa.Table:
        """Day ``day``'s parcels, ids prefixed with the day."""
        from planner.synth.load import PARCEL_SCHEMA, iter_parcel_batches

        hubs = self.hubs if self.hubs is not None and "operator" in self.hubs.column_names else None
        batches = list(iter_parcel_batches(self.parcels_per_day, hubs, derive_seed(self.seed, SYNTH_STREAM, day),
                                           self.region, id_prefix=day_prefix(day)))
        return pa.Table.from_batches(batches, schema=PARCEL_SCHEMA)

    def describe(self) -> dict[str, Any]:
        """Region, size and seed."""
        return {"kind": "synthetic", "days": self.count, "region": self.region,
                "parcels_per_day": self.parcels_per_day, "seed": self.seed}


Load: TypeAlias = DaySource | pa.Table | str | os.PathLike[str] | Sequence[pa.Table | str | os.PathLike[str]]


def as_days(load: Load, days: int | None = None) -> DaySource:
    """A day source from what the Python API accepts.

    ``load`` is a :class:`DaySource`; a parcels table or file (the same load
    every day, ``days`` times, once by default); a directory of parcels files
    (one a day, in name order); or a sequence of tables or files (one a day).
    """
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise InputError(f"days must be a positive integer, not {days!r}")
    if isinstance(load, pa.Table):
        return Repeated(load, days or 1)
    if isinstance(load, (str, os.PathLike)):
        path = Path(load)
        if path.is_dir():
            return DayFiles.of_directory(path, days)
        return Repeated(read_table(path, "parcels"), days or 1)
    if isinstance(load, Sequence):
        items = list(load)
        if not items:
            raise InputError("no days given")
        if all(isinstance(x, pa.Table) for x in items):
            source: DaySource = DayTables(tuple(items))
        elif all(isinstance(x, (str, os.PathLike)) for x in items):
            source = DayFiles(tuple(Path(x) for x in items))
        else:
            raise InputError("days must be all parcels tables or all parcels files")
    else:
        source = load
    if days is not None and days != source.days:
        raise InputError(f"{days} days asked for, the load has {source.days}")
    return source
