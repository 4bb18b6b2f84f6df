"""H3 over whole arrays, run by the H3 C library that h3-py ships, from Numba loops on every core.

h3-py's extension modules export the H3 C API (``latLngToCell``, ``gridDisk``, ``cellAreaKm2``, ...). Called
from a Numba ``prange`` loop, they run the very code that ``h3.latlng_to_cell``, ``h3.grid_disk`` and
``h3.cell_area`` run, through the same module, so every cell, disk and area is the same to the bit as
h3-py's, without a Python call per point. (A vectorised port such as h3ronpy, on the Rust h3o, was not
used: its arithmetic is not the C library's, so points on a cell boundary and the last bits of an area
could differ.) The function pointers are arguments of the Numba loops, not constants, so the loops are
cached on disk like every other kernel. Where the symbols cannot be bound (an h3 build that hides them),
the same functions fall back to h3-py, one call per value. Errors are raised by h3-py itself: a value
the C library refuses is handed to h3-py, which raises its own exception for it.
"""
from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import h3.api.basic_int as h3
import numpy as np
from numba import njit, prange

#: cells in a ring-1 disk: the centre and six neighbours (a pentagon has five, the seventh slot stays 0)
DISK_1 = 7
#: values per block of a parallel loop (one scratch struct and one error flag per block)
_BLOCK = 4096


@dataclass(frozen=True)
class CApi:
    """The C functions of h3-py's own extension modules, as ctypes function pointers."""

    degs_to_rads: Any  # double degsToRads(double)
    lat_lng_to_cell: Any  # H3Error latLngToCell(const LatLng *, int res, H3Index *out)
    is_valid_cell: Any  # int isValidCell(H3Index)
    grid_disk: Any  # H3Error gridDisk(H3Index, int k, H3Index *out)
    cell_area_km2: Any  # H3Error cellAreaKm2(H3Index, double *out)


def _library(function: Any) -> ctypes.CDLL:
    """The extension module that defines one of h3-py's Cython functions, opened by ctypes (already loaded)."""
    return ctypes.CDLL(sys.modules[function.__module__].__file__)


