"""Clarke-Wright savings on CUDA (one thread per hub) gives the CPU's tours, starts and costs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kernels._scalar import EUCLID, GREAT_CIRCLE
from kernels.cpu import savings as cpu_savings
from kernels.cuda import _launch
from kernels.cuda import savings as cuda_savings
from tests.cuda.conftest import same_floats, same_search
from tests.kernels.test_savings import instance


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "THREADS", 2)  # three hubs span two blocks


@pytest.mark.parametrize("metric, max_dur, per_stop", [(EUCLID, math.inf, False), (GREAT_CIRCLE, 4000.0, True)])
def test_savings_matches_cpu(rng, small_blocks, metric, max_dur, per_stop):
    n_hubs, per_hub = 3, 12
    n, _, (a, b, *demands), circ, (ptr, pi, pj, pd, _), scale = instance(rng, n_hubs, per_hub, metric, per_stop)
    args = (np.arange(0, n + 1, per_hub, dtype=np.int64), np.arange(n, dtype=np.int32),
            (n + np.arange(n_hubs)).astype(np.int32), ptr, pi, pj, pd, a, b, circ, *demands, np.full(n_hubs, 40.0),
            np.full(n_hubs, 12.0), np.full(n_hubs, max_dur), np.full(n_hubs, 30.0), metric, scale)
    tour, start, cost = cpu_savings.savings_tours(*args)
    d_tour, d_start, d_cost = (_launch.to_host(x) for x in cuda_savings.savings_tours(*args))
    same_floats(d_cost, cost)
    if same_search(d_tour, tour, float(d_cost.sum()), float(cost.sum())):
        np.testing.assert_array_equal(d_start, start)
