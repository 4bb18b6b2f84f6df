"""A small partnership network and a few days of parcels for it, built to show every effect the simulation
reports: a metro where the postal carrier's hub is short and the retailer's has room, and two rural towns
that only one operator serves (each within reach of no other hub)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from planner.settings import ImproveSettings, Settings, SpeedSettings

#: hub_id, operator, lat, lon, vehicles, capacity_parcels, daily_capacity
HUBS = (
    ("A1", "amazon", 40.75, -73.99, 3, 60, 2**31 - 1),  # metro station with room
    ("U1", "usps", 40.70, -73.95, 1, 60, 2**31 - 1),  # metro post office, short of vehicles
    ("U2", "usps", 41.30, -74.60, 2, 40, 30),  # the only hub of a rural town, short of sorting capacity
    ("A2", "amazon", 40.20, -74.95, 2, 40, 2**31 - 1),  # the only hub of another rural town
)
#: where each day's parcels go: (lat, lon, sigma in degrees, parcels a day)
AREAS = ((40.73, -73.97, 0.03, 160), (41.30, -74.60, 0.06, 40), (40.20, -74.95, 0.06, 30))
#: max_hub_km 40: no hub reaches another town's parcels; density thresholds that a tiny load can cross
SETTINGS = Settings(max_hub_km=40.0, speeds=SpeedSettings(urban_density=30.0, suburban_density=4.0),
                    improve=ImproveSettings(time_cap_s=20.0, max_rounds=5, effort_s=0.005))


def hubs() -> pa.Table:
    """The four hubs as a contract hubs table."""
    cols = list(zip(*HUBS))
    return pa.table({
        "hub_id": list(cols[0]), "operator": list(cols[1]), "lat": list(cols[2]), "lon": list(cols[3]),
        "vehicles": pa.array(cols[4], pa.int32()), "capacity_kg": pa.array([800.0] * len(HUBS), pa.float32()),
        "capacity_parcels": pa.array(cols[5], pa.int32()), "daily_capacity": pa.array(cols[6], pa.int32()),
    })


def day(d: int, seed: int = 0) -> pa.Table:
    """Day ``d``'s new parcels (ids ``d<d>-<k>``), a ZIP code per area."""
    rng = np.random.default_rng([seed, d])
    parts = []
    for k, (lat, lon, sigma, n) in enumerate(AREAS):
        parts.append((np.full(n, k), lat + rng.normal(0, sigma, n), lon + rng.normal(0, sigma, n)))
    area = np.concatenate([p[0] for p in parts])
    n = area.size
    lat, lon = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
    share = np.arange(n) % 6 == 5  # some parcels share an address (and a stop) with the one before
    lat[share], lon[share] = lat[np.flatnonzero(share) - 1], lon[np.flatnonzero(share) - 1]
    return pa.table({
        "parcel_id": [f"d{d}-{i:04d}" for i in range(n)], "lat": lat, "lon": lon,
        "weight_kg": pa.array(rng.lognormal(0.3, 0.4, n).astype(np.float32)),
        "tier": rng.choice(["priority", "express", "standard"], n, p=[0.15, 0.3, 0.55]).tolist(),
        "shipper": rng.choice(["amazon", "usps", "small_business"], n, p=[0.5, 0.3, 0.2]).tolist(),
        "fee_usd": pa.array(rng.uniform(3, 12, n).astype(np.float32)),
        "zip": [("10001", "12771", "08540")[a] for a in area.tolist()],
    })


def days(n: int = 3, seed: int = 0) -> list[pa.Table]:
    """``n`` days of parcels."""
    return [day(d, seed) for d in range(1, n + 1)]
