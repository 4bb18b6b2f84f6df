"""Split (kernels.cpu.split): brute force over every cut set, a hand-solved tour, infeasible tours."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kernels._scalar import EUCLID, GREAT_CIRCLE
from kernels.cpu.split import route_counts, split_tours
from tests import naive

INF = math.inf






def random_nodes(rng, n_nodes, metric):
    if metric == GREAT_CIRCLE:
        a, b = 40.0 + rng.random(n_nodes) * 0.2, -75.0 + rng.random(n_nodes) * 0.2
    else:
        a, b = rng.random(n_nodes) * 10.0, rng.random(n_nodes) * 10.0
    return {
        "a": a, "b": b, "kg": rng.uniform(1.0, 10.0, n_nodes), "n": rng.integers(1, 4, n_nodes).astype(np.float64),
        "svc": rng.uniform(30.0, 120.0, n_nodes), "spd": rng.choice([15.0, 30.0, 60.0], n_nodes),
    }


def circuity(nodes):
    """The nodes' circuity multipliers (1.0 unless the test set some)."""
    return nodes.get("circ", np.ones(len(nodes["a"])))


def run_split(tours, depots, nodes, cap_kg, cap_n, max_dur, max_routes, metric, scale):
    ptr = np.concatenate([[0], np.cumsum([len(t) for t in tours])]).astype(np.int64)
    flat = np.concatenate([np.asarray(t, np.int32) for t in tours]) if ptr[-1] else np.zeros(0, np.int32)
    return ptr, split_tours(
        ptr, flat, np.asarray(depots, np.int32), nodes["a"], nodes["b"], circuity(nodes), nodes["kg"], nodes["n"],
        nodes["svc"], nodes["spd"], np.asarray(cap_kg, np.float64), np.asarray(cap_n, np.float64),
        np.asarray(max_dur, np.float64), np.asarray(max_routes, np.int32), metric, scale,
    )


@pytest.mark.parametrize("metric,scale,per_stop", [(EUCLID, 1.0, False), (GREAT_CIRCLE, 1.3, False),
                                                   (GREAT_CIRCLE, 1.3, True)])
def test_split_equals_brute_force(rng, metric, scale, per_stop):
    n_stops, n_hubs, n_tours = 60, 3, 40
    nodes = random_nodes(rng, n_stops + n_hubs, metric)
    nodes["svc"][n_stops:] = 0.0
    if per_stop:  # stops with circuity multipliers of their own (one of them huge), hubs at 1.0
        nodes["circ"] = np.r_[rng.uniform(0.6, 2.0, n_stops), np.ones(n_hubs)]
        nodes["circ"][7] = 40.0
    tours, depots, cap_kg, cap_n, max_dur, max_routes = [], [], [], [], [], []
    for t in range(n_tours):
        n = int(rng.integers(0, 10))
        tours.append(rng.choice(n_stops, n, replace=False))
        depots.append(n_stops + t % n_hubs)
        cap_kg.append(rng.uniform(10.0, 40.0))
        cap_n.append(INF if t % 3 == 0 else float(rng.integers(3, 12)))
        # Every other tour has no shift limit and takes the linear (window) DP.
        probe = naive.split_route_figures(list(tours[-1]), depots[-1], nodes, metric, scale)[1] if n else 0.0
        max_dur.append(INF if t % 2 == 0 else rng.uniform(0.3, 0.8) * probe + 400.0)
        max_routes.append(int(rng.integers(1, 5)) if t % 4 != 3 else 1000)
    ptr, (start, cost) = run_split(tours, depots, nodes, cap_kg, cap_n, max_dur, max_routes, metric, scale)
    n_inf = n_layered = 0
    for t, tour in enumerate(tours):
        limits = (cap_kg[t], cap_n[t], max_dur[t])
        expect = naive.split_cost(list(tour), depots[t], nodes, *limits, max_routes[t], metric, scale)
        # The fleet-limited DP runs when more vehicles would have been cheaper.
        n_layered += naive.split_cost(list(tour), depots[t], nodes, *limits, 1000, metric, scale) < expect < INF
        marks = start[ptr[t]:ptr[t + 1]]
        if expect == INF:
            n_inf += 1
            assert cost[t] == INF and not marks.any(), t
            continue
        assert cost[t] == pytest.approx(expect, rel=1e-12, abs=1e-9), t
        assert len(tour) == 0 or marks[0] == 1
        bounds = list(np.flatnonzero(marks)) + [len(tour)]
        assert len(bounds) - 1 <= max_routes[t]
        total = 0.0
        for lo, hi in zip(bounds, bounds[1:]):
            dist, dur, kg, pn = naive.split_route_figures(list(tour[lo:hi]), depots[t], nodes, metric, scale)
            assert kg <= cap_kg[t] and pn <= cap_n[t] and dur <= max_dur[t]
            total += dist
        assert cost[t] == pytest.approx(total, rel=1e-12)
    assert 0 < n_inf < n_tours and n_layered > 0  # the draw exercised both outcomes and the fleet-limited DP


