"""Hilbert space-filling-curve keys on a CUDA device, one thread per point in a grid-stride loop.

The per-point body is the CPU's (:func:`kernels.core.hilbert.build_elements`)
compiled as a device function, so keys are identical on both backends.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from kernels.core.hilbert import build_elements, cell_factor, check_points
from kernels.cuda import _core, _launch

_hilbert_key = build_elements(cuda.jit(device=True, inline=True), _core).hilbert_key


@cuda.jit(cache=True)
def _hilbert_keys(a, b, lo_a, fa, lo_b, fb, out):  # type: ignore[no-untyped-def]
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = _hilbert_key(a[i], b[i], lo_a, fa, lo_b, fb)


def hilbert_keys(a: Any, b: Any, lo_a: float, hi_a: float, lo_b: float, hi_b: float) -> Any:
    """Hilbert keys (device int64[n]) of points quantised onto ``2**31`` cells per axis of the given bounds."""
    n = check_points(a, b)
    out = _launch.device_empty(n, np.int64)
    if n:
        blocks, threads = _launch.launch_config(n)
        _hilbert_keys[blocks, threads](
            _launch.to_device(a, np.float64), _launch.to_device(b, np.float64),
            float(lo_a), cell_factor(lo_a, hi_a), float(lo_b), cell_factor(lo_b, hi_b), out,
        )
    return out
