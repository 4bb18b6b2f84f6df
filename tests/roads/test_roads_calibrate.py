"""The calibration on a synthetic road sample (no engine): each stop's own circuity, and speeds that correct time only.

Two clusters of stops around one hub: on the west one every road leg is twice
its great-circle km, on the east one 1.2 times; roads are driven at the speed
the stops are given. The fit must give each cluster its own circuity, leave
the speeds as given (the circuity already explains the longer road times),
and keep the run's circuity for a stop with too few usable legs.
"""
from __future__ import annotations

import numpy as np
import pytest

from kernels import GREAT_CIRCLE
from planner.device import Compute
from planner.roads.calibrate import MIN_NODE_LEGS, NodeRoads, calibrate

SPEED_KMH = 30.0
COMPUTE = Compute.open("cpu", GREAT_CIRCLE, 1.3)


def _sample(k: int = 4) -> tuple[NodeRoads, np.ndarray, np.ndarray, np.ndarray]:
    """(sample, lat, lon, road factor per stop): 2 x 15 stops on a ~1 km grid, 10 km apart, hub between them."""
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(3)), -1).reshape(-1, 2) * 0.01
    lat = np.r_[40.0 + grid[:, 0], 40.0 + grid[:, 0]]
    lon = np.r_[-74.1 + grid[:, 1], -73.98 + grid[:, 1]]
    factor = np.r_[np.full(15, 2.0), np.full(15, 1.2)]
    n = lat.size
    gc = COMPUTE.pair_distances(np.repeat(lat, n), np.repeat(lon, n), np.tile(lat, n), np.tile(lon, n))
    gc = gc.reshape(n, n) / COMPUTE.scale
    np.fill_diagonal(gc, np.inf)
    neighbour = np.argsort(gc, axis=1, kind="stable")[:, :k].astype(np.int32)  # within each cluster
    near = np.take_along_axis(gc, neighbour, 1)
    hub_gc = COMPUTE.pair_distances(lat, lon, np.full(n, 40.02), np.full(n, -74.03)) / COMPUTE.scale
    f32 = np.float32
    out_km = (near * factor[:, None]).astype(f32)
    hub_km = np.column_stack([hub_gc, hub_gc]) * factor[:, None]
    roads = NodeRoads(neighbour=neighbour, out_km=out_km, out_s=(out_km * 3600.0 / SPEED_KMH).astype(f32),
                      back_km=out_km.copy(), back_s=(out_km * 3600.0 / SPEED_KMH).astype(f32),
                      hub_km=hub_km.astype(f32), hub_s=(hub_km * 3600.0 / SPEED_KMH).astype(f32))
    return roads, lat, lon, factor


def _fit(roads: NodeRoads, lat: np.ndarray, lon: np.ndarray, per_stop: bool = True):  # type: ignore[no-untyped-def]
    n = lat.size
    return calibrate(roads, lat, lon, np.zeros(n, np.int64), np.array([40.02]), np.array([-74.03]),
                     np.full(n, SPEED_KMH), SPEED_KMH, 1.3, COMPUTE, per_stop=per_stop)


def test_each_stop_gets_the_circuity_of_its_own_roads() -> None:
    roads, lat, lon, factor = _sample()
    fit = _fit(roads, lat, lon)
    assert 1.2 <= fit.circuity <= 2.0
    own = fit.circuity * fit.stop_circuity
    # every neighbour leg and both hub legs of a stop are its factor x great circle: the median is the factor
    np.testing.assert_allclose(own, factor, rtol=1e-6)
    assert fit.circuity_stops == lat.size
    assert fit.stop_circuity_spread == pytest.approx((1.2, 1.6, 2.0), rel=1e-6)
    # the circuity explains the road km, so every speed stays as given: time is corrected once, not twice
    np.testing.assert_allclose(fit.speed_kmh, SPEED_KMH, rtol=1e-5)
    assert fit.speed_ratio == pytest.approx((1.0, 1.0, 1.0), rel=1e-5)


def test_one_run_wide_circuity_puts_the_difference_into_the_speeds() -> None:
    roads, lat, lon, factor = _sample()
    fit = _fit(roads, lat, lon, per_stop=False)
    assert (fit.stop_circuity == 1.0).all() and fit.circuity_stops == 0
    assert fit.stop_circuity_spread == pytest.approx((fit.circuity,) * 3)
    twisty = factor == 2.0
    assert (fit.speed_kmh[twisty] < 0.9 * SPEED_KMH).all() and (fit.speed_kmh[~twisty] > 1.1 * SPEED_KMH).all()


def test_a_stop_with_too_few_usable_legs_keeps_the_run_circuity() -> None:
    roads, lat, lon, factor = _sample()
    for arr in (roads.out_km, roads.back_km):
        arr[0] = np.inf  # stop 0 keeps only its two hub legs: fewer than MIN_NODE_LEGS
        arr[1] *= 0.05  # stop 1's neighbour legs far shorter than the straight line (a bad snap)
    assert 2 < MIN_NODE_LEGS
    fit = _fit(roads, lat, lon)
    assert fit.stop_circuity[0] == 1.0 and fit.circuity_stops == lat.size - 1
    assert fit.circuity * fit.stop_circuity[1] == pytest.approx(1.0)  # held to CIRCUITY_BOUNDS
    np.testing.assert_allclose((fit.circuity * fit.stop_circuity)[2:], factor[2:], rtol=1e-6)