def line_nodes(xs, kg):
    n = len(xs)
    return {"a": np.asarray(xs, np.float64), "b": np.zeros(n), "kg": np.asarray(kg, np.float64), "n": np.ones(n),
            "svc": np.zeros(n), "spd": np.full(n, 36.0)}


def test_split_hand_solved():
    # Depot at 0, stops at 1, 2, 3, 4 on a line, 1 kg each, 2 kg per vehicle:
    # {1,2} + {3,4} costs 4 + 8 = 12, any other feasible cut costs more.
    nodes = line_nodes([0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 1.0, 1.0])
    tour = [1, 2, 3, 4]
    _, (start, cost) = run_split([tour], [0], nodes, [2.0], [INF], [INF], [10], EUCLID, 1.0)
    assert start.tolist() == [1, 0, 1, 0] and cost[0] == 12.0
    # Same with a shift: at 36 km/h a km takes 100 s, so 0-1-2-0 takes 400 s and 0-3-4-0 800 s.
    _, (start, cost) = run_split([tour], [0], nodes, [2.0], [INF], [800.0], [10], EUCLID, 1.0)
    assert start.tolist() == [1, 0, 1, 0] and cost[0] == 12.0
    # 150 s of service at stop 3 makes 0-3-4-0 take 950 s; 4 must ride alone (800 s), and then
    # {1} {2,3} {4} = 2 + 6 + 8 (200, 750, 800 s) beats {1,2} {3} {4} = 4 + 6 + 8.
    nodes["svc"][3] = 150.0
    _, (start, cost) = run_split([tour], [0], nodes, [2.0], [INF], [800.0], [10], EUCLID, 1.0)
    assert start.tolist() == [1, 1, 0, 1] and cost[0] == 16.0
    # Capacity 3 and two vehicles: {1} {2,3,4} = 2 + 8 beats {1,2,3} {4} = 6 + 8.
    _, (start, cost) = run_split([tour], [0], nodes, [3.0], [INF], [INF], [2], EUCLID, 1.0)
    assert start.tolist() == [1, 1, 0, 0] and cost[0] == 10.0


def test_split_fleet_limit_binds():
    # Stops at x = 2, -4, -2, 5 weighing 1, 2, 1, 1 kg, 3 kg per vehicle. Unlimited:
    # {2} {-4,-2} {5} = 4 + 8 + 10 = 22 on three routes. Two vehicles: {2,-4} {-2,5}
    # = 12 + 14 = 26 is the only feasible pair; one vehicle cannot carry 5 kg.
    nodes = line_nodes([0.0, 2.0, -4.0, -2.0, 5.0], [0.0, 1.0, 2.0, 1.0, 1.0])
    tour = [1, 2, 3, 4]
    for max_dur in (INF, 1e9):  # window DP and Bellman DP
        _, (start, cost) = run_split([tour] * 3, [0] * 3, nodes, [3.0] * 3, [INF] * 3, [max_dur] * 3, [3, 2, 1],
                                     EUCLID, 1.0)
        assert start.tolist() == [1, 1, 0, 1] + [1, 0, 1, 0] + [0, 0, 0, 0]
        assert cost.tolist() == [22.0, 26.0, INF]


