"""Rows grouped by equal keys in linear time: the first row of every distinct key, by hashing.

Grouping by sorting (``np.lexsort``, Arrow's hash encoding) was what bounded the grouping of a
national day: at 10 million rows a 4-key lexsort takes seconds and so does ``dictionary_encode`` of
10 million strings. Here every row is hashed once, the rows are partitioned by the top bits of
their hash (so that each partition's table stays in cache), and each partition is deduplicated in
row order, partitions in parallel. The result is the same as the sort: ``first[i]`` is the smallest
row with the key of row ``i``; :func:`codes` numbers the groups in order of first appearance (as
``dictionary_encode`` and :func:`group_rows` do). Hashes only pick where to
look: equal keys are always confirmed on the keys themselves, so a collision can never merge two
groups. Nothing depends on the number of threads.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

#: rows per partition the partitioning aims at: its table (two slots a row) fits in a core's L2
_PARTITION_ROWS = 8192
_EMPTY = -1


@njit(inline="always")
def mix(h):  # type: ignore[no-untyped-def]
    """The 64-bit finaliser of MurmurHash3: every input bit reaches every output bit."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(parallel=True, cache=True)
def _hash_keys(keys, out):  # type: ignore[no-untyped-def]
    for i in prange(out.size):
        h = np.uint64(0x9E3779B97F4A7C15)
        for key in keys:
            h = mix(h ^ np.uint64(key[i]))
        out[i] = h


@njit(parallel=True, cache=True)
def _hash_strings(offsets, data, valid, out):  # type: ignore[no-untyped-def]
    for i in prange(out.size):
        h = np.uint64(0xCBF29CE484222325)  # FNV-1a over the bytes, then mixed
        if valid[i]:
            for p in range(offsets[i], offsets[i + 1]):
                h = (h ^ np.uint64(data[p])) * np.uint64(0x100000001B3)
        out[i] = mix(h)


@njit(cache=True)
def _partition(hashes, valid, bits):  # type: ignore[no-untyped-def]
    """Valid rows in order of (top ``bits`` of their hash, row), a stable counting sort: ``(rows, their
    hashes, bounds)``. The dedup then reads both in order instead of gathering hashes at random."""
    shift = np.uint64(63 - bits)  # h >> 1 >> (63 - bits): the top ``bits`` bits, and 0 when bits is 0
    parts = 1 << bits
    counts = np.zeros(parts + 1, np.int64)
    for i in range(hashes.size):
        if valid[i]:
            counts[np.int64(hashes[i] >> np.uint64(1) >> shift) + 1] += 1
    for p in range(parts):
        counts[p + 1] += counts[p]
    bounds = counts.copy()
    rows = np.empty(counts[parts], np.int64)
    ordered = np.empty(counts[parts], np.uint64)
    for i in range(hashes.size):
        if valid[i]:
            p = np.int64(hashes[i] >> np.uint64(1) >> shift)
            rows[counts[p]] = i
            ordered[counts[p]] = hashes[i]
            counts[p] += 1
    return rows, ordered, bounds


@njit(inline="always")
def _same_keys(keys, a, b):  # type: ignore[no-untyped-def]
    for key in keys:
        if key[a] != key[b]:
            return False
    return True


@njit(inline="always")
def _same_strings(offsets, data, a, b):  # type: ignore[no-untyped-def]
    start_a, start_b, size = offsets[a], offsets[b], offsets[a + 1] - offsets[a]
    if offsets[b + 1] - start_b != size:
        return False
    for q in range(size):
        if data[start_a + q] != data[start_b + q]:
            return False
    return True


@njit(inline="always")
def _table_size(rows):  # type: ignore[no-untyped-def]
    size = 16
    while size < 2 * rows:
        size *= 2
    return size


