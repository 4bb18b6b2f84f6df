"""CUDA kernels in Numba's simulator: this directory runs in its own pytest process
with NUMBA_ENABLE_CUDASIM=1 set before numba is imported (see the Makefile)."""
from __future__ import annotations

import os
import sys

import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") in ("", "0") and "numba" not in sys.modules:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"


def pytest_collection_modifyitems(config, items):  # noqa: D103
    from numba import config as nconfig

    if not nconfig.ENABLE_CUDASIM:
        from numba import cuda

        if not cuda.is_available():
            skip = pytest.mark.skip(reason="needs NUMBA_ENABLE_CUDASIM=1 or a CUDA device")
            for item in items:
                item.add_marker(skip)
