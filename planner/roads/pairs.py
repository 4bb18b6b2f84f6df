"""Road figures for a sparse set of pairs (each stop's neighbours, hub legs), in blocks of one request each.

The search never needs an n x n matrix: it asks for pairs ``src[p] -> dst[p]``
(O(n k) of them). Consecutive sources are grouped with the union of their
targets into a block that fits one table request, so a block of spatially
close stops shares most of its targets; the blocks run concurrently in
batches, so memory stays bounded by one batch besides the O(n k) answer.
Points numbered in a spatial order (the planner's Hilbert order) give tight
blocks.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from planner.roads.engine import Block, RoadEngine, as_points

#: blocks handed to the engine at once (bounds the memory of the blocks in flight)
BATCH_BLOCKS = 64
#: most source x target pairs per block even where the server allows more: on Baltimore (10,000 stops, k = 12)
#: blocks of 4,000-10,000 pairs were fastest on MLD and CH alike; 40,000 computed 15x the pairs kept and was slower
BLOCK_PAIRS = 10_000


def _blocks(src: np.ndarray, dst: np.ndarray, max_pairs: int, max_locations: int) -> list[tuple[int, int]]:
    """Cut pairs sorted by (src, dst) into ranges whose sources x union of targets fit one request."""
    if src.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
    bounds = np.r_[starts, src.size]
    n_src = starts.size
    out: list[tuple[int, int]] = []
    a, guess = 0, 32
    while a < n_src:
        g = min(guess, n_src - a)
        while True:
            lo, hi = bounds[a], bounds[a + g]
            n_targets = np.unique(dst[lo:hi]).size
            if g == 1 or (g * n_targets <= max_pairs and g + n_targets <= max_locations):
                break
            g = max(1, (g * 3) // 4)
        out.append((int(lo), int(hi)))
        guess = g + max(1, g // 4) if g == guess else g
        a += g
    return out


def pair_table(engine: RoadEngine, lat: Any, lon: Any, src: Any, dst: Any,
               batch_blocks: int = BATCH_BLOCKS, block_pairs: int = BLOCK_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """Road ``km[P]`` and ``seconds[P]`` from point ``src[p]`` to point ``dst[p]`` (``inf`` where unreachable)."""
    la, lo = as_points(lat, lon, "pair points")
    s = np.asarray(src, dtype=np.int64).reshape(-1)
    d = np.asarray(dst, dtype=np.int64).reshape(-1)
    if s.shape != d.shape:
        raise ValueError(f"pair_table: {s.size} sources but {d.size} targets")
    if s.size and (min(s.min(), d.min()) < 0 or max(s.max(), d.max()) >= la.size):
        raise ValueError("pair_table: a pair names a point that does not exist")
    keys, inverse = np.unique(s * max(la.size, 1) + d, return_inverse=True)
    us, ud = keys // max(la.size, 1), keys % max(la.size, 1)
    km = np.full(keys.size, np.inf)
    sec = np.full(keys.size, np.inf)
    max_pairs, max_locations = engine.request_capacity
    max_pairs = min(max_pairs, block_pairs)
    ranges = _blocks(us, ud, max_pairs, max_locations)
    for first in range(0, len(ranges), batch_blocks):
        batch = ranges[first:first + batch_blocks]
        blocks: list[Block] = []
        index: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        for lo_, hi_ in batch:
            bs, bd = us[lo_:hi_], ud[lo_:hi_]
            rows_of, rows = np.unique(bs, return_inverse=True)
            cols_of, cols = np.unique(bd, return_inverse=True)
            blocks.append((la[rows_of], lo[rows_of], la[cols_of], lo[cols_of]))
            index.append((lo_, hi_, rows, cols))
        for (lo_, hi_, rows, cols), (bkm, bsec) in zip(index, engine.tables(blocks), strict=True):
            km[lo_:hi_] = bkm[rows, cols]
            sec[lo_:hi_] = bsec[rows, cols]
    return km[inverse], sec[inverse]


def neighbour_pairs(neighbours: Any, both_directions: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(src, dst)`` of every stop to each of its neighbours (``-1`` pads), and back when ``both_directions``."""
    nbr = np.asarray(neighbours, dtype=np.int64)
    rows = np.repeat(np.arange(nbr.shape[0], dtype=np.int64), nbr.shape[1])
    cols = nbr.reshape(-1)
    keep = cols >= 0
    rows, cols = rows[keep], cols[keep]
    if both_directions:
        return np.concatenate([rows, cols]), np.concatenate([cols, rows])
    return rows, cols
