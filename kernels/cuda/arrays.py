"""Small array steps on the device, so that data between two kernels never visits the host.

Filling scratch, copying the padded routes and finding the rows a kernel
changed are Numba kernels (grid-stride loops) rather than CuPy calls: one
code path that runs on CuPy arrays on a GPU and in Numba's simulator alike.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from kernels.cuda import _launch


@cuda.jit(cache=True)
def _fill(flat, value):  # type: ignore[no-untyped-def]
    for i in range(cuda.grid(1), flat.shape[0], cuda.gridsize(1)):
        flat[i] = value


@cuda.jit(cache=True)
def _copy(src, dst):  # type: ignore[no-untyped-def]
    for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
        dst[i] = src[i]


@cuda.jit(cache=True)
def _rows_differ(x, y, out):  # type: ignore[no-untyped-def]
    for r in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        differ = False
        for c in range(x.shape[1]):
            if x[r, c] != y[r, c]:
                differ = True
                break
        out[r] = differ


def _flat(x: Any) -> Any:
    return x.reshape(x.size)


def fill(x: Any, value: Any) -> None:
    """Set every element of the contiguous device array ``x`` to ``value``, on the device."""
    if x.size:
        _fill[_launch.launch_config(x.size)](_flat(x), x.dtype.type(value))


def full(shape: int | tuple[int, ...], value: Any, dtype: np.dtype | type) -> Any:
    """A device array of ``shape`` filled with ``value``, made on the device (no upload)."""
    out = _launch.device_empty(shape, dtype)
    fill(out, value)
    return out


def copy(x: Any) -> Any:
    """A device copy of the contiguous device array ``x``."""
    out = _launch.device_empty(x.shape, x.dtype)
    if x.size:
        _copy[_launch.launch_config(x.size)](_flat(x), _flat(out))
    return out


def rows_differ(x: Any, y: Any) -> Any:
    """Device bool[R]: whether row ``r`` of the [R, L] arrays ``x`` and ``y`` differs anywhere."""
    if x.shape != y.shape or len(x.shape) != 2:
        raise ValueError(f"rows_differ needs two [R, L] arrays of one shape, not {x.shape} and {y.shape}")
    out = _launch.device_empty(x.shape[0], np.bool_)
    if x.shape[0]:
        _rows_differ[_launch.launch_config(x.shape[0])](x, y, out)
    return out
