"""Brute-force references for the tests: plain Python and NumPy, written for clarity, not speed.

Every kernel and stage that has an exact answer is checked against one of these: distances,
Hilbert keys, k nearest hubs, Split, 2-opt / Or-opt, relocate / swap / 2-opt*, densities and CVRP
costs. They share no code with the implementations they check.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path

import h3
import h3.api.basic_int
import numpy as np
import vrplib

from kernels._scalar import EARTH_RADIUS_KM, EUCLID_ROUND, GREAT_CIRCLE, HILBERT_ORDER, reference
from kernels.core import inter
from kernels.core.hilbert import CELLS, LAST_CELL
from kernels.core.inter import RELOCATE, SWAP, TAILS
from kernels.core.intra import DUR_TOL, EPS, FULL_UPTO, OR_MAX

# the k-nearest reference ranks by the kernels' own distances, so that it tests the search, not the formula
from kernels.cpu.distance import pair_distances

INF = math.inf


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle km, written out in NumPy as the reference."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def node_distance(metric, scale, circuity, a, b, u, v) -> float:
    """Distance between nodes ``u`` and ``v``: the point distance times the mean of the two ends' circuity
    multipliers (``circuity`` None: the point distance alone)."""
    d = reference.point_distance(metric, scale, a[u], b[u], a[v], b[v])
    return d if circuity is None else d * ((circuity[u] + circuity[v]) / 2.0)


def node_distances(frm, to, a, b, circuity, metric, scale) -> np.ndarray:
    """The per-node distance in NumPy: great-circle or planar km x ``scale`` (EUC_2D: rounded, unscaled) x the
    mean of the two ends' circuity multipliers."""
    frm, to = np.asarray(frm), np.asarray(to)
    if metric == GREAT_CIRCLE:
        d = scale * haversine_km(a[frm], b[frm], a[to], b[to])
    else:
        d = np.hypot(a[frm] - a[to], b[frm] - b[to])
        d = np.floor(d + 0.5) if metric == EUCLID_ROUND else scale * d
    return d * (circuity[frm] + circuity[to]) / 2.0


def route_lengths(ptr, nodes, depot, a, b, metric, scale, circuity=None):
    out = []
    for r in range(len(ptr) - 1):
        seq = list(nodes[ptr[r]:ptr[r + 1]])
        path = [depot[r], *seq, depot[r]] if seq else []
        out.append(sum(node_distance(metric, scale, circuity, a, b, i, j) for i, j in zip(path, path[1:])))
    return np.array(out, dtype=np.float64)


def hilbert_cell(v, lo, hi):
    """Reference quantisation onto 2**31 cells, clamped; NaN goes to cell 0."""
    if not hi > lo:
        return 0
    t = (v - lo) * (CELLS / (hi - lo))
    return 0 if not t >= 0 else int(min(t, LAST_CELL))


def hilbert_keys(a, b, lo_a, hi_a, lo_b, hi_b):
    return np.array([reference.hilbert_d(hilbert_cell(x, lo_a, hi_a), hilbert_cell(y, lo_b, hi_b), HILBERT_ORDER)
                     for x, y in zip(a, b)], dtype=np.int64)


def nearest_hubs(qa, qb, ha, hb, k, metric, scale):
    """Full distance matrix (same compiled scalar core), then a lexicographic (distance, index) sort."""
    n, m = len(qa), len(ha)
    idx = np.full((n, k), -1, np.int32)
    dist = np.full((n, k), np.inf)
    if n == 0 or m == 0:
        return idx, dist
    d = pair_distances(np.repeat(qa, m), np.repeat(qb, m), np.tile(ha, n), np.tile(hb, n), metric, scale)
    d = d.reshape(n, m)
    order = np.lexsort((np.broadcast_to(np.arange(m), (n, m)), d), axis=1)[:, :k]
    idx[:, : order.shape[1]] = order
    dist[:, : order.shape[1]] = np.take_along_axis(d, order, 1)
    return idx, dist


