"""The k nearest hubs of every query point, exact, without comparing every point with every hub.

Hubs are bucketed on the host into a coarse uniform grid (a CSR from cell to
hubs, built by :func:`build_hub_grid`). Each query visits rings of cells
outward from its own cell and stops once its k-th best distance is strictly
below a lower bound on the distance to every cell not yet visited, so the
answer equals brute force, ties going to the smaller hub index.

Ranking without trigonometry. The grid also stores every hub embedded in
3-D (great circle: the unit vector of (lat, lon); planar metrics: ``(a, b, 0)``),
and the search ranks hubs by the squared Euclidean distance of the embeddings
(the squared chord on the sphere), which is monotone in the metric distance:
the inner loop is three subtractions and three multiplications. The scalar
core's ``point_distance`` is then computed for the k winners only and they are
re-sorted by (distance, index). That equals brute force as long as no hub
outside the winners lies within a relative :data:`NEAR_REL` (plus an absolute
rounding allowance) of the k-th winner's squared embedded distance: the search keeps
the best loser (the (k+1)-th value) for that test, never prunes inside the
band, and in the rare case of a near-tie at the boundary (near-duplicate
hubs) reruns the query ranking by ``point_distance`` itself. CVRPLIB's rounded
metric, whose many ties break by index, always ranks by ``point_distance``.

Great circle (``a`` = latitude, ``b`` = longitude, degrees) uses a grid on
degrees whose longitude axis starts in the middle of the widest gap between
hubs, so a hub set never straddles the seam. The bounds are safe on the sphere: a latitude
gap g is an angle of at least g, and a longitude gap g (taken around the
circle) at least ``asin(cos(lat_q) * sin(min(g, 90 deg)))``, the angle from
the query to the nearest meridian that far away, which in turn is at least
``cos(lat_q) * (g - g**3 / 6)``; an angle t is a chord of at least
``t - t**3 / 24`` (no trigonometry per cell). Planar metrics use the
coordinate gaps directly. Every bound is shrunk by a relative
:data:`BOUND_SLACK`, and cell edges are widened by a rounding margin, so
floating-point rounding never prunes a hub that belongs in the answer.

Candidate lists. For a given k the grid is built finer (:data:`LIST_HUBS_PER_CELL`)
and every cell lists, nearest its centre first, the hubs that can answer a
query anywhere in the cell (:func:`_cell_candidates`, a bound by the triangle
inequality on the embedded distance). A query inside the grid scans its
cell's short list, with no bounds to evaluate; the ring search stays for
queries outside the grid, for the near-tie fallback and for the rounded
metric. Both give the same answer: the lists only skip hubs the rings would prune.

The per-query search is built by :func:`build_elements` around a JIT
decorator, so :mod:`kernels.cuda.nearest` runs the same code, one thread per query.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from kernels._scalar import EARTH_RADIUS_KM, EUCLID, EUCLID_ROUND, GREAT_CIRCLE
from kernels.core import host as _core

#: Largest supported k (the planner asks for a handful of candidate hubs per cell).
MAX_K = 16
#: Average hubs per grid cell: small cells prune well, large ones cost fewer ring steps (k = 1..8 measured flat near 2).
HUBS_PER_CELL = 2.0
#: Cap on cells per axis, so a degenerate hub set cannot allocate a huge grid.
MAX_CELLS_PER_AXIS = 2048
#: Relative amount every lower bound is shrunk by, to absorb rounding in the distance formulas.
BOUND_SLACK = 1e-7
#: Grid edges are widened by this fraction of the grid's coordinate magnitude (rounding of cell indices).
EDGE_SLACK = 1e-9
#: Squared embedded distances within this relative margin of the k-th winner's count as possible ties.
NEAR_REL = 1e-7
#: Absolute margin on squared unit-sphere chords (a chord of 1e-10 is 0.6 mm): absorbs rounding of the embedding.
NEAR_ABS_SPHERE = 1e-20
#: Absolute margin on squared planar distances: keeps scaled distances of hubs outside the band normal floats.
NEAR_ABS_PLANE = 1e-300
#: Candidate-list radii are widened by this relative margin: a hub left off a cell's list lies beyond the
#: tie band (:data:`NEAR_REL`, on squares) of every query in the cell, rounding included.
LIST_REL = 1e-6
#: Absolute widening of a cell's radius on the unit sphere (rounding of the centre's embedding).
NEAR_ABS_CHORD = 1e-12
#: Hubs per cell when a grid is built with candidate lists: small cells keep each list near k hubs.
LIST_HUBS_PER_CELL = 0.5
#: Ranking by embedded distance needs ``scale`` in this range, so scaling cannot merge distances by underflow.
SCALE_RANGE = (1e-100, 1e100)


class HubGrid(NamedTuple):
    """Hubs bucketed by grid cell; field order is the kernels' argument order.

    Cell ``(i, j)`` (row ``i`` along ``a``, column ``j`` along ``b``) covers
    ``[a0 + i*wa, a0 + (i+1)*wa] x [b0 + j*wb, b0 + (j+1)*wb]`` in grid
    coordinates, where ``b`` is first shifted by ``-origin`` and taken modulo
    360 for great circle. Its hubs are ``hub_idx[cell_ptr[c]:cell_ptr[c+1]]``
    with ``c = i * nb + j``, in ascending index order, and their original
    coordinates sit alongside in ``hub_a`` / ``hub_b``, their embeddings
    (see the module docstring) in ``hub_x`` / ``hub_y`` / ``hub_z``, and for
    great circle the cosine of each hub's latitude in ``hub_cos`` (so the
    exact haversine of a winner needs no cosine of its own).

    Built for a given k, the grid also lists each cell's candidates:
    ``cand_pos[cand_ptr[c]:cand_ptr[c+1]]`` are the positions (into the hub
    arrays) of every hub that can be among the k nearest of a point in cell
    ``c``, or tie with the k-th (see :func:`_cell_candidates`). Without them
    (``k = 0``: ``cand_ptr`` has one entry) every query runs the ring search.
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
    hub_x: np.ndarray
    hub_y: np.ndarray
    hub_z: np.ndarray
    hub_cos: np.ndarray
    cand_ptr: np.ndarray
    cand_pos: np.ndarray


