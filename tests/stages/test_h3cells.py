"""planner.stages.h3cells: the H3 C library over whole arrays gives h3-py's cells, disks and areas to the bit."""
from __future__ import annotations

import h3
import h3.api.basic_int as h3i
import numpy as np
import pytest

from planner.stages import h3cells


def _worldwide(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform on the sphere, plus the poles, the antimeridian, the equator and the prime meridian."""
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    edge = np.nextafter(180.0, 0.0)
    special_lat = [90.0, -90.0, np.nextafter(90.0, 0.0), -np.nextafter(90.0, 0.0), 89.9999, -89.9999,
                   0.0, -0.0, 45.0, -45.0, 1e-300, 0.0, 0.0, 51.4779, 10.0, -10.0]
    special_lon = [0.0, 0.0, 123.0, -45.0, 180.0, -180.0, 180.0, -180.0, edge, -edge, 0.0, -0.0, 1e-300,
                   -0.0015, 179.99999999, -179.99999999]
    return np.concatenate([lat, special_lat]), np.concatenate([lon, special_lon])


@pytest.fixture(params=["c", "h3-py"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both paths: the C library through ctypes, and the per-value fallback when it cannot be bound."""
    if request.param == "h3-py":
        monkeypatch.setattr(h3cells, "c_api", lambda: None)
    return str(request.param)


def test_the_c_library_is_bound_here() -> None:
    # the symbols are exported by every h3-py wheel of 4.1 to 4.5 for x86_64 and aarch64; were they not,
    # the stage would still be right, only slow: fail here so that nobody ships that unknowingly
    assert h3cells.c_api() is not None


@pytest.mark.parametrize("res", range(16))
def test_cells_equal_h3_latlng_to_cell_at_every_resolution(rng: np.random.Generator, res: int, path: str) -> None:
    lat, lon = _worldwide(rng, 3000)
    expected = [h3i.latlng_to_cell(a, b, res) for a, b in zip(lat.tolist(), lon.tolist())]
    out = h3cells.latlng_to_cells(lat, lon, res)
    assert out.dtype == np.int64
    assert out.tolist() == expected


def test_cells_on_and_beside_cell_boundaries(rng: np.random.Generator) -> None:
    # the vertices of real cells, and points a few ulps beside them, are where another arithmetic would differ
    res = 8
    centres = h3cells.latlng_to_cells(*_worldwide(rng, 200), res)
    verts = np.array([v for c in centres.tolist() for v in h3i.cell_to_boundary(c)])
    lat = np.concatenate([verts[:, 0], np.nextafter(verts[:, 0], 90.0), np.nextafter(verts[:, 0], -90.0)])
    lon = np.concatenate([verts[:, 1], np.nextafter(verts[:, 1], 180.0), np.nextafter(verts[:, 1], -180.0)])
    for r in (res, res - 1, res + 1):
        expected = [h3i.latlng_to_cell(a, b, r) for a, b in zip(lat.tolist(), lon.tolist())]
        assert h3cells.latlng_to_cells(lat, lon, r).tolist() == expected


def test_refused_values_raise_h3_pys_own_errors(path: str) -> None:
    with pytest.raises(h3.H3ResDomainError):
        h3cells.latlng_to_cells(np.array([40.0]), np.array([-100.0]), 16)
    with pytest.raises(h3.H3LatLngDomainError):
        h3cells.latlng_to_cells(np.array([40.0, np.nan]), np.array([-100.0, 0.0]), 8)
    with pytest.raises(h3.H3CellInvalidError):
        h3cells.grid_disks(np.array([h3i.latlng_to_cell(40.0, -100.0, 8), 12345]))
    assert h3cells.latlng_to_cells(np.zeros(0), np.zeros(0), 8).shape == (0,)


def _cells_with_pentagons(rng: np.random.Generator, res: int) -> np.ndarray:
    """Random cells, every pentagon, and the pentagons' neighbours (disks that cross a pentagon)."""
    pentagons = list(h3i.get_pentagons(res))
    around = [c for p in pentagons for c in h3i.grid_disk(p, 2)]
    random = h3cells.latlng_to_cells(*_worldwide(rng, 500), res).tolist()
    return np.array(sorted(set(pentagons + around + random)), np.int64)


@pytest.mark.parametrize("res", [0, 1, 5, 8, 9, 15])
def test_disks_equal_h3_grid_disk_with_pentagons(rng: np.random.Generator, res: int, path: str) -> None:
    cells = _cells_with_pentagons(rng, res)
    disks = h3cells.grid_disks(cells)
    assert disks.shape == (cells.size, h3cells.DISK_1)
    for c, row in zip(cells.tolist(), disks.tolist()):
        members = [m for m in row if m != 0]
        assert sorted(members) == sorted(h3i.grid_disk(c, 1))
        assert len(members) == (6 if h3i.is_pentagon(c) else 7)


@pytest.mark.parametrize("res", [0, 1, 5, 8, 9, 15])
def test_areas_equal_h3_cell_area_to_the_bit(rng: np.random.Generator, res: int, path: str) -> None:
    cells = _cells_with_pentagons(rng, res)
    expected = np.array([h3i.cell_area(c, "km^2") for c in cells.tolist()])
    out = h3cells.cell_areas_km2(cells)
    assert out.dtype == np.float64
    assert np.array_equal(out.view(np.int64), expected.view(np.int64))


def test_every_base_cell(path: str) -> None:
    cells = np.array(sorted(h3i.get_res0_cells()), np.int64)
    assert np.array_equal(h3cells.cell_areas_km2(cells), [h3i.cell_area(c) for c in cells.tolist()])
    centres = np.array([h3i.cell_to_latlng(c) for c in cells.tolist()])
    assert h3cells.latlng_to_cells(centres[:, 0], centres[:, 1], 0).tolist() == cells.tolist()


@pytest.mark.parametrize("res", [0, 6, 8, 15])
def test_parents_are_h3_pys(rng: np.random.Generator, res: int) -> None:
    lat, lon = _worldwide(rng, 2000)
    cells = np.concatenate([h3cells.latlng_to_cells(lat, lon, res),
                            np.array([c for c in h3i.get_pentagons(res)], np.int64)])
    for parent_res in sorted({0, res // 2, max(res - 1, 0), res}):
        want = [h3i.cell_to_parent(int(c), parent_res) for c in cells]
        assert h3cells.cells_to_parents(cells, parent_res).tolist() == want


def test_a_parent_finer_than_the_cell_is_refused() -> None:
    cell = h3i.latlng_to_cell(40.0, -74.0, 5)
    with pytest.raises(ValueError, match="resolution 5 have no parent at resolution 6"):
        h3cells.cells_to_parents(np.array([cell], np.int64), 6)
