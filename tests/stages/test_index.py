"""Stage 2 (planner.index): stops from parcels, H3 cells, density and speed classes."""
from __future__ import annotations

import h3
import h3.api.basic_int
import numpy as np
import pytest

from planner.contract import schemas as S
from planner.settings import ServiceSettings, Settings, SpeedSettings
from planner.stages import index
from planner.stages.index import (
    CELL_AREA_BOUNDS,
    area_class,
    build_stops,
    disk_area_class,
    disk_density,
    group_rows,
    latlng_cells,
)
from tests import naive
from tests.tables import parcels as parcels_table


def test_coordinates_group_parcels_without_address() -> None:
    table = parcels_table([40.0, 41.0, 40.0, -0.0, 0.0], [-100.0, -100.0, -100.0, 10.0, 10.0],
                          tier=[2, 1, 0, 2, 2], weight=[1.5, 2.0, 3.0, 1.0, 1.0])
    stops = build_stops(table, Settings())
    assert stops.parcel_stop.dtype == np.int32
    assert stops.parcel_stop.tolist() == [0, 1, 0, 2, 2]  # -0.0 and 0.0 are one place
    assert stops.size == 3
    assert stops.n_parcels.tolist() == [2, 1, 2]
    assert stops.weight_kg.tolist() == [4.5, 2.0, 2.0]
    assert stops.tier.tolist() == [0, 1, 2]
    assert stops.lat.tolist() == [40.0, 41.0, -0.0]
    assert stops.forced_hub.tolist() == [-1, -1, -1]


def test_address_id_groups_parcels_and_takes_the_first_coordinates() -> None:
    table = parcels_table([40.0, 40.001, 40.0, 40.0], [-100.0, -100.001, -100.0, -100.0],
                          address=["a", "a", None, "b"])
    stops = build_stops(table, Settings())
    # same address, different coordinates: one stop at the first parcel's place;
    # the parcel without an address is grouped by coordinates only
    assert stops.parcel_stop.tolist() == [0, 0, 1, 2]
    assert (stops.lat[0], stops.lon[0]) == (40.0, -100.0)
    assert stops.n_parcels.tolist() == [2, 1, 1]


def test_parcels_forced_onto_different_hubs_are_separate_stops() -> None:
    table = parcels_table([40.0] * 5, [-100.0] * 5, address=["a", "a", "a", None, None], hub=[-1, 3, 3, 1, 2])
    stops = build_stops(table, Settings())
    assert stops.parcel_stop.tolist() == [0, 1, 1, 2, 3]
    assert stops.forced_hub.tolist() == [-1, 3, 1, 2]
    assert stops.n_parcels.tolist() == [1, 2, 1, 1]


def test_group_rows_numbers_groups_by_first_row(rng: np.random.Generator) -> None:
    keys = (rng.integers(0, 3, 200), rng.integers(0, 4, 200))
    group, first = group_rows(*keys)
    pairs = list(zip(*(k.tolist() for k in keys)))
    naive: dict[tuple[int, int], int] = {}
    expected = [naive.setdefault(p, len(naive)) for p in pairs]
    assert group.tolist() == expected
    assert first.tolist() == [pairs.index(p) for p in naive]


def test_h3_cells_match_h3_latlng_to_cell(rng: np.random.Generator) -> None:
    lat, lon = rng.uniform(-80, 80, 300), rng.uniform(-180, 180, 300)
    for res in (5, 8):
        stops = build_stops(parcels_table(lat, lon), Settings(h3_resolution=res))
        expected = [h3.str_to_int(h3.latlng_to_cell(a, b, res)) for a, b in zip(lat, lon)]
        assert stops.cell.dtype == np.int64
        assert stops.cell.tolist() == expected




