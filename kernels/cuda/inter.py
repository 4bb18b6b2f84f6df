"""Inter-route local search on CUDA: relocate, swap and 2-opt* over granular neighbours.

The same rounds as :mod:`kernels.cpu.inter` with the same per-route, per-stop
and per-move bodies (built by :func:`kernels.core.inter.build_moves` as device
functions): one thread per route for the totals and maps, one thread per stop
for its best move, one thread per accepted move to rewrite its two routes.
As on the CPU, maps and best moves are cached across rounds and only the
stops around the routes the last round rewrote are evaluated again.
The selection of non-conflicting moves is a sequential greedy pass and runs on
the host with the CPU code (:func:`kernels.core.inter.select_moves`), so both
backends pick identical moves; only the stops with an improving move (gathered
on the device) travel to the host for it, and scratch is filled on the device.

Arrays may be NumPy arrays (copied to the device; ``routes`` and
``route_len`` are copied back) or device arrays exposing
``__cuda_array_interface__`` such as CuPy arrays (used in place, no copies).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from kernels.core.inter import M_R1, M_R2, MIN_GAIN, build_moves, check_inputs, n_groups, select_moves
from kernels.cuda import _core, _launch, arrays

#: Threads per block; tests shrink it so tiny simulator inputs span several blocks.
THREADS = 128
#: Upper bound on blocks per launch (the kernels use grid-stride loops).
MAX_BLOCKS = 4096

_moves = build_moves(cuda.jit(device=True), _core)
_route_stats = _moves.route_stats
_eval_stop = _moves.eval_stop
_apply_move = _moves.apply_move
_stale = _moves.stale


def _grid(n: int) -> tuple[int, int]:
    """``(blocks, threads)`` covering ``n`` items with the current :data:`THREADS` (one launch, counted)."""
    return _launch.launch_config(n, THREADS, MAX_BLOCKS)


@cuda.jit(cache=True)
def _reset_kernel(first_empty, n_routes):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for g in range(start, first_empty.shape[0], stride):
        first_empty[g] = n_routes


@cuda.jit(cache=True)
def _stats_kernel(routes, route_len, route_depot, route_group, a, b, circ, kg, pn, svc, spd, metric, scale,
                  route_dirty, node_int, node_f, route_f, first_empty):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for r in range(start, route_len.shape[0], stride):
        if route_dirty[r]:
            _route_stats(r, routes, route_len, route_depot, a, b, circ, kg, pn, svc, spd, metric, scale,
                         node_int, node_f, route_f)
        if route_len[r] == 0:
            cuda.atomic.min(first_empty, route_group[r], r)


@cuda.jit(cache=True)
def _groups_kernel(first_empty, prev_empty, group_dirty):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for g in range(start, first_empty.shape[0], stride):
        group_dirty[g] = first_empty[g] != prev_empty[g]
        prev_empty[g] = first_empty[g]


@cuda.jit(cache=True)
def _eval_kernel(route_len, route_depot, route_group, neighbours, a, b, circ, kg, pn, svc, spd,
                 cap_kg, cap_n, max_dur, metric, scale, width, node_int, node_f, route_f,
                 first_empty, route_dirty, group_dirty, gain, move):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for u in range(start, node_int.shape[0], stride):
        if _stale(u, neighbours, route_group, node_int, route_dirty, group_dirty):
            _eval_stop(u, route_len, route_depot, route_group, neighbours, a, b, circ, kg, pn, svc, spd,
                       cap_kg, cap_n, max_dur, metric, scale, width, node_int, node_f, route_f,
                       first_empty, gain, move)


@cuda.jit(cache=True)
def _copy_kernel(src, dst):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    cols = src.shape[1]
    for x in range(start, src.shape[0] * cols, stride):
        dst[x // cols, x % cols] = src[x // cols, x % cols]


@cuda.jit(cache=True)
def _apply_kernel(accepted, old, routes, route_len, node_int, move):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for t in range(start, accepted.shape[0], stride):
        _apply_move(accepted[t], old, routes, route_len, node_int, move)


@cuda.jit(cache=True)
def _candidates_kernel(gain, move, min_gain, count, cand, cand_gain, cand_move):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for u in range(start, gain.shape[0], stride):
        if gain[u] > min_gain:
            k = cuda.atomic.add(count, 0, 1)
            cand[k] = u
            cand_gain[k] = gain[u]
            for j in range(move.shape[1]):
                cand_move[k, j] = move[u, j]


@cuda.jit(cache=True)
def _touch_kernel(accepted, move, route_dirty):  # type: ignore[no-untyped-def]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for t in range(start, accepted.shape[0], stride):
        route_dirty[move[accepted[t], M_R1]] = True
        route_dirty[move[accepted[t], M_R2]] = True


class _Candidates:
    """Device buffers for the stops with an improving move, compacted so the host reads only those."""

    def __init__(self, n_nodes: int):
        self.count = _view(arrays.full(1, 0, np.int32))
        self.node = _empty(n_nodes, np.int32)
        self.gain = _empty(n_nodes, np.float64)
        self.move = _empty((n_nodes, 4), np.int32)

    def select(self, gain: Any, move: Any, n_routes: int) -> np.ndarray:
        """The stops whose moves this round applies (node ids, as :func:`select_moves` picks them)."""
        arrays.fill(self.count, 0)
        _candidates_kernel[_grid(gain.shape[0])](gain, move, MIN_GAIN, self.count, self.node, self.gain, self.move)
        n = int(_launch.to_host(self.count)[0])
        if n == 0:
            return np.zeros(0, np.int32)
        node = _launch.to_host(self.node[:n])
        picked = select_moves(_launch.to_host(self.gain[:n]), _launch.to_host(self.move[:n]), n_routes, stop_id=node)
        return node[picked].astype(np.int32)


def _view(x: Any) -> Any:
    """A Numba view of device array ``x`` (CuPy's through ``__cuda_array_interface__``), made once
    before the round loop so that launches inside it take Numba arrays."""
    if hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray):
        return cuda.as_cuda_array(x)
    return x  # a Numba device array, or the simulator's


def _empty(shape: int | tuple[int, ...], dtype: type) -> Any:
    """Uninitialised scratch from :func:`kernels.cuda._launch.device_empty` (CuPy's pool, so
    summary.json's memory figures see it), as a Numba view."""
    return _view(_launch.device_empty(shape, dtype))


def _on_device(x: Any) -> tuple[Any, bool]:
    """``(device array, copied)``: device inputs are used where they lie, host ones are copied."""
    if _launch.on_host(x):
        return _view(_launch.to_device(x, x.dtype)), True
    return _view(x), False


def improve_inter(routes: Any, route_len: Any, route_depot: Any, route_group: Any, neighbours: Any,
                  a: Any, b: Any, circuity: Any, demand_kg: Any, demand_n: Any, service_s: Any, speed_kmh: Any,
                  cap_kg: Any, cap_n: Any, max_duration_s: Any, metric: int, scale: float,
                  max_rounds: int) -> int:
    """Improve routes by inter-route moves in place on the GPU; return the number of moves applied.

    Same contract and same result as :func:`kernels.cpu.inter.improve_inter`.
    """
    n_nodes = a.shape[0]
    check_inputs(routes, route_len, route_depot, route_group, neighbours, n_nodes,
                 (cap_kg, cap_n, max_duration_s), (a, b, circuity, demand_kg, demand_n, service_s, speed_kmh))
    groups = n_groups(route_group if isinstance(route_group, np.ndarray)
                      else _launch.to_host(_on_device(route_group)[0]))
    d_routes, routes_copied = _on_device(routes)
    d_len, len_copied = _on_device(route_len)
    d_depot, d_group, d_nb, d_a, d_b, d_circ, d_kg, d_pn, d_svc, d_spd, d_cap_kg, d_cap_n, d_max = (
        _on_device(x)[0] for x in (route_depot, route_group, neighbours, a, b, circuity, demand_kg, demand_n,
                                   service_s, speed_kmh, cap_kg, cap_n, max_duration_s))
    n_routes, width = routes.shape
    node_int = _view(arrays.full((n_nodes, 4), -1, np.int32))  # hubs stay -1 (see the CPU kernel)
    node_f = _empty((n_nodes, 7), np.float64)
    route_f = _empty((n_routes, 4), np.float64)
    first_empty = _empty(groups, np.int32)
    prev_empty = _view(arrays.full(groups, -1, np.int32))
    group_dirty = _empty(groups, np.bool_)
    route_dirty = _view(arrays.full(n_routes, True, np.bool_))  # the first round evaluates every stop
    gain = _view(arrays.full(n_nodes, 0.0, np.float64))  # non-stops are never evaluated: no move
    move = _view(arrays.full((n_nodes, 4), -1, np.int32))
    old = _empty((n_routes, width), np.int32)
    candidates = _Candidates(n_nodes)
    metric = int(metric)
    scale = float(scale)

    applied = 0
    for _ in range(int(max_rounds)):
        _reset_kernel[_grid(groups)](first_empty, n_routes)
        _stats_kernel[_grid(n_routes)](d_routes, d_len, d_depot, d_group, d_a, d_b, d_circ, d_kg, d_pn, d_svc,
                                       d_spd, metric, scale, route_dirty, node_int, node_f, route_f, first_empty)
        _groups_kernel[_grid(groups)](first_empty, prev_empty, group_dirty)
        _eval_kernel[_grid(n_nodes)](d_len, d_depot, d_group, d_nb, d_a, d_b, d_circ, d_kg, d_pn, d_svc, d_spd,
                                     d_cap_kg, d_cap_n, d_max, metric, scale, width, node_int, node_f,
                                     route_f, first_empty, route_dirty, group_dirty, gain, move)
        accepted = candidates.select(gain, move, n_routes)
        if accepted.shape[0] == 0:
            break
        d_accepted, _ = _on_device(accepted)
        _copy_kernel[_grid(n_routes * width)](d_routes, old)
        _apply_kernel[_grid(accepted.shape[0])](d_accepted, old, d_routes, d_len, node_int, move)
        arrays.fill(route_dirty, False)
        _touch_kernel[_grid(accepted.shape[0])](d_accepted, move, route_dirty)
        applied += int(accepted.shape[0])
    cuda.synchronize()
    if routes_copied:
        _launch.to_host_into(d_routes, routes)
    if len_copied:
        _launch.to_host_into(d_len, route_len)
    return applied
