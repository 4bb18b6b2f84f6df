"""Exact k nearest neighbours within groups of points: a k-d tree per group (CPU, every core).

The granular neighbour lists of savings, the local search and SISR are each
stop's k nearest stops of its own hub. Each group (hub) gets its own
balanced k-d tree: the group's points are split at the median of the
coordinate along which they spread most, down to leaves of at most _LEAF
points, stored contiguously in leaf order. A query descends to the nearer
side first and skips a side whose splitting plane lies farther than its
k-th best distance; the distance to the plane never exceeds the distance
to any point beyond it, so the result is exact: the k nearest by squared
Euclidean distance over every coordinate, ties to the lower row. Unlike a
uniform grid, the tree adapts to the density: a dense town and its rural
fringe in one hub cost the same per query. Queries run in leaf order, so
consecutive queries read the same leaves. Memory is O(n) plus the output.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

#: most points in a leaf
_LEAF = 16
#: queries per parallel task
_CHUNK = 256
#: deepest a tree of 2**31 points with leaves of _LEAF can go, with room
_STACK = 64


@njit(cache=True)
def _widest(pts, order, lo, hi):  # type: ignore[no-untyped-def]
    """The coordinate along which points ``order[lo:hi]`` spread most."""
    d = pts.shape[1]
    best, axis = -1.0, 0
    for a in range(d):
        low, high = np.inf, -np.inf
        for t in range(lo, hi):
            v = pts[order[t], a]
            low = min(low, v)
            high = max(high, v)
        if high - low > best:
            best, axis = high - low, a
    return axis


@njit(cache=True)
def _select(pts, order, lo, hi, mid, axis):  # type: ignore[no-untyped-def]
    """Reorder ``order[lo:hi]`` so that ``order[mid]`` holds the median along ``axis`` (by value, then row),
    every entry before it not after it and every entry after it not before it (Hoare's FIND)."""
    left, right = lo, hi - 1
    while left < right:
        pv, pr = pts[order[mid], axis], order[mid]
        i, j = left, right
        while i <= j:
            while pts[order[i], axis] < pv or (pts[order[i], axis] == pv and order[i] < pr):
                i += 1
            while pts[order[j], axis] > pv or (pts[order[j], axis] == pv and order[j] > pr):
                j -= 1
            if i <= j:
                order[i], order[j] = order[j], order[i]
                i += 1
                j -= 1
        if j < mid:
            left = i
        if mid < i:
            right = j


@njit(cache=True)
def _build(pts, order, lo, hi, node_lo, node_hi, node_axis, node_split, base):  # type: ignore[no-untyped-def]
    """The tree over ``order[lo:hi]`` in heap layout from node ``base`` (children 2i+1, 2i+2 relative)."""
    stack = np.empty(_STACK, np.int64)
    stack[0] = 0
    top = 1
    node_lo[base] = lo
    node_hi[base] = hi
    while top > 0:
        top -= 1
        v = stack[top]
        a, b = node_lo[base + v], node_hi[base + v]
        if b - a <= _LEAF:
            node_axis[base + v] = -1
            continue
        axis = _widest(pts, order, a, b)
        mid = (a + b) // 2
        _select(pts, order, a, b, mid, axis)
        node_axis[base + v] = axis
        node_split[base + v] = pts[order[mid], axis]
        for child, c_lo, c_hi in ((2 * v + 1, a, mid), (2 * v + 2, mid, b)):
            node_lo[base + child] = c_lo
            node_hi[base + child] = c_hi
            stack[top] = child
            top += 1


def _nodes(m: int) -> int:
    """Nodes of the heap-layout tree over ``m`` points (leaves of at most _LEAF)."""
    depth = 0
    while m > _LEAF:
        m = (m + 1) // 2
        depth += 1
    return 2 ** (depth + 1) - 1


@njit(cache=True)
def _offer(best_d, best_j, count, k, d2, q):  # type: ignore[no-untyped-def]
    """Insert (d2, q) into the sorted k-best lists if it belongs there; returns the new count."""
    if count == k and (d2 > best_d[k - 1] or (d2 == best_d[k - 1] and q > best_j[k - 1])):
        return count
    pos = min(count, k - 1)
    while pos > 0 and (best_d[pos - 1] > d2 or (best_d[pos - 1] == d2 and best_j[pos - 1] > q)):
        best_d[pos] = best_d[pos - 1]
        best_j[pos] = best_j[pos - 1]
        pos -= 1
    best_d[pos] = d2
    best_j[pos] = q
    return min(count + 1, k)


@njit(cache=True)
def _query(pts, tree_pts, order, i, base, k, node_lo, node_hi, node_axis, node_split, best_d, best_j,
           stack, bound):  # type: ignore[no-untyped-def]
    """The k nearest other rows of row ``i`` in the tree at node ``base``, nearest first, into best_d / best_j;
    returns how many."""
    d = pts.shape[1]
    count = 0
    stack[0] = 0
    bound[0] = 0.0
    top = 1
    while top > 0:
        top -= 1
        v = stack[top]
        below = bound[top]
        if count == k and below > best_d[k - 1] * (1.0 + 1e-9):
            continue
        axis = node_axis[base + v]
        if axis < 0:
            for p in range(node_lo[base + v], node_hi[base + v]):
                q = order[p]
                if q != i:
                    d2 = 0.0
                    for a in range(d):
                        diff = tree_pts[p, a] - pts[i, a]
                        d2 += diff * diff
                    count = _offer(best_d, best_j, count, k, d2, q)
            continue
        gap = pts[i, axis] - node_split[base + v]
        near, far = (2 * v + 1, 2 * v + 2) if gap < 0.0 else (2 * v + 2, 2 * v + 1)
        stack[top] = far
        bound[top] = max(below, gap * gap)
        top += 1
        stack[top] = near
        bound[top] = below
        top += 1
    return count


@njit(parallel=True, cache=True)
def _knn(pts, tree_pts, order, order_group, tree_base, k, node_lo, node_hi, node_axis, node_split,
         out):  # type: ignore[no-untyped-def]
    n = order.size
    for task in prange((n + _CHUNK - 1) // _CHUNK):
        best_d = np.empty(k)
        best_j = np.empty(k, np.int64)
        stack = np.empty(_STACK, np.int64)
        bound = np.empty(_STACK)
        for t in range(task * _CHUNK, min(n, (task + 1) * _CHUNK)):
            i = order[t]
            found = _query(pts, tree_pts, order, i, tree_base[order_group[t]], k, node_lo, node_hi, node_axis,
                           node_split, best_d, best_j, stack, bound)
            for c in range(found):
                out[i, c] = best_j[c]


@njit(parallel=True, cache=True)
def _build_all(pts, order, group_ptr, tree_base, node_lo, node_hi, node_axis, node_split):  # type: ignore[no-untyped-def]
    for g in prange(group_ptr.size - 1):
        _build(pts, order, group_ptr[g], group_ptr[g + 1], node_lo, node_hi, node_axis, node_split, tree_base[g])


def nearest_in_groups(points: np.ndarray, k: int, group: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` nearest other points of each point's ``group`` (int32[n, k] row indices, -1 padded):
    nearest first by squared Euclidean distance over every coordinate of ``points`` (float64[n, d], d >= 1),
    ties to the lower row."""
    pts = np.ascontiguousarray(points, np.float64)
    if pts.ndim == 1:
        pts = pts[:, None]
    n = pts.shape[0]
    out = np.full((n, max(k, 1)), -1, np.int32)
    if n < 2 or k < 1:
        return out
    labels = np.zeros(n, np.int64) if group is None else np.asarray(group, np.int64)
    order = np.argsort(labels, kind="stable").astype(np.int64)
    ordered = labels[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    group_ptr = np.append(starts, n).astype(np.int64)
    sizes = np.diff(group_ptr)
    order_group = np.repeat(np.arange(starts.size, dtype=np.int64), sizes)
    counts = np.array([_nodes(int(m)) for m in sizes], np.int64)
    tree_base = np.zeros(sizes.size, np.int64)
    np.cumsum(counts[:-1], out=tree_base[1:])
    total = int(counts.sum())
    node_lo, node_hi = np.zeros(total, np.int64), np.zeros(total, np.int64)
    node_axis, node_split = np.full(total, -1, np.int64), np.zeros(total)
    _build_all(pts, order, group_ptr, tree_base, node_lo, node_hi, node_axis, node_split)
    _knn(pts, np.ascontiguousarray(pts[order]), order, order_group, tree_base, int(k), node_lo, node_hi, node_axis,
         node_split, out)
    return out
