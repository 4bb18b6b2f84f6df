"""Re-sequencing finished routes on their asymmetric road matrices (kernels.cpu.resequence)."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from kernels import api
from tests import naive


def _instance(sizes: list[int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:
    """Routes of ``sizes`` stops on points in a square; road km = distance x an asymmetric detour factor."""
    rng = np.random.default_rng(seed)
    km_parts, mats, ptr = [], [], [0]
    for n in sizes:
        xy = rng.random((n + 1, 2)) * 5.0
        d = np.linalg.norm(xy[:, None] - xy[None], axis=2)
        m = d * rng.uniform(1.0, 2.5, size=d.shape)  # one way differs from the other
        np.fill_diagonal(m, 0.0)
        mats.append(m)
        km_parts.append(m.ravel())
        ptr.append(ptr[-1] + m.size)
    route_ptr = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    return route_ptr, np.array(ptr[:-1], np.int64), np.concatenate(km_parts), np.full(len(sizes), 1e9), mats


def _orders(route_ptr: np.ndarray, order: np.ndarray) -> list[list[int]]:
    return [order[route_ptr[r]:route_ptr[r + 1]].tolist() for r in range(route_ptr.size - 1)]


def test_orders_are_permutations_and_never_longer():
    route_ptr, mat_ptr, km, limit, mats = _instance([1, 2, 5, 12, 30], seed=1)
    order, passes = api.resequence_routes(route_ptr, mat_ptr, km, km, limit, 50)
    for r, (tour, m) in enumerate(zip(_orders(route_ptr, order), mats)):
        n = m.shape[0] - 1
        assert sorted(tour) == list(range(1, n + 1))
        assert naive.matrix_tour_cost(m, tour) <= naive.matrix_tour_cost(m, list(range(1, n + 1))) + 1e-9
        assert passes[r] >= (1 if n >= 2 else 0)
    assert naive.matrix_tour_cost(mats[-1], _orders(route_ptr, order)[-1]) < \
        0.8 * naive.matrix_tour_cost(mats[-1], list(range(1, 31)))  # a random order is far from a good one


def test_small_routes_reach_near_the_optimum():
    """Against every permutation of 7 stops on 30 strongly asymmetric matrices: a local optimum, on
    average within 3 % of the best tour and the best itself on at least half of them."""
    ratios = []
    for seed in range(30):
        route_ptr, mat_ptr, km, limit, mats = _instance([7], seed=seed)
        order, _ = api.resequence_routes(route_ptr, mat_ptr, km, km, limit, 100)
        best = naive.best_tour_by_permutations(mats[0], mats[0], np.inf)
        ratios.append(naive.matrix_tour_cost(mats[0], order.tolist()) / best)
    assert min(ratios) >= 1.0 - 1e-12
    assert np.mean(ratios) <= 1.03 and np.mean(np.array(ratios) < 1.0 + 1e-9) >= 0.5


def test_the_direction_driven_counts():
    """A one-way loop: driving it backwards costs ten times as much; the order given is backwards."""
    n = 6
    m = np.full((n + 1, n + 1), 10.0)
    for i in range(n + 1):
        m[i, (i + 1) % (n + 1)] = 1.0
    np.fill_diagonal(m, 0.0)
    backwards = m.T.copy()  # stop i in the order given is stop n+1-i of the loop
    order, _ = api.resequence_routes(np.array([0, n], np.int64), np.zeros(1, np.int64), backwards.ravel(),
                                     backwards.ravel(), np.full(1, 1e9), 50)
    assert naive.matrix_tour_cost(backwards, order.tolist()) == pytest.approx(n + 1.0)


def test_a_move_never_breaks_the_time_limit():
    route_ptr, mat_ptr, km, _, mats = _instance([10], seed=3)
    rng = np.random.default_rng(7)
    sec_mat = mats[0] * 100 * rng.uniform(0.5, 2.0, size=mats[0].shape)  # times rank pairs differently
    np.fill_diagonal(sec_mat, 0.0)
    given = list(range(1, 11))
    limit = naive.matrix_tour_cost(sec_mat, given)  # the order given exactly fits
    order, _ = api.resequence_routes(route_ptr, mat_ptr, km, sec_mat.ravel(), np.full(1, limit), 50)
    assert naive.matrix_tour_cost(sec_mat, order.tolist()) <= limit + 1e-6
    assert naive.matrix_tour_cost(mats[0], order.tolist()) <= naive.matrix_tour_cost(mats[0], given) + 1e-9


def test_the_answer_does_not_depend_on_the_threads():
    route_ptr, mat_ptr, km, limit, _ = _instance([20, 3, 17, 40, 8], seed=5)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = api.resequence_routes(route_ptr, mat_ptr, km, km, limit, 50)
    finally:
        numba.set_num_threads(threads)
    many = api.resequence_routes(route_ptr, mat_ptr, km, km, limit, 50)
    assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1])


def test_too_small_matrices_are_refused():
    with pytest.raises(ValueError, match="fewer than the 16 entries"):
        api.resequence_routes(np.array([0, 3], np.int64), np.zeros(1, np.int64), np.zeros(9), np.zeros(9),
                              np.ones(1), 5)
