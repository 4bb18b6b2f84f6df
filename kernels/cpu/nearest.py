"""The k nearest hubs of every query point, exact, without comparing every point with every hub.

Hubs are bucketed on the host into a coarse uniform grid (a CSR from cell to
hubs, built by :func:`build_hub_grid`). Each query visits rings of cells
outward from its own cell and stops once its k-th best distance is strictly
below a lower bound on the distance to every cell not yet visited, so the
answer equals brute force, ties going to the smaller hub index.

Great circle (``a`` = latitude, ``b`` = longitude, degrees) uses a grid on
degrees whose longitude axis starts at the widest gap between hubs, so a hub
set never straddles the seam. The bounds are safe on the sphere: a latitude
gap g is at least ``R * g`` km, and a longitude gap g (taken around the
circle) at least ``R * asin(cos(lat_q) * sin(min(g, 90 deg)))`` km, the
distance from the query to the nearest meridian that far away, which in turn
is at least ``R * cos(lat_q) * (g - g**3 / 6)`` (no trigonometry per cell).
Planar metrics
use the coordinate gaps directly. Every bound is shrunk by a relative
:data:`BOUND_SLACK`, and cell edges are widened by a rounding margin, so
floating-point rounding never prunes a hub that belongs in the answer.

The per-query search is built by :func:`build_elements` around a JIT
decorator, so :mod:`kernels.cuda.nearest` runs the same code, one thread per query.
"""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Callable, NamedTuple

import numpy as np
from numba import njit, prange

from kernels._scalar import EARTH_RADIUS_KM, GREAT_CIRCLE
from kernels.cpu import _core

#: Largest supported k (the planner asks for a handful of candidate hubs per cell).
MAX_K = 16
#: Average hubs per grid cell: small cells prune well, large ones cost fewer ring steps.
HUBS_PER_CELL = 2.0
#: Cap on cells per axis, so a degenerate hub set cannot allocate a huge grid.
MAX_CELLS_PER_AXIS = 2048
#: Relative amount every lower bound is shrunk by, to absorb rounding in the distance formulas.
BOUND_SLACK = 1e-7
#: Grid edges are widened by this fraction of the grid's coordinate magnitude (rounding of cell indices).
EDGE_SLACK = 1e-9


class HubGrid(NamedTuple):
    """Hubs bucketed by grid cell; field order is the kernels' argument order.

    Cell ``(i, j)`` (row ``i`` along ``a``, column ``j`` along ``b``) covers
    ``[a0 + i*wa, a0 + (i+1)*wa] x [b0 + j*wb, b0 + (j+1)*wb]`` in grid
    coordinates, where ``b`` is first shifted by ``-origin`` and taken modulo
    360 for great circle. Its hubs are ``hub_idx[cell_ptr[c]:cell_ptr[c+1]]``
    with ``c = i * nb + j``, in ascending index order, and their original
    coordinates sit alongside in ``hub_a`` / ``hub_b``.
    """

    a0: float
    b0: float
    wa: float
    wb: float
    na: int
    nb: int
    origin: float
    slack_a: float
    slack_b: float
    cell_ptr: np.ndarray
    hub_idx: np.ndarray
    hub_a: np.ndarray
    hub_b: np.ndarray


def _widest_gap_origin(lon: np.ndarray) -> float:
    """Longitude just east of the widest gap between hub longitudes: the grid's seam goes in that gap."""
    s = np.sort(np.mod(lon + 180.0, 360.0) - 180.0)
    gaps = np.diff(s, append=s[0] + 360.0)
    g = int(np.argmax(gaps))
    return float(s[(g + 1) % len(s)])


def _axis(lo: float, hi: float, n_cells: int) -> tuple[int, float]:
    """Cells and cell width for an axis spanning ``[lo, hi]`` (one unit-wide cell when it is a point)."""
    span = hi - lo
    if not span > 0.0:
        return 1, 1.0
    return n_cells, span / n_cells