def test_split_infeasible_and_empty():
    nodes = line_nodes([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 5.0, 1.0])
    tours = [[1, 2, 3], [], [1, 3], [1, 3], [1, 3]]
    _, (start, cost) = run_split(
        tours, [0] * 5, nodes, [4.0, 4.0, 4.0, 4.0, 4.0], [INF] * 5, [INF, INF, INF, 100.0, INF], [5, 0, 0, 5, 1],
        EUCLID, 1.0,
    )
    # Stop 2 alone is over capacity; an empty tour costs 0 even with no vehicle;
    # no vehicle for stops; a 100 s shift cannot reach stop 1 and back (200 s);
    # one vehicle serves both stops: 0-1-3-0 = 1 + 2 + 3.
    assert cost.tolist() == [INF, 0.0, INF, INF, 6.0]
    assert start.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0]


def test_split_rejects_bad_layout():
    nodes = line_nodes([0.0, 1.0], [0.0, 1.0])
    args = (nodes["a"], nodes["b"], circuity(nodes), nodes["kg"], nodes["n"], nodes["svc"], nodes["spd"])
    one = np.ones(1)
    with pytest.raises(ValueError, match=r"tour_ptr must rise from 0 to len\(tour_nodes\) = 1"):
        split_tours(np.array([0, 2]), np.array([1], np.int32), np.array([0], np.int32), *args, one, one, one,
                    np.ones(1, np.int32), EUCLID, 1.0)
    with pytest.raises(ValueError, match="cap_n has 2 entries for 1 tours"):
        split_tours(np.array([0, 1]), np.array([1], np.int32), np.array([0], np.int32), *args, one, np.ones(2), one,
                    np.ones(1, np.int32), EUCLID, 1.0)




def test_route_counts_equal_fewest_routes_for_capacities(rng):
    """Without a shift limit next-fit needs exactly the fewest routes; with one it is a feasible cut."""
    n_stops = 50
    nodes = random_nodes(rng, n_stops + 1, EUCLID)
    nodes["svc"][n_stops:] = 0.0
    tours = [rng.choice(n_stops, int(rng.integers(1, 10)), replace=False) for _ in range(30)]
    cap_kg = rng.uniform(8.0, 30.0, len(tours))
    cap_n = rng.uniform(3.0, 12.0, len(tours))
    for max_dur in (np.full(len(tours), INF), rng.uniform(500.0, 3000.0, len(tours))):
        ptr = np.concatenate([[0], np.cumsum([len(t) for t in tours])]).astype(np.int64)
        flat = np.concatenate(tours).astype(np.int32)
        counts = route_counts(ptr, flat, np.full(len(tours), n_stops, np.int32), nodes["a"], nodes["b"],
                              circuity(nodes), nodes["kg"], nodes["n"], nodes["svc"], nodes["spd"], cap_kg, cap_n,
                              max_dur, EUCLID, 1.0)
        for t, tour in enumerate(tours):
            fewest = naive.split_fewest_routes(list(tour), n_stops, nodes, cap_kg[t], cap_n[t], max_dur[t], EUCLID, 1.0)
            if np.isinf(max_dur[t]):
                assert counts[t] == fewest, t
            else:
                assert (counts[t] < 0) == (fewest < 0) or counts[t] >= fewest, t
                if counts[t] > 0:  # a next-fit count is achievable: Split with that fleet finds a cut
                    _, (_, cost) = run_split([tour], [n_stops], nodes, [cap_kg[t]], [cap_n[t]], [max_dur[t]],
                                             [counts[t]], EUCLID, 1.0)
                    assert np.isfinite(cost[0]), t
