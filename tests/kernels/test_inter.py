"""Inter-route local search on the CPU (kernels.cpu.inter).

Every stop's best move is checked against a naive evaluation that builds the
changed routes as Python lists and recomputes their full costs with the
pure-Python scalar cores; whole runs are checked by the rules a plan keeps
(every stop once, limits, groups, distance never up, strictly down per round);
each move kind has a hand-built case where it is the only improving move.
"""
from __future__ import annotations

import numpy as np
import pytest

from kernels._scalar import reference
from kernels.core import inter
from kernels.core.inter import RELOCATE, SWAP, TAILS
from kernels.cpu.inter import best_moves, improve_inter
from tests import naive

TOL = 1e-6




# ---------------------------------------------------------------- naive reference








# ---------------------------------------------------------------- instances


def nearest(inst_a: np.ndarray, inst_b: np.ndarray, stops: np.ndarray, metric: int, scale: float, k: int,
            n_nodes: int) -> np.ndarray:
    """K nearest stops of every stop by the reference distance (rows of hubs stay -1)."""
    nb = np.full((n_nodes, k), -1, np.int32)
    for s in stops:
        d = np.array([reference.point_distance(metric, scale, inst_a[s], inst_b[s], inst_a[t], inst_b[t])
                      for t in stops])
        order = [int(stops[x]) for x in np.argsort(d, kind="stable") if stops[x] != s][:k]
        nb[s, : len(order)] = order
    return nb


def random_instance(seed: int, metric: int, n_hubs: int = 3, n_stops: int = 40, per_route: int = 5,
                    k: int = 6, slack: float = 1.15, spare: int = 1) -> naive.InterInstance:
    """Hubs are nodes 0..n_hubs-1; each hub's stops chunked in id order into routes, plus ``spare``
    empty routes per hub; limits a random ``slack`` above the starting routes (some start over)."""
    rng = np.random.default_rng(seed)
    n = n_hubs + n_stops
    if metric == 0:
        a, b, scale = rng.uniform(40.0, 40.5, n), rng.uniform(-75.0, -74.4, n), 1.3
    else:
        side = 1000.0 if metric == 2 else 100.0  # rounded distances need a coarser grid
        a, b, scale = rng.uniform(0.0, side, n), rng.uniform(0.0, side, n), 1.0
    stops = np.arange(n_hubs, n)
    kg = np.r_[np.zeros(n_hubs), rng.uniform(1.0, 10.0, n_stops)]
    pn = np.r_[np.zeros(n_hubs), rng.integers(1, 4, n_stops).astype(np.float64)]
    svc = np.r_[np.zeros(n_hubs), rng.uniform(30.0, 120.0, n_stops)]
    spd = rng.uniform(20.0, 60.0, n)
    hub_of = rng.integers(0, n_hubs, n_stops)
    chunks, depots = [], []
    for h in range(n_hubs):
        mine = stops[hub_of == h]
        for c in range(0, len(mine), per_route):
            chunks.append(mine[c: c + per_route])
            depots.append(h)
        for _ in range(spare):
            chunks.append(np.array([], np.int64))
            depots.append(h)
    width = per_route + 3
    routes = np.full((len(chunks), width), -1, np.int32)
    for r, ch in enumerate(chunks):
        routes[r, : len(ch)] = ch
    inst = naive.InterInstance(
        routes=routes, route_len=np.array([len(c) for c in chunks], np.int32),
        route_depot=np.array(depots, np.int32), route_group=np.array(depots, np.int32),
        neighbours=nearest(a, b, stops, metric, scale, k, n), a=a, b=b, demand_kg=kg, demand_n=pn,
        service_s=svc, speed_kmh=spd, cap_kg=np.zeros(len(chunks)), cap_n=np.zeros(len(chunks)),
        max_duration_s=np.zeros(len(chunks)), metric=metric, scale=scale)
    costs = np.array([naive.inter_route_cost(inst, r, lst) for r, lst in enumerate(inst.lists())])
    top = costs.max(axis=0)
    jitter = rng.uniform(0.8, 1.0, len(chunks))
    inst.cap_kg = top[2] * slack * jitter
    inst.cap_n = np.floor(top[3] * slack * jitter)
    inst.max_duration_s = top[1] * slack * jitter
    return inst


