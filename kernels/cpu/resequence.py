"""Re-sequencing of finished routes on their own road matrices: asymmetric 2-opt and Or-opt, on the host.

The national search runs on symmetric estimates (great-circle km x a
calibrated circuity). Once the routes are fixed, each one is small (tens to
a few hundred stops) and its road figures, fetched for that route only, are
exact and asymmetric: one-way streets and turns make ``a -> b`` differ from
``b -> a``. This pass reorders each route's stops on those figures. Memory
is the sum of the routes' squared lengths, linear in the stops for bounded
routes, never n x n.

Route ``r`` is given as an (L+1) x (L+1) block of the flat ``km`` and
``sec`` arrays from ``mat_ptr[r]``, row-major, node 0 the hub and node
``i`` the ``i``-th stop of the current order. A move is applied when it
shortens the route's road km by more than ``EPS_KM`` and its driving
seconds stay within ``max(limit_s, current)``; each route makes at most
``max_passes`` passes over its moves (work bounded by effort, not by the
clock). Routes are independent, so the parallel loop gives the same answer
whatever the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

#: smallest gain a move must bring, km (keeps float noise from cycling)
EPS_KM = 1e-9


@njit(cache=True, inline="always")
def _at(mat: np.ndarray, base: int, width: int, i: int, j: int) -> float:
    return mat[base + i * width + j]


@njit(cache=True)
def _closed(order: np.ndarray, n: int) -> np.ndarray:
    """The closed tour hub, stops..., hub as matrix indices (0 = hub)."""
    tour = np.zeros(n + 2, np.int64)
    for p in range(n):
        tour[p + 1] = order[p]
    return tour


@njit(cache=True)
def _prefix(tour: np.ndarray, mat: np.ndarray, base: int, width: int, fwd: np.ndarray, bwd: np.ndarray) -> None:
    """fwd[k] = sum of legs tour[t] -> tour[t+1] for t < k; bwd[k] the same legs driven backwards."""
    fwd[0] = 0.0
    bwd[0] = 0.0
    for t in range(tour.size - 1):
        fwd[t + 1] = fwd[t] + _at(mat, base, width, tour[t], tour[t + 1])
        bwd[t + 1] = bwd[t] + _at(mat, base, width, tour[t + 1], tour[t])


@njit(cache=True)
def _two_opt_delta(tour, mat, base, width, fwd, bwd, i, j):  # type: ignore[no-untyped-def]
    """Change of the tour's total when positions i..j are driven in reverse."""
    return (_at(mat, base, width, tour[i - 1], tour[j]) + _at(mat, base, width, tour[i], tour[j + 1])
            - _at(mat, base, width, tour[i - 1], tour[i]) - _at(mat, base, width, tour[j], tour[j + 1])
            + (bwd[j] - bwd[i]) - (fwd[j] - fwd[i]))


@njit(cache=True)
def _or_opt_delta(tour, mat, base, width, i, s, q):  # type: ignore[no-untyped-def]
    """Change of the tour's total when the segment i..i+s-1 moves between q and q+1 (q outside it)."""
    e = i + s - 1
    return (_at(mat, base, width, tour[i - 1], tour[e + 1]) - _at(mat, base, width, tour[i - 1], tour[i])
            - _at(mat, base, width, tour[e], tour[e + 1])
            + _at(mat, base, width, tour[q], tour[i]) + _at(mat, base, width, tour[e], tour[q + 1])
            - _at(mat, base, width, tour[q], tour[q + 1]))


@njit(cache=True)
def _move_segment(tour: np.ndarray, i: int, s: int, q: int) -> None:
    """Move tour[i..i+s-1] to just after position q (q < i-1 or q > i+s-1), in place."""
    seg = tour[i:i + s].copy()
    if q > i:
        tour[i:q - s + 1] = tour[i + s:q + 1].copy()
        tour[q - s + 1:q + 1] = seg
    else:
        tour[q + s + 1:i + s] = tour[q + 1:i].copy()
        tour[q + 1:q + 1 + s] = seg