def split_route_figures(route, depot, nodes, metric, scale):
    """Naive (distance, duration, kg, parcels) of one route, legs summed in order then service added
    (``nodes["circ"]``, where given, the circuity multipliers)."""
    a, b, kg, pn, svc, spd = (nodes[k] for k in ("a", "b", "kg", "n", "svc", "spd"))
    path = [depot, *route, depot]
    dist = legs = 0.0
    for u, v in zip(path, path[1:]):
        d = node_distance(metric, scale, nodes.get("circ"), a, b, u, v)
        dist += d
        legs += reference.leg_seconds(d, spd[u], spd[v])
    return dist, legs + sum(svc[u] for u in route), sum(kg[u] for u in route), sum(pn[u] for u in route)


def split_cost(tour, depot, nodes, cap_kg, cap_n, max_dur, max_routes, metric, scale):
    """Least total distance over all 2^(n-1) cut sets (inf if none is feasible)."""
    n = len(tour)
    if n == 0:
        return 0.0
    best = INF
    for cuts in itertools.product((0, 1), repeat=n - 1):
        bounds = [0] + [p + 1 for p in range(n - 1) if cuts[p]] + [n]
        if len(bounds) - 1 > max_routes:
            continue
        total = 0.0
        for lo, hi in zip(bounds, bounds[1:]):
            dist, dur, kg, pn = split_route_figures(tour[lo:hi], depot, nodes, metric, scale)
            if kg > cap_kg or pn > cap_n or dur > max_dur:
                break
            total += dist
        else:
            best = min(best, total)
    return best


def split_fewest_routes(tour, depot, nodes, cap_kg, cap_n, max_dur, metric, scale):
    """Fewest routes over all cut sets (-1 if none is feasible), by brute force."""
    n = len(tour)
    best = -1
    for cuts in itertools.product((0, 1), repeat=max(n - 1, 0)):
        bounds = [0] + [p + 1 for p in range(n - 1) if cuts[p]] + [n]
        ok = all(
            f[2] <= cap_kg and f[3] <= cap_n and f[1] <= max_dur
            for f in (split_route_figures(tour[lo:hi], depot, nodes, metric, scale) for lo, hi in zip(bounds,
                                                                                                      bounds[1:]))
        )
        if ok and (best < 0 or len(bounds) - 1 < best):
            best = len(bounds) - 1
    return best


def intra_figures(path, a, b, svc, spd, metric, scale, circuity=None):
    """Naive (distance, duration) of a closed path depot .. depot, legs in order then service."""
    dist = legs = 0.0
    for u, v in zip(path, path[1:]):
        d = node_distance(metric, scale, circuity, a, b, u, v)
        dist += d
        legs += reference.leg_seconds(d, spd[u], spd[v])
    return dist, legs + sum(svc[u] for u in path[1:-1])


def intra_anchor_candidates(path, i):
    """Every candidate move of anchor ``i`` in the kernel's candidate-index order.

    Each as (new path, stops at the ends of changed edges, new edges as (x, y) pairs where the
    move is granular if y is among x's nearest nodes).
    """
    n = len(path) - 2
    out = []
    for j in range(i + 1, n + 1):
        edges = ((path[i - 1], path[j]), (path[i], path[j + 1]))
        out.append((path[:i] + path[i:j + 1][::-1] + path[j + 1:], {path[i - 1], path[i], path[j], path[j + 1]}, edges))
    for k in range(1, min(OR_MAX, n - i + 1) + 1):
        e = i + k - 1
        seg = path[i:e + 1]
        rest = path[:i] + path[e + 1:]
        for u in range(n + 1):
            if i - 1 <= u <= e:
                continue
            pos = u + 1 if u < i else u - k + 1
            for rev in (0, 1) if k > 1 else (0,):
                first, last = (seg[-1], seg[0]) if rev else (seg[0], seg[-1])
                touched = {path[i - 1], path[e + 1], path[u], path[u + 1], seg[0], seg[-1]}
                out.append((rest[:pos] + (seg[::-1] if rev else seg) + rest[pos:], touched,
                            ((first, path[u]), (last, path[u + 1]))))
    return out


