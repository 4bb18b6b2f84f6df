"""Geometry kernels on CUDA (Numba's simulator here) must equal the CPU kernels.

Inputs are tiny but span several blocks: THREADS is shrunk to 8 and the grid
is therefore several blocks wide.
"""
from __future__ import annotations

import numpy as np
import pytest

from kernels import api
from kernels._scalar import EUCLID, EUCLID_ROUND, GREAT_CIRCLE
from kernels.cuda import _launch
from tests.cuda.conftest import same_floats


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(_launch, "THREADS", 8)


def both(fn, *args):
    """Run an api kernel on both backends; return (cpu, cuda copied to the host)."""
    cpu = fn(*args, backend="cpu")
    gpu = fn(*args, backend="cuda")
    if isinstance(cpu, tuple):
        return cpu, tuple(_launch.to_host(x) for x in gpu)
    return cpu, _launch.to_host(gpu)


def test_launch_covers_all_items_in_several_blocks():
    assert _launch.launch_config(50) == (7, 8)
    assert _launch.launch_config(0) == (1, 8)


def test_device_round_trip_keeps_values_and_casts():
    x = np.arange(5)
    dev = _launch.to_device(x, np.float64)
    assert _launch.to_device(dev, np.float64) is dev  # already right: no copy
    np.testing.assert_array_equal(_launch.to_host(_launch.to_device(dev, np.int32)), x)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
def test_pair_distances(rng, metric):
    a1, b1, a2, b2 = (rng.uniform(-80, 80, 45) for _ in range(4))
    cpu, gpu = both(api.pair_distances, a1, b1, a2, b2, metric, 1.3)
    same_floats(gpu, cpu)
    cpu, gpu = both(api.pair_distances, a1[:0], b1[:0], a2[:0], b2[:0], metric, 1.3)
    assert gpu.shape == (0,)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID])
def test_route_lengths(rng, metric):
    a, b = rng.uniform(-60, 60, 30), rng.uniform(-60, 60, 30)
    sizes = rng.integers(0, 5, 21)
    sizes[0] = 0
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    nodes = rng.integers(0, 30, int(ptr[-1])).astype(np.int32)
    depot = rng.integers(0, 30, 21).astype(np.int32)
    cpu, gpu = both(api.route_lengths, ptr, nodes, depot, a, b, rng.uniform(0.5, 2.0, 30), metric, 1.1)
    same_floats(gpu, cpu)
    assert gpu[0] == 0.0


def test_node_distances_with_circuity(rng):
    a, b, circ = rng.uniform(-60, 60, 30), rng.uniform(-60, 60, 30), rng.uniform(0.5, 2.0, 30)
    frm, to = (rng.integers(0, 30, 50).astype(np.int32) for _ in range(2))
    cpu, gpu = both(api.node_distances, frm, to, a, b, circ, GREAT_CIRCLE, 1.3)
    same_floats(gpu, cpu)


def test_hilbert_keys(rng):
    a, b = rng.uniform(-10, 110, 60), rng.uniform(-5, 5, 60)
    a[0], b[1] = np.nan, 1e30
    cpu, gpu = both(api.hilbert_keys, a, b, 0.0, 100.0, -4.0, 4.0)
    assert gpu.dtype == np.int64
    np.testing.assert_array_equal(gpu, cpu)


@pytest.mark.parametrize("metric,k", [(GREAT_CIRCLE, 3), (EUCLID, 1), (EUCLID_ROUND, 16)])
def test_nearest_hubs(rng, metric, k):
    ha, hb = rng.uniform(-40, 40, 25), rng.uniform(170, 190, 25)  # crosses the date line for great circle
    ha[3:6], hb[3:6] = ha[2], hb[2]  # duplicates: tie-break by index
    qa, qb = rng.uniform(-60, 60, 40), rng.uniform(160, 200, 40)
    if metric == EUCLID_ROUND:
        ha, hb, qa, qb = (np.round(v) for v in (ha, hb, qa, qb))
    (cpu_idx, cpu_dist), (gpu_idx, gpu_dist) = both(api.nearest_hubs, qa, qb, ha, hb, k, metric, 1.2)
    assert gpu_idx.dtype == np.int32 and gpu_idx.shape == (40, k)
    np.testing.assert_array_equal(gpu_idx, cpu_idx)
    same_floats(gpu_dist, cpu_dist)


def test_nearest_hubs_near_ties(rng):
    """Hubs 1e-13 degrees apart force the exact fallback: the device must take it exactly like the CPU."""
    ha = np.concatenate([rng.uniform(30, 40, 10), 35.0 + rng.uniform(-1, 1, 12) * 1e-13])
    hb = np.concatenate([rng.uniform(-100, -90, 10), -95.0 + rng.uniform(-1, 1, 12) * 1e-13])
    qa = np.concatenate([35.0 + rng.uniform(-3, 3, 12) * 1e-13, rng.uniform(30, 40, 12)])
    qb = np.concatenate([-95.0 + rng.uniform(-3, 3, 12) * 1e-13, rng.uniform(-100, -90, 12)])
    (cpu_idx, cpu_dist), (gpu_idx, gpu_dist) = both(api.nearest_hubs, qa, qb, ha, hb, 3, GREAT_CIRCLE, 1.0)
    np.testing.assert_array_equal(gpu_idx, cpu_idx)
    same_floats(gpu_dist, cpu_dist)
