"""Clarke-Wright savings (kernels.core.savings): the kernel merges exactly as the textbook version does."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kernels._scalar import EUCLID, GREAT_CIRCLE
from kernels.cpu.savings import _by_decreasing, savings_pairs, savings_tours
from planner.device import Compute
from planner.stages.neighbours import neighbour_lists
from tests import naive


def instance(rng: np.random.Generator, n_hubs: int, per_hub: int, metric: int, per_stop: bool = False):
    """Stops scattered around ``n_hubs`` depots (nodes: stops, then depots), their circuity multipliers (1.0, or
    with ``per_stop`` each stop's own, one of them huge) and their sorted savings pairs."""
    n = n_hubs * per_hub
    hub = np.repeat(np.arange(n_hubs), per_hub)
    if metric == GREAT_CIRCLE:
        centre = np.column_stack([40 + rng.uniform(0, 1, n_hubs), -74 + rng.uniform(0, 1, n_hubs)])
        pts = centre[hub] + rng.normal(0, 0.05, (n, 2))
    else:
        centre = rng.uniform(0, 1000, (n_hubs, 2))
        pts = centre[hub] + rng.normal(0, 60, (n, 2))
    a, b = np.r_[pts[:, 0], centre[:, 0]], np.r_[pts[:, 1], centre[:, 1]]
    kg = np.r_[rng.uniform(1, 10, n), np.zeros(n_hubs)]
    pn = np.r_[rng.integers(1, 3, n).astype(float), np.zeros(n_hubs)]
    svc = np.r_[rng.uniform(30, 120, n), np.zeros(n_hubs)]
    spd = np.r_[rng.choice([22.0, 38.0, 60.0], n), np.full(n_hubs, 38.0)]
    circ = np.r_[rng.uniform(0.6, 2.0, n), np.ones(n_hubs)] if per_stop else np.ones(n + n_hubs)
    if per_stop:
        circ[3] = 40.0
    compute = Compute.open("cpu", metric, 1.3 if metric == GREAT_CIRCLE else 1.0)
    near = neighbour_lists(compute.embed(a[:n], b[:n]), 6, hub)
    dist = np.where(near >= 0, 0.0, np.inf)
    rows, cols = np.nonzero(near >= 0)
    dist[rows, cols] = [naive.node_distance(metric, compute.scale, circ, a, b, i, j)
                        for i, j in zip(rows, near[rows, cols])]
    d0 = np.array([naive.node_distance(metric, compute.scale, circ, a, b, n + hub[s], s) for s in range(n)])
    ptr, pi, pj, pd, saving = savings_pairs(hub, near, d0, dist, n_hubs)
    return n, hub, (a, b, kg, pn, svc, spd), circ, (ptr, pi, pj, pd, saving), compute.scale


@pytest.mark.parametrize("metric, max_dur, vehicles, per_stop", [
    (EUCLID, math.inf, 30, False), (GREAT_CIRCLE, 4000.0, 30, False), (GREAT_CIRCLE, math.inf, 2, False),
    (GREAT_CIRCLE, 4000.0, 30, True)])
def test_kernel_merges_like_the_textbook(rng, metric, max_dur, vehicles, per_stop):
    n_hubs, per_hub = 3, 25
    n, hub, nodes, circ, (ptr, pi, pj, pd, saving), scale = instance(rng, n_hubs, per_hub, metric, per_stop)
    assert np.all(saving > 0) and all(np.all(np.diff(-saving[ptr[h]:ptr[h + 1]]) >= 0) for h in range(n_hubs))
    hub_ptr = np.arange(0, n + 1, per_hub, dtype=np.int64)
    hub_stops = np.arange(n, dtype=np.int32)
    depots = (n + np.arange(n_hubs)).astype(np.int32)
    caps = np.full(n_hubs, 40.0), np.full(n_hubs, 12.0), np.full(n_hubs, max_dur), np.full(n_hubs, float(vehicles))
    a, b, *demands = nodes
    tour, start, cost = savings_tours(hub_ptr, hub_stops, depots, ptr, pi, pj, pd, a, b, circ, *demands, *caps, metric,
                                      scale)
    for h in range(n_hubs):
        lo, hi = hub_ptr[h], hub_ptr[h + 1]
        pairs = list(zip(pi[ptr[h]:ptr[h + 1]].tolist(), pj[ptr[h]:ptr[h + 1]].tolist(), pd[ptr[h]:ptr[h + 1]]))
        want_tour, want_start, want_cost = naive.savings_routes(list(range(lo, hi)), n + h, pairs, *nodes, 40.0, 12.0,
                                                                max_dur, vehicles, metric, scale, circ)
        assert tour[lo:hi].tolist() == want_tour and start[lo:hi].tolist() == want_start
        assert cost[h] == pytest.approx(want_cost, rel=1e-12) if math.isfinite(want_cost) else cost[h] == math.inf
    if vehicles == 2:
        assert np.all(np.isinf(cost))  # 25 stops of 1-10 kg on 40 kg vehicles need more than 2
    else:
        assert np.all(np.isfinite(cost)) and start.sum() < n  # merges happened


def test_pairs_are_unique_positive_and_per_hub(rng):
    n, hub, _, _, (ptr, pi, pj, pd, saving), _ = instance(rng, 2, 30, EUCLID)
    keys = set(zip(pi.tolist(), pj.tolist()))
    assert len(keys) == pi.size and np.all(pi < pj)
    for h in range(2):
        assert np.all(hub[pi[ptr[h]:ptr[h + 1]]] == h) and np.all(hub[pj[ptr[h]:ptr[h + 1]]] == h)


@pytest.mark.parametrize("k", [1, 6, 16])
def test_pairs_equal_one_global_sort(rng, k):
    """Hub-by-hub pairs equal the global NumPy sort exactly, ties and asymmetric lists included."""
    n_hubs, per_hub = 4, 60
    n = n_hubs * per_hub
    hub = rng.permutation(np.repeat(np.arange(n_hubs), per_hub))  # hubs interleaved, as a group's rows are
    pts = rng.uniform(0, 100, (n, 2))
    pts[1] = pts[0]  # a tie
    compute = Compute.open("cpu", EUCLID, 1.0)
    near = neighbour_lists(compute.embed(pts[:, 0], pts[:, 1]), k, hub)
    dist = np.where(near >= 0, np.hypot(*(pts[np.maximum(near, 0)] - pts[:, None, :]).transpose(2, 0, 1)), np.inf)
    d0 = np.round(rng.uniform(50, 60, n), 1)  # equal savings occur
    got = savings_pairs(hub, near, d0, dist, n_hubs)
    want = naive.savings_pairs(hub, near, d0, dist, n_hubs)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("m", [0, 1, 2, 700, 20000])
def test_radix_order_equals_the_stable_sort(rng: np.random.Generator, m: int) -> None:
    """The savings' radix sort gives np.argsort(-v, kind="mergesort") exactly: ties keep their order, values
    of every magnitude from the smallest subnormal to the largest double."""
    values = rng.gamma(2.0, 300.0, m).round(1)  # many equal savings
    if m > 2:
        values[::97] = np.nextafter(0.0, 1.0)
        values[1::89] = np.finfo(np.float64).max
        values[2::83] = rng.uniform(1e-300, 1e300, values[2::83].size)
    assert np.array_equal(_by_decreasing(values), np.argsort(-values, kind="mergesort"))