def intra_nearest_lists(path, k, a, b, metric, scale):
    """Each node's k nearest other nodes of the route (depot included), nearest first, ties by route order."""
    local = path[:-1]
    return {x: set(sorted((y for y in local if y != x),
                          key=lambda y: (reference.point_distance(metric, scale, a[x], b[x], a[y], b[y]),
                                         local.index(y)))[:k]) for x in local}


def intra_improve(path, a, b, svc, spd, max_dur, metric, scale, max_passes, granular_k=0):
    """The kernel's search written plainly, by full recomputation of every candidate path.

    Per anchor the first best acceptable move; granular routes scan only moves whose new edges
    join a node to one of its nearest nodes and skip anchors whose don't-look bits sleep; their
    first don't-look optimum gets one full pass, later ones wake every bit.
    """
    path = list(path)
    n = len(path) - 2
    near = intra_nearest_lists(path, granular_k, a, b, metric, scale) if n > FULL_UPTO and granular_k > 0 else None
    full = near is None
    awake = set(path[1:-1])
    sweep, checked = True, False
    for _ in range(max_passes):
        moved = False
        for i in range(1, n + 1):
            if not (full or path[i] in awake or path[i - 1] in awake):
                continue
            dist, dur = intra_figures(path, a, b, svc, spd, metric, scale)
            best, best_move = -EPS, None
            for new, touched, edges in intra_anchor_candidates(path, i):
                if not full and not any(y in near[x] for x, y in edges):
                    continue
                nd, ndur = intra_figures(new, a, b, svc, spd, metric, scale)
                ok = ndur <= max_dur - DUR_TOL or (ndur <= dur and dur > max_dur)
                if nd - dist < best and ok:
                    best, best_move = nd - dist, (new, touched)
            if best_move is not None:
                awake |= best_move[1] - {path[0]}
                path, moved = best_move[0], True
            elif not full:
                awake.discard(path[i])
        if moved:
            full = sweep = near is None
        elif sweep:
            break
        elif checked:
            awake, sweep = set(path[1:-1]), True
        else:
            full = sweep = checked = True
    return path


@dataclass
class InterInstance:
    """Node arrays, padded routes and limits in the exact dtypes of the kernel API."""

    routes: np.ndarray
    route_len: np.ndarray
    route_depot: np.ndarray
    route_group: np.ndarray
    neighbours: np.ndarray
    a: np.ndarray
    b: np.ndarray
    demand_kg: np.ndarray
    demand_n: np.ndarray
    service_s: np.ndarray
    speed_kmh: np.ndarray
    cap_kg: np.ndarray
    cap_n: np.ndarray
    max_duration_s: np.ndarray
    metric: int
    scale: float
    circuity: np.ndarray | None = None  # the nodes' circuity multipliers; None: 1.0

    def args(self) -> tuple:
        circuity = np.ones(len(self.a)) if self.circuity is None else self.circuity
        return (self.routes, self.route_len, self.route_depot, self.route_group, self.neighbours, self.a,
                self.b, circuity, self.demand_kg, self.demand_n, self.service_s, self.speed_kmh, self.cap_kg,
                self.cap_n, self.max_duration_s, self.metric, self.scale)

    def lists(self) -> list[list[int]]:
        return [list(map(int, self.routes[r, : self.route_len[r]])) for r in range(len(self.route_len))]

    def copy(self) -> "InterInstance":
        return replace(self, routes=self.routes.copy(), route_len=self.route_len.copy())


def inter_dist(inst: InterInstance, x: int, y: int) -> float:
    return node_distance(inst.metric, inst.scale, inst.circuity, inst.a, inst.b, x, y)


