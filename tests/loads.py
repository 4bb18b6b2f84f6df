"""Small synthetic loads and planned runs the tests share."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from planner.run.pipeline import plan
from planner.settings import ImproveSettings, Settings

#: the planned run of :func:`write_run`: a short budget, three hubs (one short of vehicles)
RUN_SETTINGS = Settings(improve=ImproveSettings(time_cap_s=2.0, max_rounds=5))
RUN_HUBS = [(40.75, -73.99, 3, 300.0), (40.66, -73.95, 20, 500.0), (40.72, -74.10, 20, 500.0)]


def make_load(n: int, hubs: list[tuple[float, float, int, float]], seed: int, spread: float = 0.05,
              tiers=(0.1, 0.3, 0.6)) -> tuple[pa.Table, pa.Table]:
    """n parcels scattered around the hubs; hubs as (lat, lon, vehicles, capacity_kg)."""
    rng = np.random.default_rng(seed)
    h = np.array([[lat, lon] for lat, lon, *_ in hubs])
    home = rng.integers(0, len(hubs), n)
    lat = h[home, 0] + rng.normal(0, spread, n)
    lon = h[home, 1] + rng.normal(0, spread, n)
    # every 5th parcel shares its address with the previous one
    share = np.arange(n) % 5 == 4
    lat[share] = lat[np.flatnonzero(share) - 1]
    lon[share] = lon[np.flatnonzero(share) - 1]
    parcels = pa.table({
        "parcel_id": [f"P{i:05d}" for i in range(n)],
        "lat": lat, "lon": lon,
        "weight_kg": pa.array(rng.lognormal(0.3, 0.5, n).astype(np.float32)),
        "tier": rng.choice(["priority", "express", "standard"], n, p=list(tiers)).tolist(),
        "shipper": rng.choice(["amazon", "usps", "small_business"], n).tolist(),
        "fee_usd": pa.array(rng.uniform(3, 12, n).astype(np.float32)),
    })
    hubs_t = pa.table({
        "hub_id": [f"H{i}" for i in range(len(hubs))],
        "lat": [x[0] for x in hubs], "lon": [x[1] for x in hubs],
        "operator": ["usps" if i % 2 else "amazon" for i in range(len(hubs))],
        "vehicles": pa.array([x[2] for x in hubs], pa.int32()),
        "capacity_kg": pa.array([x[3] for x in hubs], pa.float32()),
        "capacity_parcels": pa.array([60] * len(hubs), pa.int32()),
    })
    return parcels, hubs_t


def write_run(root: Path, n: int = 600, seed: int = 11) -> tuple[Path, Path, Path]:
    """A small planned run on disk: inputs (with bad rows and a short hub), outputs; returns
    (output dir, parcels path, hubs path)."""
    parcels, hubs = make_load(n, RUN_HUBS, seed=seed, tiers=(0.3, 0.3, 0.4))
    bad = pa.table({"parcel_id": ["P00000", "BADTIER", "BADW"], "lat": [40.7, 40.7, 40.7],
                    "lon": [-73.9, -73.9, -73.9], "weight_kg": pa.array([1.0, 1.0, -1.0], pa.float32()),
                    "tier": ["express", "gold", "priority"], "shipper": ["usps"] * 3,
                    "fee_usd": pa.array([5.0] * 3, pa.float32())}).cast(parcels.schema)
    parcels = pa.concat_tables([parcels, bad])
    hubs = hubs.append_column("daily_capacity", pa.array([2**31 - 1, 150, 2**31 - 1], pa.int32()))
    root.mkdir(parents=True, exist_ok=True)
    feather.write_feather(parcels, root / "parcels.arrow")
    feather.write_feather(hubs, root / "hubs.arrow")
    plan(parcels, hubs, RUN_SETTINGS, progress=False).write(root / "plan")
    return root / "plan", root / "parcels.arrow", root / "hubs.arrow"