def build_hub_grid(ha: np.ndarray, hb: np.ndarray, metric: int,
                   hubs_per_cell: float = HUBS_PER_CELL) -> HubGrid:
    """Bucket hubs into a uniform grid of about ``len(hubs) / hubs_per_cell`` roughly square cells.

    Hubs with non-finite coordinates are left out (they are never returned).
    """
    ha = np.ascontiguousarray(ha, np.float64)
    hb = np.ascontiguousarray(hb, np.float64)
    keep = np.flatnonzero(np.isfinite(ha) & np.isfinite(hb)).astype(np.int32)
    wrap = metric == GREAT_CIRCLE
    if len(keep) == 0:
        empty_f = np.empty(0, np.float64)
        return HubGrid(0.0, 0.0, 1.0, 1.0, 1, 1, 0.0, 0.0, 0.0,
                       np.zeros(2, np.int64), np.empty(0, np.int32), empty_f, empty_f)
    a, b_raw = ha[keep], hb[keep]
    origin = _widest_gap_origin(b_raw) if wrap else 0.0
    b = np.mod(b_raw - origin, 360.0) if wrap else b_raw
    a0, a1, b0, b1 = float(a.min()), float(a.max()), float(b.min()), float(b.max())
    # Square cells in distance terms: a degree of longitude shrinks with cos(latitude).
    stretch = max(math.cos(math.radians(0.5 * (a0 + a1))), 0.05) if wrap else 1.0
    ea, eb = a1 - a0, (b1 - b0) * stretch
    n_cells = max(1.0, len(keep) / hubs_per_cell)
    side = max(math.sqrt(ea * eb / n_cells), max(ea, eb) / n_cells, 1e-300)
    na, wa = _axis(a0, a1, min(MAX_CELLS_PER_AXIS, max(1, math.ceil(ea / side))))
    nb, wb = _axis(b0, b1, min(MAX_CELLS_PER_AXIS, max(1, math.ceil(eb / side))))
    ia = np.clip(np.floor((a - a0) / wa), 0, na - 1).astype(np.int64)
    ib = np.clip(np.floor((b - b0) / wb), 0, nb - 1).astype(np.int64)
    cell = ia * nb + ib
    order = np.argsort(cell, kind="stable")  # stable: ascending hub index within a cell
    cell_ptr = np.zeros(na * nb + 1, np.int64)
    np.cumsum(np.bincount(cell, minlength=na * nb), out=cell_ptr[1:])
    slack_a = EDGE_SLACK * (abs(a0) + abs(a1) + wa)
    slack_b = EDGE_SLACK * (abs(b0) + abs(b1) + wb)
    return HubGrid(a0, b0, wa, wb, na, nb, origin, slack_a, slack_b, cell_ptr,
                   keep[order], np.ascontiguousarray(a[order]), np.ascontiguousarray(b_raw[order]))


