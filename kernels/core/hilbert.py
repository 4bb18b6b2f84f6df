"""Hilbert space-filling-curve keys on the CPU, for ordering stops into a giant tour.

Each coordinate is quantised onto ``2**HILBERT_ORDER`` cells of its bounds
(clamped, NaN to cell 0) and the cell pair is mapped by the scalar core
``hilbert_d`` to a ``2 * HILBERT_ORDER``-bit key, which fits an int64. The
per-point body is built by :func:`build_elements` so that the CUDA kernel in
:mod:`kernels.cuda.hilbert` shares it.
"""
from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from kernels._scalar import HILBERT_ORDER

#: Cells per axis and the largest cell index.
CELLS = 1 << HILBERT_ORDER
LAST_CELL = CELLS - 1


def build_elements(jit: Callable, core: SimpleNamespace) -> SimpleNamespace:
    """Return the per-point key body compiled with ``jit`` on top of ``core.hilbert_d``."""
    hilbert_d = core.hilbert_d

    @jit
    def quantise(v, lo, factor):  # type: ignore[no-untyped-def]
        """Cell of ``v``: ``floor((v - lo) * factor)`` clamped to ``[0, LAST_CELL]``."""
        t = (v - lo) * factor
        if not t >= 0.0:  # below the bounds, or NaN
            return 0
        if t >= LAST_CELL:
            return LAST_CELL
        return int(t)

    @jit
    def hilbert_key(a, b, lo_a, fa, lo_b, fb):  # type: ignore[no-untyped-def]
        """Hilbert key of the point (a, b): ``a`` gives the curve's x cell, ``b`` its y cell."""
        return hilbert_d(quantise(a, lo_a, fa), quantise(b, lo_b, fb), HILBERT_ORDER)

    return SimpleNamespace(quantise=quantise, hilbert_key=hilbert_key)


def cell_factor(lo: float, hi: float) -> float:
    """Cells per coordinate unit for bounds ``[lo, hi]``; 0 when the bounds are empty (all cell 0)."""
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        return 0.0
    return CELLS / (hi - lo)


def check_points(a: np.ndarray, b: np.ndarray) -> int:
    """Return the number of points, raising if the coordinate arrays differ in length."""
    if len(a) != len(b):
        raise ValueError(f"hilbert_keys needs a and b of one length, got {len(a)} and {len(b)}")
    return len(a)


