"""CUDA Split and intra-route kernels equal the CPU kernels (Numba simulator, tiny inputs, several blocks)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kernels._scalar import EUCLID, GREAT_CIRCLE
from kernels.core.intra import FULL_UPTO
from kernels.cpu import intra as cpu_intra
from kernels.cpu import split as cpu_split
from kernels.cuda import _launch
from kernels.cuda import intra as cuda_intra
from kernels.cuda import split as cuda_split
from tests.cuda.conftest import SIMULATOR, same_floats, same_search

INF = math.inf


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 threads, and at most 3 blocks for the intra kernel, so tiny inputs stride."""
    monkeypatch.setattr(_launch, "THREADS", 4)
    monkeypatch.setattr(cuda_intra, "MAX_BLOCKS", 3)


def nodes(rng, n, metric):
    if metric == GREAT_CIRCLE:
        a, b = 52.0 + rng.random(n) * 0.05, 4.0 + rng.random(n) * 0.05
    else:
        a, b = rng.random(n) * 3.0, rng.random(n) * 3.0
    svc = rng.uniform(30.0, 90.0, n)
    return a, b, rng.uniform(1.0, 10.0, n), rng.integers(1, 4, n).astype(np.float64), svc, rng.choice([20.0, 40.0], n)


def stop_circuity(rng, n, first_depot):
    """Circuity multipliers of stops 0..first_depot-1 of their own (one huge), 1.0 for the depots after them."""
    circ = np.ones(n)
    circ[:first_depot] = rng.uniform(0.6, 2.0, first_depot)
    circ[1] = 40.0
    return circ


def padded_routes(lens, width):
    """Route r holds nodes r * width + 0..lens[r]-1 (padded with -1); its depot is node n_routes * width + r."""
    n_routes = lens.size
    routes = np.full((n_routes, width), -1, np.int32)
    for r in range(n_routes):
        routes[r, :lens[r]] = r * width + np.arange(lens[r])
    return routes, np.arange(n_routes * width, n_routes * width + n_routes, dtype=np.int32)


def assert_intra_matches_cpu(routes, args):
    """Both backends improve copies of ``routes`` to the same routes and distances, and do change them."""
    cpu_routes = routes.copy()
    dist = cpu_intra.improve_intra(cpu_routes, *args)
    gpu_routes = routes.copy()
    d_dist = _launch.to_host(cuda_intra.improve_intra(gpu_routes, *args))
    if not same_search(gpu_routes, cpu_routes, float(d_dist.sum()), float(dist.sum())):
        for r in range(routes.shape[0]):  # on a device: the same stops on every route, no longer than before
            assert sorted(gpu_routes[r].tolist()) == sorted(routes[r].tolist())
    if SIMULATOR:
        same_floats(d_dist, dist)
    assert (cpu_routes != routes).any()


@pytest.mark.parametrize("metric", [EUCLID, GREAT_CIRCLE])
def test_split_matches_cpu(rng, small_blocks, metric):
    a, b, kg, pn, svc, spd = nodes(rng, 80, metric)
    # Nodes 75..78 on a line through depot 79 at x = 2, -4, -2, 5 weighing 1, 2, 1, 1 kg: with
    # 3 kg per vehicle the optimum uses three routes, with two it must cut elsewhere (CPU test).
    unit = 0.01 if metric == GREAT_CIRCLE else 0.3
    a[75:80] = a[79] + unit * np.array([2.0, -4.0, -2.0, 5.0, 0.0])
    b[75:80] = b[79]
    kg[75:79] = [1.0, 2.0, 1.0, 1.0]
    lengths = np.array([0, 7, 9, 5, 8, 1, 9, 6, 4, 9, 8, 3, 4, 4])
    n_tours = len(lengths)
    ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tour_nodes = np.concatenate([rng.permutation(72)[:ptr[-3]], [75, 76, 77, 78] * 2]).astype(np.int32)
    depots = np.append(72 + np.arange(n_tours - 2) % 3, [79, 79]).astype(np.int32)
    cap_kg = np.append(rng.uniform(10.0, 30.0, n_tours - 2), [3.0, 3.0])
    cap_n = np.where(np.arange(n_tours) % 3 == 0, INF, 8.0)
    cap_n[-2:] = INF
    max_dur = np.where(np.arange(n_tours) % 2 == 0, INF, 3000.0)
    max_dur[-1] = 1e9  # the Bellman DP on the line tour, the window DP on the one before
    max_routes = np.array([0, 3, 4, 1000, 3, 1, 4, 2, 0, 4, 1000, 2, 2, 2], np.int32)
    circ = stop_circuity(rng, 80, 72)  # the line tour (75..78 around depot 79) keeps 1.0
    args = (ptr, tour_nodes, depots, a, b, circ, kg, pn, svc, spd, cap_kg, cap_n, max_dur, max_routes, metric, 1.2)
    start, cost = cpu_split.split_tours(*args)
    d_start, d_cost = cuda_split.split_tours(*args)
    same_floats(_launch.to_host(d_cost), cost)
    if SIMULATOR:  # on a device a near-tie between two cuts may go the other way: the costs agree
        np.testing.assert_array_equal(_launch.to_host(d_start), start)
    assert np.isinf(cost).any() and np.isfinite(cost).sum() > 6 and cost[0] == 0.0
    assert start[-8:].tolist() == [1, 0, 1, 0] * 2  # the fleet-limited launch ran
    counts = cpu_split.route_counts(*args[:12], max_dur, metric, 1.2)
    np.testing.assert_array_equal(_launch.to_host(cuda_split.route_counts(*args[:12], max_dur, metric, 1.2)), counts)


@pytest.mark.parametrize("metric", [EUCLID, GREAT_CIRCLE])
def test_intra_matches_cpu(rng, small_blocks, metric):
    n_routes, width = 10, 12
    a, b, _, _, svc, spd = nodes(rng, n_routes * width + n_routes, metric)
    lens = np.array([12, 0, 5, 11, 1, 12, 8, 2, 10, 12], np.int32)
    routes, depots = padded_routes(lens, width)
    max_dur = np.where(np.arange(n_routes) % 2 == 0, INF, 2500.0)
    circ = stop_circuity(rng, a.size, n_routes * width)
    args = (lens, depots, a, b, circ, svc, spd, max_dur, metric, 1.3, 6, 10)
    assert_intra_matches_cpu(routes, args)


def test_intra_needs_power_of_two_block(monkeypatch):
    monkeypatch.setattr(_launch, "THREADS", 6)
    with pytest.raises(ValueError, match="THREADS must be a power of two for the block reduction, not 6"):
        cuda_intra.improve_intra(np.zeros((1, 1), np.int32), np.ones(1, np.int32), np.zeros(1, np.int32),
                                 np.zeros(2), np.zeros(2), np.ones(2), np.zeros(2), np.ones(2), np.ones(1), EUCLID, 1.0,
                                 1, 10)


def test_granular_intra_matches_cpu(rng, small_blocks):
    # Routes longer than FULL_UPTO with 4-node lists: granular passes, don't-look bits and the
    # confirming full passes, on blocks of 4 threads.
    n_routes, width = 3, FULL_UPTO + 4
    a, b, _, _, svc, spd = nodes(rng, n_routes * width + n_routes, EUCLID)
    lens = np.array([width, 3, width - 2], np.int32)
    routes, depots = padded_routes(lens, width)
    max_dur = np.array([INF, INF, 6000.0])
    args = (lens, depots, a, b, np.ones(a.size), svc, spd, max_dur, EUCLID, 1.0, 8, 4)
    assert_intra_matches_cpu(routes, args)
