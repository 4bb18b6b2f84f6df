"""Stage 2, index: parcels become stops, each with its H3 cell, area class and speed.

Parcels to one address are one stop: they share an ``address_id`` or, without
one, identical coordinates. Parcels of one address forced onto different hubs,
or bound to different networks (separate networks: each parcel only on its
seller's hubs), cannot share a vehicle, so they become separate stops. Everything is grouped
by hashing (planner.grouping) and the H3 cells, disks and areas come from the H3 C library
in parallel loops (planner.stages.h3cells): no Python runs per parcel, stop or cell.
"""
from __future__ import annotations

import h3.api.basic_int as h3
import numpy as np
from numba import njit, prange

from planner import grouping
from planner.grouping import group_rows
from planner.model import Parcels, Stops
from planner.settings import Settings, SpeedSettings
from planner.stages import h3cells


@njit(cache=True)
def _stop_totals(stop, n_stops, weight, tier):  # type: ignore[no-untyped-def]
    """Per stop, in one pass over the parcels in row order: parcels, kg (summed in row order, as
    ``np.bincount`` sums) and the most urgent tier."""
    count = np.zeros(n_stops, np.int32)
    kg = np.zeros(n_stops, np.float64)
    most_urgent = np.full(n_stops, np.iinfo(np.int8).max, np.int8)
    for i in range(stop.size):
        s = stop[i]
        count[s] += 1
        kg[s] += weight[i]
        most_urgent[s] = min(most_urgent[s], tier[i])
    return count, kg, most_urgent


def _coordinate_bits(values: np.ndarray) -> np.ndarray:
    """Coordinates as exact int64 keys (+0.0 folds -0.0 onto 0.0)."""
    return (values + 0.0).view(np.int64)