def inter_route_cost(inst: InterInstance, r: int, stops: list[int]) -> tuple[float, float, float, float]:
    """(distance, duration, kg, parcels) of ``stops`` driven from and back to route r's depot."""
    h = int(inst.route_depot[r])
    path = [h, *stops, h] if stops else []
    d = t = 0.0
    for x, y in zip(path, path[1:]):
        dd = inter_dist(inst, x, y)
        d += dd
        t += reference.leg_seconds(dd, inst.speed_kmh[x], inst.speed_kmh[y])
    t += sum(inst.service_s[s] for s in stops)
    return d, t, float(sum(inst.demand_kg[s] for s in stops)), float(sum(inst.demand_n[s] for s in stops))


def inter_candidates(inst: InterInstance, u: int) -> list[tuple[float, tuple[int, int, int, int]]]:
    """All feasible improving moves of stop u as (gain, (kind, r1, r2, q)), by full recomputation."""
    lists = inst.lists()
    where = {s: (r, k) for r, lst in enumerate(lists) for k, s in enumerate(lst)}
    r1, i = where[u]
    width = inst.routes.shape[1]
    limits = (inst.cap_kg, inst.cap_n, inst.max_duration_s)

    def judge(r2: int, new1: list[int], new2: list[int]) -> float | None:
        if len(new1) > width or len(new2) > width:
            return None
        gain = 0.0
        for r, new in ((r1, new1), (r2, new2)):
            d0, t0, kg0, n0 = inter_route_cost(inst, r, lists[r])
            d1, t1, kg1, n1 = inter_route_cost(inst, r, new)
            for new_v, old_v, lim in ((kg1, kg0, limits[0][r]), (n1, n0, limits[1][r]), (t1, t0, limits[2][r])):
                if not (new_v <= lim or new_v <= old_v):
                    return None
            gain += d0 - d1
        return gain

    out = []
    a1 = lists[r1]
    rest1 = a1[:i] + a1[i + 1:]
    for v in inst.neighbours[u]:
        v = int(v)
        if v < 0 or v not in where:
            continue
        r2, j = where[v]
        if r2 == r1 or inst.route_group[r2] != inst.route_group[r1]:
            continue
        a2 = lists[r2]
        moves = [
            ((RELOCATE, r2, j + 1), rest1, a2[: j + 1] + [u] + a2[j + 1:]),
            ((RELOCATE, r2, j), rest1, a2[:j] + [u] + a2[j:]),
            ((SWAP, r2, j), a1[:i] + [v] + a1[i + 1:], a2[:j] + [u] + a2[j + 1:]),
        ]
        if inst.route_depot[r1] == inst.route_depot[r2]:
            moves += [
                ((TAILS, r2, j + 1), a1[: i + 1] + a2[j + 1:], a2[: j + 1] + a1[i + 1:]),
                ((TAILS, r2, j), a1[: i + 1] + a2[j:], a2[:j] + a1[i + 1:]),
            ]
        for (kind, rr, q), new1, new2 in moves:
            gain = judge(r2, new1, new2)
            if gain is not None and gain > inter.MIN_GAIN:
                out.append((gain, (kind, r1, rr, q)))
    empty = [r for r, lst in enumerate(lists) if not lst and inst.route_group[r] == inst.route_group[r1]]
    if empty:
        gain = judge(empty[0], rest1, [u])
        if gain is not None and gain > inter.MIN_GAIN:
            out.append((gain, (RELOCATE, r1, empty[0], 0)))
    return out


def disk_density(stops_cell: np.ndarray, n_parcels: np.ndarray) -> list[float]:
    """Parcels in each stop's cell and ring-1 neighbours over their exact total area."""
    per_cell: dict[int, int] = {}
    for c, n in zip(stops_cell.tolist(), n_parcels.tolist()):
        per_cell[c] = per_cell.get(c, 0) + n
    out = []
    for c in stops_cell.tolist():
        disk = [h3.str_to_int(d) for d in h3.grid_disk(h3.int_to_str(c), 1)]
        area = sum(h3.cell_area(h3.int_to_str(d), "km^2") for d in disk)
        out.append(sum(per_cell.get(d, 0) for d in disk) / area)
    return out


