"""Scalar cores shared by every backend: each formula is written once here.

The functions are built by :func:`build` around a decorator, so the same
source becomes a plain Python reference (``build(lambda f: f)``), a Numba CPU
function (``build(njit(inline="always"))``) and a CUDA device function
(``build(cuda.jit(device=True, inline=True))``). Because the bodies reference
one another through the closure, composition works on every target.

Distances
    ``metric`` selects the formula: ``GREAT_CIRCLE`` takes (lat, lon) in
    degrees and returns great-circle km times ``scale`` (the circuity);
    ``EUCLID`` returns the planar distance times ``scale``; ``EUCLID_ROUND``
    is CVRPLIB's EUC_2D, the planar distance rounded to the nearest integer.

Per-node circuity
    Between two nodes the kernels use :func:`node_distance`: the metric's
    distance times the mean of the two ends' circuity multipliers (each
    node's circuity relative to the run's ``scale``, fitted to its own road
    legs). The mean is symmetric, so reversing a route segment never changes
    its length; with every multiplier 1.0 the factor is exactly 1.0 and the
    distance is bit for bit :func:`point_distance`'s.

Times
    A leg's driving time uses both endpoints' speeds symmetrically, so that
    reversing a route segment never changes its duration.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

GREAT_CIRCLE = 0
EUCLID = 1
EUCLID_ROUND = 2
METRICS = {"great_circle": GREAT_CIRCLE, "euclid": EUCLID, "euclid_round": EUCLID_ROUND}

EARTH_RADIUS_KM = 6371.0088
HILBERT_ORDER = 31  # bits per axis: keys fit a signed 64-bit integer


def build(jit: Callable) -> SimpleNamespace:
    """Return the scalar cores compiled with ``jit`` (identity for pure Python)."""

    @jit
    def haversine_cos_km(p1: float, lon1: float, cos1: float, p2: float, lon2: float, cos2: float) -> float:
        """Haversine from latitudes in radians and their cosines: a caller that meets one point many
        times computes its cosine once (bit-identical to :func:`haversine_km`, which calls this)."""
        s_lat = math.sin((p2 - p1) * 0.5)
        s_lon = math.sin(math.radians(lon2 - lon1) * 0.5)
        h = s_lat * s_lat + cos1 * cos2 * s_lon * s_lon
        if h > 1.0:
            h = 1.0
        return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))

    @jit
    def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        p1 = math.radians(lat1)
        p2 = math.radians(lat2)
        return haversine_cos_km(p1, lon1, math.cos(p1), p2, lon2, math.cos(p2))

    @jit
    def point_distance(metric: int, scale: float, a1: float, b1: float, a2: float, b2: float) -> float:
        if metric == 0:
            return scale * haversine_km(a1, b1, a2, b2)
        dx = a1 - a2
        dy = b1 - b2
        d = math.sqrt(dx * dx + dy * dy)
        if metric == 2:
            return math.floor(d + 0.5)
        return scale * d

    @jit
    def pair_circuity(m1: float, m2: float) -> float:
        """A leg's circuity multiplier from its two ends': their mean (symmetric; exactly 1.0 for 1.0 and 1.0)."""
        return 0.5 * (m1 + m2)

    @jit
    def node_distance(metric: int, scale: float, m1: float, m2: float, a1: float, b1: float, a2: float,
                      b2: float) -> float:
        """:func:`point_distance` between two nodes times :func:`pair_circuity` of their multipliers."""
        return point_distance(metric, scale, a1, b1, a2, b2) * pair_circuity(m1, m2)

    @jit
    def embed(wrap: bool, a: float, b: float) -> tuple[float, float, float]:
        """A 3-D point whose Euclidean distances rank like the metric: for great circle (``wrap``) the unit
        vector of (lat, lon) in degrees, whose chord grows with the great-circle distance; else ``(a, b, 0)``."""
        if not wrap:
            return a, b, 0.0
        p = math.radians(a)
        lam = math.radians(b)
        cp = math.cos(p)
        return cp * math.cos(lam), cp * math.sin(lam), math.sin(p)

    @jit
    def chord_km(scale: float, dx: float, dy: float, dz: float) -> float:
        """Great-circle km times ``scale`` between two unit vectors from their difference: 2 R asin(chord / 2),
        one arcsine and no other trigonometry (equal to the haversine up to rounding)."""
        h = 0.5 * math.sqrt(dx * dx + dy * dy + dz * dz)
        return scale * 2.0 * EARTH_RADIUS_KM * math.asin(min(h, 1.0))

    @jit
    def chord_km_floor(scale: float, dx: float, dy: float, dz: float) -> float:
        """A lower bound of :func:`chord_km` without its arcsine (``h <= asin(h)``): the same operations in the
        same order, so rounding keeps the bound, and a search can skip a position whose bound already loses."""
        h = 0.5 * math.sqrt(dx * dx + dy * dy + dz * dz)
        return scale * 2.0 * EARTH_RADIUS_KM * min(h, 1.0)

    @jit
    def leg_seconds(dist_km: float, speed_from_kmh: float, speed_to_kmh: float) -> float:
        return dist_km * 1800.0 * (1.0 / speed_from_kmh + 1.0 / speed_to_kmh)

    @jit
    def hilbert_d(x: int, y: int, order: int) -> int:
        """Hilbert index of cell (x, y) on a 2**order square grid (x, y < 2**order)."""
        d = 0
        s = 1 << (order - 1)
        while s > 0:
            rx = 1 if (x & s) > 0 else 0
            ry = 1 if (y & s) > 0 else 0
            d += s * s * ((3 * rx) ^ ry)
            if ry == 0:
                if rx == 1:
                    x = s - 1 - x
                    y = s - 1 - y
                x, y = y, x
            s >>= 1
        return d

    return SimpleNamespace(
        haversine_cos_km=haversine_cos_km,
        haversine_km=haversine_km,
        point_distance=point_distance,
        pair_circuity=pair_circuity,
        node_distance=node_distance,
        embed=embed,
        chord_km=chord_km,
        chord_km_floor=chord_km_floor,
        leg_seconds=leg_seconds,
        hilbert_d=hilbert_d,
    )


#: Pure-Python cores, the reference the compiled kernels are tested against.
reference = build(lambda f: f)
