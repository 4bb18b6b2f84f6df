"""Intra-route 2-opt and Or-opt on the GPU: one thread block per route.

Same search as :mod:`kernels.cpu.intra` (see :mod:`kernels.core.intra`: granular passes
with don't-look bits, one full pass, full passes only on short routes), with
the same move bodies from :func:`kernels.core.intra.build_intra_core`: for
each anchor the block's threads score the anchor's candidate slots in a
strided loop, reduce to the best (gain, candidate index) pair in shared
memory - lowest index on ties, as on the CPU - and thread 0 applies it. Each
block owns a slot of a global workspace (its route's distance table, speeds,
sequence, positions, nearest-node lists, don't-look bits and node ids) and
walks routes with a block-stride loop, so the workspace is bounded by
:data:`WORKSPACE_BYTES` whatever the number of routes.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from numba import cuda, float64, int64

from kernels.core.intra import FULL_UPTO, build_intra_core, check_routes
from kernels.cuda import _core, _launch

#: Upper bound on the per-launch workspace (distance tables dominate).
WORKSPACE_BYTES = 256 * 2**20
#: Upper bound on blocks per launch.
MAX_BLOCKS = 4096

_intra = build_intra_core(cuda.jit(device=True, inline=True), _core)
_decode = _intra.decode
_encode = _intra.encode
_list_length = _intra.list_length
_nearest_row = _intra.nearest_row
_n_slots = _intra.n_slots
_candidate = _intra.candidate
_set_positions = _intra.set_positions
_touch = _intra.touch
_looks = _intra.looks
_schedule = _intra.schedule
_delta = _intra.delta
_acceptable = _intra.acceptable
_apply = _intra.apply
_totals = _intra.totals
_node_distance = _core.node_distance


@cache
def _kernel(threads: int) -> Callable:
    """The improvement kernel for blocks of ``threads`` (a power of two: shared arrays and the tree reduction)."""

    @cuda.jit(cache=True)
    def improve(rows, routes, route_len, route_depot, a, b, circ, service_s, speed_kmh, max_duration_s, metric, scale,
                max_passes, granular_k, confirm, tabs, spds, perms, locs, poss, nns, acts, out):  # type: ignore[no-untyped-def]
        tid = cuda.threadIdx.x
        slot = cuda.blockIdx.x
        best_g = cuda.shared.array(threads, float64)
        best_c = cuda.shared.array(threads, int64)
        state = cuda.shared.array(4, float64)  # duration, moves so far, service, distance
        tab = tabs[slot]
        spd = spds[slot]
        perm = perms[slot]
        loc = locs[slot]
        pos = poss[slot]
        nn = nns[slot]
        act = acts[slot]
        for w in range(slot, rows.shape[0], cuda.gridDim.x):
            r = rows[w]
            n = route_len[r]
            m = n + 1
            kk = _list_length(n, granular_k)
            for x in range(tid, m, threads):
                node = route_depot[r] if x == 0 else routes[r, x - 1]
                loc[x] = node
                spd[x] = speed_kmh[node]
                perm[x] = x
                pos[x] = x
                act[x] = x > 0
            if tid == 0:
                perm[n + 1] = 0
            cuda.syncthreads()
            for e in range(tid, m * m, threads):
                x = e // m
                y = e - x * m
                if x == y:
                    tab[e] = 0.0
                elif x < y:
                    u = loc[x]
                    v = loc[y]
                    d = _node_distance(metric, scale, circ[u], circ[v], a[u], b[u], a[v], b[v])
                    tab[x * m + y] = d
                    tab[y * m + x] = d
            if tid == 0:
                service = 0.0
                for k in range(n):
                    service += service_s[loc[k + 1]]
                state[1] = 0.0
                state[2] = service
            cuda.syncthreads()
            for x in range(tid, m if kk > 0 else 0, threads):
                _nearest_row(tab, m, x, kk, nn, x * kk)
            if tid == 0:
                dist, legs = _totals(tab, m, spd, perm, n)
                state[0] = legs + state[2]
                state[3] = dist
            cuda.syncthreads()
            max_dur = max_duration_s[r]
            full = kk == 0
            sweep = True
            checked = not confirm
            for _ in range(max_passes):
                moves_before = state[1]
                for i in range(1, n + 1):
                    if not _looks(full, perm, i, act):
                        continue
                    cur_dur = state[0]
                    g = math.inf
                    bc = -1
                    for t in range(tid, _n_slots(full, n, i, kk), threads):
                        k, j, rev = _candidate(full, n, i, t, kk, perm, pos, nn)
                        if k >= 0:
                            dd = _delta(tab, m, perm, i, k, j, rev)
                            if dd <= g:
                                c = _encode(n, i, k, j, rev)
                                if (dd < g or c < bc) and _acceptable(dd, tab, m, spd, perm, i, k, j, rev, cur_dur,
                                                                      max_dur):
                                    g = dd
                                    bc = c
                    best_g[tid] = g
                    best_c[tid] = bc
                    cuda.syncthreads()
                    half = threads // 2
                    while half > 0:
                        if tid < half:
                            og = best_g[tid + half]
                            oc = best_c[tid + half]
                            if og < best_g[tid] or (og == best_g[tid] and oc < best_c[tid]):
                                best_g[tid] = og
                                best_c[tid] = oc
                        cuda.syncthreads()
                        half //= 2
                    if tid == 0:
                        if best_g[0] < math.inf:
                            k, j, rev = _decode(n, i, best_c[0])
                            _touch(perm, i, k, j, act)
                            _apply(perm, i, k, j, rev)
                            _set_positions(perm, pos, n)
                            dist, legs = _totals(tab, m, spd, perm, n)
                            state[0] = legs + state[2]
                            state[3] = dist
                            state[1] += 1.0
                        else:
                            act[perm[i]] = False  # scanned without success (as on the CPU, full passes too)
                    cuda.syncthreads()
                # every thread is past the pass's last look at the bits before any of them is woken
                cuda.syncthreads()
                stop, full, sweep, checked, wake = _schedule(kk, state[1] != moves_before, full, sweep, checked)
                if stop:
                    break
                if wake:
                    for x in range(tid + 1, m, threads):
                        act[x] = True
                    cuda.syncthreads()
            for k in range(tid, n, threads):
                routes[r, k] = loc[perm[k + 1]]
            if tid == 0:
                out[w] = state[3]
            cuda.syncthreads()

    return improve


def improve_intra(
    routes: Any,
    route_len: Any,
    route_depot: Any,
    a: Any,
    b: Any,
    circuity: Any,
    service_s: Any,
    speed_kmh: Any,
    max_duration_s: Any,
    metric: int,
    scale: float,
    max_passes: int,
    granular_k: int,
    rows: Any = None,
    confirm: bool = True,
) -> Any:
    """GPU :func:`kernels.cpu.intra.improve_intra`: improves ``routes`` in place, returns distances on the device.

    ``routes`` may be a NumPy array (copied to the device and the result
    copied back into it) or an int32 device array (modified where it lies).
    ``rows`` (int32, default all) picks the routes to improve, so that a
    caller keeping every route on the device need not gather a subset; the
    distances returned are those of ``rows``, in its order.
    """
    threads = int(_launch.THREADS)
    if threads < 1 or threads & (threads - 1):
        raise ValueError(f"THREADS must be a power of two for the block reduction, not {threads}")
    n_routes = check_routes(routes, _launch.to_host(route_len), route_depot, max_duration_s)
    f64, i32 = np.float64, np.int32
    rows = np.arange(n_routes, dtype=i32) if rows is None else rows
    n_rows = int(rows.shape[0])
    d_routes = _launch.to_device(routes, i32)
    out = _launch.device_empty(n_rows, f64)
    if n_rows == 0:
        return out
    width = routes.shape[1]
    granular_k = int(granular_k)
    nn_len = max(1, (width + 1) * (0 if granular_k <= 0 or width <= FULL_UPTO else min(granular_k, width)))
    slot_bytes = 8 * ((width + 1) ** 2 + (width + 1)) + 4 * (3 * width + 4 + nn_len) + (width + 1)
    blocks = max(1, min(n_rows, MAX_BLOCKS, WORKSPACE_BYTES // slot_bytes))
    _launch.TRANSFERS.launch()
    _kernel(threads)[blocks, threads](
        _launch.to_device(rows, i32), d_routes, _launch.to_device(route_len, i32),
        _launch.to_device(route_depot, i32),
        _launch.to_device(a, f64), _launch.to_device(b, f64), _launch.to_device(circuity, f64),
        _launch.to_device(service_s, f64),
        _launch.to_device(speed_kmh, f64), _launch.to_device(max_duration_s, f64), int(metric), float(scale),
        int(max_passes), granular_k, bool(confirm),
        _launch.device_empty((blocks, (width + 1) ** 2), f64), _launch.device_empty((blocks, width + 1), f64),
        _launch.device_empty((blocks, width + 2), i32), _launch.device_empty((blocks, width + 1), i32),
        _launch.device_empty((blocks, width + 1), i32), _launch.device_empty((blocks, nn_len), i32),
        _launch.device_empty((blocks, width + 1), np.bool_), out,
    )
    if isinstance(routes, np.ndarray):
        _launch.to_host_into(d_routes, routes)
    return out