def hand_instance(points: list[tuple[float, float]], routes: list[list[int]], kg: list[float] | None = None,
                  cap_kg: float | list[float] = 1e9, cap_n: float = 1e9, width: int = 6) -> naive.InterInstance:
    """Planar instance: node 0 is the single hub, every stop neighbours every other stop."""
    n = len(points)
    pts = np.array(points, np.float64)
    padded = np.full((len(routes), width), -1, np.int32)
    for r, lst in enumerate(routes):
        padded[r, : len(lst)] = lst
    stops = np.arange(1, n)
    nb = np.full((n, n - 2), -1, np.int32)
    for s in stops:
        nb[s] = [t for t in stops if t != s]
    zeros = np.zeros(len(routes), np.int32)
    return naive.InterInstance(
        routes=padded, route_len=np.array([len(x) for x in routes], np.int32), route_depot=zeros,
        route_group=zeros.copy(), neighbours=nb, a=pts[:, 0].copy(), b=pts[:, 1].copy(),
        demand_kg=np.array([0.0] + (kg or [1.0] * (n - 1))), demand_n=np.r_[0.0, np.ones(n - 1)],
        service_s=np.zeros(n), speed_kmh=np.full(n, 30.0),
        cap_kg=np.broadcast_to(np.asarray(cap_kg, np.float64), len(routes)).copy(),
        cap_n=np.full(len(routes), float(cap_n)), max_duration_s=np.full(len(routes), 1e9), metric=1, scale=1.0)


def total_distance(inst: naive.InterInstance) -> float:
    return sum(naive.inter_route_cost(inst, r, lst)[0] for r, lst in enumerate(inst.lists()))


def assert_plan_rules(before: naive.InterInstance, after: naive.InterInstance) -> None:
    """Every stop once, padding intact, groups kept, limits hold (or no worse than at the start)."""
    old = sorted(s for lst in before.lists() for s in lst)
    new = sorted(s for lst in after.lists() for s in lst)
    assert new == old
    for r in range(len(after.route_len)):
        assert (after.routes[r, after.route_len[r]:] == -1).all()
    old_group = {s: before.route_group[r] for r, lst in enumerate(before.lists()) for s in lst}
    for r, lst in enumerate(after.lists()):
        assert all(old_group[s] == after.route_group[r] for s in lst)
    start = np.array([naive.inter_route_cost(before, r, lst) for r, lst in enumerate(before.lists())])
    for r, lst in enumerate(after.lists()):
        _, t, kg, n = naive.inter_route_cost(after, r, lst)
        assert kg <= max(after.cap_kg[r], start[r, 2]) + TOL
        assert n <= max(after.cap_n[r], start[r, 3]) + TOL
        assert t <= max(after.max_duration_s[r], start[r, 1]) + TOL


def improving_kinds(inst: naive.InterInstance) -> set[int]:
    stops = [s for lst in inst.lists() for s in lst]
    return {move[0] for u in stops for _, move in naive.inter_candidates(inst, u)}


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("metric,seed", [(0, 1), (1, 2), (2, 3), (0, 4)])
def test_best_move_per_stop_matches_naive(metric: int, seed: int) -> None:
    assert_best_moves_match_naive(random_instance(seed, metric))


@pytest.mark.parametrize("metric,seed", [(0, 5), (1, 6)])
def test_stop_circuity_moves_match_naive_and_shorten(metric: int, seed: int) -> None:
    # each stop's own circuity multiplier (one huge), hubs at 1.0: gains and the run measure legs with them
    inst = random_instance(seed, metric)
    n_hubs = int(inst.route_depot.max()) + 1
    inst.circuity = np.r_[np.ones(n_hubs), np.random.default_rng(seed).uniform(0.6, 2.0, len(inst.a) - n_hubs)]
    inst.circuity[n_hubs + 4] = 40.0
    assert_best_moves_match_naive(inst)
    start = inst.copy()
    assert improve_inter(*inst.args(), 100) > 0
    assert_plan_rules(start, inst)
    assert total_distance(inst) < total_distance(start) - inter.MIN_GAIN