def latlng_cells(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell of every point as int64 (equal to ``h3.latlng_to_cell`` read as an integer)."""
    return h3cells.latlng_to_cells(lat, lon, resolution)


@njit(cache=True)
def _number_cells(cell, table):  # type: ignore[no-untyped-def]
    """Number the distinct cells by first appearance in an open-addressing ``table`` (slot -> number, -1
    empty): ``(number of each point's cell, the distinct cells)``."""
    mask = np.uint64(table.size - 1)
    number = np.empty(cell.size, np.int64)
    distinct = np.empty(cell.size, np.int64)
    k = 0
    for i in range(cell.size):
        c = cell[i]
        s = grouping.mix(np.uint64(c)) & mask
        while True:
            j = table[s]
            if j < 0:
                table[s] = k
                distinct[k] = c
                number[i] = k
                k += 1
                break
            if distinct[j] == c:
                number[i] = j
                break
            s = (s + np.uint64(1)) & mask
    return number, distinct[:k]


@njit(parallel=True, cache=True)
def _disk_counts(table, distinct, count, disks, total, size):  # type: ignore[no-untyped-def]
    """Parcels in each distinct cell's disk (its members looked up in ``table``) and the disk's number of cells."""
    mask = np.uint64(table.size - 1)
    for i in prange(distinct.size):
        parcels = 0.0
        cells = 0
        for member in disks[i]:
            if member != 0:
                cells += 1
                s = grouping.mix(np.uint64(member)) & mask
                while table[s] >= 0:
                    if distinct[table[s]] == member:
                        parcels += count[table[s]]
                        break
                    s = (s + np.uint64(1)) & mask
        total[i] = parcels
        size[i] = cells


#: every H3 cell's area lies within these multiples of its resolution's average hexagon area. Measured over
#: every cell of resolutions 0-1 and the pentagons' neighbourhoods and 20,000 random cells at every resolution:
#: 0.505 (the pentagons) to 1.207; the bounds leave a quarter of margin either side
CELL_AREA_BOUNDS = (0.4, 1.5)


def _disk_parcels(cell: np.ndarray, parcels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(number, occupied, disk parcels, disk cells)``: each point's index into the distinct occupied cells,
    those cells, and for each the parcels in its ring-1 disk and the disk's number of cells.

    The occupied cells are numbered and looked up through one hash table, not
    sorted; the counts are sums of whole numbers, exact in any order, so the
    disks are summed in parallel.
    """
    cell = np.ascontiguousarray(cell, np.int64)
    slots = 16
    while 2 * slots < 3 * cell.size:  # at most two thirds full, and far less when points share cells
        slots *= 2
    table = np.full(slots, -1, np.int64)
    number, occupied = _number_cells(cell, table)
    count = np.bincount(number, weights=parcels, minlength=occupied.size)
    disk_count = np.empty(occupied.size, np.float64)
    sizes = np.empty(occupied.size, np.int64)
    _disk_counts(table, occupied, count, h3cells.grid_disks(occupied), disk_count, sizes)
    return number, occupied, disk_count, sizes


def disk_density(cell: np.ndarray, parcels: np.ndarray) -> np.ndarray:
    """Parcels per km^2 in each point's H3 cell and its ring-1 neighbours.

    Counts come from the occupied cells; the disk's area is its number of cells
    times the centre cell's area (neighbours differ in area by well under 1 %).
    """
    if cell.size == 0:
        return np.zeros(0, np.float64)
    number, occupied, disk_count, sizes = _disk_parcels(cell, parcels)
    return (disk_count / (h3cells.cell_areas_km2(occupied) * sizes))[number]


def disk_area_class(cell: np.ndarray, parcels: np.ndarray, resolution: int, speeds: SpeedSettings) -> np.ndarray:
    """``area_class(disk_density(cell, parcels))``, to the same class for every point, computing a cell's
    area only where it can change the class.

    A disk's density lies between its count over the largest and over the smallest area a cell of its
    resolution can have (CELL_AREA_BOUNDS); where both give one class, that is the class. Only the other
    disks, a few per cent on a national day, have their centre cell's area computed (H3's cellAreaKm2 is
    the costliest H3 call of the stage).
    """
    if cell.size == 0:
        return np.zeros(0, np.int8)
    number, occupied, disk_count, sizes = _disk_parcels(cell, parcels)
    average = h3.average_hexagon_area(resolution, "km^2")
    smallest, largest = (bound * average * sizes for bound in CELL_AREA_BOUNDS)
    area = area_class(disk_count / largest, speeds)
    unsure = np.flatnonzero(area != area_class(disk_count / smallest, speeds))
    exact = disk_count[unsure] / (h3cells.cell_areas_km2(occupied[unsure]) * sizes[unsure])
    area[unsure] = area_class(exact, speeds)
    return area[number]


def area_class(density: np.ndarray, speeds: SpeedSettings) -> np.ndarray:
    """Area class of each stop (int8, index into contract.schemas.AREAS: urban, suburban, rural) from its density."""
    return (2 - (density >= speeds.suburban_density).astype(np.int8) - (density >= speeds.urban_density)).astype(
        np.int8)


def speed_class(density: np.ndarray, speeds: SpeedSettings) -> np.ndarray:
    """Driving speed (km/h) of each stop from its area class."""
    return area_speed(area_class(density, speeds), speeds)


def area_speed(area: np.ndarray, speeds: SpeedSettings) -> np.ndarray:
    """Driving speed (km/h) of each area class."""
    by_area = np.array([speeds.urban_kmh, speeds.suburban_kmh, speeds.rural_kmh], dtype=np.float64)
    return by_area[area]


def build_stops(parcels: Parcels, settings: Settings) -> Stops:
    """Group the parcels into stops (see the module docstring)."""
    lat, lon, hub, tier, weight, address = (parcels.lat, parcels.lon, parcels.forced_hub, parcels.tier,
                                            parcels.weight_kg, parcels.address)
    by_address = address >= 0
    stop, first = group_rows(  # keys that hold one value (every parcel with an address, no forced hub) drop out
        by_address.astype(np.int64),
        np.where(by_address, address, _coordinate_bits(lat)),
        np.where(by_address, 0, _coordinate_bits(lon)),
        hub.astype(np.int64),
        parcels.network.astype(np.int64),
    )
    n_stops = first.size
    n_parcels, weight_kg, stop_tier = _stop_totals(stop, n_stops, np.asarray(weight, np.float64),
                                                   np.asarray(tier, np.int8))
    cell = latlng_cells(lat[first], lon[first], settings.h3_resolution)
    area = disk_area_class(cell, n_parcels, settings.h3_resolution, settings.speeds)
    service = settings.service
    return Stops(
        parcel_stop=stop,
        lat=lat[first],
        lon=lon[first],
        weight_kg=weight_kg,
        n_parcels=n_parcels,
        tier=stop_tier,
        forced_hub=hub[first].astype(np.int32),
        network=parcels.network[first].astype(np.int16),
        cell=cell,
        area=area,
        speed_kmh=area_speed(area, settings.speeds),
        service_s=(service.stop_s + service.parcel_s * n_parcels).astype(np.float64),
    )


def warm_up() -> None:
    """Compile (or load from Numba's cache) this stage's loops, and the string grouping validation uses, on a
    tiny load: the pipeline calls it before any stage clock starts."""
    n = 4
    parcels = Parcels(lat=np.array([40.0, 40.0, 40.001, -33.9]), lon=np.array([-74.0, -74.0, -74.0, 18.4]),
                      weight_kg=np.ones(n), tier=np.zeros(n, np.int8), address=np.array([0, 0, -1, 1], np.int64),
                      forced_hub=np.full(n, -1, np.int32), network=np.full(n, -1, np.int16))
    build_stops(parcels, Settings())
    grouping.warm_up()