def build_elements(jit: Callable, core: SimpleNamespace, entry_jit: Callable | None = None) -> SimpleNamespace:
    """Return the per-query k-nearest search compiled on top of ``core.point_distance``.

    The scalar helpers are compiled with ``jit``, the search itself with
    ``entry_jit`` (default ``jit``): the CPU inlines it into its ``prange`` loop.
    """
    point_distance = core.point_distance
    inf = math.inf

    @jit
    def circular_deg(x):  # type: ignore[no-untyped-def]
        """Angle ``x`` (degrees) folded onto [0, 180]: the gap around the circle."""
        x = abs(x)
        if x >= 360.0:
            x = x - 360.0 * math.floor(x / 360.0)
        return min(x, 360.0 - x)

    @jit
    def axis_gap(q, lo, hi, wrap):  # type: ignore[no-untyped-def]
        """Distance from ``q`` to the interval ``[lo, hi]`` along one axis (around the circle when ``wrap``)."""
        if q >= lo and q <= hi:
            return 0.0
        if wrap:
            return min(circular_deg(q - lo), circular_deg(q - hi))
        return lo - q if q < lo else q - hi

    @jit
    def raw_bound(wrap, gap_a, gap_b, coslat):  # type: ignore[no-untyped-def]
        """Lower bound (km, or planar units) on the distance to a point ``gap_a`` / ``gap_b`` away per axis."""
        if not wrap:
            return math.sqrt(gap_a * gap_a + gap_b * gap_b)
        g = math.radians(min(gap_b, 90.0))
        # asin(cos(lat) sin g) >= cos(lat) sin g >= cos(lat) (g - g^3 / 6): no trig in the hot loop.
        lon_km = EARTH_RADIUS_KM * coslat * (g - g * g * g * (1.0 / 6.0))
        return max(EARTH_RADIUS_KM * math.radians(gap_a), lon_km)

    @jit
    def metric_bound(metric, scale, raw):  # type: ignore[no-untyped-def]
        """Map a raw lower bound through the metric (scale, or CVRPLIB rounding), shrunk for rounding safety."""
        raw = raw * (1.0 - BOUND_SLACK)
        if metric == 2:
            return math.floor(raw + 0.5)
        return scale * raw

    @jit
    def grid_cell(q, q0, w, n):  # type: ignore[no-untyped-def]
        """Grid index of coordinate ``q``, clamped to ``[0, n - 1]`` (in floating point first, so huge q is safe)."""
        t = math.floor((q - q0) / w)
        if t < 0.0:
            return 0
        if t > n - 1:
            return n - 1
        return int(t)

    @jit
    def cell_bound(qa, qbr, coslat, ia, ib, metric, scale, wrap, a0, b0, wa, wb, slack_a, slack_b):  # type: ignore[no-untyped-def]
        """Lower bound on the metric distance from the query to any hub in cell (ia, ib)."""
        lo_a = a0 + ia * wa
        lo_b = b0 + ib * wb
        gap_a = axis_gap(qa, lo_a - slack_a, lo_a + wa + slack_a, False)
        gap_b = axis_gap(qbr, lo_b - slack_b, lo_b + wb + slack_b, wrap)
        return metric_bound(metric, scale, raw_bound(wrap, gap_a, gap_b, coslat))

    @jit
    def outside_bound(qa, qbr, coslat, lo_a, hi_a, lo_b, hi_b, metric, scale, wrap, a0, b0, wa, wb,
                      na, nb, slack_a, slack_b):  # type: ignore[no-untyped-def]
        """Lower bound on the distance to any hub outside cell rows lo_a..hi_a x columns lo_b..hi_b (inf if none)."""
        raw = inf
        if lo_a > 0:
            raw = min(raw, raw_bound(wrap, axis_gap(qa, a0 - slack_a, a0 + lo_a * wa + slack_a, False), 0.0, coslat))
        if hi_a < na - 1:
            top = a0 + na * wa + slack_a
            raw = min(raw, raw_bound(wrap, axis_gap(qa, a0 + (hi_a + 1) * wa - slack_a, top, False), 0.0, coslat))
        if lo_b > 0:
            raw = min(raw, raw_bound(wrap, 0.0, axis_gap(qbr, b0 - slack_b, b0 + lo_b * wb + slack_b, wrap), coslat))
        if hi_b < nb - 1:
            right = b0 + nb * wb + slack_b
            raw = min(raw, raw_bound(wrap, 0.0, axis_gap(qbr, b0 + (hi_b + 1) * wb - slack_b, right, wrap), coslat))
        if raw == inf:
            return inf
        return metric_bound(metric, scale, raw)

    # knn_query is the only function taking arrays: on the CPU every array passed to a
    # non-inlined call costs atomic reference counting, so the cell scan and the top-k
    # insertion are written out inline here, the helpers above take scalars only, and
    # the CPU inlines knn_query itself into its loop.
    @(entry_jit or jit)
    def knn_query(i, qa, qb, k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                  cell_ptr, hub_idx, hub_a, hub_b, out_idx, out_dist):  # type: ignore[no-untyped-def]
        """Fill row ``i`` of ``out_idx`` / ``out_dist`` with the k nearest hubs of (qa, qb), padded with -1 / inf."""
        for j in range(k):
            out_idx[i, j] = -1
            out_dist[i, j] = inf
        if not (abs(qa) < inf and abs(qb) < inf):
            return
        wrap = metric == 0
        qbr = qb
        coslat = 1.0
        if wrap:
            qbr = qb - origin
            qbr = qbr - 360.0 * math.floor(qbr / 360.0)
            coslat = abs(math.cos(math.radians(qa)))
        ca = grid_cell(qa, a0, wa, na)
        cb = grid_cell(qbr, b0, wb, nb)
        last = k - 1
        kth = inf  # out_dist[i, last], kept in a register
        full = False  # k hubs found so far
        r_max = max(max(ca, na - 1 - ca), max(cb, nb - 1 - cb))
        for r in range(r_max + 1):
            for ia in range(max(ca - r, 0), min(ca + r, na - 1) + 1):
                step = 1 if (ia == ca - r or ia == ca + r) else 2 * r  # inner rows: only the ring's two ends
                for ib in range(cb - r, cb + r + 1, step):
                    if ib < 0 or ib >= nb:
                        continue
                    c = ia * nb + ib
                    if cell_ptr[c] == cell_ptr[c + 1]:
                        continue
                    if full and kth < cell_bound(qa, qbr, coslat, ia, ib, metric, scale, wrap,
                                                 a0, b0, wa, wb, slack_a, slack_b):
                        continue
                    for j in range(cell_ptr[c], cell_ptr[c + 1]):
                        if full and wrap:  # a cheap bound spares most haversines
                            gap_b = axis_gap(qb, hub_b[j], hub_b[j], True)
                            if kth < metric_bound(metric, scale, raw_bound(True, abs(qa - hub_a[j]), gap_b, coslat)):
                                continue
                        d = point_distance(metric, scale, qa, qb, hub_a[j], hub_b[j])
                        h = hub_idx[j]
                        if not (d < kth or (full and d == kth and h < out_idx[i, last])):
                            continue
                        p = last  # insertion sort step: ties go to the smaller hub index
                        while p > 0 and (out_dist[i, p - 1] > d or (out_dist[i, p - 1] == d and out_idx[i, p - 1] > h)):
                            out_dist[i, p] = out_dist[i, p - 1]
                            out_idx[i, p] = out_idx[i, p - 1]
                            p -= 1
                        out_dist[i, p] = d
                        out_idx[i, p] = h
                        kth = out_dist[i, last]
                        full = out_idx[i, last] >= 0
            if full and kth < outside_bound(qa, qbr, coslat, ca - r, ca + r, cb - r, cb + r, metric, scale,
                                            wrap, a0, b0, wa, wb, na, nb, slack_a, slack_b):
                return

    return SimpleNamespace(knn_query=knn_query)


