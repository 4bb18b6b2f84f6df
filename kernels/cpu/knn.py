"""Exact k nearest neighbours within groups of points, on a uniform grid per group (CPU, every core).

The granular neighbour lists of savings, the local search and SISR are each
stop's k nearest stops of its own hub. A k-d tree over all stops needs a
fourth coordinate to keep hubs apart and answers one query at a time; here
each group (hub) gets a grid over the two axes along which its points spread
most, about two points per cell, and a query walks rings of cells outward
until the k-th best distance is below the ring's distance. The projection
onto two axes never lengthens a distance, so the ring bound holds for the
full coordinates and the result is exact: the k nearest by squared
Euclidean distance over every coordinate, ties to the lower row. Queries and the
points they read go in cell order, so a query's candidates lie together in memory. Memory is
O(n) plus the output, work about O(n (k + cells of the rings)).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

#: points per grid cell the grid aims at
_PER_CELL = 2.0
#: queries per parallel task
_CHUNK = 256


@njit(cache=True)
def _grid_params(pts, rows, params, axes):  # type: ignore[no-untyped-def]
    """Grid of one group's ``rows``: params = (lo0, lo1, h, nx, ny), axes = its two widest axes."""
    m, d = rows.size, pts.shape[1]
    lo = np.full(d, np.inf)
    hi = np.full(d, -np.inf)
    for t in range(m):
        for c in range(d):
            v = pts[rows[t], c]
            lo[c] = min(lo[c], v)
            hi[c] = max(hi[c], v)
    ext = hi - lo
    a0 = 0
    for c in range(d):
        if ext[c] > ext[a0]:
            a0 = c
    a1 = 1 if a0 == 0 and d > 1 else 0
    for c in range(d):
        if c != a0 and ext[c] > ext[a1]:
            a1 = c
    e0, e1 = ext[a0], (ext[a1] if d > 1 else 0.0)
    target = max(m / _PER_CELL, 1.0)
    if e0 * e1 > 0.0:
        h = math.sqrt(e0 * e1 / target)
    elif e0 > 0.0:
        h = e0 / target
    else:
        h = 1.0
    nx = int(e0 / h) + 1
    ny = int(e1 / h) + 1
    while nx * ny > 4 * m + 4:
        h *= 1.5
        nx = int(e0 / h) + 1
        ny = int(e1 / h) + 1
    params[0], params[1], params[2], params[3], params[4] = lo[a0], lo[a1], h, nx, ny
    axes[0], axes[1] = a0, a1


@njit(cache=True)
def _cell_of(pts, i, params, axes):  # type: ignore[no-untyped-def]
    """Grid cell (x, y) of row ``i``."""
    h, nx, ny = params[2], int(params[3]), int(params[4])
    cx = min(int((pts[i, axes[0]] - params[0]) / h), nx - 1)
    cy = min(int((pts[i, axes[1]] - params[1]) / h), ny - 1)
    return max(cx, 0), max(cy, 0)


@njit(cache=True)
def _build(pts, sorted_rows, group_ptr, params, axes, cell_ptr, cell_rows):  # type: ignore[no-untyped-def]
    """Every group's grid: its parameters, and its rows by cell (counting sort, rows ascending in a cell)."""
    offset = 0
    for g in range(group_ptr.size - 1):
        rows = sorted_rows[group_ptr[g]:group_ptr[g + 1]]
        _grid_params(pts, rows, params[g], axes[g])
        nx, ny = int(params[g, 3]), int(params[g, 4])
        cells = nx * ny
        params[g, 5] = offset
        count = np.zeros(cells + 1, np.int64)
        for t in range(rows.size):
            cx, cy = _cell_of(pts, rows[t], params[g], axes[g])
            count[cx * ny + cy + 1] += 1
        for c in range(cells):
            count[c + 1] += count[c]
        for c in range(cells + 1):
            cell_ptr[offset + g + c] = group_ptr[g] + count[c]
        fill = count[:cells].copy()
        for t in range(rows.size):  # rows come ascending, so each cell lists its rows ascending
            cx, cy = _cell_of(pts, rows[t], params[g], axes[g])
            c = cx * ny + cy
            cell_rows[group_ptr[g] + fill[c]] = rows[t]
            fill[c] += 1
        offset += cells


@njit(cache=True)
def _offer(best_d, best_j, count, k, d2, q):  # type: ignore[no-untyped-def]
    """Insert (d2, q) into the sorted k-best lists if it belongs there; returns the new count."""
    if count == k and (d2 > best_d[k - 1] or (d2 == best_d[k - 1] and q > best_j[k - 1])):
        return count
    pos = min(count, k - 1)
    while pos > 0 and (best_d[pos - 1] > d2 or (best_d[pos - 1] == d2 and best_j[pos - 1] > q)):
        best_d[pos] = best_d[pos - 1]
        best_j[pos] = best_j[pos - 1]
        pos -= 1
    best_d[pos] = d2
    best_j[pos] = q
    return min(count + 1, k)