def _widest_gap_origin(lon: np.ndarray) -> float:
    """Longitude in the middle of the widest gap between hub longitudes: the grid's seam.

    The middle, not the edge: a hub on the seam could round to either end of
    the grid's longitude axis and stretch it round the whole circle.
    """
    s = np.sort(np.mod(lon + 180.0, 360.0) - 180.0)
    gaps = np.diff(s, append=s[0] + 360.0)
    g = int(np.argmax(gaps))
    return float(s[g] + 0.5 * gaps[g])


def _axis(lo: float, hi: float, n_cells: int) -> tuple[int, float]:
    """Cells and cell width for an axis spanning ``[lo, hi]`` (one unit-wide cell when it is a point)."""
    span = hi - lo
    if not span > 0.0:
        return 1, 1.0
    return n_cells, span / n_cells


def build_hub_grid(ha: np.ndarray, hb: np.ndarray, metric: int, hubs_per_cell: float = HUBS_PER_CELL,
                   k: int = 0) -> HubGrid:
    """Bucket hubs into a uniform grid of about ``len(hubs) / hubs_per_cell`` roughly square cells.

    Hubs with non-finite coordinates are left out (they are never returned).
    With ``k > 0`` (and a metric ranked by embedded distance) each cell also
    gets its list of candidate hubs for a k-nearest query.
    """
    ha = np.ascontiguousarray(ha, np.float64)
    hb = np.ascontiguousarray(hb, np.float64)
    keep = np.flatnonzero(np.isfinite(ha) & np.isfinite(hb)).astype(np.int32)
    wrap = metric == GREAT_CIRCLE
    if len(keep) == 0:
        empty_f = np.empty(0, np.float64)
        return HubGrid(0.0, 0.0, 1.0, 1.0, 1, 1, 0.0, 0.0, 0.0,
                       np.zeros(2, np.int64), np.empty(0, np.int32), empty_f, empty_f, empty_f, empty_f, empty_f,
                       empty_f, np.zeros(1, np.int64), np.empty(0, np.int32))
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
    hub_a, hub_b = np.ascontiguousarray(a[order]), np.ascontiguousarray(b_raw[order])
    xyz = np.empty((4, len(keep)), np.float64)
    _embed_all(wrap, hub_a, hub_b, xyz)
    grid = HubGrid(a0, b0, wa, wb, na, nb, origin, slack_a, slack_b, cell_ptr, keep[order], hub_a, hub_b,
                   xyz[0], xyz[1], xyz[2], xyz[3], np.zeros(1, np.int64), np.empty(0, np.int32))
    if k > 0 and metric != EUCLID_ROUND:
        grid = grid._replace(**dict(zip(("cand_ptr", "cand_pos"), _cell_candidates(grid, wrap, k))))
    return grid


