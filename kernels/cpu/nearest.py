"""The k nearest hubs of every query point on the CPU, one query per ``prange`` iteration.

The grid, its candidate lists and the per-query search are :mod:`kernels.core.nearest`'s.
"""
from __future__ import annotations

import numpy as np

from kernels.core.nearest import LIST_HUBS_PER_CELL, build_hub_grid, check_query, knn_loop


def nearest_hubs(
    qa: np.ndarray, qb: np.ndarray, ha: np.ndarray, hb: np.ndarray, k: int, metric: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest hubs of each query point: ``(idx int32[n, k], dist float64[n, k])``.

    Rows are sorted by distance, ties by smaller hub index; with fewer than k
    hubs the row is padded with -1 / inf, and so is a query with non-finite
    coordinates.
    """
    n = check_query(qa, qb, ha, hb, k)
    k = int(k)
    grid = build_hub_grid(ha, hb, int(metric), LIST_HUBS_PER_CELL, k)
    out_idx = np.empty((n, k), np.int32)
    out_dist = np.empty((n, k), np.float64)
    knn_loop(np.ascontiguousarray(qa, np.float64), np.ascontiguousarray(qb, np.float64),
                  k, int(metric), float(scale), *grid, out_idx, out_dist)
    return out_idx, out_dist
