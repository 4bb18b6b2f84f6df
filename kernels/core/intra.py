"""Intra-route improvement: 2-opt and Or-opt on each route's own distance table (CPU).

Routes come padded, ``routes[r, :route_len[r]]`` holding route ``r``'s stops
(-1 after). Each route gets a local (n+1)^2 table (local 0 = its depot, local
``k`` = its ``k``-th stop as given) and a sequence ``perm[0..n+1]`` of local
indices with the depot at both ends.

Search: a *pass* sweeps anchors ``i = 1..n``; for each anchor its candidate
moves are scored - 2-opt reversals of ``perm[i..j]`` and Or-opt moves of
``perm[i..i+k-1]`` (k = 1..3) to another edge, forward or reversed - and the
best improving one is applied at once (the smallest distance change, ties to
the lowest candidate index of the full neighbourhood, see ``decode``).
Applying the best move per anchor keeps the search deterministic and
best-improvement in spirit; on the GPU the scan of one anchor is what a
thread block evaluates in parallel.

Long routes are searched *granularly*: a pass scores only moves one of whose
new edges joins a node to one of that node's ``granular_k`` nearest nodes of
the route (2-opt: ``perm[j]`` near ``perm[i-1]`` or ``perm[j+1]`` near
``perm[i]``; Or-opt: the node before or after the insertion point near the
segment end it is joined to), so an anchor costs O(k) instead of O(n); and
don't-look bits skip anchors whose stop and predecessor have been scanned
without success since a move last touched them. The first time the bits all
sleep, one *full* pass (every candidate) catches the improving moves the
granular lists miss; later, every bit is woken for one more granular pass.
The search ends when a pass that scanned every anchor applies nothing (or
after ``max_passes``), so a converged route has no improving granular move
left (see ``schedule``). Routes of at most :data:`FULL_UPTO` stops, or all
routes when ``granular_k <= 0``, run full passes only - the original search,
ending with no improving 2-opt or Or-opt move at all.

A move is taken only if it shortens the route by more than ``EPS`` and keeps
a route that is within its shift within it (``DUR_TOL`` keeps rounding in the
incremental check from letting it creep over); a route already over its
shift may only take moves that do not lengthen its duration.

The per-route bodies are built by :func:`build_intra_core`, so
:mod:`kernels.cuda.intra` scores and applies moves with the same arithmetic.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

#: A move must shorten the route by more than this (distance units) to be taken.
EPS = 1e-9
#: Seconds of slack kept under the shift so a recomputed duration never exceeds it.
DUR_TOL = 1e-6
#: Longest segment Or-opt moves.
OR_MAX = 3
#: Routes with at most this many stops are searched over the full neighbourhood.
FULL_UPTO = 30
#: Granular candidate slots per unit of list length: 2 for 2-opt, 4 per Or-opt segment length.
SLOTS_PER_K = 2 + 4 * OR_MAX


def build_intra_core(jit: Callable, core: SimpleNamespace) -> SimpleNamespace:
    """Return the move-scoring and move-applying bodies compiled with ``jit``."""
    leg_seconds = core.leg_seconds

    @jit
    def leg_time(tab, m, spd, x, y):  # type: ignore[no-untyped-def]
        """Driving seconds between local nodes ``x`` and ``y``."""
        return leg_seconds(tab[x * m + y], spd[x], spd[y])

    @jit
    def n_candidates(n, i):  # type: ignore[no-untyped-def]
        """Candidates of anchor ``i``: n - i reversals, then OR_MAX * (n + 1) * 2 segment moves."""
        return (n - i) + OR_MAX * 2 * (n + 1)

    @jit
    def decode(n, i, c):  # type: ignore[no-untyped-def]
        """Candidate ``c`` of anchor ``i`` as (k, j_or_u, rev): k = 0 is the reversal of perm[i..j]."""
        n_rev = n - i
        if c < n_rev:
            return 0, i + 1 + c, 0
        c -= n_rev
        k = c // (2 * (n + 1)) + 1
        r = c - (k - 1) * 2 * (n + 1)
        u = r // 2
        return k, u, r - 2 * u

    @jit
    def or_valid(n, i, k, u, rev):  # type: ignore[no-untyped-def]
        """Whether moving perm[i..i+k-1] (reversed if ``rev``) after perm[u] is a real move."""
        e = i + k - 1
        return not (e > n or (k == 1 and rev == 1) or (u >= i - 1 and u <= e))

    @jit
    def encode(n, i, k, j, rev):  # type: ignore[no-untyped-def]
        """Inverse of ``decode``: the candidate index of move (k, j, rev) of anchor ``i``."""
        if k == 0:
            return j - i - 1
        return (n - i) + (k - 1) * 2 * (n + 1) + 2 * j + rev

    @jit
    def list_length(n, granular_k):  # type: ignore[no-untyped-def]
        """Nearest-node list length of a route of ``n`` stops; 0 when it is always searched fully."""
        if granular_k <= 0 or n <= FULL_UPTO:
            return 0
        return min(granular_k, n)

    @jit
    def nearest_row(tab, m, x, kk, nn, off):  # type: ignore[no-untyped-def]
        """``nn[off:off+kk]``: the ``kk`` nearest other local nodes of ``x``, nearest first, ties by index."""
        cnt = 0
        for y in range(m):
            if y == x:
                continue
            d = tab[x * m + y]
            if cnt == kk and not d < tab[x * m + nn[off + kk - 1]]:
                continue
            p = cnt if cnt < kk else kk - 1
            while p > 0 and tab[x * m + nn[off + p - 1]] > d:
                nn[off + p] = nn[off + p - 1]
                p -= 1
            nn[off + p] = y
            if cnt < kk:
                cnt += 1

    @jit
    def granular(n, i, t, kk, perm, pos, nn):  # type: ignore[no-untyped-def]
        """Slot ``t`` of anchor ``i``'s granular neighbourhood as (k, j_or_u, rev), k = -1 if no move.

        ``nn`` holds each local node's ``kk`` nearest nodes (row stride ``kk``).
        Slots come in blocks of ``kk`` (one per list entry): 2-opt with perm[j]
        near perm[i-1], 2-opt with perm[j+1] near perm[i], then per segment
        length: forward with perm[u] near its head, forward with perm[u+1]
        near its tail, reversed with perm[u] near its tail, reversed with
        perm[u+1] near its head. ``pos`` maps local stops to positions; the
        depot (local 0) stands at 0 before an edge and at n+1 after one.
        """
        blk = t // kk
        r = t - blk * kk
        if blk < 2:
            z = nn[perm[i - 1 + blk] * kk + r]
            if blk == 0:
                j = pos[z] if z > 0 else 0
            else:
                j = (pos[z] if z > 0 else n + 1) - 1
            if j <= i or j > n:
                return -1, 0, 0
            return 0, j, 0
        blk -= 2
        k = blk // 4 + 1
        var = blk - (k - 1) * 4
        rev = var // 2
        e = i + k - 1
        if e > n or (k == 1 and rev == 1):
            return -1, 0, 0
        near_head = (var == 0) or (var == 3)  # which segment end the new edge attaches to
        z = nn[perm[i if near_head else e] * kk + r]
        if var == 0 or var == 2:  # z = perm[u], before the segment
            u = pos[z] if z > 0 else 0
        else:  # z = perm[u + 1], after the segment
            u = (pos[z] if z > 0 else n + 1) - 1
        if u < 0 or u > n or (u >= i - 1 and u <= e):
            return -1, 0, 0
        return k, u, rev

    @jit
    def n_slots(full, n, i, kk):  # type: ignore[no-untyped-def]
        """Slots of anchor ``i``: every candidate index of a full pass, or the granular slots."""
        return n_candidates(n, i) if full else SLOTS_PER_K * kk

    @jit
    def candidate(full, n, i, t, kk, perm, pos, nn):  # type: ignore[no-untyped-def]
        """Slot ``t`` of anchor ``i`` as (k, j_or_u, rev), k = -1 if it holds no move."""
        if not full:
            return granular(n, i, t, kk, perm, pos, nn)
        k, j, rev = decode(n, i, t)
        if k > 0 and not or_valid(n, i, k, j, rev):
            return -1, 0, 0
        return k, j, rev

    @jit
    def set_positions(perm, pos, n):  # type: ignore[no-untyped-def]
        """``pos[perm[p]] = p`` for the stops (the depot has no single position)."""
        for p in range(1, n + 1):
            pos[perm[p]] = p

    @jit
    def ends(perm, i, k, j):  # type: ignore[no-untyped-def]
        """Local nodes a move touches: (p, q, x, y, s0, se).

        2-opt (k = 0): edges (p, q) = (perm[i-1], perm[i]) and (x, y) = (perm[j], perm[j+1]).
        Or-opt: segment s0..se = perm[i..i+k-1] between p and q, inserted into edge (x, y) = (perm[j], perm[j+1]).
        """
        if k == 0:
            return perm[i - 1], perm[i], perm[j], perm[j + 1], 0, 0
        e = i + k - 1
        return perm[i - 1], perm[e + 1], perm[j], perm[j + 1], perm[i], perm[e]

    @jit
    def touch(perm, i, k, j, active):  # type: ignore[no-untyped-def]
        """Wake the don't-look bits of the stops at the ends of the edges move (k, j) of anchor ``i`` changes."""
        p, q, x, y, s0, se = ends(perm, i, k, j)
        active[p] = True
        active[q] = True
        active[x] = True
        active[y] = True
        if k > 0:
            active[s0] = True
            active[se] = True
        active[0] = False  # the depot is never an anchor

    @jit
    def looks(full, perm, i, active):  # type: ignore[no-untyped-def]
        """Whether anchor ``i`` is scanned: always in a full pass, else if it or its predecessor is awake."""
        return full or active[perm[i]] or active[perm[i - 1]]

    @jit
    def schedule(kk, moved, full, sweep, checked):  # type: ignore[no-untyped-def]
        """After a pass, ``(stop, full, sweep, checked, wake_all)`` for the next one.

        ``sweep`` marks a pass that scans every anchor (a full pass, or a
        granular one with every bit awake): one that applies nothing ends the
        search. A granular search's first don't-look optimum is followed by
        one full pass (``checked``), later ones by waking every bit.
        """
        if moved:
            return False, kk == 0, kk == 0, checked, False
        if sweep:
            return True, full, sweep, checked, False
        if checked:
            return False, False, True, True, True
        return False, True, True, True, False

    @jit
    def removal(tab, m, p, q, s0, se):  # type: ignore[no-untyped-def]
        """Distance saved by taking segment s0..se out from between p and q."""
        return (tab[p * m + s0] + tab[se * m + q]) - tab[p * m + q]

    @jit
    def insertion(tab, m, x, y, first, last):  # type: ignore[no-untyped-def]
        """Distance added by putting a segment first..last into edge (x, y)."""
        return (tab[x * m + first] + tab[last * m + y]) - tab[x * m + y]

    @jit
    def delta(tab, m, perm, i, k, j, rev):  # type: ignore[no-untyped-def]
        """Distance change of move (k, j, rev) at anchor ``i``.

        Or-opt is insertion minus removal so the CPU can hoist the removal term
        out of its loop and still get the GPU's bit-identical value.
        """
        p, q, x, y, s0, se = ends(perm, i, k, j)
        if k == 0:
            return (tab[p * m + x] + tab[q * m + y]) - (tab[p * m + q] + tab[x * m + y])
        if rev == 1:
            return insertion(tab, m, x, y, se, s0) - removal(tab, m, p, q, s0, se)
        return insertion(tab, m, x, y, s0, se) - removal(tab, m, p, q, s0, se)

    @jit
    def dtime(tab, m, spd, perm, i, k, j, rev):  # type: ignore[no-untyped-def]
        """Driving-time change of the same move (leg times are symmetric, so reversal is free)."""
        p, q, x, y, s0, se = ends(perm, i, k, j)
        if k == 0:
            return (leg_time(tab, m, spd, p, x) + leg_time(tab, m, spd, q, y)) - (
                leg_time(tab, m, spd, p, q) + leg_time(tab, m, spd, x, y))
        first, last = (se, s0) if rev == 1 else (s0, se)
        return (leg_time(tab, m, spd, p, q) + leg_time(tab, m, spd, x, first) + leg_time(tab, m, spd, last, y)) - (
            leg_time(tab, m, spd, p, s0) + leg_time(tab, m, spd, se, q) + leg_time(tab, m, spd, x, y))

    @jit
    def acceptable(dd, tab, m, spd, perm, i, k, j, rev, cur_dur, max_dur):  # type: ignore[no-untyped-def]
        """Whether a move with distance change ``dd`` improves and keeps the shift (see module doc).

        The duration change is only computed for the rare improving moves.
        """
        if not dd < -EPS:
            return False
        if max_dur == math.inf:
            return True
        dt = dtime(tab, m, spd, perm, i, k, j, rev)
        return cur_dur + dt <= max_dur - DUR_TOL or (dt <= 0.0 and cur_dur > max_dur)

    @jit
    def apply(perm, i, k, j, rev):  # type: ignore[no-untyped-def]
        """Apply the valid move (k, j, rev) of anchor ``i`` to ``perm``."""
        if k == 0:
            lo = i
            hi = j
            while lo < hi:
                tmp = perm[lo]
                perm[lo] = perm[hi]
                perm[hi] = tmp
                lo += 1
                hi -= 1
            return
        u = j
        e = i + k - 1
        s0 = perm[i]
        s1 = perm[i + 1] if k > 1 else s0
        s2 = perm[i + 2] if k > 2 else s1
        if u > e:
            for p in range(e + 1, u + 1):
                perm[p - k] = perm[p]
            dest = u - k + 1
        else:
            for p in range(i - 1, u, -1):
                perm[p + k] = perm[p]
            dest = u + 1
        for t in range(k):
            src = k - 1 - t if rev == 1 else t
            perm[dest + t] = s0 if src == 0 else (s1 if src == 1 else s2)

    @jit
    def totals(tab, m, spd, perm, n):  # type: ignore[no-untyped-def]
        """(distance, driving seconds) of the route in ``perm`` order, depot legs included."""
        dist = 0.0
        legs = 0.0
        for p in range(n + 1):
            x = perm[p]
            y = perm[p + 1]
            dist += tab[x * m + y]
            legs += leg_time(tab, m, spd, x, y)
        return dist, legs

    return SimpleNamespace(
        n_candidates=n_candidates, decode=decode, or_valid=or_valid, encode=encode, list_length=list_length,
        nearest_row=nearest_row, granular=granular, n_slots=n_slots, candidate=candidate,
        set_positions=set_positions, touch=touch, looks=looks, schedule=schedule, ends=ends, removal=removal,
        insertion=insertion, delta=delta, acceptable=acceptable, apply=apply, totals=totals,
    )



def check_routes(routes: np.ndarray, route_len: np.ndarray, route_depot: np.ndarray, max_duration_s: np.ndarray) -> int:
    """Return the number of routes R, raising if the padded layout or per-route arrays disagree."""
    if routes.ndim != 2:
        raise ValueError(f"routes must be a 2-D padded int32[R, L] array, got {routes.ndim} dimensions")
    n_routes = routes.shape[0]
    for name, arr in (("route_len", route_len), ("route_depot", route_depot), ("max_duration_s", max_duration_s)):
        if len(arr) != n_routes:
            raise ValueError(f"{name} has {len(arr)} entries for {n_routes} routes")
    if n_routes and (np.min(route_len) < 0 or np.max(route_len) > routes.shape[1]):
        raise ValueError(f"route_len must lie in 0..{routes.shape[1]} (the padded width)")
    return n_routes