def assert_best_moves_match_naive(inst: naive.InterInstance) -> None:
    """Every stop's best move and gain equal the naive evaluation's (ties: any of the best)."""
    gain, move = best_moves(*inst.args())
    found = 0
    for lst in inst.lists():
        for u in lst:
            cands = naive.inter_candidates(inst, u)
            if not cands:
                assert move[u, 0] == -1 and gain[u] == 0.0
                continue
            found += 1
            top = max(g for g, _ in cands)
            assert gain[u] == pytest.approx(top, rel=1e-9, abs=1e-7)
            ties = {m for g, m in cands if g >= top - 1e-7}
            assert tuple(int(x) for x in move[u]) in ties
    assert found > 0
    hubs = np.arange(inst.route_depot.max() + 1)
    assert (move[hubs, 0] == -1).all()


@pytest.mark.parametrize("metric,seed,n_stops", [(0, 11, 60), (1, 12, 30), (2, 13, 45), (1, 14, 10)])
def test_random_runs_keep_plan_rules_and_shorten(metric: int, seed: int, n_stops: int) -> None:
    start = random_instance(seed, metric, n_stops=n_stops)
    inst = start.copy()
    dist0 = total_distance(start)
    last = dist0
    rounds = 0
    while improve_inter(*inst.args(), 1) > 0:  # one round at a time: strictly shorter each round
        now = total_distance(inst)
        assert now < last - inter.MIN_GAIN
        last = now
        rounds += 1
    assert_plan_rules(start, inst)
    again = start.copy()
    assert improve_inter(*again.args(), 100) > 0
    assert again.lists() == inst.lists()  # deterministic, and one call of many rounds = rounds one by one
    assert total_distance(inst) <= dist0
    assert rounds > 0


@pytest.mark.parametrize("metric,seed,spare,slack", [(0, 31, 2, 1.15), (1, 32, 3, 1.02), (2, 33, 1, 1.3),
                                                     (1, 34, 2, 0.95)])
def test_cached_moves_equal_fresh_evaluation(metric: int, seed: int, spare: int, slack: float) -> None:
    # A call with max_rounds=1 evaluates every stop from scratch; a long call re-evaluates only
    # the stops around the routes the last round changed. Empty routes opening and closing, and
    # limits tight enough to bind, exercise every reason for a cached move to go stale.
    start = random_instance(seed, metric, n_hubs=2, n_stops=70, per_route=6, k=5, slack=slack, spare=spare)
    fresh = start.copy()
    history = []
    while improve_inter(*fresh.args(), 1) > 0:
        history.append(fresh.lists())
    assert len(history) > 3
    for rounds in (2, len(history)):
        cached = start.copy()
        improve_inter(*cached.args(), rounds)
        assert cached.lists() == history[rounds - 1]
    np.testing.assert_array_equal(cached.routes, fresh.routes)
    np.testing.assert_array_equal(cached.route_len, fresh.route_len)


def test_interleaved_routes_are_untangled() -> None:
    # two routes alternating between a left and a right column of stops
    left = [(-10.0, float(y)) for y in range(1, 6)]
    right = [(10.0, float(y)) for y in range(1, 6)]
    points = [(0.0, 0.0)] + [p for pair in zip(left, right) for p in pair]
    inst = hand_instance(points, [[1, 4, 5, 8, 9], [2, 3, 6, 7, 10]], cap_n=5, width=7)
    before = total_distance(inst)
    start = inst.copy()
    assert improve_inter(*inst.args(), 50) > 0
    assert total_distance(inst) < 0.7 * before
    assert_plan_rules(start, inst)
    assert sorted(map(sorted, inst.lists())) == [[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]]


def test_relocate_only() -> None:
    # stop 4 lies between route 0's stops but is driven to from the far side; the weights and
    # per-route capacities leave moving it as the only improvement (no swap, no 2-opt*)
    points = [(0, 0), (10, 0), (10, 2), (-10, 0), (10, 1), (-10, 2)]
    inst = hand_instance(points, [[1, 2], [3, 4, 5]], kg=[3, 3, 1, 0.5, 1], cap_kg=[6.5, 3])
    assert improving_kinds(inst) == {RELOCATE}
    assert improve_inter(*inst.args(), 10) == 1
    assert inst.lists() == [[1, 4, 2], [3, 5]]


