"""Hilbert keys on the CPU, one point per ``prange`` iteration (bodies in :mod:`kernels.core.hilbert`)."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from kernels.core import host as _core
from kernels.core.hilbert import build_elements, cell_factor, check_points

_hilbert_key = build_elements(njit(inline="always", cache=True), _core).hilbert_key


@njit(parallel=True, cache=True)
def _hilbert_keys(a, b, lo_a, fa, lo_b, fb, out):  # type: ignore[no-untyped-def]
    for i in prange(out.shape[0]):
        out[i] = _hilbert_key(a[i], b[i], lo_a, fa, lo_b, fb)


def hilbert_keys(
    a: np.ndarray, b: np.ndarray, lo_a: float, hi_a: float, lo_b: float, hi_b: float
) -> np.ndarray:
    """Hilbert keys (int64[n]) of points quantised onto ``2**31`` cells per axis of the given bounds."""
    n = check_points(a, b)
    out = np.empty(n, dtype=np.int64)
    _hilbert_keys(
        np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64),
        float(lo_a), cell_factor(lo_a, hi_a), float(lo_b), cell_factor(lo_b, hi_b), out,
    )
    return out
