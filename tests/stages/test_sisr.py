"""The route-quality engine on great-circle hubs: constraints hold, distance never grows, runs repeat."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from kernels import GREAT_CIRCLE
from kernels._scalar import reference as scalar
from planner.device import Compute
from planner.model import Hubs, Nodes, RouteSet
from planner.settings import ImproveSettings
from planner.stages.neighbours import neighbour_lists
from planner.stages.sisr import depot_problem, search

CIRCUITY = 1.3
CAP_KG = 120.0
CAP_N = 10.0
SHIFT_S = 3 * 3600.0
HUBS = np.array([[40.70, -74.00], [40.95, -73.60], [40.45, -74.40]])


def _legs(nodes: Nodes, route: np.ndarray, depot: int) -> tuple[float, float]:
    """(km, seconds incl. service) of depot -> route -> depot, from the reference scalar cores (each leg times the
    mean of its ends' circuity multipliers)."""
    seq = [depot, *route.tolist(), depot]
    km = sec = 0.0
    for u, v in zip(seq, seq[1:]):
        d = CIRCUITY * scalar.haversine_km(nodes.a[u], nodes.b[u], nodes.a[v], nodes.b[v])
        d *= (nodes.circuity[u] + nodes.circuity[v]) / 2.0
        km += d
        sec += scalar.leg_seconds(d, nodes.speed_kmh[u], nodes.speed_kmh[v]) + nodes.service_s[v]
    return km, sec


def _instance(seed: int, per_hub: int = 45) -> tuple[Nodes, RouteSet]:
    """Stops around three hubs and greedy feasible routes (angular order, cut when a limit would break)."""
    rng = np.random.default_rng(seed)
    h = HUBS.shape[0]
    hub_of = np.repeat(np.arange(h), per_hub)
    n = hub_of.size
    lat = HUBS[hub_of, 0] + rng.normal(0, 0.08, n)
    lon = HUBS[hub_of, 1] + rng.normal(0, 0.10, n)
    nodes = Nodes(a=np.concatenate([lat, HUBS[:, 0]]), b=np.concatenate([lon, HUBS[:, 1]]),
                  demand_kg=np.concatenate([rng.uniform(1, 40, n), np.zeros(h)]),
                  demand_n=np.concatenate([rng.integers(1, 4, n).astype(float), np.zeros(h)]),
                  service_s=np.concatenate([rng.uniform(60, 240, n), np.zeros(h)]),
                  speed_kmh=np.concatenate([rng.choice([22.0, 38.0, 60.0], n), np.full(h, 38.0)]),
                  circuity=np.ones(n + h), n_stops=n)
    rows, hubs = [], []
    for g in range(h):
        stops = np.flatnonzero(hub_of == g)
        stops = stops[np.argsort(np.arctan2(lat[stops] - HUBS[g, 0], lon[stops] - HUBS[g, 1]))]
        cur: list[int] = []
        for s in stops:
            trial = np.array(cur + [s])
            if (nodes.demand_kg[trial].sum() > CAP_KG or nodes.demand_n[trial].sum() > CAP_N
                    or _legs(nodes, trial, n + g)[1] > SHIFT_S):
                rows.append(cur)
                hubs.append(g)
                cur = []
            cur.append(int(s))
        rows.append(cur)
        hubs.append(g)
    width = max(len(r) for r in rows)
    padded = np.full((len(rows), width), -1, np.int32)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = r
    return nodes, RouteSet(padded, np.array([len(r) for r in rows], np.int32), np.array(hubs, np.int32))


COMPUTE = Compute.open("cpu", GREAT_CIRCLE, CIRCUITY)


def _hubs(vehicles: np.ndarray | None = None) -> Hubs:
    h = HUBS.shape[0]
    return Hubs(hub_id=np.array([f"h{i}" for i in range(h)], dtype=object), operator=np.array(["usps"] * h, object),
                lat=HUBS[:, 0].copy(), lon=HUBS[:, 1].copy(),
                vehicles=np.full(h, 1000, np.int32) if vehicles is None else vehicles.astype(np.int32),
                capacity_kg=np.full(h, CAP_KG), capacity_parcels=np.full(h, CAP_N), shift_s=np.full(h, SHIFT_S),
                daily_capacity=np.full(h, 10**9, np.int64))


def _run(nodes: Nodes, routes: RouteSet, seed: int, per_stop: float, vehicles: np.ndarray | None = None,
         seconds: float = 60.0) -> RouteSet:
    settings = ImproveSettings(search_neighbours=20)
    out, _, _ = search(routes, nodes, _hubs(vehicles), COMPUTE, settings, seconds, seed, np.arange(HUBS.shape[0]),
                       per_stop)
    return out


def _group_km(nodes: Nodes, routes: RouteSet) -> np.ndarray:
    km = np.zeros(HUBS.shape[0])
    for r in range(routes.size):
        km[routes.route_hub[r]] += _legs(nodes, routes.routes[r, : routes.route_len[r]],
                                         nodes.n_stops + routes.route_hub[r])[0]
    return km


def _assert_feasible(nodes: Nodes, before: RouteSet, after: RouteSet) -> None:
    hub_before = np.full(nodes.n_stops, -1)
    for r in range(before.size):
        hub_before[before.routes[r, : before.route_len[r]]] = before.route_hub[r]
    seen = np.zeros(nodes.n_stops, int)
    for r in range(after.size):
        route = after.routes[r, : after.route_len[r]]
        assert route.size > 0 and np.all(after.routes[r, after.route_len[r]:] == -1)
        assert np.all(hub_before[route] == after.route_hub[r]), "a stop changed hub"
        assert nodes.demand_kg[route].sum() <= CAP_KG
        assert nodes.demand_n[route].sum() <= CAP_N
        assert _legs(nodes, route, nodes.n_stops + after.route_hub[r])[1] <= SHIFT_S
        seen[route] += 1
    assert np.all(seen == 1), "every stop exactly once"


@pytest.mark.parametrize("seed", [1, 2])
def test_search_keeps_constraints_and_never_worsens(seed: int) -> None:
    nodes, routes = _instance(seed)
    out = _run(nodes, routes, seed, per_stop=66)
    _assert_feasible(nodes, routes, out)
    before, after = _group_km(nodes, routes), _group_km(nodes, out)
    assert np.all(after <= before + 1e-6)
    assert after.sum() < 0.97 * before.sum()  # greedy angular routes leave a lot to gain


def test_search_respects_the_fleet_limit() -> None:
    nodes, routes = _instance(3)
    vehicles = np.bincount(routes.route_hub)
    out = _run(nodes, routes, 3, per_stop=45, vehicles=vehicles)
    _assert_feasible(nodes, routes, out)
    assert np.all(np.bincount(out.route_hub, minlength=3) <= np.bincount(routes.route_hub))


def test_search_is_deterministic_and_longer_is_never_worse() -> None:
    nodes, routes = _instance(4, per_hub=30)
    a, b = _run(nodes, routes, 9, 33), _run(nodes, routes, 9, 33)
    np.testing.assert_array_equal(a.routes, b.routes)
    km = [_group_km(nodes, _run(nodes, routes, 9, k)) for k in (2, 13, 33, 83)]
    for shorter, longer in zip(km, km[1:]):
        assert np.all(longer <= shorter + 1e-9)


def test_penalised_search_repeats_in_any_chunks_and_ends_within_every_limit() -> None:
    # the penalty weights and their windows live in the search state, so the trajectory is the same whatever the
    # chunking; the instance's limits bind, so the penalties change the search, and both searches end within them
    nodes, routes = _instance(6, per_hub=30)

    def run(**sisr: object) -> RouteSet:
        settings = ImproveSettings(search_neighbours=20, sisr=replace(ImproveSettings().sisr, **sisr))
        out, _, _ = search(routes, nodes, _hubs(), COMPUTE, settings, 60.0, 5, np.arange(HUBS.shape[0]), 40)
        return out

    def as_lists(out: RouteSet) -> list[list[int]]:
        return [out.routes[r, : out.route_len[r]].tolist() for r in range(out.size)]

    chunked, whole, hard = run(chunk=7), run(chunk=256), run(penalties=False)
    assert as_lists(chunked) == as_lists(whole)
    assert as_lists(whole) != as_lists(hard)
    for out in (whole, hard):
        _assert_feasible(nodes, routes, out)


def test_zero_budget_returns_the_input_distance() -> None:
    nodes, routes = _instance(5, per_hub=10)
    out = _run(nodes, routes, 0, per_stop=0)
    _assert_feasible(nodes, routes, out)
    assert math.isclose(_group_km(nodes, out).sum(), _group_km(nodes, routes).sum())


def test_neighbour_lists_are_the_nearest_other_points() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(40, 41, 60), rng.uniform(-74, -73, 60)
    nbr = neighbour_lists(COMPUTE.embed(a, b), 5)
    d = np.array([[scalar.haversine_km(a[i], b[i], a[j], b[j]) for j in range(60)] for i in range(60)])
    np.fill_diagonal(d, np.inf)
    np.testing.assert_array_equal(nbr, np.argsort(d, axis=1)[:, :5])


def test_search_distances_match_the_haversine_reference() -> None:
    from kernels.cpu import sisr

    rng = np.random.default_rng(1)
    n = 50
    circ = np.r_[rng.uniform(0.5, 2.0, n), 1.0]
    node = np.column_stack([rng.uniform(25, 48, n + 1), rng.uniform(-124, -67, n + 1), np.zeros((n + 1, 4)), circ])
    ready = sisr.prepare_nodes(node, GREAT_CIRCLE, CIRCUITY)
    nbr = neighbour_lists(COMPUTE.embed(node[:-1, 0], node[:-1, 1]), 7)
    nd = sisr.neighbour_distances(ready, nbr, GREAT_CIRCLE, CIRCUITY)
    ref = np.array([[CIRCUITY * scalar.haversine_km(*node[i, :2], *node[j, :2]) * (circ[i] + circ[j]) / 2
                     for j in nbr[i]] for i in range(n)])
    np.testing.assert_allclose(nd, ref, rtol=1e-12)
    depot = [CIRCUITY * scalar.haversine_km(*node[n, :2], *node[i, :2]) * (1.0 + circ[i]) / 2 for i in range(n + 1)]
    np.testing.assert_allclose(ready[:, sisr.DEPOT], depot, rtol=1e-12, atol=1e-12)


def test_search_measures_legs_with_stop_circuity() -> None:
    # each stop's own circuity multiplier, one of them huge: the search's cost is the naive length of what it
    # returns, legs with the multipliers, and no more than the start's
    nodes, routes = _instance(6, per_hub=25)
    circ = np.ones(nodes.a.size)
    circ[: nodes.n_stops] = np.random.default_rng(6).uniform(0.6, 2.0, nodes.n_stops)
    circ[routes.routes[0, 0]] = 40.0
    nodes = replace(nodes, circuity=circ)
    rows = np.flatnonzero(routes.route_hub == routes.route_hub[0])
    depot, stops, flat, ptr = depot_problem(routes, rows, nodes, _hubs(), COMPUTE, 20)
    out_flat, out_ptr, cost, done = COMPUTE.sisr(depot.node, depot.neighbours, flat, ptr, depot.limits,
                                                 ImproveSettings().sisr, 1, 40 * stops.size, 60.0, False)
    assert done > 0
    hub = nodes.n_stops + int(routes.route_hub[0])
    km = [_legs(nodes, stops[out_flat[out_ptr[r]:out_ptr[r + 1]]], hub)[0] for r in range(out_ptr.size - 1)]
    assert cost == pytest.approx(sum(km), rel=1e-9)
    start = sum(_legs(nodes, routes.routes[r, : routes.route_len[r]], hub)[0] for r in rows)
    assert cost <= start + 1e-9


def test_effort_sets_the_work_and_the_cap() -> None:
    from planner.errors import SettingsError

    fixed = ImproveSettings(effort_s=30.0, iterations_per_effort_s=2000.0)
    assert fixed.budget(1000).sisr_per_stop == 60.0  # 60,000 iterations shared by 1,000 stops
    assert fixed.budget(1000).seconds == 600.0  # the cap: at least 600 s, else 10 x the effort
    assert ImproveSettings(effort_s=100.0).budget(1000).seconds == 1000.0
    default = ImproveSettings()
    assert default.effort_for(5 * 10**5) == 70.0 and default.effort_for(10**8) == 150.0  # grows with the load, capped
    assert ImproveSettings(time_cap_s=5.0).budget(10).seconds == 5.0
    assert ImproveSettings(effort_s=0.0).budget(10**6).sisr_per_stop == 0.0  # local search only
    with pytest.raises(SettingsError, match="improve.effort_s must be a number >= 0"):
        ImproveSettings(effort_s=-1.0)


@pytest.mark.parametrize(("fleet_full", "no_neighbours", "penalised"),
                         [(False, False, False), (True, False, False), (True, True, False), (False, False, True),
                          (True, False, True), (True, True, True)])
def test_best_position_is_the_cheapest_feasible_place(fleet_full: bool, no_neighbours: bool, penalised: bool) -> None:
    # the recreate step skips positions by lower bounds and checks the shift only for winners; it must still pick
    # what trying every candidate exactly picks, granular first, then a new route, then every route; with
    # penalties, places over the load or the shift compete at their penalised cost
    from kernels.cpu import sisr
    from tests import naive

    rng = np.random.default_rng(11)
    n, n_routes = 60, 7
    node = np.column_stack([np.r_[40.7 + rng.normal(0, 0.05, n), 40.7], np.r_[-74.0 + rng.normal(0, 0.06, n), -74.0],
                            np.r_[rng.uniform(1, 30, n), 0.0], np.r_[rng.integers(1, 3, n), 0.0],
                            np.r_[rng.uniform(60, 300, n), 0.0], np.r_[rng.choice([22.0, 38.0, 60.0], n), 38.0],
                            np.r_[rng.uniform(0.8, 1.5, n), 1.0]])
    routes = [list(map(int, r)) for r in np.array_split(rng.permutation(n), n_routes)]
    ready = sisr.prepare_nodes(node, GREAT_CIRCLE, CIRCUITY)
    nbr = neighbour_lists(COMPUTE.embed(node[:-1, 0], node[:-1, 1]), 8)
    if no_neighbours:
        nbr[:] = -1
    nd = sisr.neighbour_distances(ready, nbr, GREAT_CIRCLE, CIRCUITY)
    lat, lon, kg, pn, svc, spd, circ = node.T
    cap_kg = float(max(kg[r].sum() for r in routes)) + 20.0
    cap_n = float(max(pn[r].sum() for r in routes)) + 2.0
    # with penalties, limits that some routes already break, and weights that make over-limit places win or lose
    penalties = (0.004, 0.3, 0.1, 0.7) if penalised else None
    if penalised:
        cap_kg, cap_n = 0.9 * cap_kg, cap_n - 3.0
    as_nodes = Nodes(a=node[:, 0], b=node[:, 1], demand_kg=node[:, 2], demand_n=node[:, 3], service_s=node[:, 4],
                     speed_kmh=node[:, 5], circuity=node[:, 6], n_stops=n)
    shift = (0.97 if penalised else 1.03) * max(_legs(as_nodes, np.array(r), n)[1] for r in routes)
    over_places = 0
    checked = 0
    for c in range(n):
        rest = [[u for u in r if u != c] for r in routes]
        slots = rest + [[] for _ in range(n + 1 - len(rest))]
        used = sum(1 for r in rest if r)
        max_routes = float(used if fleet_full else 1000)
        flat = np.array([u for r in slots for u in r], np.int32)
        ptr = np.r_[0, np.cumsum([len(r) for r in slots])].astype(np.int64)
        ns = np.empty((n, 3), np.int32)
        ri = np.empty((len(slots), 3), np.int32)
        rs = np.empty((len(slots), 3))
        sc = np.zeros(sisr.N_SCORES)
        prm = np.zeros(sisr.N_PARAMS)
        prm[sisr.P_METRIC], prm[sisr.P_SCALE] = GREAT_CIRCLE, CIRCUITY
        sisr.load_routes(ready, flat, ptr, ns, ri, rs, sc, prm)
        prm[sisr.P_CAP_KG], prm[sisr.P_CAP_N], prm[sisr.P_MAX_DUR], prm[sisr.P_MAX_ROUTES] = (cap_kg, cap_n, shift,
                                                                                               max_routes)
        if penalised:
            prm[sisr.P_PENALISE], prm[sisr.P_PENALISE_LOAD] = 1.0, 1.0
            prm[sisr.P_PER_KG], prm[sisr.P_PER_N] = penalties[2:]
            sc[sisr.W_DUR], sc[sisr.W_LOAD] = penalties[:2]
        ed = np.zeros(n)
        sisr._edges(ready, ns, ed, GREAT_CIRCLE, CIRCUITY)
        got_r, p, q, d_in, d_out = sisr._best_position(c, ready, nbr, nd, ns, ed, ri, rs, sc, prm, penalised,
                                                       sisr.seed_rng(1), True)
        want = naive.sisr_best_position(c, slots, lat, lon, kg, pn, svc, spd, circ, n, nbr[c], cap_kg, cap_n, shift,
                                        max_routes, CIRCUITY, penalties)
        assert got_r == want[1]
        if got_r < 0:
            continue
        checked += 1
        route = slots[got_r]
        pos = len(route) if q < 0 else route.index(q)
        assert pos == want[2] and (p < 0 or route[pos - 1] == p)
        u, v = (p if p >= 0 else n), (q if q >= 0 else n)
        d = sisr._dist(ready, GREAT_CIRCLE, CIRCUITY, u, v) if route else 0.0
        assert d_in == sisr._dist(ready, GREAT_CIRCLE, CIRCUITY, u, c)
        assert d_out == sisr._dist(ready, GREAT_CIRCLE, CIRCUITY, c, v)
        assert d_in + d_out - d == pytest.approx(want[3], rel=1e-9, abs=1e-9)
        over_places += want[0] != pytest.approx(want[3], rel=1e-9, abs=1e-9)
    assert checked >= n // 2
    assert (over_places > 0) == penalised  # the penalised cases do pick places over a limit, and only they



def _scratch_duration(sisr, node: np.ndarray, ns: np.ndarray, ri: np.ndarray, r: int) -> float:  # type: ignore[no-untyped-def]
    """Route ``r``'s seconds in the search state, every leg's distance computed anew."""
    n = ns.shape[0]
    total, u, c = 0.0, n, ri[r, sisr.FIRST]
    while c >= 0:
        total += sisr._leg(node, sisr._dist(node, GREAT_CIRCLE, CIRCUITY, u, c), u, c) + node[c, sisr.SVC]
        u, c = c, ns[c, sisr.SUCC]
    return total + sisr._leg(node, sisr._dist(node, GREAT_CIRCLE, CIRCUITY, u, n), u, n)


class _RuinState:
    """A search state of 90 stops on 12 routes of 1 stop to dozens (and 4 empty slots), its journal and scratch
    arrays, ready for single ruin steps; ``saved`` is its rows, for checking that undo restores them."""

    def __init__(self) -> None:
        from kernels.cpu import sisr

        rng = np.random.default_rng(5)
        n = self.n = 90
        node = np.column_stack([np.r_[40.7 + rng.normal(0, 0.05, n), 40.7],
                                np.r_[-74.0 + rng.normal(0, 0.06, n), -74.0],
                                np.r_[rng.uniform(1, 30, n), 0.0], np.r_[rng.integers(1, 3, n), 0.0],
                                np.r_[rng.uniform(60, 300, n), 0.0], np.r_[rng.choice([22.0, 38.0, 60.0], n), 38.0],
                                np.r_[rng.uniform(0.8, 1.5, n), 1.0]])
        cuts = np.sort(rng.choice(np.arange(1, n), 11, replace=False))
        self.routes = [list(map(int, r)) for r in np.split(rng.permutation(n), cuts)] + [[] for _ in range(4)]
        self.ready = sisr.prepare_nodes(node, GREAT_CIRCLE, CIRCUITY)
        self.nbr = neighbour_lists(COMPUTE.embed(node[:-1, 0], node[:-1, 1]), 12)
        flat = np.array([u for r in self.routes for u in r], np.int32)
        ptr = np.r_[0, np.cumsum([len(r) for r in self.routes])].astype(np.int64)
        slots = len(self.routes)
        self.ns, self.ri, self.rs = np.empty((n, 3), np.int32), np.empty((slots, 3), np.int32), np.empty((slots, 3))
        self.sc = np.zeros(sisr.N_SCORES)
        prm = self.prm = np.zeros(sisr.N_PARAMS)
        prm[sisr.P_METRIC], prm[sisr.P_SCALE] = GREAT_CIRCLE, CIRCUITY
        sisr.load_routes(self.ready, flat, ptr, self.ns, self.ri, self.rs, self.sc, prm)
        prm[sisr.P_CAP_KG], prm[sisr.P_CAP_N], prm[sisr.P_MAX_DUR], prm[sisr.P_MAX_ROUTES] = 1e9, 1e9, 1e9, slots
        prm[sisr.P_CBAR], prm[sisr.P_LMAX], prm[sisr.P_SPLIT_RATE], prm[sisr.P_SPLIT_DEPTH] = 12.0, 15.0, 0.5, 0.3
        self.ed = np.zeros(n)
        sisr._edges(self.ready, self.ns, self.ed, GREAT_CIRCLE, CIRCUITY)
        self.saved = (self.ns.copy(), self.ri.copy(), self.rs.copy(), self.ed.copy())
        self.scores = self.sc.copy()  # the run loop, not the journal, restores the scores
        self.jn, self.jri, self.jrf = np.empty((3 * n + 3, 4), np.int32), np.empty((slots, 4), np.int32), np.empty(
            (slots, 3))
        self.st_n, self.st_r, self.jc = np.full(n, -1, np.int64), np.full(slots, -1, np.int64), np.zeros(2, np.int64)
        self.removed, self.ruined, self.tmp = np.empty(n, np.int32), np.empty(slots, np.int32), np.empty(n, np.int32)

    def ruin(self, draws: np.ndarray, penalised: bool, it: int) -> tuple[int, int]:
        """One ruin step: (stops removed, routes ruined)."""
        from kernels.cpu import sisr

        self.jc[:] = 0
        return sisr._ruin(self.ready, self.nbr, self.ns, self.ed, self.ri, self.rs, self.sc, self.prm, penalised,
                          draws, True, self.removed, self.ruined, self.tmp, self.jn, self.jri, self.jrf, self.st_n,
                          self.st_r, self.jc, it)

    def undo_and_check(self) -> None:
        """Undo the step and assert that every row is as it was."""
        from kernels.cpu import sisr

        sisr._undo(self.ready, self.ns, self.ed, self.ri, self.rs, self.jn, self.jri, self.jrf, self.jc, GREAT_CIRCLE,
                   CIRCUITY)
        self.sc[:] = self.scores
        for got, before in zip((self.ns, self.ri, self.rs, self.ed), self.saved):
            assert np.array_equal(got, before)


def test_ruin_removes_the_reference_strings_and_undo_restores_the_state() -> None:
    # the ruin step walks from each ruined route's stop only as far as its string reaches; it must remove exactly
    # the strings that walking every route whole gives (the kernel's own draws, in its order), and the journal
    # must take the state back bit for bit
    from kernels.cpu import sisr
    from tests import naive

    st = _RuinState()
    routes = st.routes
    assert all(st.rs[r, sisr.DUR] == _scratch_duration(sisr, st.ready, st.ns, st.ri, r)
               for r in range(len(routes)) if routes[r])
    split = 0
    for it in range(300):
        draws = sisr.seed_rng(it)
        want = naive.sisr_ruin(routes, st.nbr, 12.0, 15.0, 0.5, 0.3, draws.copy(), sisr._rand, sisr._randint)
        k, m = st.ruin(draws, False, it)
        assert st.removed[:k].tolist() == [u for string in want for u in string] and m == len(want)
        assert (st.ns[st.removed[:k], sisr.ROUTE] == -1).all()
        for r in st.ruined[:m]:  # the cached edges stay the distances, so durations summed from them are exact
            summed = sisr.route_duration(st.ready, st.ns, st.ri, st.ed, r, GREAT_CIRCLE, CIRCUITY)
            assert summed == _scratch_duration(sisr, st.ready, st.ns, st.ri, r)
        route_of = {u: r for r in routes for u in r}
        split += any(np.any(np.diff([route_of[string[0]].index(u) for u in string]) > 1) for string in want)
        st.undo_and_check()
    assert split > 0  # some strings keep a run of stops inside them


def test_route_ruin_empties_the_route_with_the_fewest_stops_only_above_the_floor() -> None:
    # above the route floor, a penalised step (at chance 1) removes the shortest route whole, first stop to last;
    # at the floor, and in the hard search, it draws nothing more and removes the reference strings
    from kernels.cpu import sisr
    from tests import naive

    st = _RuinState()
    routes = st.routes
    fewest = min((r for r in range(len(routes)) if routes[r]), key=lambda r: (len(routes[r]), r))
    st.prm[sisr.P_ROUTE_RUIN] = 1.0
    n_routes = sum(1 for r in routes if r)
    for it in range(0, 120, 3):  # the journal saves a row once an iteration: each step its own
        st.prm[sisr.P_ROUTE_FLOOR] = n_routes - 1
        k, m = st.ruin(sisr.seed_rng(it), True, it)
        assert st.removed[:k].tolist() == routes[fewest] and m == 1 and st.ruined[0] == fewest
        assert st.ri[fewest, sisr.CARD] == 0 and st.sc[sisr.N_ROUTES] == n_routes - 1
        st.undo_and_check()
        for step, (floor, penalised) in enumerate(((n_routes, True), (n_routes - 1, False)), 1):
            st.prm[sisr.P_ROUTE_FLOOR] = floor
            draws = sisr.seed_rng(it)
            want = naive.sisr_ruin(routes, st.nbr, 12.0, 15.0, 0.5, 0.3, draws.copy(), sisr._rand, sisr._randint)
            k, m = st.ruin(draws, penalised, it + step)
            assert st.removed[:k].tolist() == [u for string in want for u in string] and m == len(want)
            st.undo_and_check()


def test_route_floor_is_the_tightest_of_load_parcels_and_service_time() -> None:
    from kernels.cpu import sisr

    node = np.zeros((5, sisr.N_INPUT))
    node[:4, 2], node[:4, 3], node[:4, 4] = 30.0, 2.0, 3600.0  # 120 kg, 8 parcels, 4 h of service
    assert sisr.route_floor(node, (50.0, 100.0, math.inf, 9.0)) == 3  # the kg
    assert sisr.route_floor(node, (500.0, 3.0, math.inf, 9.0)) == 3  # the parcels
    assert sisr.route_floor(node, (500.0, 100.0, 3 * 3600.0, 9.0)) == 2  # the shift's service time
    assert sisr.route_floor(node, (math.inf, math.inf, math.inf, 9.0)) == 0


def test_route_ruin_drains_a_rural_hubs_surplus_routes() -> None:
    # stops 30-55 km around a depot, started on 12 routes where 4 carry the parcels: strings never empty a
    # route of 20 stops, so without whole routes ruined the search keeps depot round trips it does not need
    rng = np.random.default_rng(3)
    n = 240
    ang, rad = rng.uniform(0, 2 * np.pi, n), rng.uniform(0.3, 0.5, n)
    nodes = Nodes(a=np.r_[40.0 + rad * np.sin(ang), 40.0], b=np.r_[-77.0 + rad * np.cos(ang) / 0.77, -77.0],
                  demand_kg=np.r_[rng.uniform(1, 10, n), 0.0], demand_n=np.r_[np.ones(n), 0.0],
                  service_s=np.r_[np.full(n, 120.0), 0.0], speed_kmh=np.full(n + 1, 50.0), circuity=np.ones(n + 1),
                  n_stops=n)
    node = np.column_stack([nodes.a, nodes.b, nodes.demand_kg, nodes.demand_n, nodes.service_s, nodes.speed_kmh,
                            nodes.circuity])
    limits = (1e9, 70.0, 8 * 3600.0, 50.0)
    order = np.argsort(ang).astype(np.int32)
    ptr = np.linspace(0, n, 13).astype(np.int64)
    nbr = neighbour_lists(COMPUTE.embed(node[:-1, 0], node[:-1, 1]), 20)
    out = {}
    for chance in (0.0, 0.04):
        settings = replace(ImproveSettings().sisr, route_ruin=chance)
        flat, p, cost, _ = COMPUTE.sisr(node, nbr, order, ptr, limits, settings, 1, 5 * n, 60.0, False)
        tours = [flat[p[r]:p[r + 1]] for r in range(p.size - 1)]
        np.testing.assert_array_equal(np.sort(np.concatenate(tours)), np.arange(n))
        for tour in tours:
            km, seconds = _legs(nodes, tour, n)
            assert nodes.demand_n[tour].sum() <= limits[1] and seconds <= limits[2]
        assert cost == pytest.approx(sum(_legs(nodes, t, n)[0] for t in tours), rel=1e-9)
        out[chance] = (len(tours), cost)
    assert out[0.04][0] < out[0.0][0] and out[0.04][1] < 0.97 * out[0.0][1]


def test_polish_reorders_each_best_route_within_its_shift_and_never_lengthens_it() -> None:
    # the search's best routes, then 2-opt / Or-opt inside each: the same stops on every route, none longer, each
    # within the shift, and the cost returned is the naive length of what comes back
    nodes, routes = _instance(7, per_hub=60)
    rows = np.flatnonzero(routes.route_hub == routes.route_hub[0])
    depot, stops, flat, ptr = depot_problem(routes, rows, nodes, _hubs(), COMPUTE, 20)
    hub = nodes.n_stops + int(routes.route_hub[0])

    def run(passes: int) -> tuple[list[np.ndarray], float]:
        settings = replace(ImproveSettings().sisr, polish_passes=passes, polish_neighbours=3)
        f, p, cost, _ = COMPUTE.sisr(depot.node, depot.neighbours, flat, ptr, depot.limits, settings, 3,
                                     4 * stops.size, 60.0, False)
        return [stops[f[p[r]:p[r + 1]]] for r in range(p.size - 1)], cost

    plain, plain_cost = run(0)
    polished, cost = run(1000)
    assert len(plain) == len(polished)
    for before, after in zip(plain, polished):
        np.testing.assert_array_equal(np.sort(before), np.sort(after))
        km_before, _ = _legs(nodes, before, hub)
        km_after, seconds = _legs(nodes, after, hub)
        assert km_after <= km_before + 1e-9 and seconds <= SHIFT_S
    assert cost == pytest.approx(sum(_legs(nodes, r, hub)[0] for r in polished), rel=1e-9)
    assert cost < plain_cost  # a short search leaves the routes' order something to gain


def test_a_hub_thread_runs_every_compiled_step_without_the_gil() -> None:
    """The improve stage searches hubs on parallel threads: a step that holds the GIL (the polish did) stalls the
    other hub's thread at its next return to Python (the 10M day's improve stage: 150 s with it, 91 s without)."""
    from kernels.cpu import sisr

    steps = (sisr.seed_rng, sisr.load_routes, sisr.export_routes, sisr.neighbour_distances, sisr._depot_distances,
             sisr.polish_routes, sisr.RUN_HARD, sisr.RUN_PENALISED)
    assert [step.py_func.__name__ for step in steps if not step.targetoptions.get("nogil")] == []