@njit(cache=True)
def _query(pts, cell_pts, i, g, k, params, axes, cell_ptr, cell_rows, best_d, best_j):  # type: ignore[no-untyped-def]
    """The k nearest other rows of row ``i`` in group ``g``, nearest first, into best_d / best_j; returns
    how many. ``cell_pts`` holds the points in ``cell_rows`` order, so a cell's candidates are read
    contiguously."""
    d = pts.shape[1]
    lo0, lo1, h = params[g, 0], params[g, 1], params[g, 2]
    nx, ny, offset = int(params[g, 3]), int(params[g, 4]), int(params[g, 5]) + g
    cx, cy = _cell_of(pts, i, params[g], axes[g])
    x, y = pts[i, axes[g, 0]], pts[i, axes[g, 1]]
    count = 0
    r = 0
    while True:
        for gx in range(max(cx - r, 0), min(cx + r, nx - 1) + 1):
            edge = gx == cx - r or gx == cx + r
            step = 1 if edge else 2 * r
            gy = cy - r
            while gy <= cy + r:
                if 0 <= gy < ny:
                    c = offset + gx * ny + gy
                    for p in range(cell_ptr[c], cell_ptr[c + 1]):
                        q = cell_rows[p]
                        if q != i:
                            d2 = 0.0
                            for a in range(d):
                                diff = cell_pts[p, a] - pts[i, a]
                                d2 += diff * diff
                            count = _offer(best_d, best_j, count, k, d2, q)
                gy += step
        covers = cx - r <= 0 and cy - r <= 0 and cx + r >= nx - 1 and cy + r >= ny - 1
        if covers:
            return count
        gap = np.inf  # projected distance to the nearest side of the searched block that has cells beyond it
        if cx - r > 0:
            gap = min(gap, x - (lo0 + (cx - r) * h))
        if cx + r < nx - 1:
            gap = min(gap, lo0 + (cx + r + 1) * h - x)
        if cy - r > 0:
            gap = min(gap, y - (lo1 + (cy - r) * h))
        if cy + r < ny - 1:
            gap = min(gap, lo1 + (cy + r + 1) * h - y)
        if count == k and gap > 0.0 and gap * gap > best_d[k - 1] * (1.0 + 1e-9):
            return count
        r += 1


@njit(parallel=True, cache=True)
def _knn(pts, cell_pts, cell_group, k, params, axes, cell_ptr, cell_rows, out):  # type: ignore[no-untyped-def]
    """Queries in cell order: consecutive queries walk the same cells."""
    n = cell_rows.size
    for task in prange((n + _CHUNK - 1) // _CHUNK):
        best_d = np.empty(k)
        best_j = np.empty(k, np.int64)
        for t in range(task * _CHUNK, min(n, (task + 1) * _CHUNK)):
            i = cell_rows[t]
            found = _query(pts, cell_pts, i, cell_group[t], k, params, axes, cell_ptr, cell_rows, best_d, best_j)
            for c in range(found):
                out[i, c] = best_j[c]


def nearest_in_groups(points: np.ndarray, k: int, group: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` nearest other points of each point's ``group`` (int32[n, k] row indices, -1 padded):
    nearest first by squared Euclidean distance over every coordinate of ``points`` (float64[n, d], d >= 1),
    ties to the lower row."""
    pts = np.ascontiguousarray(points, np.float64)
    if pts.ndim == 1:
        pts = pts[:, None]
    n = pts.shape[0]
    out = np.full((n, max(k, 1)), -1, np.int32)
    if n < 2 or k < 1:
        return out
    labels = np.zeros(n, np.int64) if group is None else np.asarray(group, np.int64)
    sorted_rows = np.argsort(labels, kind="stable").astype(np.int64)
    ordered = labels[sorted_rows]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    group_ptr = np.append(starts, n).astype(np.int64)
    n_groups = starts.size
    row_group = np.repeat(np.arange(n_groups, dtype=np.int64), np.diff(group_ptr))
    params = np.zeros((n_groups, 6))
    axes = np.zeros((n_groups, 2), np.int64)
    sizes = np.diff(group_ptr)
    cell_ptr = np.zeros(int(np.sum(4 * sizes + 5)) + n_groups, np.int64)  # room for every group's grid
    cell_rows = np.empty(n, np.int64)
    _build(pts, sorted_rows, group_ptr, params, axes, cell_ptr, cell_rows)
    # cell_rows keeps each group's rows in its slice of sorted_rows, so row_group also labels cell_rows
    _knn(pts, np.ascontiguousarray(pts[cell_rows]), row_group, int(k), params, axes, cell_ptr, cell_rows, out)
    return out