def test_density_counts_the_cell_and_its_ring_1_neighbours(rng: np.random.Generator) -> None:
    res = 8
    centre = h3.latlng_to_cell(40.0, -100.0, res)
    ring1 = h3.grid_ring(centre, 1)
    ring2 = h3.grid_ring(centre, 2)
    places = [h3.cell_to_latlng(c) for c in [centre, ring1[0], ring1[3], ring2[0]]]
    counts = [5, 2, 1, 7]
    lat = [p[0] for p, n in zip(places, counts) for _ in range(n)]
    lon = [p[1] for p, n in zip(places, counts) for _ in range(n)]
    stops = build_stops(parcels_table(lat, lon), Settings(h3_resolution=res))
    area = 7 * h3.cell_area(centre, "km^2")
    density = disk_density(stops.cell, stops.n_parcels)
    assert density[0] == pytest.approx((5 + 2 + 1) / area, rel=1e-2)  # ring 2 is not counted
    assert density == pytest.approx(naive.disk_density(stops.cell, stops.n_parcels), rel=1e-2)
    # random clustered points, against the naive reference
    lat = np.round(rng.normal(40.0, 0.02, 400), 3)
    lon = np.round(rng.normal(-100.0, 0.02, 400), 3)
    stops = build_stops(parcels_table(lat, lon), Settings(h3_resolution=res))
    assert disk_density(stops.cell, stops.n_parcels) == pytest.approx(naive.disk_density(stops.cell, stops.n_parcels),
                                                                      rel=1e-2)


def test_speed_classes_follow_density_thresholds() -> None:
    # 40 parcels at one place, 4 at another, 1 far away: three density classes
    lat = [40.0] * 40 + [42.0] * 4 + [44.0]
    lon = [-100.0] * 45
    base = build_stops(parcels_table(lat, lon), Settings())
    d = disk_density(base.cell, base.n_parcels)
    speeds = SpeedSettings(urban_kmh=20.0, suburban_kmh=40.0, rural_kmh=70.0,
                           urban_density=float(d[0]), suburban_density=float(d[1]))
    settings = Settings(speeds=speeds, service=ServiceSettings(stop_s=30.0, parcel_s=10.0))
    stops = build_stops(parcels_table(lat, lon), settings)
    assert stops.speed_kmh.tolist() == [20.0, 40.0, 70.0]
    assert [S.AREAS[k] for k in stops.area] == ["urban", "suburban", "rural"]
    assert stops.service_s.tolist() == [30.0 + 10.0 * 40, 30.0 + 10.0 * 4, 30.0 + 10.0]


def test_empty_parcels_give_no_stops() -> None:
    stops = build_stops(parcels_table([], []), Settings())
    assert stops.size == 0 and stops.parcel_stop.size == 0 and stops.cell.dtype == np.int64


def test_stops_are_deterministic(rng: np.random.Generator) -> None:
    lat = np.round(rng.uniform(40, 40.1, 500), 2)
    lon = np.round(rng.uniform(-100, -99.9, 500), 2)
    address = [f"a{i}" if i % 3 else None for i in rng.integers(0, 50, 500)]
    one = build_stops(parcels_table(lat, lon, address=address), Settings())
    two = build_stops(parcels_table(lat, lon, address=address), Settings())
    for name in ("parcel_stop", "lat", "lon", "n_parcels", "cell", "area"):
        assert np.array_equal(getattr(one, name), getattr(two, name))
    # stops are numbered by their first parcel
    assert np.all(np.diff(np.unique(one.parcel_stop, return_index=True)[1]) > 0)