def test_swap_only() -> None:
    # each route holds the other's middle stop; full parcel counts forbid relocating and the
    # per-route capacities forbid exchanging tails
    points = [(0, 0), (10, 0), (-10, 1), (10, 2), (-10, 0), (10, 1), (-10, 2)]
    inst = hand_instance(points, [[1, 2, 3], [4, 5, 6]], kg=[1, 5, 1, 1, 5, 2], cap_kg=[7, 8],
                         cap_n=3)
    assert improving_kinds(inst) == {SWAP}
    assert improve_inter(*inst.args(), 10) == 1
    assert inst.lists() == [[1, 5, 3], [4, 2, 6]]


def test_two_opt_star_only() -> None:
    # crossing routes: heads near the hub, tails on the wrong side; capacities forbid the swaps
    points = [(0, 0), (1, 5), (10, -5), (12, -5), (1, -5), (10, 5), (12, 5)]
    inst = hand_instance(points, [[1, 2, 3], [4, 5, 6]], kg=[1, 1, 3, 3, 3, 1], cap_kg=[5, 7], cap_n=3)
    assert improving_kinds(inst) == {TAILS}
    assert improve_inter(*inst.args(), 10) == 1
    assert inst.lists() == [[1, 5, 6], [4, 2, 3]]


def test_two_opt_star_joins_route_onto_stop() -> None:
    # the u-v variant: route 1's only stop continues route 0 past its last stop, emptying route 1
    inst = hand_instance([(0, 0), (5, 0), (10, 0), (11, 0)], [[1, 2], [3]], cap_n=3)
    gain, move = best_moves(*inst.args())
    assert tuple(move[2]) == (TAILS, 0, 1, 0)
    assert improve_inter(*inst.args(), 10) >= 1
    assert sorted(inst.lists()) == [[], [1, 2, 3]]


def test_relocate_into_empty_route() -> None:
    # a stop far out on the opposite side: opening the spare route beats its detour
    inst = hand_instance([(0, 0), (10, 0), (11, 0), (-10, 0.5)], [[1, 3, 2], []], cap_n=3)
    gain, move = best_moves(*inst.args())
    assert tuple(move[3]) == (RELOCATE, 0, 1, 0)
    assert improve_inter(*inst.args(), 1) == 1
    assert inst.lists() == [[1, 2], [3]]


def test_padded_width_blocks_relocate() -> None:
    points = [(0, 0), (10, 0), (10, 2), (-10, 0), (10, 1)]
    roomy = hand_instance(points, [[1, 2], [3, 4]], width=3)
    assert tuple(best_moves(*roomy.args())[1][4]) == (RELOCATE, 1, 0, 1)
    full = hand_instance(points, [[1, 2], [3, 4]], width=2)
    assert all(m[0] != RELOCATE for u in (1, 2, 3, 4) for _, m in naive.inter_candidates(full, u))
    assert (best_moves(*full.args())[1][:, 0] != RELOCATE).all()


def test_route_over_its_shift_may_not_get_longer() -> None:
    # the relocate case again (stop 4 now off the line, so taking it lengthens route 0), with
    # route 0 already over its shift: its only improvement is gone
    points = [(0, 0), (10, 0), (10, 2), (-10, 0), (10.5, 1), (-10, 2)]
    inst = hand_instance(points, [[1, 2], [3, 4, 5]], kg=[3, 3, 1, 0.5, 1], cap_kg=[6.5, 3])
    assert improving_kinds(inst) == {RELOCATE}
    inst.max_duration_s[0] = 1.0
    assert improving_kinds(inst) == set()
    assert (best_moves(*inst.args())[1][:, 0] == -1).all()
    assert improve_inter(*inst.args(), 10) == 0


def test_routes_stay_in_their_group() -> None:
    inst = hand_instance([(0, 0), (10, 0), (-10, 0), (10, 1)], [[1], [2, 3]])
    inst.route_group[1] = 1
    assert improve_inter(*inst.args(), 10) == 0
    assert inst.lists() == [[1], [2, 3]]


def test_bad_dtype_is_named() -> None:
    inst = random_instance(5, 1, n_stops=10)
    with pytest.raises(ValueError, match=r"^routes must be an int32 array of shape \[R, L\]$"):
        improve_inter(inst.routes.astype(np.int64), *inst.args()[1:], 1)
    with pytest.raises(ValueError, match=r"^cap_kg, cap_n and max_duration_s must be float64"):
        improve_inter(*inst.args()[:12], inst.cap_kg.astype(np.float32), *inst.args()[13:], 1)
