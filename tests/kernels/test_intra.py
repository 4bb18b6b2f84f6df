"""Intra-route 2-opt + Or-opt (kernels.cpu.intra): a visible optimum, invariants, local optimality, parity.

Routes of more than FULL_UPTO stops are searched granularly (with don't-look
bits) and every granular optimum is confirmed by a full pass, so a converged
route has no improving move of the full neighbourhood in either mode; the
parity tests replay both schedules naively.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from kernels._scalar import EUCLID, EUCLID_ROUND, GREAT_CIRCLE
from kernels.core.intra import FULL_UPTO
from kernels.cpu.intra import improve_intra
from tests import naive

#: the granular list length the planner uses by default (settings.improve.intra_neighbours)
GRANULAR_K = 10

INF = math.inf












def pad(routes_list, width=None):
    width = width or max(len(r) for r in routes_list)
    out = np.full((len(routes_list), width), -1, np.int32)
    for r, stops in enumerate(routes_list):
        out[r, :len(stops)] = stops
    return out, np.array([len(r) for r in routes_list], np.int32)


def test_crossing_square_is_uncrossed():
    # Depot below a unit square; visiting the corners as (0,0) (1,1) (0,1) (1,0) crosses twice.
    a = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    b = np.array([0.0, 1.0, 1.0, 0.0, -1.0])
    routes, lens = pad([[0, 1, 2, 3]])
    dist = improve_intra(routes, lens, np.array([4], np.int32), a, b, np.ones(5), np.zeros(5), np.full(5, 30.0),
                         np.array([INF]), EUCLID, 1.0, 10, GRANULAR_K)
    assert dist[0] == pytest.approx(3.0 + 2.0 * math.sqrt(1.25), abs=1e-12)
    assert routes[0].tolist() in ([0, 2, 1, 3], [3, 1, 2, 0])


def random_instance(rng, n_routes, max_len, metric):
    n_stops = n_routes * max_len
    if metric == GREAT_CIRCLE:
        a, b = 45.0 + rng.random(n_stops + n_routes) * 0.3, 7.0 + rng.random(n_stops + n_routes) * 0.3
    else:
        a, b = rng.integers(0, 100, (2, n_stops + n_routes)).astype(np.float64)
    routes_list = [list(range(r * max_len, r * max_len + int(rng.integers(0, max_len + 1)))) for r in range(n_routes)]
    svc = np.concatenate([rng.uniform(30, 90, n_stops), np.zeros(n_routes)])
    spd = rng.choice([15.0, 30.0, 60.0], n_stops + n_routes)
    depots = np.arange(n_stops, n_stops + n_routes, dtype=np.int32)
    return a, b, svc, spd, routes_list, depots


def durations(routes_list, depots, a, b, svc, spd, metric, scale, circuity=None):
    return np.array([naive.intra_figures([int(d), *r, int(d)], a, b, svc, spd, metric, scale, circuity) for r,
                     d in zip(routes_list, depots)])


@pytest.mark.parametrize("metric,scale,per_stop", [(GREAT_CIRCLE, 1.3, False), (EUCLID, 0.01, False),
                                                   (GREAT_CIRCLE, 1.3, True)])
def test_random_routes_shorter_feasible_permuted(rng, metric, scale, per_stop):
    a, b, svc, spd, routes_list, depots = random_instance(rng, 30, 25, metric)
    circ = np.ones(a.size)
    if per_stop:  # stops with circuity multipliers of their own, one of them huge (depots at 1.0)
        circ[:depots[0]] = rng.uniform(0.6, 2.0, depots[0])
        circ[max(routes_list, key=len)[0]] = 40.0
    before = durations(routes_list, depots, a, b, svc, spd, metric, scale, circ)
    # Shifts around the current durations: some routes are feasible with little room, some are not.
    max_dur = before[:, 1] * rng.uniform(0.97, 1.03, len(depots))
    max_dur[::5] = INF
    routes, lens = pad(routes_list, width=27)
    dist = improve_intra(routes, lens, depots, a, b, circ, svc, spd, max_dur, metric, scale, 50, GRANULAR_K)
    after_list = [routes[r, :lens[r]].tolist() for r in range(len(lens))]
    after = durations(after_list, depots, a, b, svc, spd, metric, scale, circ)
    assert (routes[:, 25:] == -1).all()
    for r, (old, new) in enumerate(zip(routes_list, after_list)):
        assert sorted(new) == old, r
    np.testing.assert_allclose(dist, after[:, 0], rtol=1e-12, atol=1e-12)
    assert (after[:, 0] <= before[:, 0]).all() and (after[:, 0] < before[:, 0] - 1e-6).sum() > 20
    feasible = before[:, 1] <= max_dur
    assert 0 < feasible.sum() < len(feasible)
    assert (after[feasible, 1] <= max_dur[feasible]).all()
    assert (after[~feasible, 1] <= before[~feasible, 1] + 1e-6).all()


@pytest.mark.parametrize("granular_k", [0, 4])
def test_no_improving_move_remains(rng, granular_k):
    # Full search (granular_k = 0, and every route up to FULL_UPTO stops): no improving 2-opt or
    # Or-opt move at all. Granular search: none among the moves of the granular neighbourhood.
    a, b, svc, spd, routes_list, depots = random_instance(rng, 8, 45, GREAT_CIRCLE)
    assert max(map(len, routes_list)) > FULL_UPTO
    routes, lens = pad(routes_list)
    dist = improve_intra(routes, lens, depots, a, b, np.ones(a.size), svc, spd, np.full(len(depots), INF), GREAT_CIRCLE,
                         1.0, 1000, granular_k)
    for r in range(len(depots)):
        path = [int(depots[r]), *routes[r, :lens[r]].tolist(), int(depots[r])]
        pts = np.radians(np.stack([a[path], b[path]], axis=1))
        # Haversine matrix in NumPy, then every 2-opt delta at once.
        dlat = pts[:, None, 0] - pts[None, :, 0]
        dlon = pts[:, None, 1] - pts[None, :, 1]
        h = np.sin(dlat / 2) ** 2 + np.cos(pts[:, None, 0]) * np.cos(pts[None, :, 0]) * np.sin(dlon / 2) ** 2
        d = 2 * 6371.0088 * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
        n = len(path) - 2
        assert dist[r] == pytest.approx(d[np.arange(n + 1), np.arange(1, n + 2)].sum(), rel=1e-12)
        if granular_k == 0 or n <= FULL_UPTO:
            i, j = np.triu_indices(n + 1, 1)
            i, j = i[i >= 1], j[i >= 1]
            delta = d[i - 1, j] + d[i, j + 1] - d[i - 1, i] - d[j, j + 1]
            assert (delta >= -1e-9).all(), r
            near = None
        else:
            near = naive.intra_nearest_lists(path, granular_k, a, b, GREAT_CIRCLE, 1.0)
        for i in range(1, n + 1):
            moves = [new for new, _, edges in naive.intra_anchor_candidates(path, i)
                     if near is None or any(y in near[x] for x, y in edges)]
            best = min((naive.intra_figures(m, a, b, svc, spd, GREAT_CIRCLE, 1.0)[0] for m in moves), default=INF)
            assert best >= dist[r] - 1e-9, (r, i)


@pytest.mark.parametrize("metric", [EUCLID_ROUND, EUCLID])
def test_parity_with_naive_search(rng, metric):
    a, b, svc, spd, routes_list, depots = random_instance(rng, 16, 9, metric)
    before = durations(routes_list, depots, a, b, svc, spd, metric, 1.0)
    max_dur = np.where(np.arange(len(depots)) % 2 == 0, INF, before[:, 1] * 1.01)
    routes, lens = pad(routes_list)
    improve_intra(routes, lens, depots, a, b, np.ones(a.size), svc, spd, max_dur, metric, 1.0, 4, GRANULAR_K)
    for r, stops in enumerate(routes_list):
        path = [int(depots[r]), *stops, int(depots[r])]
        expect = naive.intra_improve(path, a, b, svc, spd, max_dur[r], metric, 1.0, 4)[1:-1]
        assert routes[r, :lens[r]].tolist() == expect, r


def test_granular_parity_with_naive_search(rng):
    # Routes longer than FULL_UPTO with short nearest-node lists: granular passes, don't-look bits
    # and the confirming full passes all run within the pass budget.
    a, b, svc, spd, routes_list, depots = random_instance(rng, 3, FULL_UPTO + 8, EUCLID_ROUND)
    routes_list = [list(range(r * (FULL_UPTO + 8), (r + 1) * (FULL_UPTO + 8) - r)) for r in range(3)]
    before = durations(routes_list, depots, a, b, svc, spd, EUCLID_ROUND, 1.0)
    max_dur = np.array([INF, before[1, 1] * 1.01, before[2, 1] * 0.99])
    routes, lens = pad(routes_list)
    improve_intra(routes, lens, depots, a, b, np.ones(a.size), svc, spd, max_dur, EUCLID_ROUND, 1.0, 12, 4)
    for r, stops in enumerate(routes_list):
        path = [int(depots[r]), *stops, int(depots[r])]
        expect = naive.intra_improve(path, a, b, svc, spd, max_dur[r], EUCLID_ROUND, 1.0, 12, 4)[1:-1]
        assert routes[r, :lens[r]].tolist() == expect, r
        assert expect != stops


def test_rejects_bad_layout():
    with pytest.raises(TypeError, match="routes must be a C-contiguous int32 NumPy array"):
        improve_intra(np.zeros((1, 2), np.int64), np.ones(1, np.int32), np.zeros(1, np.int32), np.zeros(3),
                      np.zeros(3), np.ones(3), np.zeros(3), np.ones(3), np.ones(1), EUCLID, 1.0, 1, GRANULAR_K)
    with pytest.raises(ValueError, match=r"route_len must lie in 0\.\.2 \(the padded width\)"):
        improve_intra(np.zeros((1, 2), np.int32), np.full(1, 3, np.int32), np.zeros(1, np.int32), np.zeros(3),
                      np.zeros(3), np.ones(3), np.zeros(3), np.ones(3), np.ones(1), EUCLID, 1.0, 1, GRANULAR_K)