@njit(parallel=True, cache=True)
def _first_rows_of_keys(keys, hashes, rows, bounds, first):  # type: ignore[no-untyped-def]
    for part in prange(bounds.size - 1):
        lo, hi = bounds[part], bounds[part + 1]
        size = _table_size(hi - lo)
        mask = np.uint64(size - 1)
        table = np.full(size, _EMPTY, np.int64)  # (tag << 32) | row of the key's first row
        for p in range(lo, hi):
            i = rows[p]
            h = hashes[p]
            tag = np.int64((h >> np.uint64(16)) & np.uint64(0x7FFFFFFF))
            s = h & mask
            while True:
                entry = table[s]
                if entry == _EMPTY:
                    table[s] = (tag << 32) | i
                    first[p] = i
                    break
                j = entry & 0xFFFFFFFF
                if (entry >> 32) == tag and _same_keys(keys, i, j):
                    first[p] = j
                    break
                s = (s + np.uint64(1)) & mask


@njit(parallel=True, cache=True)
def _first_rows_of_strings(offsets, data, hashes, rows, bounds, first):  # type: ignore[no-untyped-def]
    for part in prange(bounds.size - 1):
        lo, hi = bounds[part], bounds[part + 1]
        size = _table_size(hi - lo)
        mask = np.uint64(size - 1)
        table = np.full(size, _EMPTY, np.int64)
        for p in range(lo, hi):
            i = rows[p]
            h = hashes[p]
            tag = np.int64((h >> np.uint64(16)) & np.uint64(0x7FFFFFFF))
            s = h & mask
            while True:
                entry = table[s]
                if entry == _EMPTY:
                    table[s] = (tag << 32) | i
                    first[p] = i
                    break
                j = entry & 0xFFFFFFFF
                if (entry >> 32) == tag and _same_strings(offsets, data, i, j):
                    first[p] = j
                    break
                s = (s + np.uint64(1)) & mask


@njit(parallel=True, cache=True)
def _scatter(rows, values, out):  # type: ignore[no-untyped-def]
    for p in prange(rows.size):
        out[rows[p]] = values[p]


@njit(cache=True)
def _codes(first, out):  # type: ignore[no-untyped-def]
    k = 0
    for i in range(first.size):
        f = first[i]
        if f < 0:
            out[i] = -1
        elif f == i:
            out[i] = k
            k += 1
        else:
            out[i] = out[f]  # f < i: numbered already
    return k


def _partition_bits(n: int) -> int:
    """Bits of the hash that pick a row's partition: about _PARTITION_ROWS rows a partition."""
    return max(0, int(np.ceil(np.log2(max(n, 1) / _PARTITION_ROWS))))


def first_rows(*keys: np.ndarray) -> np.ndarray:
    """For every row, the first row (int64) that agrees with it on every key (integer arrays of one length)."""
    n = keys[0].size
    if any(k.size != n for k in keys):
        raise ValueError("keys of different lengths")
    if n >= 2**32:
        raise ValueError("more than 2**32 rows")
    columns = tuple(np.ascontiguousarray(k, np.int64) for k in keys)
    hashes = np.empty(n, np.uint64)
    _hash_keys(columns, hashes)
    rows, hashes, bounds = _partition(hashes, np.ones(n, np.bool_), _partition_bits(n))
    found = np.empty(rows.size, np.int64)
    _first_rows_of_keys(columns, hashes, rows, bounds, found)
    first = np.empty(n, np.int64)
    _scatter(rows, found, first)
    return first


