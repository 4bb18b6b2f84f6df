"""Split: cut giant tours into optimal capacity-, parcel- and shift-feasible routes (CPU).

Prins (2004) shortest path over the tour positions: ``V[j]`` is the least
distance serving the first ``j`` stops, and a route serving positions
``i..j-1`` is an arc ``i -> j``. Two relaxations share one per-tour driver:

* ``relax_window`` (Vidal 2016, linear): when a tour has no shift limit, the
  predecessors feasible for ``j`` form a window that only moves right
  (capacities are prefix sums), and the arc cost splits into a part of ``i``
  and a part of ``j``, so a monotone deque gives every ``V[j]`` in O(1).
* ``relax_bellman`` (Prins, O(n*L)): with a shift limit the route duration is
  not monotone in its first stop (leg times use per-node speeds, so the
  triangle inequality fails), so each ``i`` scans forward and stops once the
  load or the duration *without the return leg* (a monotone lower bound) is
  over the limit.

When the unlimited optimum needs more routes than the tour's fleet allows,
the fleet-limited DP runs the same relaxation layer by layer (``V_k`` from
``V_{k-1}``), O(n*K*L) or O(n*K) in the window case.

The per-tour bodies are built once by :func:`build_split_core` around a JIT
decorator, so :mod:`kernels.cuda.split` runs exactly the same arithmetic.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

#: float64 scratch rows per tour position: dd, d0, tt, t0, D, Qkg, Qn, V.
FLOAT_SLOTS = 8
#: int32 scratch rows per tour position: pred, deque.
INT_SLOTS = 2

def build_split_core(jit: Callable, core: SimpleNamespace) -> SimpleNamespace:
    """Return the per-tour Split bodies compiled with ``jit`` on top of ``core``'s scalar cores.

    Every body takes its scratch as arguments (the CPU allocates it per tour,
    the GPU slices a preallocated workspace), so it compiles for both targets.
    """
    node_distance = core.node_distance
    leg_seconds = core.leg_seconds

    @jit
    def tour_legs(nodes, depot, a, b, circ, demand_kg, demand_n, speed_kmh, metric, scale, dd, d0, tt, t0, dsum, qkg,
                  qn):  # type: ignore[no-untyped-def]
        """Per-position leg distances/seconds and prefix sums of distance, kg and parcels (``circ``: each node's
        circuity multiplier)."""
        n = nodes.shape[0]
        dsum[0] = 0.0
        qkg[0] = 0.0
        qn[0] = 0.0
        for p in range(n):
            u = nodes[p]
            d = node_distance(metric, scale, circ[depot], circ[u], a[depot], b[depot], a[u], b[u])
            d0[p] = d
            t0[p] = leg_seconds(d, speed_kmh[depot], speed_kmh[u])
            qkg[p + 1] = qkg[p] + demand_kg[u]
            qn[p + 1] = qn[p] + demand_n[u]
            if p + 1 < n:
                v = nodes[p + 1]
                d = node_distance(metric, scale, circ[u], circ[v], a[u], b[u], a[v], b[v])
                dd[p] = d
                tt[p] = leg_seconds(d, speed_kmh[u], speed_kmh[v])
                dsum[p + 1] = dsum[p] + d
            else:
                dd[p] = 0.0
                tt[p] = 0.0

    @jit
    def relax_bellman(prev, out, pred, nodes, demand_kg, demand_n, service_s, dd, d0, tt, t0, dsum, cap_kg, cap_n,
                      max_dur):  # type: ignore[no-untyped-def]
        """``out[j] = min_i prev[i] + cost(route i..j-1)`` over feasible routes; ``prev`` may be ``out``."""
        n = nodes.shape[0]
        for i in range(n):
            base = prev[i]
            if base == math.inf:
                continue
            load = 0.0
            count = 0.0
            service = 0.0
            legs = t0[i]
            for j in range(i, n):
                node = nodes[j]
                load += demand_kg[node]
                count += demand_n[node]
                service += service_s[node]
                if j > i:
                    legs += tt[j - 1]
                if load > cap_kg or count > cap_n or legs + service > max_dur:
                    break  # every longer route is over too: loads and outbound time only grow
                if legs + t0[j] + service > max_dur:
                    continue  # the return leg may shrink with a later last stop
                cost = base + d0[i] + (dsum[j] - dsum[i]) + d0[j]
                if cost < out[j + 1]:
                    out[j + 1] = cost
                    pred[j + 1] = i

    @jit
    def relax_window(prev, out, pred, n, d0, dsum, qkg, qn, cap_kg, cap_n, deque):  # type: ignore[no-untyped-def]
        """Vidal's O(n) relaxation for capacity-only tours: sliding-window minimum of ``prev[i] + d0[i] - D[i]``."""
        head = 0
        tail = 0
        lo = 0
        for j in range(1, n + 1):
            i_new = j - 1
            f_new = prev[i_new] + d0[i_new] - dsum[i_new]
            while tail > head:
                k = deque[tail - 1]
                if prev[k] + d0[k] - dsum[k] > f_new:
                    tail -= 1
                else:
                    break
            deque[tail] = i_new
            tail += 1
            while lo < j and (qkg[j] - qkg[lo] > cap_kg or qn[j] - qn[lo] > cap_n):
                lo += 1
            while tail > head and deque[head] < lo:
                head += 1
            if tail > head:
                k = deque[head]
                cost = prev[k] + d0[k] - dsum[k] + dsum[j - 1] + d0[j - 1]
                if cost < out[j]:
                    out[j] = cost
                    pred[j] = k

    @jit
    def relax(prev, out, pred, nodes, demand_kg, demand_n, service_s, dd, d0, tt, t0, dsum, qkg, qn, cap_kg, cap_n,
              max_dur, deque):  # type: ignore[no-untyped-def]
        """One DP layer: the linear window when the tour has no shift limit, else Bellman."""
        if max_dur == math.inf:
            relax_window(prev, out, pred, nodes.shape[0], d0, dsum, qkg, qn, cap_kg, cap_n, deque)
        else:
            relax_bellman(prev, out, pred, nodes, demand_kg, demand_n, service_s, dd, d0, tt, t0, dsum, cap_kg,
                          cap_n, max_dur)

    @jit
    def count_routes(pred, n):  # type: ignore[no-untyped-def]
        """Routes on the optimal path recorded in ``pred`` (ending at position ``n``)."""
        routes = 0
        j = n
        while j > 0:
            j = pred[j]
            routes += 1
        return routes

    @jit
    def mark_starts(pred, n, start):  # type: ignore[no-untyped-def]
        """Set ``start[i] = 1`` at every route's first position along ``pred``."""
        j = n
        while j > 0:
            j = pred[j]
            start[j] = 1

    @jit
    def cut_cost(start, dd, d0):  # type: ignore[no-untyped-def]
        """Total distance of the routes that ``start`` cuts, each summed leg by leg in route order."""
        n = start.shape[0]
        total = 0.0
        p = 0
        while p < n:
            route = d0[p]
            q = p
            while q + 1 < n and start[q + 1] == 0:
                route += dd[q]
                q += 1
            total += route + d0[q]
            p = q + 1
        return total

    @jit
    def init_layer(v, first):  # type: ignore[no-untyped-def]
        """A DP row: ``first`` at position 0, +inf elsewhere."""
        v[0] = first
        for j in range(1, v.shape[0]):
            v[j] = math.inf

    @jit
    def slot(ws, n, s):  # type: ignore[no-untyped-def]
        """Scratch row ``s`` (n + 1 long) of a tour's flat workspace."""
        return ws[s * (n + 1):(s + 1) * (n + 1)]

    @jit
    def split_unlimited(nodes, depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur,
                        max_routes, metric, scale, fws, iws, start):  # type: ignore[no-untyped-def]
        """Unlimited-fleet Split of one tour: (cost, needs_layers).

        ``fws`` holds FLOAT_SLOTS * (n + 1) float64 and ``iws`` INT_SLOTS * (n + 1)
        int32 of scratch, kept for :func:`split_layers`. ``start`` is zeroed and,
        when the optimum fits the fleet, marked. ``needs_layers`` is True when it
        does not, and the cost is then +inf until the fleet-limited DP runs.
        """
        n = nodes.shape[0]
        for p in range(n):
            start[p] = 0
        if n == 0:
            return 0.0, False
        if max_routes <= 0:
            return math.inf, False
        dd = slot(fws, n, 0)
        d0 = slot(fws, n, 1)
        tt = slot(fws, n, 2)
        t0 = slot(fws, n, 3)
        dsum = slot(fws, n, 4)
        qkg = slot(fws, n, 5)
        qn = slot(fws, n, 6)
        v = slot(fws, n, 7)
        pred = slot(iws, n, 0)
        deque = slot(iws, n, 1)
        tour_legs(nodes, depot, a, b, circ, demand_kg, demand_n, speed_kmh, metric, scale, dd, d0, tt, t0, dsum, qkg,
                  qn)
        init_layer(v, 0.0)
        relax(v, v, pred, nodes, demand_kg, demand_n, service_s, dd, d0, tt, t0, dsum, qkg, qn, cap_kg, cap_n,
              max_dur, deque)
        if v[n] == math.inf:
            return math.inf, False
        if count_routes(pred, n) > max_routes:
            return math.inf, True
        mark_starts(pred, n, start)
        return cut_cost(start, dd, d0), False

    @jit
    def split_layers(nodes, demand_kg, demand_n, service_s, cap_kg, cap_n, max_dur, layers, fws, iws, vk, pk, start):  # type: ignore[no-untyped-def]
        """Fleet-limited Split (at most ``layers`` routes) after :func:`split_unlimited` asked for it.

        ``vk`` (float64) and ``pk`` (int32) hold (layers + 1) * (n + 1) entries:
        row k is the best cost / predecessor using exactly k routes.
        """
        n = nodes.shape[0]
        dd = slot(fws, n, 0)
        d0 = slot(fws, n, 1)
        tt = slot(fws, n, 2)
        t0 = slot(fws, n, 3)
        dsum = slot(fws, n, 4)
        qkg = slot(fws, n, 5)
        qn = slot(fws, n, 6)
        deque = slot(iws, n, 1)
        init_layer(slot(vk, n, 0), 0.0)
        best_k = -1
        best = math.inf
        for k in range(1, layers + 1):
            out = slot(vk, n, k)
            init_layer(out, math.inf)
            pred = slot(pk, n, k)
            relax(slot(vk, n, k - 1), out, pred, nodes, demand_kg, demand_n, service_s, dd, d0, tt, t0, dsum, qkg,
                  qn, cap_kg, cap_n, max_dur, deque)
            if out[n] < best:
                best = out[n]
                best_k = k
        if best_k < 0:
            return math.inf
        j = n
        for k in range(best_k, 0, -1):
            j = slot(pk, n, k)[j]
            start[j] = 1
        return cut_cost(start, dd, d0)

    @jit
    def greedy_count(nodes, depot, a, b, circ, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n, max_dur,
                     metric, scale, fws, start):  # type: ignore[no-untyped-def]
        """Routes a next-fit cut of one tour needs (each route as long as it stays feasible); -1 if a stop fits no
        route. Marks the cut in ``start`` when it has a slot per stop (pass an empty array to count only).

        When a route that is feasible stays feasible with its first or last stop
        removed (always for capacities; for shifts up to the asymmetry of
        per-node speeds) next-fit needs the fewest routes, so ``count <= K``
        is the fleet-limited Split's feasibility test in O(n).
        """
        n = nodes.shape[0]
        if n == 0:
            return 0
        dd = slot(fws, n, 0)
        d0 = slot(fws, n, 1)
        tt = slot(fws, n, 2)
        t0 = slot(fws, n, 3)
        dsum = slot(fws, n, 4)
        qkg = slot(fws, n, 5)
        qn = slot(fws, n, 6)
        tour_legs(nodes, depot, a, b, circ, demand_kg, demand_n, speed_kmh, metric, scale, dd, d0, tt, t0, dsum, qkg,
                  qn)
        count = 0
        i = 0
        while i < n:
            load = 0.0
            parcels = 0.0
            service = 0.0
            legs = t0[i]
            j = i
            while j < n:
                node = nodes[j]
                if j > i:
                    legs += tt[j - 1]
                if (load + demand_kg[node] > cap_kg or parcels + demand_n[node] > cap_n
                        or legs + t0[j] + service + service_s[node] > max_dur):
                    break
                load += demand_kg[node]
                parcels += demand_n[node]
                service += service_s[node]
                j += 1
            if j == i:
                return -1
            if start.shape[0] == n:
                start[i] = 1
                for q in range(i + 1, j):
                    start[q] = 0
            count += 1
            i = j
        return count

    return SimpleNamespace(split_unlimited=split_unlimited, split_layers=split_layers, greedy_count=greedy_count,
                           cut_cost=cut_cost)


def check_tours(tour_ptr: np.ndarray, tour_nodes: np.ndarray, per_tour: dict[str, np.ndarray]) -> int:
    """Return the number of tours T, raising if the CSR pointers or per-tour arrays disagree."""
    if len(tour_ptr) < 1:
        raise ValueError("tour_ptr must hold T + 1 offsets (at least one element)")
    n_tours = len(tour_ptr) - 1
    if int(tour_ptr[0]) != 0 or int(tour_ptr[-1]) != len(tour_nodes) or np.any(np.diff(tour_ptr) < 0):
        raise ValueError(f"tour_ptr must rise from 0 to len(tour_nodes) = {len(tour_nodes)}")
    for name, arr in per_tour.items():
        if len(arr) != n_tours:
            raise ValueError(f"{name} has {len(arr)} entries for {n_tours} tours")
    return n_tours
