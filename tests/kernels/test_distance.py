"""Distance kernels (CPU) against NumPy and the pure-Python scalar cores, plus the api dispatch."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kernels import api
from kernels._scalar import EARTH_RADIUS_KM, EUCLID, EUCLID_ROUND, GREAT_CIRCLE, reference
from kernels.backend import BackendUnavailable, _cuda_problem
from kernels.cpu.distance import pair_distances, route_lengths
from tests import naive


def numpy_haversine(lat1, lon1, lat2, lon2):
    """Independent NumPy haversine in km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def random_points(rng, n, metric):
    if metric == GREAT_CIRCLE:
        return rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)
    return rng.uniform(-500, 500, n), rng.uniform(0, 300, n)


@pytest.mark.parametrize("n", [0, 1, 17, 1000])
def test_pair_distances_great_circle_matches_numpy(rng, n):
    a1, b1 = random_points(rng, n, GREAT_CIRCLE)
    a2, b2 = random_points(rng, n, GREAT_CIRCLE)
    got = pair_distances(a1, b1, a2, b2, GREAT_CIRCLE, 1.3)
    assert got.dtype == np.float64 and got.shape == (n,)
    np.testing.assert_allclose(got, 1.3 * numpy_haversine(a1, b1, a2, b2), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
def test_pair_distances_match_scalar_reference(rng, metric):
    a1, b1 = random_points(rng, 300, metric)
    a2, b2 = random_points(rng, 300, metric)
    want = [reference.point_distance(metric, 2.0, *p) for p in zip(a1, b1, a2, b2)]
    np.testing.assert_allclose(pair_distances(a1, b1, a2, b2, metric, 2.0), want, rtol=1e-13)


def test_pair_distances_hand_checked():
    one_degree = EARTH_RADIUS_KM * math.pi / 180
    z = np.zeros(3)
    got = pair_distances(z, z, np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 180.0]), GREAT_CIRCLE, 1.0)
    np.testing.assert_allclose(got, [one_degree, one_degree, 180 * one_degree], rtol=1e-12)
    np.testing.assert_allclose(pair_distances([0.0], [0.0], [3.0], [4.0], EUCLID, 1.5), [7.5])
    # EUC_2D rounds to the nearest integer and ignores the scale.
    assert pair_distances([0.0, 0.0], [0.0, 0.0], [1.0, 1.5], [1.0, 0.0], EUCLID_ROUND, 9.0).tolist() == [1.0, 2.0]


def test_pair_distances_length_mismatch():
    with pytest.raises(ValueError, match="pair_distances needs four arrays of one length, got 2, 2, 1, 2"):
        pair_distances(np.zeros(2), np.zeros(2), np.zeros(1), np.zeros(2), EUCLID, 1.0)




@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
@pytest.mark.parametrize("n_routes", [0, 1, 40])
def test_route_lengths_match_naive(rng, metric, n_routes):
    a, b = random_points(rng, 60, metric)
    sizes = rng.integers(0, 8, n_routes)
    sizes[: min(3, n_routes)] = [0, 1, 2][: min(3, n_routes)]  # empty, single stop, two stops
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    nodes = rng.integers(0, 60, int(ptr[-1])).astype(np.int32)
    depot = rng.integers(0, 60, n_routes).astype(np.int32)
    got = route_lengths(ptr, nodes, depot, a, b, metric, 1.2)
    assert got.dtype == np.float64 and got.shape == (n_routes,)
    np.testing.assert_allclose(got, naive.route_lengths(ptr, nodes, depot, a, b, metric, 1.2), rtol=1e-12)


def test_route_lengths_hand_checked():
    a = np.array([0.0, 3.0, 3.0])
    b = np.array([0.0, 0.0, 4.0])
    ptr = np.array([0, 2, 2, 3])
    got = route_lengths(ptr, np.array([1, 2, 1], np.int32), np.array([0, 0, 2], np.int32), a, b, EUCLID, 1.0)
    assert got.tolist() == [12.0, 0.0, 8.0]  # 3 + 4 + 5; empty route; there and back


def test_route_lengths_bad_shapes():
    with pytest.raises(ValueError, match="route_depot has 1 entries for 2 routes"):
        route_lengths(np.array([0, 1, 2]), np.zeros(2, np.int32), np.zeros(1, np.int32),
                      np.zeros(3), np.zeros(3), EUCLID, 1.0)
    with pytest.raises(ValueError, match="route_ptr must hold R \\+ 1 offsets"):
        route_lengths(np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(1), np.zeros(1), 1, 1.0)


def test_api_cpu_forwards_to_the_cpu_kernels(rng):
    a, b = random_points(rng, 20, GREAT_CIRCLE)
    np.testing.assert_array_equal(api.pair_distances(a, b, b / 2, a, backend="cpu"),
                                  pair_distances(a, b, b / 2, a, GREAT_CIRCLE, 1.0))


def test_api_rejects_unknown_backend():
    with pytest.raises(ValueError, match="backend must be 'cpu' or 'cuda', not 'gpu'"):
        api.pair_distances([0.0], [0.0], [0.0], [0.0], backend="gpu")


@pytest.mark.skipif(_cuda_problem() is None, reason="a CUDA device is usable here")
def test_api_cuda_without_device_is_an_error():
    with pytest.raises(BackendUnavailable, match="backend 'cuda' requested but"):
        api.hilbert_keys([0.0], [0.0], 0.0, 1.0, 0.0, 1.0, backend="cuda")
