"""Launch helpers shared by the CUDA kernels: block size, grid sizing and array transfer.

Arrays live on the device as CuPy arrays when CuPy imports and the simulator is
off; otherwise (Numba's simulator, or a GPU node without CuPy) as Numba device
arrays. Inputs may be NumPy arrays or anything with ``__cuda_array_interface__``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from kernels.backend import cuda_simulator

#: Threads per block; tests shrink it so tiny simulator inputs span several blocks.
THREADS = 128
#: Upper bound on blocks per launch: the kernels use grid-stride loops, so more adds nothing.
MAX_BLOCKS = 65535


def launch_config(n: int) -> tuple[int, int]:
    """Return ``(blocks, threads)`` covering ``n`` items with the current :data:`THREADS`."""
    threads = int(THREADS)
    blocks = max(1, min(MAX_BLOCKS, math.ceil(n / threads)))
    return blocks, threads


def _cupy() -> Any | None:
    """CuPy when it is importable and the simulator is off, else None."""
    if cuda_simulator():
        return None
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def to_device(x: Any, dtype: np.dtype | type) -> Any:
    """Return ``x`` as a contiguous device array of ``dtype``, copying only when needed."""
    cp = _cupy()
    if cp is not None:
        return cp.ascontiguousarray(cp.asarray(x, dtype=dtype))
    if not isinstance(x, np.ndarray) and hasattr(x, "__cuda_array_interface__") and not cuda_simulator():
        x = cuda.as_cuda_array(x)
    if hasattr(x, "copy_to_host"):  # a Numba device array (or the simulator's stand-in)
        if x.dtype == np.dtype(dtype) and x.is_c_contiguous():
            return x
        x = x.copy_to_host()
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def device_empty(shape: int | tuple[int, ...], dtype: np.dtype | type) -> Any:
    """Allocate an uninitialised device array (CuPy when available)."""
    cp = _cupy()
    if cp is not None:
        return cp.empty(shape, dtype=dtype)
    return cuda.device_array(shape, dtype=dtype)


def to_host(x: Any) -> np.ndarray:
    """Copy a device array (CuPy or Numba) to a NumPy array; NumPy input is returned as is."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    cp = _cupy()
    if cp is not None and isinstance(x, cp.ndarray):
        return cp.asnumpy(x)
    return np.asarray(x)


def synchronize() -> None:
    """Wait for all queued device work (used by benchmarks around timed regions)."""
    cuda.synchronize()
