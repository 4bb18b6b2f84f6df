"""Hilbert keys (CPU) against the pure-Python core, plus the curve's bijection and adjacency."""
from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from kernels._scalar import HILBERT_ORDER, reference
from kernels.core import host as _core
from kernels.core.hilbert import LAST_CELL
from kernels.cpu.hilbert import hilbert_keys
from tests import naive


@njit(cache=True)
def compiled_hilbert_d(x, y, order):
    """The CPU-compiled scalar core, callable from Python."""
    return _core.hilbert_d(x, y, order)






def test_order_31_keys_do_not_overflow():
    """Keys reach 4**31 - 1 = 2**62 - 1; the compiled int64 core must match Python's big ints."""
    assert HILBERT_ORDER == 31
    for x, y in [(0, 0), (LAST_CELL, 0), (0, LAST_CELL), (LAST_CELL, LAST_CELL),
                 (LAST_CELL, LAST_CELL - 1), (1 << 30, (1 << 30) - 1), (123456789, 2000000000)]:
        want = reference.hilbert_d(x, y, HILBERT_ORDER)
        assert 0 <= want < 4**HILBERT_ORDER
        assert compiled_hilbert_d(x, y, HILBERT_ORDER) == want
    keys = naive.hilbert_keys([0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], 0.0, 1.0, 0.0, 1.0)
    assert keys.max() == 4**HILBERT_ORDER - 1


@pytest.mark.parametrize("n", [0, 1, 100, 2000])
def test_keys_match_python_reference(rng, n):
    a = rng.uniform(-10, 110, n)  # partly outside the bounds: clamped
    b = rng.uniform(-5, 5, n)
    got = hilbert_keys(a, b, 0.0, 100.0, -4.0, 4.0)
    assert got.dtype == np.int64 and got.shape == (n,)
    np.testing.assert_array_equal(got, naive.hilbert_keys(a, b, 0.0, 100.0, -4.0, 4.0))


def test_edges_clamping_nan_and_empty_bounds():
    a = np.array([0.0, 100.0, -1e300, 1e300, np.nan, 50.0])
    b = np.array([0.0, 100.0, -1e300, 1e300, 3.0, np.inf])
    np.testing.assert_array_equal(hilbert_keys(a, b, 0.0, 100.0, 0.0, 100.0), naive.hilbert_keys(a, b, 0.0, 100.0,
                                                                                                 0.0, 100.0))
    # Empty bounds put every point in cell (0, 0), key 0.
    assert hilbert_keys(np.array([1.0, 2.0]), np.array([3.0, 4.0]), 5.0, 5.0, 0.0, 0.0).tolist() == [0, 0]


def test_curve_is_a_bijection_with_adjacent_steps():
    order = 5
    side = 1 << order
    cell_of_key = {}
    for x in range(side):
        for y in range(side):
            d = compiled_hilbert_d(x, y, order)
            assert d == reference.hilbert_d(x, y, order)
            cell_of_key[d] = (x, y)
    assert sorted(cell_of_key) == list(range(side * side))
    for d in range(side * side - 1):
        (x1, y1), (x2, y2) = cell_of_key[d], cell_of_key[d + 1]
        assert abs(x1 - x2) + abs(y1 - y2) == 1


def test_keys_follow_the_curve_on_cell_centres():
    """Points at the centres of a 4 x 4 block of top-level cells get keys in curve order."""
    side = 4
    centres = (np.arange(side) + 0.5) / side
    x, y = np.meshgrid(centres, centres, indexing="ij")
    keys = hilbert_keys(x.ravel(), y.ravel(), 0.0, 1.0, 0.0, 1.0)
    order = np.argsort(keys)
    cells = np.stack([np.floor(x.ravel() * side), np.floor(y.ravel() * side)], 1)[order]
    assert np.all(np.abs(np.diff(cells, axis=0)).sum(1) == 1)
    assert len(set(keys.tolist())) == side * side


def test_length_mismatch():
    with pytest.raises(ValueError, match="hilbert_keys needs a and b of one length, got 2 and 3"):
        hilbert_keys(np.zeros(2), np.zeros(3), 0.0, 1.0, 0.0, 1.0)
