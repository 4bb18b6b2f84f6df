"""Reading a simulation directory back, day by day, as a consumer would."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather


@dataclass(frozen=True)
class Day:
    """One day's directory: its input parcels and its plan's tables."""

    number: int
    parcels: pa.Table
    assignments: pa.Table
    routes: pa.Table
    hubs: pa.Table
    rejects: pa.Table

    def status(self) -> dict[str, str]:
        """parcel_id -> status."""
        a = self.assignments
        return dict(zip(a.column("parcel_id").to_pylist(), a.column("status").to_pylist()))


def read_days(directory: Path) -> list[Day]:
    """Every ``day-NN`` directory of a simulation, in order."""
    out = []
    for k, path in enumerate(sorted(directory.glob("day-*")), start=1):
        tables = {name: feather.read_table(path / f"{name}.arrow") for name in
                  ("parcels", "assignments", "routes", "hubs", "rejects")}
        out.append(Day(k, **tables))
    return out