def first_rows_of_strings(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """For every string (Arrow layout: int32 or int64 ``offsets[n + 1]`` into the bytes ``data``), the first
    row (int64) that holds the same bytes; -1 where ``valid`` is False (a null)."""
    n = valid.size
    if offsets.size != n + 1:
        raise ValueError("offsets must have one more entry than there are strings")
    if n >= 2**32:
        raise ValueError("more than 2**32 rows")
    if offsets.dtype not in (np.int32, np.int64):
        offsets = offsets.astype(np.int64)
    offsets = np.ascontiguousarray(offsets)
    data = np.ascontiguousarray(data, np.uint8)
    valid = np.ascontiguousarray(valid, np.bool_)
    hashes = np.empty(n, np.uint64)
    _hash_strings(offsets, data, valid, hashes)
    rows, hashes, bounds = _partition(hashes, valid, _partition_bits(n))
    found = np.empty(rows.size, np.int64)
    _first_rows_of_strings(offsets, data, hashes, rows, bounds, found)
    first = np.full(n, -1, np.int64)
    _scatter(rows, found, first)
    return first


def codes(first: np.ndarray) -> tuple[np.ndarray, int]:
    """Group codes (int64, numbered by first appearance, -1 where ``first`` is -1) and the number of groups."""
    out = np.empty(first.size, np.int64)
    k = _codes(np.ascontiguousarray(first, np.int64), out)
    return out, int(k)


@njit(cache=True)
def _number_small(key, table, group, first):  # type: ignore[no-untyped-def]
    k = 0
    for i in range(key.size):
        g = table[key[i]]
        if g < 0:
            g = k
            table[key[i]] = k
            first[k] = i
            k += 1
        group[i] = g
    return k


def group_rows(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group rows that agree on every key; groups are numbered by their first row.

    Returns ``(group, first)``: the group of every row (int32[n]) and the first
    row of every group (int64[G], increasing). Linear: by hashing, not sorting
    (:func:`first_rows`). A key that holds one value separates no rows and is
    left out; one remaining key of small non-negative integers (codes such as
    arrays.string_codes gives) indexes a table directly instead of a hash.
    """
    n = keys[0].size
    if n == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    if any(k.size != n for k in keys):
        raise ValueError("keys of different lengths")
    ranges = [(k, k.min(), k.max()) for k in keys]
    varied = [(k, lo, hi) for k, lo, hi in ranges if lo != hi]
    if not varied:
        return np.zeros(n, np.int32), np.zeros(1, np.int64)
    if len(varied) == 1 and varied[0][0].dtype.kind in "iu" and varied[0][1] >= 0 and varied[0][2] < 2 * n:
        key, _, hi = varied[0]
        group = np.empty(n, np.int32)
        first_of = np.empty(n, np.int64)
        k = _number_small(np.ascontiguousarray(key, np.int64), np.full(int(hi) + 1, -1, np.int32), group, first_of)
        return group, first_of[:k].copy()
    keys = tuple(k for k, _, _ in varied)
    first = first_rows(*keys)
    group, _ = codes(first)
    return group.astype(np.int32), np.flatnonzero(first == np.arange(n)).astype(np.int64)


@njit(cache=True)
def _min_max(group, values, low, high):  # type: ignore[no-untyped-def]
    for i in range(group.size):
        g = group[i]
        for c in range(values.shape[0]):
            v = values[c, i]
            if v < low[c, g]:
                low[c, g] = v
            if v > high[c, g]:
                high[c, g] = v


def group_min_max(group: np.ndarray, n_groups: int, *values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest of each value column per group (float64[len(values), n_groups] each; +inf / -inf
    for a group without rows): ``np.minimum.at`` and ``np.maximum.at`` in one pass over the rows."""
    stacked = np.ascontiguousarray(np.vstack(values), np.float64) if values else np.zeros((0, group.size))
    low = np.full((stacked.shape[0], n_groups), np.inf)
    high = np.full((stacked.shape[0], n_groups), -np.inf)
    _min_max(np.ascontiguousarray(group, np.int64), stacked, low, high)
    return low, high


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for one integer key, by hashing the rows and sorting only
    the distinct values: the same sorted values and the same inverse (int64[n]), in linear time in the rows."""
    group, first = group_rows(values)
    distinct = values[first]
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    return distinct[order], rank[group]


def warm_up() -> None:
    """Compile (or load from Numba's cache) the string loops for both offset widths Arrow uses, on three strings
    read, like Arrow's buffers, as read-only arrays (a type of their own to Numba), and the per-group extents."""
    group_min_max(np.zeros(2, np.int64), 1, np.ones(2))
    data = np.frombuffer(b"abab", np.uint8)
    for width in (np.int32, np.int64):
        offsets = np.frombuffer(np.array([0, 2, 4, 4], width).tobytes(), width)
        first_rows_of_strings(offsets, data, np.array([True, True, False]))
