"""Inter-route local search on CUDA (kernels.cuda.inter) must give exactly the CPU kernel's routes.

Runs in Numba's simulator with a tiny block size so that a few dozen stops span
several blocks; instances come from the CPU test module's generator.
"""
from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

from kernels.cpu import inter as cpu_inter
from kernels.cuda import inter as cuda_inter
from tests.cuda.conftest import same_search
from tests.kernels import test_inter as cpu_tests


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cuda_inter, "THREADS", 4)


@pytest.mark.parametrize("metric,seed,n_stops,per_stop", [(0, 21, 24, False), (1, 22, 18, False),
                                                          (2, 23, 20, False), (0, 24, 24, True)])
def test_routes_equal_cpu(metric: int, seed: int, n_stops: int, per_stop: bool) -> None:
    start = cpu_tests.random_instance(seed, metric, n_hubs=2, n_stops=n_stops, per_route=4, k=4)
    if per_stop:  # each stop's own circuity multiplier (one huge), hubs at 1.0
        start.circuity = np.r_[np.ones(2), np.random.default_rng(seed).uniform(0.6, 2.0, n_stops)]
        start.circuity[5] = 40.0
    on_cpu, on_gpu = start.copy(), start.copy()
    moves_cpu = cpu_inter.improve_inter(*on_cpu.args(), 20)
    moves_gpu = cuda_inter.improve_inter(*on_gpu.args(), 20)
    assert moves_cpu > 0
    if same_search(on_gpu.routes, on_cpu.routes, cpu_tests.total_distance(on_gpu), cpu_tests.total_distance(on_cpu)):
        assert moves_gpu == moves_cpu
        np.testing.assert_array_equal(on_gpu.route_len, on_cpu.route_len)
    cpu_tests.assert_plan_rules(start, on_gpu)


def test_device_arrays_are_improved_in_place() -> None:
    points = [(0, 0), (1, 5), (10, -5), (12, -5), (1, -5), (10, 5), (12, 5)]
    inst = cpu_tests.hand_instance(points, [[1, 2, 3], [4, 5, 6]], kg=[1, 1, 3, 3, 3, 1], cap_kg=[5, 7], cap_n=3)
    d_routes = cuda.to_device(inst.routes)
    d_len = cuda.to_device(inst.route_len)
    assert cuda_inter.improve_inter(d_routes, d_len, *inst.args()[2:], 10) == 1
    on_cpu = inst.copy()
    cpu_inter.improve_inter(*on_cpu.args(), 10)
    np.testing.assert_array_equal(d_routes.copy_to_host(), on_cpu.routes)
    np.testing.assert_array_equal(d_len.copy_to_host(), on_cpu.route_len)


def test_bad_dtype_is_named() -> None:
    inst = cpu_tests.random_instance(5, 1, n_stops=8)
    with pytest.raises(ValueError, match=r"^route_len must be an int32 array of shape \[\d+\]$"):
        cuda_inter.improve_inter(inst.routes, inst.route_len.astype(np.int64), *inst.args()[2:], 1)
