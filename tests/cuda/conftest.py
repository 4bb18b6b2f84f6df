"""CUDA kernels: on a GPU node they run on the device; in CI they run in Numba's
simulator, in their own pytest process with NUMBA_ENABLE_CUDASIM=1 set before
numba is imported (see the Makefile's `test` target). Without either, skip."""
from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):  # noqa: D103
    from numba import config as nconfig

    if nconfig.ENABLE_CUDASIM:
        return
    from numba import cuda

    if not cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device or NUMBA_ENABLE_CUDASIM=1")
        for item in items:
            item.add_marker(skip)