def _cell_radius(g: HubGrid, wrap: bool) -> np.ndarray:
    """Per grid row, an upper bound on the embedded distance from a cell's centre to any point of the cell.

    Great circle: going from the centre along the meridian and then along the
    parallel is no shorter than the great circle, so the angle is at most
    ``half_a + cos(lat) * half_b`` with the largest cos(lat) of the row's
    band, and a chord is no longer than its angle.
    """
    half_a, half_b = 0.5 * g.wa + g.slack_a, 0.5 * g.wb + g.slack_b
    if not wrap:
        return np.full(g.na, math.hypot(half_a, half_b) * (1.0 + LIST_REL))
    lo = g.a0 + np.arange(g.na) * g.wa - g.slack_a
    hi = lo + g.wa + 2.0 * g.slack_a
    nearest_equator = np.where((lo <= 0.0) & (hi >= 0.0), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    angle = math.radians(half_a) + np.cos(np.radians(nearest_equator)) * math.radians(min(half_b, 180.0))
    return angle * (1.0 + LIST_REL) + NEAR_ABS_CHORD


def _cell_candidates(g: HubGrid, wrap: bool, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's candidate hubs as a CSR ``(cand_ptr int64[cells + 1], cand_pos int32)``, nearest its centre first.

    If ``c`` is the cell's centre, ``r`` a bound on its distance to the
    cell's points and ``d_k`` the k-th nearest hub distance of ``c``, every
    point ``p`` of the cell has its k nearest within ``d_k + r`` of itself,
    hence within ``d_k + 2r`` of ``c`` (the embedded distance is Euclidean, so
    the triangle inequality holds). Hubs within that radius, widened by
    :data:`LIST_REL`, are the candidates; any other hub is farther from ``p``
    than the tie band around its k-th, so the scan never needs it. The centres'
    k nearest come from the ring search on this grid; the balls are gathered
    from the band of grid rows they can reach (hubs are stored row by row).
    Nearest first matters: when the first k scanned are the answer, later
    candidates fail the k-th test at once.
    """
    cells = g.na * g.nb
    ia, ib = np.divmod(np.arange(cells), g.nb)
    ca = g.a0 + (ia + 0.5) * g.wa
    cb = g.b0 + (ib + 0.5) * g.wb + g.origin
    centres = np.empty((4, cells))
    _embed_all(wrap, ca, cb, centres)
    m = g.hub_idx.size
    if m < k:
        radius = np.full(cells, np.inf)
    else:
        idx, dist = np.empty((cells, k), np.int32), np.empty((cells, k))
        knn_loop(ca, cb, k, GREAT_CIRCLE if wrap else EUCLID, 1.0, *g, idx, dist)
        where = np.empty(int(g.hub_idx.max()) + 1, np.int64)
        where[g.hub_idx] = np.arange(m)
        kth = where[idx[:, k - 1]]
        d_k = np.sqrt((g.hub_x[kth] - centres[0]) ** 2 + (g.hub_y[kth] - centres[1]) ** 2
                      + (g.hub_z[kth] - centres[2]) ** 2)
        radius = (d_k + 2.0 * _cell_radius(g, wrap)[ia]) * (1.0 + LIST_REL)
    # A hub within the radius is within this many degrees (great circle) or units of the centre along a.
    reach = np.degrees(2.0 * np.arcsin(np.minimum(radius * 0.5, 1.0))) if wrap else radius
    lo = np.clip(np.floor((ca - reach - g.a0) / g.wa) - 1, 0, g.na - 1).astype(np.int64)
    hi = np.clip(np.floor((ca + reach - g.a0) / g.wa) + 1, 0, g.na - 1).astype(np.int64)
    start, stop = g.cell_ptr[lo * g.nb], g.cell_ptr[(hi + 1) * g.nb]
    args = (centres[0], centres[1], centres[2], radius * radius, start, stop, g.hub_x, g.hub_y, g.hub_z)
    counts = np.zeros(cells + 1, np.int64)
    _gather_balls(*args, counts, np.empty(0, np.int32), np.empty(0), False)
    ptr = np.zeros(cells + 1, np.int64)
    np.cumsum(counts[:-1], out=ptr[1:])
    pos = np.empty(int(ptr[-1]), np.int32)
    _gather_balls(*args, ptr, pos, np.empty(pos.size), True)
    return ptr, pos


def build_elements(jit: Callable, core: SimpleNamespace, entry_jit: Callable | None = None) -> SimpleNamespace:
    """Return the per-query k-nearest search compiled on top of ``core.point_distance``.

    The scalar helpers are compiled with ``jit``, the functions taking arrays
    with ``entry_jit`` (default ``jit``): the CPU inlines those into its
    ``prange`` loop, since every array passed to a non-inlined call costs
    atomic reference counting there.
    """
    point_distance = core.point_distance
    haversine_cos_km = core.haversine_cos_km
    embed = core.embed
    array_jit = entry_jit or jit
    inf = math.inf

    @jit
    def loosen(d2, tol):  # type: ignore[no-untyped-def]
        """Largest squared embedded distance that may still tie with ``d2`` once mapped to the metric."""
        return d2 * (1.0 + NEAR_REL) + tol

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
        """Lower bound on the distance to a point ``gap_a`` / ``gap_b`` away per axis: an angle, or planar units."""
        if not wrap:
            return math.sqrt(gap_a * gap_a + gap_b * gap_b)
        g = math.radians(min(gap_b, 90.0))
        # asin(cos(lat) sin g) >= cos(lat) sin g >= cos(lat) (g - g^3 / 6): no trig in the hot loop.
        return max(math.radians(gap_a), coslat * (g - g * g * g * (1.0 / 6.0)))

    @jit
    def ranked_bound(exact, wrap, metric, scale, raw):  # type: ignore[no-untyped-def]
        """Map a raw lower bound to the ranking's units (metric, or squared embedded), shrunk for rounding."""
        if raw == inf:
            return inf
        if exact:
            raw = raw * (1.0 - BOUND_SLACK)
            if wrap:
                raw = raw * EARTH_RADIUS_KM
            if metric == 2:
                return math.floor(raw + 0.5)
            return scale * raw
        if wrap:  # an angle t spans a chord 2 sin(t / 2) >= t - t^3 / 24
            raw = raw - raw * raw * raw * (1.0 / 24.0)
        raw = raw * (1.0 - BOUND_SLACK)
        return raw * raw

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
    def block_bound(qa, qbr, coslat, ia, lo_b, hi_b, exact, metric, scale, wrap, a0, b0, wa, wb,
                    slack_a, slack_b):  # type: ignore[no-untyped-def]
        """Lower bound, in the ranking's units, on the distance to any hub in row ia, columns lo_b..hi_b."""
        lo_a = a0 + ia * wa
        gap_a = axis_gap(qa, lo_a - slack_a, lo_a + wa + slack_a, False)
        gap_b = axis_gap(qbr, b0 + lo_b * wb - slack_b, b0 + (hi_b + 1) * wb + slack_b, wrap)
        return ranked_bound(exact, wrap, metric, scale, raw_bound(wrap, gap_a, gap_b, coslat))

    @jit
    def outside_bound(qa, qbr, coslat, lo_a, hi_a, lo_b, hi_b, exact, metric, scale, wrap, a0, b0, wa, wb,
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
        return ranked_bound(exact, wrap, metric, scale, raw)

    # knn_query is the only function taking arrays: the CPU inlines it into its prange loop
    # (Numba cannot inline closures into an inlined closure), so the ring search and the
    # final re-scoring are written out inline here and the helpers above take scalars only.
    @array_jit
    def knn_query(i, qa, qb, k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                  cell_ptr, hub_idx, hub_a, hub_b, hub_x, hub_y, hub_z, hub_cos, cand_ptr, cand_pos,
                  out_idx, out_dist):  # type: ignore[no-untyped-def]
        """Fill row ``i`` of ``out_idx`` / ``out_dist`` with the k nearest hubs of (qa, qb), padded with -1 / inf.

        The first pass ranks by squared embedded distance (unless the metric
        is rounded or ``scale`` is out of :data:`SCALE_RANGE`), pruning only
        cells that cannot come within :func:`loosen` of the k-th value, so
        every hub in that tie band is a winner or counted in ``loser``. If the
        band holds a loser, a second pass ranks by ``point_distance`` itself.
        A query inside the grid whose cells carry candidate lists scans its
        cell's list (one block, no bounds to test) instead of the rings.
        """
        last = k - 1
        for j in range(k):
            out_idx[i, j] = -1
            out_dist[i, j] = inf
        if not (abs(qa) < inf and abs(qb) < inf):
            return
        wrap = metric == 0
        qx, qy, qz = embed(wrap, qa, qb)
        qbr = qb
        coslat = 1.0
        if wrap:
            qbr = qb - origin
            qbr = qbr - 360.0 * math.floor(qbr / 360.0)
            coslat = math.sqrt(qx * qx + qy * qy)  # |cos(lat)|, within rounding the bounds' slack absorbs
        tol = NEAR_ABS_SPHERE if wrap else NEAR_ABS_PLANE
        ca = grid_cell(qa, a0, wa, na)
        cb = grid_cell(qbr, b0, wb, nb)
        exact = metric == EUCLID_ROUND or not (scale >= SCALE_RANGE[0] and scale <= SCALE_RANGE[1])
        inside = (qa >= a0 - slack_a and qa <= a0 + na * wa + slack_a and
                  qbr >= b0 - slack_b and qbr <= b0 + nb * wb + slack_b)
        for attempt in range(2):
            listed = not exact and inside and cand_ptr.shape[0] > 1
            r_max = 0 if listed else max(max(ca, na - 1 - ca), max(cb, nb - 1 - cb))
            # Ring search: row i holds the winners' grid positions and ranking values.
            if attempt > 0:
                for j in range(k):
                    out_idx[i, j] = -1
                    out_dist[i, j] = inf
            kth = inf  # out_dist[i, last], kept in a register
            limit = inf  # prune beyond this: kth, or the end of its tie band
            loser = inf  # smallest value among hubs seen but not (or no longer) among the winners
            full = False  # k hubs found so far
            for r in range(r_max + 1):
                for ia in range(max(ca - r, 0), min(ca + r, na - 1) + 1):
                    edge = ia == ca - r or ia == ca + r
                    # The ring's first and last rows are one run of cells, contiguous in the CSR;
                    # its inner rows contribute their two end cells.
                    for side in range(1 if edge else 2):
                        lo_b = max(cb - r, 0) if edge else (cb - r if side == 0 else cb + r)
                        hi_b = min(cb + r, nb - 1) if edge else lo_b
                        if lo_b < 0 or hi_b >= nb:
                            continue
                        start = cand_ptr[ia * nb + lo_b] if listed else cell_ptr[ia * nb + lo_b]
                        stop = cand_ptr[ia * nb + hi_b + 1] if listed else cell_ptr[ia * nb + hi_b + 1]
                        if start == stop:
                            continue
                        if full and limit < block_bound(qa, qbr, coslat, ia, lo_b, hi_b, exact, metric, scale, wrap,
                                                        a0, b0, wa, wb, slack_a, slack_b):
                            continue
                        for t in range(start, stop):
                            j = cand_pos[t] if listed else t
                            if exact:
                                d = point_distance(metric, scale, qa, qb, hub_a[j], hub_b[j])
                            else:
                                dx = hub_x[j] - qx
                                dy = hub_y[j] - qy
                                dz = hub_z[j] - qz
                                d = dx * dx + dy * dy + dz * dz
                            if not (d < kth or (full and d == kth and hub_idx[j] < hub_idx[out_idx[i, last]])):
                                loser = min(loser, d)
                                continue
                            if full:
                                loser = min(loser, kth)  # the k-th winner drops out
                            h = hub_idx[j]
                            p = last  # insertion sort step: ties go to the smaller hub index
                            while p > 0 and (out_dist[i, p - 1] > d or
                                             (out_dist[i, p - 1] == d and hub_idx[out_idx[i, p - 1]] > h)):
                                out_dist[i, p] = out_dist[i, p - 1]
                                out_idx[i, p] = out_idx[i, p - 1]
                                p -= 1
                            out_dist[i, p] = d
                            out_idx[i, p] = j
                            kth = out_dist[i, last]
                            full = out_idx[i, last] >= 0
                            if full:
                                limit = kth if exact else loosen(kth, tol)
                if full and limit < outside_bound(qa, qbr, coslat, ca - r, ca + r, cb - r, cb + r, exact, metric,
                                                  scale, wrap, a0, b0, wa, wb, na, nb, slack_a, slack_b):
                    break
            if not exact and full and not loser > limit:
                exact = True  # a near-tie at the boundary: rank by the metric itself
                continue
            # Positions to hub indices; after the embedded ranking, values to point_distance, re-sorted
            # (great circle: its haversine with the query's and the hubs' latitude cosines computed once).
            qp = math.radians(qa)
            qcos = math.cos(qp) if wrap else 0.0
            for j in range(k):
                pos = out_idx[i, j]
                if pos < 0:
                    break
                h = hub_idx[pos]
                if exact:
                    d = out_dist[i, j]
                elif wrap:
                    d = scale * haversine_cos_km(qp, qb, qcos, math.radians(hub_a[pos]), hub_b[pos], hub_cos[pos])
                else:
                    d = point_distance(metric, scale, qa, qb, hub_a[pos], hub_b[pos])
                p = j
                while p > 0 and (out_dist[i, p - 1] > d or (out_dist[i, p - 1] == d and out_idx[i, p - 1] > h)):
                    out_dist[i, p] = out_dist[i, p - 1]
                    out_idx[i, p] = out_idx[i, p - 1]
                    p -= 1
                out_dist[i, p] = d
                out_idx[i, p] = h
            if exact or not full or out_dist[i, last] < inf:
                return
            exact = True  # the k-th distance overflowed: its ties cannot be told apart, rank by the metric

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



_elements = build_elements(njit(cache=True), _core, njit(inline="always", cache=True))
_embed = _core.embed
_knn_query = _elements.knn_query


@njit(cache=True)
def _embed_all(wrap, a, b, out):  # type: ignore[no-untyped-def]
    """Embed every point (a[j], b[j]) into column j of ``out`` (float64[4, n]), as the search embeds queries;
    row 3 holds the cosine of the latitude (great circle), as the scalar haversine computes it."""
    for j in range(a.shape[0]):
        out[0, j], out[1, j], out[2, j] = _embed(wrap, a[j], b[j])
        out[3, j] = math.cos(math.radians(a[j])) if wrap else 0.0


@njit(parallel=True, cache=True)
def _gather_balls(cx, cy, cz, r2, start, stop, hx, hy, hz, ptr, pos, key, fill):  # type: ignore[no-untyped-def]
    """Hubs at positions ``start[c]:stop[c]`` within squared distance ``r2[c]`` of centre ``c``.

    Without ``fill``, counts them into ``ptr[c]``; with it, writes them to
    ``pos[ptr[c]:ptr[c+1]]`` sorted by (squared distance, position).
    """
    for c in prange(cx.shape[0]):
        t = ptr[c]
        for j in range(start[c], stop[c]):
            dx = hx[j] - cx[c]
            dy = hy[j] - cy[c]
            dz = hz[j] - cz[c]
            d2 = dx * dx + dy * dy + dz * dz
            if not d2 <= r2[c]:
                continue
            if fill:
                p = t
                while p > ptr[c] and key[p - 1] > d2:
                    key[p] = key[p - 1]
                    pos[p] = pos[p - 1]
                    p -= 1
                key[p] = d2
                pos[p] = j
            t += 1
        if not fill:
            ptr[c] = t


@njit(parallel=True, cache=True)
def knn_loop(qa, qb, k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                  cell_ptr, hub_idx, hub_a, hub_b, hub_x, hub_y, hub_z, hub_cos, cand_ptr, cand_pos,
                  out_idx, out_dist):  # type: ignore[no-untyped-def]
    for i in prange(qa.shape[0]):
        _knn_query(i, qa[i], qb[i], k, metric, scale, a0, b0, wa, wb, na, nb, origin, slack_a, slack_b,
                   cell_ptr, hub_idx, hub_a, hub_b, hub_x, hub_y, hub_z, hub_cos, cand_ptr, cand_pos, out_idx, out_dist)