@njit(cache=True)
def _improve_route(km, sec, base, width, order, limit_s, max_passes):  # type: ignore[no-untyped-def]
    """Improve one route in place (``order``: matrix indices of its stops); returns passes made."""
    n = order.size
    if n < 2:
        return 0
    tour = _closed(order, n)
    fk = np.empty(n + 2)
    bk = np.empty(n + 2)
    fs = np.empty(n + 2)
    bs = np.empty(n + 2)
    passes = 0
    improved = True
    while improved and passes < max_passes:
        improved = False
        passes += 1
        _prefix(tour, km, base, width, fk, bk)
        _prefix(tour, sec, base, width, fs, bs)
        room = max(limit_s, fs[n + 1])
        # 2-opt: reverse positions i..j (1 <= i < j <= n)
        for i in range(1, n):
            for j in range(i + 1, n + 1):
                d = _two_opt_delta(tour, km, base, width, fk, bk, i, j)
                if d < -EPS_KM and fs[n + 1] + _two_opt_delta(tour, sec, base, width, fs, bs, i, j) <= room:
                    tour[i:j + 1] = tour[i:j + 1][::-1].copy()
                    _prefix(tour, km, base, width, fk, bk)
                    _prefix(tour, sec, base, width, fs, bs)
                    room = max(limit_s, fs[n + 1])
                    improved = True
        # Or-opt: move a segment of 1 to 3 stops elsewhere, same direction
        for s in range(1, 4):
            i = 1
            while i + s - 1 <= n:
                moved = False
                for q in range(0, n + 1):
                    if q >= i - 1 and q <= i + s - 1:
                        continue
                    d = _or_opt_delta(tour, km, base, width, i, s, q)
                    if d < -EPS_KM and fs[n + 1] + _or_opt_delta(tour, sec, base, width, i, s, q) <= room:
                        _move_segment(tour, i, s, q)
                        _prefix(tour, km, base, width, fk, bk)
                        _prefix(tour, sec, base, width, fs, bs)
                        room = max(limit_s, fs[n + 1])
                        improved = True
                        moved = True
                        break
                if not moved:
                    i += 1
    for p in range(n):
        order[p] = tour[p + 1]
    return passes


@njit(parallel=True, cache=True)
def _resequence(route_ptr, mat_ptr, km, sec, limit_s, max_passes, order, passes):  # type: ignore[no-untyped-def]
    for r in prange(route_ptr.size - 1):
        lo, hi = route_ptr[r], route_ptr[r + 1]
        width = hi - lo + 1
        passes[r] = _improve_route(km, sec, mat_ptr[r], width, order[lo:hi], limit_s[r], max_passes)


def resequence(route_ptr: np.ndarray, mat_ptr: np.ndarray, km: np.ndarray, sec: np.ndarray,
               limit_s: np.ndarray, max_passes: int) -> tuple[np.ndarray, np.ndarray]:
    """Each route's improved stop order and the passes it took.

    Route ``r`` has ``route_ptr[r+1] - route_ptr[r]`` stops and its matrix
    block starts at ``mat_ptr[r]`` (see the module docstring). Returns
    ``(order int32[M], passes int32[R])``: ``order[route_ptr[r]:route_ptr[r+1]]``
    lists the route's stops as 1-based positions of the order given.
    """
    route_ptr = np.ascontiguousarray(route_ptr, np.int64)
    mat_ptr = np.ascontiguousarray(mat_ptr, np.int64)
    n_routes = route_ptr.size - 1
    if mat_ptr.size != n_routes or np.asarray(limit_s).size != n_routes:
        raise ValueError("resequence: mat_ptr and limit_s need one entry per route")
    sizes = np.diff(route_ptr) + 1
    need = int(mat_ptr[-1] + sizes[-1] ** 2) if n_routes else 0
    if min(np.asarray(km).size, np.asarray(sec).size) < need:
        raise ValueError(f"resequence: the matrices hold fewer than the {need} entries the routes need")
    order = np.empty(int(route_ptr[-1]), np.int64)
    for r in range(n_routes):
        order[route_ptr[r]:route_ptr[r + 1]] = np.arange(1, sizes[r], dtype=np.int64)
    passes = np.zeros(n_routes, np.int32)
    _resequence(route_ptr, mat_ptr, np.ascontiguousarray(km, np.float64), np.ascontiguousarray(sec, np.float64),
                np.ascontiguousarray(limit_s, np.float64), int(max_passes), order, passes)
    return order.astype(np.int32), passes
