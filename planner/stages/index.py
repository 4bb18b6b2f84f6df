"""Stage 2, index: parcels become stops, each with its H3 cell, density and speed.

Parcels to one address are one stop: they share an ``address_id`` or, without
one, identical coordinates. Parcels of one address forced onto different hubs
cannot share a vehicle, so they become separate stops. Everything is grouped
with NumPy sorts; only the H3 calls (one per stop and one or two per occupied
cell) run in Python, which is what bounds this stage's time.
"""
from __future__ import annotations

from itertools import chain

import h3.api.basic_int as h3
import numpy as np

from planner.model import Parcels, Stops
from planner.settings import Settings, SpeedSettings


def _coordinate_bits(values: np.ndarray) -> np.ndarray:
    """Coordinates as exact int64 keys (+0.0 folds -0.0 onto 0.0)."""
    return (values + 0.0).view(np.int64)


def group_rows(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group rows that agree on every key; groups are numbered by their first row.

    Returns ``(group, first)``: the group of every row (int32[n]) and the first
    row of every group (int64[G], increasing).
    """
    n = keys[0].size
    if n == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    order = np.lexsort(keys[::-1])  # stable: a group's first row comes first
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for key in keys:
        sorted_key = key[order]
        new[1:] |= sorted_key[1:] != sorted_key[:-1]
    heads = order[new]
    by_first = np.argsort(heads, kind="stable")
    rank = np.empty(heads.size, dtype=np.int32)
    rank[by_first] = np.arange(heads.size, dtype=np.int32)
    group = np.empty(n, dtype=np.int32)
    group[order] = rank[np.cumsum(new) - 1]
    return group, heads[by_first].astype(np.int64)


def latlng_cells(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell of every point as int64 (equal to ``h3.latlng_to_cell`` read as an integer)."""
    return np.fromiter(map(h3.latlng_to_cell, lat.tolist(), lon.tolist(), [resolution] * lat.size),
                       dtype=np.int64, count=lat.size)


def disk_density(cell: np.ndarray, parcels: np.ndarray) -> np.ndarray:
    """Parcels per km^2 in each point's H3 cell and its ring-1 neighbours.

    Counts come from the occupied cells; the disk's area is its number of cells
    times the centre cell's area (neighbours differ in area by well under 1 %).
    """
    occupied, inverse = np.unique(cell, return_inverse=True)
    if occupied.size == 0:
        return np.zeros(0, np.float64)
    count = np.bincount(inverse, weights=parcels, minlength=occupied.size)
    disks = list(map(h3.grid_disk, occupied.tolist(), [1] * occupied.size))
    sizes = np.fromiter(map(len, disks), dtype=np.int64, count=occupied.size)
    members = np.fromiter(chain.from_iterable(disks), dtype=np.int64, count=int(sizes.sum()))
    at = np.minimum(np.searchsorted(occupied, members), occupied.size - 1)
    member_count = np.where(occupied[at] == members, count[at], 0.0)
    owner = np.repeat(np.arange(occupied.size), sizes)
    disk_count = np.bincount(owner, weights=member_count, minlength=occupied.size)
    area = np.fromiter(map(h3.cell_area, occupied.tolist()), dtype=np.float64, count=occupied.size) * sizes
    return (disk_count / area)[inverse]


def speed_class(density: np.ndarray, speeds: SpeedSettings) -> np.ndarray:
    """Driving speed (km/h) of each stop from its density class."""
    return np.select([density >= speeds.urban_density, density >= speeds.suburban_density],
                     [speeds.urban_kmh, speeds.suburban_kmh], speeds.rural_kmh).astype(np.float64)


def build_stops(parcels: Parcels, settings: Settings) -> Stops:
    """Group the parcels into stops (see the module docstring)."""
    lat, lon, hub, tier, weight, address = (parcels.lat, parcels.lon, parcels.forced_hub, parcels.tier,
                                            parcels.weight_kg, parcels.address)
    by_address = address >= 0
    stop, first = group_rows(
        by_address.astype(np.int64),
        np.where(by_address, address, _coordinate_bits(lat)),
        np.where(by_address, 0, _coordinate_bits(lon)),
        hub.astype(np.int64),
    )
    n_stops = first.size
    n_parcels = np.bincount(stop, minlength=n_stops).astype(np.int32)
    stop_tier = np.full(n_stops, np.iinfo(np.int8).max, dtype=np.int8)
    np.minimum.at(stop_tier, stop, tier)
    cell = latlng_cells(lat[first], lon[first], settings.h3_resolution)
    density = disk_density(cell, n_parcels)
    service = settings.service
    return Stops(
        parcel_stop=stop,
        lat=lat[first],
        lon=lon[first],
        weight_kg=np.bincount(stop, weights=weight, minlength=n_stops).astype(np.float64),
        n_parcels=n_parcels,
        tier=stop_tier,
        forced_hub=hub[first].astype(np.int32),
        cell=cell,
        density=density,
        speed_kmh=speed_class(density, settings.speeds),
        service_s=(service.stop_s + service.parcel_s * n_parcels).astype(np.float64),
    )