def _clustered(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in a few dense clusters (many stops per cell, disks that overlap) and some spread worldwide."""
    centre = rng.integers(0, 6, n)
    lat = np.array([40.7, 34.0, 64.0, -33.9, 0.0, 89.99])[centre] + rng.normal(0, 0.02, n)
    lon = np.array([-74.0, -118.2, 179.99, 18.4, 0.0, 10.0])[centre] + rng.normal(0, 0.02, n)
    spread = rng.random(n) < 0.2
    lat[spread] = np.degrees(np.arcsin(rng.uniform(-1, 1, spread.sum())))
    lon[spread] = rng.uniform(-180, 180, spread.sum())
    return np.clip(lat, -90, 90), (lon + 180.0) % 360.0 - 180.0


@pytest.mark.parametrize("res", [4, 8, 10])
def test_density_equals_the_h3py_implementation_to_the_bit(rng: np.random.Generator, res: int) -> None:
    lat, lon = _clustered(rng, 4000)
    cell = naive.latlng_cells_by_h3py(lat, lon, res)
    parcels = rng.integers(1, 5, cell.size).astype(np.int32)
    pentagon = np.array(list(h3.api.basic_int.get_pentagons(res))[:3], np.int64)
    cell = np.concatenate([cell, pentagon, pentagon])
    parcels = np.concatenate([parcels, [1, 2, 3, 4, 5, 6]]).astype(np.int32)
    expected = naive.disk_density_by_h3py(cell, parcels)
    assert np.array_equal(disk_density(cell, parcels).view(np.int64), expected.view(np.int64))
    assert np.array_equal(latlng_cells(lat, lon, res), naive.latlng_cells_by_h3py(lat, lon, res))


@pytest.mark.parametrize("res", [0, 1, 8, 15])
def test_every_cell_area_lies_within_the_bounds(rng: np.random.Generator, res: int) -> None:
    """All cells of resolutions 0 and 1; at finer ones the pentagons' neighbourhoods, where cells are smallest
    and largest, and random cells."""
    if res <= 1:
        cells = [c for base in h3.get_res0_cells() for c in h3.cell_to_children(base, res)]
    else:
        cells = [c for p in h3.get_pentagons(res) for c in h3.grid_disk(p, 6)]
        lat, lon = np.degrees(np.arcsin(rng.uniform(-1, 1, 2000))), rng.uniform(-180, 180, 2000)
        cells += [h3.latlng_to_cell(a, b, res) for a, b in zip(lat, lon)]
    ratio = np.array([h3.cell_area(c, "km^2") for c in cells]) / h3.average_hexagon_area(res, "km^2")
    low, high = CELL_AREA_BOUNDS
    assert 1.2 * low < ratio.min() and ratio.max() < high / 1.2  # a fifth of margin left either side


@pytest.mark.parametrize("res", [6, 8, 10])
def test_area_classes_equal_the_classes_of_the_exact_densities(rng: np.random.Generator, res: int) -> None:
    lat, lon = _clustered(rng, 5000)
    cell = latlng_cells(lat, lon, res)
    parcels = rng.integers(1, 30, cell.size).astype(np.int32)
    density = disk_density(cell, parcels)
    picked = np.quantile(density, [0.2, 0.5, 0.8, 0.95])
    for low, high in [(picked[0], picked[2]), (picked[1], picked[3]), (density[0], density[1]), (1e-9, 1e12)]:
        speeds = SpeedSettings(suburban_density=float(min(low, high)), urban_density=float(max(low, high)))
        expected = area_class(density, speeds)
        assert np.array_equal(disk_area_class(cell, parcels, res, speeds), expected)
    assert disk_area_class(cell[:0], parcels[:0], res, SpeedSettings()).dtype == np.int8


def test_stops_equal_the_implementation_before_issue_17(rng: np.random.Generator,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    n = 6000
    lat, lon = _clustered(rng, n)
    lat[1::7], lon[1::7] = lat[::7][: lat[1::7].size], lon[::7][: lon[1::7].size]  # shared coordinates
    lat[::11] = -0.0
    address = [None if i % 4 == 0 else f"addr{i % 1500}" for i in range(n)]
    hub = np.where(rng.random(n) < 0.1, rng.integers(0, 4, n), -1)
    table = parcels_table(lat, lon, address=address, hub=hub, tier=rng.integers(0, 3, n),
                          weight=rng.uniform(0.1, 9.0, n))
    new = build_stops(table, Settings())
    monkeypatch.setattr(index, "group_rows", naive.group_rows_by_sorting)
    monkeypatch.setattr(index, "latlng_cells", naive.latlng_cells_by_h3py)
    monkeypatch.setattr(index, "disk_area_class", lambda cell, parcels, resolution, speeds: area_class(
        naive.disk_density_by_h3py(cell, parcels), speeds))
    old = build_stops(table, Settings())
    for name, value in vars(old).items():
        got = getattr(new, name)
        assert got.dtype == value.dtype, name
        assert np.array_equal(got.view(np.uint8), value.view(np.uint8)), name