def _bind(lib: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> Any:
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = restype, list(argtypes)
    return fn


@cache
def c_api() -> CApi | None:
    """The H3 C functions behind ``h3.latlng_to_cell``, ``h3.grid_disk`` and ``h3.cell_area``; None when they
    cannot be bound, and the functions of this module then call h3-py value by value."""
    u32, u64, vp = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_void_p
    try:
        import h3._cy as cy  # h3-py's private Cython layer: its functions name the modules that hold the C API

        latlng = _library(cy.latlng_to_cell)
        disk = _library(cy.grid_disk)
        area = _library(cy.cell_area)
        api = CApi(
            degs_to_rads=_bind(latlng, "degsToRads", ctypes.c_double, ctypes.c_double),
            lat_lng_to_cell=_bind(latlng, "latLngToCell", u32, vp, ctypes.c_int, vp),
            is_valid_cell=_bind(disk, "isValidCell", ctypes.c_int, u64),
            grid_disk=_bind(disk, "gridDisk", u32, u64, ctypes.c_int, vp),
            cell_area_km2=_bind(area, "cellAreaKm2", u32, u64, vp),
        )
    except (AttributeError, ImportError, KeyError, OSError, TypeError):
        return None
    return api if _agrees_with_h3py(api) else None


def _agrees_with_h3py(api: CApi) -> bool:
    """One cell, disk and area through the bound functions equal h3-py's: the signatures are the ones assumed."""
    lat, lon, res = 37.7749, -122.4194, 9
    point = (ctypes.c_double * 2)(api.degs_to_rads(lat), api.degs_to_rads(lon))
    cell, area, disk = ctypes.c_uint64(), ctypes.c_double(), (ctypes.c_uint64 * DISK_1)()
    if api.lat_lng_to_cell(ctypes.byref(point), res, ctypes.byref(cell)) != 0:
        return False
    ok = (api.is_valid_cell(cell.value) == 1 and api.grid_disk(cell.value, 1, ctypes.byref(disk)) == 0
          and api.cell_area_km2(cell.value, ctypes.byref(area)) == 0)
    return (ok and cell.value == h3.latlng_to_cell(lat, lon, res)
            and sorted(disk) == sorted(h3.grid_disk(cell.value, 1)) and area.value == h3.cell_area(cell.value))


def _blocks(n: int) -> int:
    return (n + _BLOCK - 1) // _BLOCK


@njit(parallel=True, cache=True)
def _latlng_to_cells(to_rads, to_cell, lat, lon, res, out, bad):  # type: ignore[no-untyped-def]
    n = lat.size
    for b in prange(bad.size):
        point = np.empty(2, np.float64)  # struct LatLng {double lat, lng;} in radians, as h3-py fills it
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            point[0] = to_rads(lat[i])
            point[1] = to_rads(lon[i])
            if to_cell(point.ctypes.data, res, out[i:].ctypes.data) != 0 and bad[b] < 0:
                bad[b] = i


@njit(parallel=True, cache=True)
def _grid_disks(is_valid, grid_disk, cells, out, bad):  # type: ignore[no-untyped-def]
    n = cells.size
    for b in prange(bad.size):
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            if is_valid(cells[i]) == 0 or grid_disk(cells[i], 1, out[i].ctypes.data) != 0:
                out[i, :] = 0
                if bad[b] < 0:
                    bad[b] = i


@njit(parallel=True, cache=True)
def _cell_areas(cell_area, cells, out, bad):  # type: ignore[no-untyped-def]
    n = cells.size
    for b in prange(bad.size):
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            if cell_area(cells[i], out[i:].ctypes.data) != 0 and bad[b] < 0:
                bad[b] = i


def _raise_at(bad: np.ndarray, call: Any) -> None:
    """Hand the first value the C library refused to h3-py, which raises its error for it."""
    failed = bad[bad >= 0]
    if failed.size:
        i = int(failed.min())
        call(i)
        raise RuntimeError(f"the H3 C library refused value {i}, which h3-py accepts")


def latlng_to_cells(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cell of every point (degrees) as int64: ``h3.latlng_to_cell(lat[i], lon[i], resolution)``."""
    lat = np.ascontiguousarray(lat, np.float64)
    lon = np.ascontiguousarray(lon, np.float64)
    if lat.shape != lon.shape or lat.ndim != 1:
        raise ValueError("lat and lon must be 1-d arrays of one length")
    api = c_api()
    if api is None:
        return np.fromiter(map(h3.latlng_to_cell, lat.tolist(), lon.tolist(), [resolution] * lat.size),
                           dtype=np.int64, count=lat.size)
    out = np.empty(lat.size, np.int64)
    bad = np.full(_blocks(lat.size), -1, np.int64)
    _latlng_to_cells(api.degs_to_rads, api.lat_lng_to_cell, lat, lon, int(resolution), out, bad)
    _raise_at(bad, lambda i: h3.latlng_to_cell(float(lat[i]), float(lon[i]), resolution))
    return out


def grid_disks(cells: np.ndarray) -> np.ndarray:
    """Ring-1 disk of every cell as int64[n, 7]: the cells of ``h3.grid_disk(cell, 1)``, in no particular order,
    zero-padded (a pentagon's disk has six)."""
    cells = np.ascontiguousarray(cells, np.int64)
    api = c_api()
    out = np.zeros((cells.size, DISK_1), np.int64)
    if api is None:
        for i, c in enumerate(cells.tolist()):
            disk = h3.grid_disk(c, 1)
            out[i, :len(disk)] = disk
        return out
    bad = np.full(_blocks(cells.size), -1, np.int64)
    _grid_disks(api.is_valid_cell, api.grid_disk, cells, out, bad)
    _raise_at(bad, lambda i: h3.grid_disk(int(cells[i]), 1))
    return out


def cell_areas_km2(cells: np.ndarray) -> np.ndarray:
    """Area of every cell in km^2 (float64): ``h3.cell_area(cell, "km^2")``."""
    cells = np.ascontiguousarray(cells, np.int64)
    api = c_api()
    if api is None:
        return np.fromiter(map(h3.cell_area, cells.tolist()), dtype=np.float64, count=cells.size)
    out = np.empty(cells.size, np.float64)
    bad = np.full(_blocks(cells.size), -1, np.int64)
    _cell_areas(api.cell_area_km2, cells, out, bad)
    _raise_at(bad, lambda i: h3.cell_area(int(cells[i])))
    return out


#: H3 index layout (the library's h3Index.h): 4 resolution bits at 52-55, then a 3-bit digit per resolution
#: 1-15, resolution r's at bit 3 * (15 - r); digits finer than a cell's resolution are all ones (7)
_RES_SHIFT = 52
_RES_MASK = np.int64(0xF) << _RES_SHIFT
_DIGIT_BITS = 3


def cells_to_parents(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Parent of every cell at ``resolution`` (at most each cell's own), as int64: ``h3.cell_to_parent``.

    Pure bit arithmetic on the index layout (set the resolution, set every finer digit to 7), which is
    what the C library's ``cellToParent`` does for a valid cell; no call per cell.
    """
    cells = np.ascontiguousarray(cells, np.int64)
    own = (cells & _RES_MASK) >> _RES_SHIFT
    if cells.size and int(own.min()) < resolution:
        raise ValueError(f"cells of resolution {int(own.min())} have no parent at resolution {resolution}")
    finer = np.int64((1 << (_DIGIT_BITS * (15 - resolution))) - 1)  # the digits of resolutions r+1..15
    return (cells & ~_RES_MASK) | (np.int64(resolution) << _RES_SHIFT) | finer
