"""Distance kernels (CPU) against NumPy and the pure-Python scalar cores, plus the api dispatch."""
from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from kernels import api
from kernels._scalar import EARTH_RADIUS_KM, EUCLID, EUCLID_ROUND, GREAT_CIRCLE, reference
from kernels.backend import BackendUnavailable, _cuda_problem
from kernels.core import host
from kernels.cpu.distance import node_distances, pair_distances, route_lengths
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




def random_routes(rng, n_nodes, n_routes):
    """CSR routes over ``n_nodes`` nodes: the first three empty, one stop, two stops."""
    sizes = rng.integers(0, 8, n_routes)
    sizes[: min(3, n_routes)] = [0, 1, 2][: min(3, n_routes)]
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    nodes = rng.integers(0, n_nodes, int(ptr[-1])).astype(np.int32)
    return ptr, nodes, rng.integers(0, n_nodes, n_routes).astype(np.int32)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
@pytest.mark.parametrize("n_routes", [0, 1, 40])
def test_route_lengths_match_naive(rng, metric, n_routes):
    a, b = random_points(rng, 60, metric)
    ptr, nodes, depot = random_routes(rng, 60, n_routes)
    circ = rng.uniform(0.5, 2.0, 60)
    got = route_lengths(ptr, nodes, depot, a, b, circ, metric, 1.2)
    assert got.dtype == np.float64 and got.shape == (n_routes,)
    np.testing.assert_allclose(got, naive.route_lengths(ptr, nodes, depot, a, b, metric, 1.2, circ), rtol=1e-12)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
def test_node_distances_with_circuity_match_numpy(rng, metric):
    a, b = random_points(rng, 50, metric)
    circ = rng.uniform(0.5, 2.0, 50)
    circ[7] = 40.0
    frm, to = rng.integers(0, 50, 400), rng.integers(0, 50, 400)
    got = node_distances(frm, to, a, b, circ, metric, 1.3)
    np.testing.assert_allclose(got, naive.node_distances(frm, to, a, b, circ, metric, 1.3), rtol=1e-12, atol=1e-9)
    want = [reference.node_distance(metric, 1.3, circ[u], circ[v], a[u], b[u], a[v], b[v]) for u, v in zip(frm, to)]
    np.testing.assert_allclose(got, want, rtol=1e-13)
    # symmetric, so reversing a route segment never changes its length
    np.testing.assert_array_equal(node_distances(to, frm, a, b, circ, metric, 1.3), got)


@njit
def run_wide_route_lengths(ptr, nodes, depot, a, b, metric, scale):  # type: ignore[no-untyped-def]
    """Route lengths as the kernels summed them before per-node circuity: the run-wide scale alone."""
    out = np.zeros(ptr.size - 1)
    for r in range(ptr.size - 1):
        if ptr[r + 1] > ptr[r]:
            prev = depot[r]
            total = 0.0
            for j in range(ptr[r], ptr[r + 1]):
                total += host.point_distance(metric, scale, a[prev], b[prev], a[nodes[j]], b[nodes[j]])
                prev = nodes[j]
            out[r] = total + host.point_distance(metric, scale, a[prev], b[prev], a[depot[r]], b[depot[r]])
    return out


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
def test_unit_circuity_is_bit_identical_to_the_run_wide_scale(rng, metric):
    a, b = random_points(rng, 60, metric)
    ones = np.ones(60)
    ptr, nodes, depot = random_routes(rng, 60, 40)
    np.testing.assert_array_equal(route_lengths(ptr, nodes, depot, a, b, ones, metric, 1.3),
                                  run_wide_route_lengths(ptr, nodes, depot, a, b, metric, 1.3))
    frm, to = rng.integers(0, 60, 300), rng.integers(0, 60, 300)
    np.testing.assert_array_equal(node_distances(frm, to, a, b, ones, metric, 1.3),
                                  pair_distances(a[frm], b[frm], a[to], b[to], metric, 1.3))


def test_route_lengths_hand_checked():
    a = np.array([0.0, 3.0, 3.0])
    b = np.array([0.0, 0.0, 4.0])
    ptr = np.array([0, 2, 2, 3])
    got = route_lengths(ptr, np.array([1, 2, 1], np.int32), np.array([0, 0, 2], np.int32), a, b, np.ones(3), EUCLID,
                        1.0)
    assert got.tolist() == [12.0, 0.0, 8.0]  # 3 + 4 + 5; empty route; there and back
    # node 2's multiplier 3.0: its legs count (1 + 3) / 2 = 2 times
    got = route_lengths(ptr, np.array([1, 2, 1], np.int32), np.array([0, 0, 2], np.int32), a, b,
                        np.array([1.0, 1.0, 3.0]), EUCLID, 1.0)
    assert got.tolist() == [3.0 + 8.0 + 10.0, 0.0, 16.0]


def test_route_lengths_bad_shapes():
    with pytest.raises(ValueError, match="route_depot has 1 entries for 2 routes"):
        route_lengths(np.array([0, 1, 2]), np.zeros(2, np.int32), np.zeros(1, np.int32),
                      np.zeros(3), np.zeros(3), np.ones(3), EUCLID, 1.0)
    with pytest.raises(ValueError, match="route_ptr must hold R \\+ 1 offsets"):
        route_lengths(np.zeros(0), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(1), np.zeros(1),
                      np.ones(1), 1, 1.0)
    with pytest.raises(ValueError, match="node arrays differ in length: a 3, b 3, circuity 2"):
        route_lengths(np.array([0, 1]), np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros(3), np.zeros(3),
                      np.ones(2), EUCLID, 1.0)


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


def test_chord_floor_never_exceeds_the_chord_distance(rng):
    # SISR skips a position when its bound already loses, so the compiled bound must stay at or below the
    # compiled distance for every pair, the tiny chords of neighbouring stops and antipodes included
    floor = njit(lambda s, x, y, z: host.chord_km_floor(s, x, y, z))
    exact = njit(lambda s, x, y, z: host.chord_km(s, x, y, z))
    lat, lon = rng.uniform(-90, 90, 4000), rng.uniform(-180, 180, 4000)
    jitter = rng.normal(0, 1e-6, (2, 2000))
    near = (np.column_stack([lat[:2000], lat[:2000] + jitter[0]]).ravel(),
            np.column_stack([lon[:2000], lon[:2000] + jitter[1]]).ravel())
    for a, b in ((lat, lon), near):
        u = np.column_stack(naive_unit_vectors(a, b))
        for i in range(0, a.size, 2):
            d = u[i] - u[i + 1]
            lo, hi = floor(1.3, *d), exact(1.3, *d)
            assert lo <= hi
            assert lo >= hi * (1 - 0.6)  # a bound worth having: asin(h) < 1.58 h on [0, 1]
    assert floor(1.0, 0.0, 0.0, 2.0) <= exact(1.0, 0.0, 0.0, 2.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)


def naive_unit_vectors(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, lam = np.radians(lat), np.radians(lon)
    return np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)
