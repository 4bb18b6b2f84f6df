"""CUDA kernels: on a GPU node they run on the device; in CI they run in Numba's
simulator, in their own pytest process with NUMBA_ENABLE_CUDASIM=1 set before
numba is imported (see the Makefile's `test` target). Without either, skip.

The simulator runs the kernels as Python, with the CPU's arithmetic, so it must
match the CPU kernels bit for bit. A real device contracts multiply-adds into
FMAs and has its own sin/cos/asin (a few ulp apart: bench/ptx_sm90.md), so on
hardware floats are compared with :data:`DEVICE_RTOL`, indices and keys
exactly, and the searches' routes by feasibility and cost (ties may break
differently): :func:`same_floats` and :func:`same_search` say which.
"""
from __future__ import annotations

import numpy as np
import pytest
from numba import config as nconfig

#: the simulator: bit-equal to the CPU; a device: floats within this relative tolerance (FMA contraction,
#: libdevice's transcendental functions)
SIMULATOR = bool(nconfig.ENABLE_CUDASIM)
DEVICE_RTOL = 1e-12
#: a search's cost on a device against the CPU's (the same moves up to near-ties, which may break otherwise)
SEARCH_RTOL = 1e-6


def same_floats(gpu: np.ndarray, cpu: np.ndarray) -> None:
    """Bit-equal in the simulator, within DEVICE_RTOL on a device."""
    if SIMULATOR:
        np.testing.assert_array_equal(gpu, cpu)
    else:
        np.testing.assert_allclose(gpu, cpu, rtol=DEVICE_RTOL, atol=1e-9)


def same_search(gpu: np.ndarray, cpu: np.ndarray, gpu_cost: float, cpu_cost: float) -> bool:
    """Whether to compare a search's layouts exactly: always in the simulator; on a device only the costs
    (within SEARCH_RTOL), and the caller checks the device result's feasibility on its own."""
    if SIMULATOR:
        np.testing.assert_array_equal(gpu, cpu)
        return True
    assert abs(gpu_cost - cpu_cost) <= SEARCH_RTOL * max(abs(cpu_cost), 1.0), (gpu_cost, cpu_cost)
    return False


def pytest_collection_modifyitems(config, items):  # noqa: D103
    if SIMULATOR:
        return
    from numba import cuda

    if not cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device or NUMBA_ENABLE_CUDASIM=1")
        for item in items:
            item.add_marker(skip)