def check_query(qa: np.ndarray, qb: np.ndarray, ha: np.ndarray, hb: np.ndarray, k: int) -> int:
    """Return the number of query points, raising on mismatched lengths or k outside 1..MAX_K."""
    if len(qa) != len(qb):
        raise ValueError(f"query coordinates differ in length: {len(qa)} and {len(qb)}")
    if len(ha) != len(hb):
        raise ValueError(f"hub coordinates differ in length: {len(ha)} and {len(hb)}")
    if not 1 <= int(k) <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    return len(qa)


_knn_query = build_elements(njit(cache=True), _core, njit(inline="always", cache=True)).knn_query


@njit(parallel=True, cache=True)
def _nearest_hubs(qa, qb, k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                  cell_ptr, hub_idx, hub_a, hub_b, out_idx, out_dist):  # type: ignore[no-untyped-def]
    for i in prange(qa.shape[0]):
        _knn_query(i, qa[i], qb[i], k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                   cell_ptr, hub_idx, hub_a, hub_b, out_idx, out_dist)


def nearest_hubs(
    qa: np.ndarray, qb: np.ndarray, ha: np.ndarray, hb: np.ndarray, k: int, metric: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest hubs of each query point: ``(idx int32[n, k], dist float64[n, k])``.

    Rows are sorted by distance, ties by smaller hub index; with fewer than k
    hubs the row is padded with -1 / inf, and so is a query with non-finite
    coordinates.
    """
    n = check_query(qa, qb, ha, hb, k)
    k = int(k)
    grid = build_hub_grid(ha, hb, int(metric))
    out_idx = np.empty((n, k), np.int32)
    out_dist = np.empty((n, k), np.float64)
    _nearest_hubs(np.ascontiguousarray(qa, np.float64), np.ascontiguousarray(qb, np.float64),
                  k, int(metric), float(scale), *grid, out_idx, out_dist)
    return out_idx, out_dist