def cvrp_cost(path: Path, routes: list[list[int]]) -> int:
    """Cost straight from the file: CVRPLIB rounds every edge to the nearest integer."""
    data = vrplib.read_instance(str(path), compute_edge_weights=False)
    xy = data["node_coord"]
    total = 0
    for route in routes:
        stops = [0, *route, 0]
        for u, v in zip(stops, stops[1:]):
            total += int(math.floor(math.hypot(*(xy[u] - xy[v])) + 0.5))
    return total


# The index stage, validation and the output tables as they were before they were vectorised (issue 17):
# one Python call per stop and per cell, sorts and Python lists. The new code must give the same bits.


def group_rows_by_sorting(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(group int32[n], first int64[G])`` by a stable lexsort: groups numbered by their first row."""
    n = keys[0].size
    if n == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    order = np.lexsort(keys[::-1])
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for key in keys:
        sorted_key = key[order]
        new[1:] |= sorted_key[1:] != sorted_key[:-1]
    heads = order[new]
    by_first = np.argsort(heads, kind="stable")
    rank = np.empty(heads.size, dtype=np.int32)
    rank[by_first] = np.arange(heads.size, dtype=np.int32)
    group = np.empty(n, dtype=np.int32)
    group[order] = rank[np.cumsum(new) - 1]
    return group, heads[by_first].astype(np.int64)


def latlng_cells_by_h3py(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """``h3.latlng_to_cell`` one point at a time, as int64."""
    to_cell = h3.api.basic_int.latlng_to_cell
    return np.fromiter(map(to_cell, lat.tolist(), lon.tolist(), [resolution] * lat.size), dtype=np.int64,
                       count=lat.size)


def disk_density_by_h3py(cell: np.ndarray, parcels: np.ndarray) -> np.ndarray:
    """The index stage's density before issue 17: h3-py's grid_disk and cell_area per occupied cell,
    the disk's area as its size times the centre's area."""
    api = h3.api.basic_int
    occupied, inverse = np.unique(cell, return_inverse=True)
    if occupied.size == 0:
        return np.zeros(0, np.float64)
    count = np.bincount(inverse, weights=parcels, minlength=occupied.size)
    disks = list(map(api.grid_disk, occupied.tolist(), [1] * occupied.size))
    sizes = np.fromiter(map(len, disks), dtype=np.int64, count=occupied.size)
    members = np.fromiter(itertools.chain.from_iterable(disks), dtype=np.int64, count=int(sizes.sum()))
    at = np.minimum(np.searchsorted(occupied, members), occupied.size - 1)
    member_count = np.where(occupied[at] == members, count[at], 0.0)
    owner = np.repeat(np.arange(occupied.size), sizes)
    disk_count = np.bincount(owner, weights=member_count, minlength=occupied.size)
    area = np.fromiter(map(api.cell_area, occupied.tolist()), dtype=np.float64, count=occupied.size) * sizes
    return (disk_count / area)[inverse]


def route_ids_by_fstrings(hub_id: np.ndarray, hub: np.ndarray) -> list[str]:
    """``<hub_id>-R<k>`` one f-string per route, k counted from 1 within the hub (``hub`` sorted)."""
    first = np.searchsorted(hub, hub, side="left")
    k = np.arange(hub.size) - first + 1
    return [f"{hub_id[h]}-R{n:03d}" for h, n in zip(hub.tolist(), k.tolist())]


def revenue_split_by_objects(shipper: list[str | None], operator: np.ndarray, parcel_hub: np.ndarray,
                             planned: np.ndarray, fee: np.ndarray, share: float,
                             shipper_operator: dict[str, str], default_seller: str) -> dict[str, float]:
    """The revenue split before issue 17: every parcel's seller and deliverer as a Python string."""
    seller = np.asarray([shipper_operator.get(x, default_seller) if x is not None else default_seller
                         for x in shipper], dtype=object)
    deliverer = (operator[np.maximum(parcel_hub, 0)] if operator.size
                 else np.full(parcel_hub.size, None, dtype=object))
    split = {}
    for op in sorted(set(operator.tolist()) | set(seller[planned].tolist()) | {default_seller}):
        amount = share * fee[planned & (deliverer == op)].sum() + (1 - share) * fee[planned & (seller == op)].sum()
        split[op] = round(float(amount), 2)
    return split


def tier_counts_by_masks(tier: np.ndarray, status: np.ndarray, tiers: tuple[str, ...],
                         statuses: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Parcels per tier and status, one mask per pair."""
    return {name: {st: int(((tier == code) & (status == k)).sum()) for k, st in enumerate(statuses)}
            for code, name in enumerate(tiers)}


def savings_routes(stops, depot, pairs, a, b, kg, pn, svc, spd, cap_kg, cap_n, max_dur, max_routes, metric, scale,
                   circuity=None):
    """Clarke-Wright as written in the textbook: routes as Python lists merged along ``pairs`` (i, j, d) in
    the order given, the larger route first and the smaller one behind it, durations summed from scratch.
    Returns (tour, starts, cost) in the kernel's layout (routes in the order of their head in ``stops``)."""
    def dist(u, v):
        return node_distance(metric, scale, circuity, a, b, u, v)

    def duration(route):
        path = [depot, *route, depot]
        return (sum(reference.leg_seconds(dist(u, v), spd[u], spd[v]) for u, v in zip(path, path[1:]))
                + sum(svc[u] for u in route))

    routes = {s: [s] for s in stops}
    owner = {s: s for s in stops}
    for i, j, _ in pairs:
        ri, rj = owner[i], owner[j]
        if ri == rj:
            continue
        if i not in (routes[ri][0], routes[ri][-1]) or j not in (routes[rj][0], routes[rj][-1]):
            continue
        if sum(kg[u] for u in routes[ri] + routes[rj]) > cap_kg or sum(pn[u] for u in routes[ri] + routes[rj]) > cap_n:
            continue
        big, small, b_end, s_end = (rj, ri, j, i) if len(routes[rj]) > len(routes[ri]) else (ri, rj, i, j)
        head = routes[big] if routes[big][-1] == b_end else routes[big][::-1]
        tail = routes[small] if routes[small][0] == s_end else routes[small][::-1]
        if duration(head + tail) > max_dur:
            continue
        routes[big] = head + tail
        for u in tail:
            owner[u] = big
        del routes[small]
    heads = {r[0]: r for r in routes.values()}
    tour, starts, cost = [], [], 0.0
    for s in stops:
        if s in heads:
            r = heads[s]
            tour += r
            starts += [1] + [0] * (len(r) - 1)
            path = [depot, *r, depot]
            cost += sum(dist(u, v) for u, v in zip(path, path[1:]))
    return tour, starts, (cost if len(routes) <= max_routes else math.inf)


def matrix_tour_cost(mat: np.ndarray, order: list[int]) -> float:
    """Hub (index 0) -> ``order`` -> hub on an asymmetric matrix, added leg by leg."""
    closed = [0, *order, 0]
    return float(sum(mat[i, j] for i, j in zip(closed[:-1], closed[1:])))


def best_tour_by_permutations(mat: np.ndarray, sec: np.ndarray, limit_s: float) -> float:
    """The shortest tour through every stop of a small matrix whose seconds fit ``limit_s`` (inf if none)."""
    from itertools import permutations

    best = np.inf
    for perm in permutations(range(1, mat.shape[0])):
        if matrix_tour_cost(sec, list(perm)) <= limit_s:
            best = min(best, matrix_tour_cost(mat, list(perm)))
    return best


def savings_pairs(stop_hub: np.ndarray, neighbours: np.ndarray, d0: np.ndarray, dist: np.ndarray,
                  n_hubs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pairs Clarke-Wright tries, sorted per hub by decreasing saving (one global NumPy sort: the
    reference for kernels.cpu.savings.savings_pairs).

    ``neighbours[s]`` lists stop rows near stop row ``s`` (-1 padded, same hub), ``d0`` each stop's
    distance from its hub and ``dist[s, k]`` the distance to ``neighbours[s, k]``. Returns
    ``(pair_ptr int64[H + 1], pair_i, pair_j (stop rows, int32), pair_d float64, saving float64)``:
    every unordered pair once, positive savings only, hub by hub, ties in (i, j) order.
    """
    n, k = neighbours.shape
    i = np.repeat(np.arange(n, dtype=np.int64), k)
    j = neighbours.reshape(-1).astype(np.int64)
    d = dist.reshape(-1)
    keep = j >= 0
    i, j, d = i[keep], j[keep], d[keep]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    key, first = np.unique(lo * n + hi, return_index=True)  # one of (i, j) and (j, i)
    lo, hi, d = lo[first], hi[first], d[first]
    saving = d0[lo] + d0[hi] - d
    keep = saving > 0.0
    lo, hi, d, saving, key = lo[keep], hi[keep], d[keep], saving[keep], key[keep]
    hub = stop_hub[lo]
    order = np.lexsort((key, -saving, hub))
    ptr = np.zeros(n_hubs + 1, np.int64)
    np.cumsum(np.bincount(hub, minlength=n_hubs), out=ptr[1:])
    return ptr, lo[order].astype(np.int32), hi[order].astype(np.int32), d[order], saving[order]


def nearest_in_groups(points: np.ndarray, k: int, group: np.ndarray) -> np.ndarray:
    """Each point's k nearest other points of its group by brute force: squared distance, ties to the lower row."""
    n = len(points)
    out = np.full((n, max(k, 1)), -1, np.int32)
    for i in range(n):
        same = np.flatnonzero((group == group[i]) & (np.arange(n) != i))
        d2 = ((points[same] - points[i]) ** 2).sum(axis=1)
        best = same[np.lexsort((same, d2))][:k]
        out[i, :best.size] = best
    return out


def candidate_arcs_by_sorting(free, cell_of, cell_hub, lat, lon, hub_lat, hub_lon, metric, scale, max_km):
    """The assignment's candidate arcs as a stop x candidate matrix, stable-sorted per row (the array form
    kernels.cpu.assign.candidate_arcs fuses into one pass)."""
    hub = cell_hub[cell_of]
    dist = np.full(hub.shape, np.inf)
    found = hub >= 0
    rows = np.broadcast_to(free[:, None], hub.shape)[found]
    dist[found] = pair_distances(lat[rows], lon[rows], hub_lat[hub[found]], hub_lon[hub[found]], metric, scale)
    dist[dist > max_km] = np.inf
    order = np.argsort(dist, axis=1, kind="stable")
    arc_hub, arc_dist = np.take_along_axis(hub, order, 1).ravel(), np.take_along_axis(dist, order, 1).ravel()
    keep = np.isfinite(arc_dist)
    return np.repeat(free, hub.shape[1])[keep], arc_hub[keep], arc_dist[keep]


def sisr_best_position(c, routes, lat, lon, kg, pn, svc, spd, circ, depot, nbr, cap_kg, cap_n, max_dur, max_routes,
                       scale, penalties=None, shift_slack=1e-6):
    """SISR's recreate step written out: the cheapest place for stop ``c`` among ``routes`` (lists of stops,
    empty slots allowed), every candidate's distance and duration summed from scratch (:func:`node_distance`).

    Without ``penalties`` a place over the load or the shift (less ``shift_slack``) does not fit; with
    ``penalties`` = (km a second, km a unit of overload, units a kg, units a parcel) every place on a route fits
    and costs its added km plus the first weight times the seconds by which it makes the route's overrun of the
    shift grow and the second times the units by which it makes the overload grow (kg and parcels over the
    capacity counted in units by the third and fourth).
    Candidates in the kernel's order: before and after each of ``c``'s neighbours ``nbr`` (-1 ends the list) that
    is routed, then a new route (while fewer than ``max_routes`` are in use, and within the shift), then, only
    when none of those fits, every position of every route. Returns (cost, route, position, added km) with
    position the index ``c`` takes in the route, or (inf, -1, -1, inf) when nothing fits."""
    def dist(u, v):
        return node_distance(GREAT_CIRCLE, scale, circ, lat, lon, u, v)

    def figures(route):
        path = [depot, *route, depot]
        km = sum(dist(u, v) for u, v in zip(path, path[1:]))
        sec = sum(reference.leg_seconds(dist(u, v), spd[u], spd[v]) for u, v in zip(path, path[1:]))
        return km, sec + sum(svc[u] for u in route)

    def overs(route):
        over_s = max(0.0, figures(route)[1] - (max_dur - shift_slack))
        load_kg, load_n = sum(kg[u] for u in route), sum(pn[u] for u in route)
        return over_s, max(0.0, load_kg - cap_kg) * penalties[2] + max(0.0, load_n - cap_n) * penalties[3]

    def added(r, pos):
        route = routes[r]
        new = route[:pos] + [c] + route[pos:]
        km = figures(new)[0] - figures(route)[0]
        if penalties is None:
            if sum(kg[u] for u in route) + kg[c] > cap_kg or sum(pn[u] for u in route) + pn[c] > cap_n:
                return INF, INF
            return (INF, INF) if figures(new)[1] > max_dur - shift_slack else (km, km)
        (s0, l0), (s1, l1) = overs(route), overs(new)
        return km + penalties[0] * (s1 - s0) + penalties[1] * (l1 - l0), km

    where = {u: (r, i) for r, route in enumerate(routes) for i, u in enumerate(route)}
    best = (INF, -1, -1, INF)
    for v in nbr:
        if v < 0:
            break
        if v not in where:
            continue
        r, i = where[v]
        for pos in (i, i + 1):
            cost, km = added(r, pos)
            if cost < best[0]:
                best = (cost, r, pos, km)
    if sum(1 for route in routes if route) < max_routes:
        km, sec = figures([c])
        if sec <= max_dur - shift_slack and km < best[0]:
            best = (km, next(r for r, route in enumerate(routes) if not route), 0, km)
    if best[1] < 0:
        for r, route in enumerate(routes):
            if route:
                for pos in range(len(route) + 1):
                    cost, km = added(r, pos)
                    if cost < best[0]:
                        best = (cost, r, pos, km)
    return best


def sisr_ruin(routes, nbr, avg_removed, max_string, split_rate, split_depth, rng, rand, randint):
    """SISR's ruin step written out on route lists: every route walked whole to find a stop's position.

    Strings are removed from the routes of a random seed stop and of its neighbours ``nbr[seed]`` in turn, a route
    at most once, until the step's number of strings is reached; each string has a random length, holds its stop
    at a random place and lies in its route, and with probability ``split_rate`` keeps a run of stops inside it.
    ``rand(rng)`` and ``randint(rng, k)`` are the kernel's own draws, taken in the kernel's order, so the step
    removes what the kernel removes. Returns the removed stops, a list per ruined route in ruin order."""
    n = sum(len(route) for route in routes)
    where = {u: r for r, route in enumerate(routes) for u in route}
    ls_max = min(max_string, n / max(sum(1 for route in routes if route), 1.0))
    strings = int(rand(rng) * (4.0 * avg_removed / (1.0 + ls_max) - 1.0)) + 1
    seed = randint(rng, n)
    out: list[list[int]] = []
    ruined: set[int] = set()
    for c in [seed, *nbr[seed]]:
        if len(out) >= strings or c < 0:
            break
        r = where[c]
        if r in ruined:
            continue
        route = routes[r]
        card, pos = len(route), route.index(c)
        ell = min(int(rand(rng) * min(float(card), ls_max)) + 1, card)
        keep = 0
        if ell < card and rand(rng) < split_rate:
            keep = 1
            while ell + keep < card and rand(rng) > split_depth:
                keep += 1
        width = ell + keep
        lo, hi = max(0, pos - width + 1), min(pos, card - width)
        start = lo + randint(rng, hi - lo + 1)
        kept_at = start + randint(rng, ell + 1) if keep > 0 else card
        out.append([route[t] for t in range(start, start + width) if not kept_at <= t < kept_at + keep])
        ruined.add(r)
    return out
