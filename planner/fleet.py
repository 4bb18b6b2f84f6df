"""Hubs as NumPy arrays, and the kernel node arrays that put stops and hubs together."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Fleet:
    """The valid hubs of a run, column by column (index = row of the normalised hubs table)."""

    hub_id: np.ndarray  # object[H]
    operator: np.ndarray  # object[H]
    lat: np.ndarray  # float64[H]
    lon: np.ndarray  # float64[H]
    vehicles: np.ndarray  # int32[H]
    capacity_kg: np.ndarray  # float64[H]
    capacity_parcels: np.ndarray  # float64[H]
    shift_s: np.ndarray  # float64[H]
    daily_capacity: np.ndarray  # int64[H]

    @property
    def size(self) -> int:
        """Number of hubs."""
        return int(self.lat.size)

    @classmethod
    def from_table(cls, hubs: pa.Table) -> "Fleet":
        """Read the normalised hubs table of :func:`planner.io.validate`."""
        def col(name: str, dtype) -> np.ndarray:
            return hubs.column(name).to_numpy(zero_copy_only=False).astype(dtype)

        return cls(
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


@dataclass(frozen=True)
class Nodes:
    """Kernel node arrays: stops ``0..n_stops-1`` followed by hubs (node ``n_stops + h``)."""

    a: np.ndarray
    b: np.ndarray
    demand_kg: np.ndarray
    demand_n: np.ndarray
    service_s: np.ndarray
    speed_kmh: np.ndarray
    n_stops: int

    @classmethod
    def build(cls, stops, fleet: Fleet, hub_speed_kmh: float) -> "Nodes":
        """Stack a :class:`planner.index.Stops` and a :class:`Fleet` into node arrays."""
        h = fleet.size
        return cls(
            a=np.concatenate([stops.lat, fleet.lat]).astype(np.float64),
            b=np.concatenate([stops.lon, fleet.lon]).astype(np.float64),
            demand_kg=np.concatenate([stops.weight_kg, np.zeros(h)]).astype(np.float64),
            demand_n=np.concatenate([stops.n_parcels, np.zeros(h)]).astype(np.float64),
            service_s=np.concatenate([stops.service_s, np.zeros(h)]).astype(np.float64),
            speed_kmh=np.concatenate([stops.speed_kmh, np.full(h, hub_speed_kmh)]).astype(np.float64),
            n_stops=int(stops.lat.size),
        )

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """(a, b, demand_kg, demand_n, service_s, speed_kmh), the order the kernels take."""
        return self.a, self.b, self.demand_kg, self.demand_n, self.service_s, self.speed_kmh
