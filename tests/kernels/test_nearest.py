"""Nearest-hub kernel (CPU): exact parity with brute force, tie-breaks, near-ties, padding, and real pruning."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from kernels._scalar import EUCLID, EUCLID_ROUND, GREAT_CIRCLE, reference
from kernels.core.nearest import LIST_HUBS_PER_CELL, MAX_K, build_elements, build_hub_grid
from kernels.cpu.nearest import nearest_hubs
from tests import naive


def assert_exact(qa, qb, ha, hb, k, metric, scale=1.0):
    got_idx, got_dist = nearest_hubs(qa, qb, ha, hb, k, metric, scale)
    want_idx, want_dist = naive.nearest_hubs(qa, qb, ha, hb, k, metric, scale)
    assert got_idx.dtype == np.int32 and got_dist.dtype == np.float64
    assert got_idx.shape == got_dist.shape == (len(qa), k)
    np.testing.assert_array_equal(got_idx, want_idx)
    np.testing.assert_array_equal(got_dist, want_dist)


@pytest.mark.parametrize("n,m,k", [(0, 10, 3), (1, 1, 1), (200, 1, 4), (300, 7, 16), (300, 250, 1), (300, 400, 8)])
@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
def test_matches_brute_force(rng, n, m, k, metric):
    if metric == GREAT_CIRCLE:  # a continental hub set, queries partly far outside it
        ha, hb = rng.uniform(25, 49, m), rng.uniform(-124, -67, m)
        qa, qb = rng.uniform(-60, 80, n), rng.uniform(-180, 180, n)
    else:
        ha, hb = rng.uniform(0, 100, m), rng.uniform(0, 40, m)
        qa, qb = rng.uniform(-300, 400, n), rng.uniform(-50, 90, n)
        if metric == EUCLID_ROUND:  # integer coordinates: many rounded ties
            ha, hb, qa, qb = (np.round(v) for v in (ha, hb, qa, qb))
    assert_exact(qa, qb, ha, hb, k, metric, 1.3)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID, EUCLID_ROUND])
def test_duplicate_hubs_break_ties_by_index(rng, metric):
    ha, hb = rng.uniform(0, 40, 60), rng.uniform(0, 40, 60)
    ha[10:40], hb[10:40] = ha[5], hb[5]  # 31 hubs in one place
    qa, qb = rng.uniform(0, 40, 150), rng.uniform(0, 40, 150)
    assert_exact(qa, qb, ha, hb, 16, metric)
    idx, _ = nearest_hubs(np.array([ha[5]]), np.array([hb[5]]), ha, hb, 4, metric, 1.0)
    assert idx[0].tolist() == [5, 10, 11, 12]


def test_antimeridian_and_poles(rng):
    """Hubs on both sides of the date line and near both poles; queries right at the seam."""
    ha = np.concatenate([rng.uniform(50, 70, 40), rng.uniform(85, 90, 10), rng.uniform(-90, -85, 10)])
    hb = np.concatenate([rng.choice([-179.8, 179.8], 40) + rng.normal(0, 0.3, 40), rng.uniform(-180, 180, 20)])
    qa = np.concatenate([rng.uniform(45, 75, 100), rng.uniform(80, 90, 50), rng.uniform(-90, -80, 50)])
    qb = np.concatenate([rng.uniform(-180, -179, 50), rng.uniform(179, 180, 50), rng.uniform(-180, 180, 100)])
    for k in (1, 5, 16):
        assert_exact(qa, qb, ha, hb, k, GREAT_CIRCLE)


def test_global_hubs_and_queries(rng):
    ha, hb = rng.uniform(-90, 90, 300), rng.uniform(-180, 180, 300)
    qa, qb = rng.uniform(-90, 90, 300), rng.uniform(-180, 180, 300)
    assert_exact(qa, qb, ha, hb, 6, GREAT_CIRCLE, 1.2)


def test_tight_cluster_keeps_a_tight_grid(rng):
    """Hubs within 1e-7 degrees: no hub may round across the seam and stretch the grid round the globe.

    81.69842262147897 becomes 81.69842262147898 when folded onto [-180, 180),
    which once put the seam just east of the westernmost hub.
    """
    ha, hb = 59.6088 + rng.normal(0, 2e-8, 200), 81.69842262147897 + np.abs(rng.normal(0, 2e-8, 200))
    hb[0] = 81.69842262147897
    g = build_hub_grid(ha, hb, GREAT_CIRCLE)
    assert g.nb * g.wb < 1e-6
    qa, qb = 59.6088 + rng.normal(0, 4e-8, 200), 81.69842262147897 + rng.normal(0, 4e-8, 200)
    for k in (1, 3, 9):
        assert_exact(qa, qb, ha, hb, k, GREAT_CIRCLE, 1.3)


def test_hubs_on_a_line_and_in_one_point(rng):
    qa, qb = rng.uniform(-5, 5, 100), rng.uniform(-5, 5, 100)
    assert_exact(qa, qb, np.linspace(-3, 3, 50), np.zeros(50), 3, EUCLID)
    assert_exact(qa, qb, np.full(5, 1.0), np.full(5, 2.0), 3, GREAT_CIRCLE)


def test_hand_checked_and_padding():
    ha, hb = np.array([0.0, 10.0, 0.0]), np.array([0.0, 0.0, 5.0])
    idx, dist = nearest_hubs(np.array([1.0]), np.array([1.0]), ha, hb, 5, EUCLID, 1.0)
    assert idx.tolist() == [[0, 2, 1, -1, -1]]
    np.testing.assert_allclose(dist[0, :3], [np.sqrt(2), np.sqrt(17), np.sqrt(82)])
    assert np.all(np.isinf(dist[0, 3:]))


def test_no_hubs_and_non_finite_queries():
    idx, dist = nearest_hubs(np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.zeros(0), np.zeros(0), 2, GREAT_CIRCLE, 1.0)
    assert (idx == -1).all() and np.isinf(dist).all()
    idx, dist = nearest_hubs(np.array([np.nan, 0.0]), np.array([0.0, np.inf]), np.zeros(3), np.zeros(3), 2, EUCLID, 1.0)
    assert (idx == -1).all() and np.isinf(dist).all()


@pytest.mark.parametrize("k", [0, MAX_K + 1])
def test_k_out_of_range(k):
    with pytest.raises(ValueError, match=f"k must be between 1 and {MAX_K}, got {k}"):
        nearest_hubs(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), k, EUCLID, 1.0)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID])
def test_grid_is_a_valid_csr_over_hub_cells(rng, metric):
    ha, hb = rng.uniform(25, 49, 500), rng.uniform(-124, -67, 500)
    ha[7] = np.nan
    g = build_hub_grid(ha, hb, metric)
    assert g.cell_ptr[0] == 0 and g.cell_ptr[-1] == 499 and np.all(np.diff(g.cell_ptr) >= 0)
    assert sorted(g.hub_idx.tolist()) == [i for i in range(500) if i != 7]
    for c in range(g.na * g.nb):
        members = g.hub_idx[g.cell_ptr[c]:g.cell_ptr[c + 1]]
        assert np.all(np.diff(members) > 0)  # ascending index within a cell
        b = np.mod(hb[members] - g.origin, 360.0) if metric == GREAT_CIRCLE else hb[members]
        i, j = divmod(c, g.nb)
        assert np.all((ha[members] >= g.a0 + i * g.wa - g.slack_a) & (ha[members] <= g.a0 + (i + 1) * g.wa + g.slack_a))
        assert np.all((b >= g.b0 + j * g.wb - g.slack_b) & (b <= g.b0 + (j + 1) * g.wb + g.slack_b))


def counting_search():
    """The Python build of the search, with a counter of scalar-core distance calls (either formula)."""
    calls = [0]

    def counting_distance(*args):
        calls[0] += 1
        return reference.point_distance(*args)

    def counting_haversine(*args):
        calls[0] += 1
        return reference.haversine_cos_km(*args)

    core = SimpleNamespace(point_distance=counting_distance, haversine_cos_km=counting_haversine,
                           embed=reference.embed)
    return build_elements(lambda f: f, core).knn_query, calls


def run_search(search, qa, qb, ha, hb, k, metric, scale):
    grid = build_hub_grid(ha, hb, metric)
    idx, dist = np.empty((len(qa), k), np.int32), np.empty((len(qa), k))
    for i in range(len(qa)):
        search(i, qa[i], qb[i], k, metric, scale, *grid, idx, dist)
    return idx, dist


@pytest.mark.parametrize("metric,scale", [(GREAT_CIRCLE, 1.0), (EUCLID, 1.3)])
def test_metric_distance_only_for_the_winners(rng, metric, scale):
    """Ranking by embedded distance: the scalar core runs k times per query, and the answer is still exact."""
    search, calls = counting_search()
    m, n, k = 2000, 100, 4
    ha, hb = rng.uniform(25, 49, m), rng.uniform(-124, -67, m)
    qa, qb = rng.uniform(25, 49, n), rng.uniform(-124, -67, n)
    idx, dist = run_search(search, qa, qb, ha, hb, k, metric, scale)
    assert calls[0] == n * k
    want_idx, want_dist = naive.nearest_hubs(qa, qb, ha, hb, k, metric, scale)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-13)


def test_rounded_metric_search_prunes_most_hubs(rng):
    """CVRPLIB rounding ranks by the scalar core itself, yet computes few distances per query, not one per hub."""
    search, calls = counting_search()
    m, n, k = 2000, 100, 4
    ha, hb, qa, qb = (np.round(rng.uniform(0, 1000, s)) for s in (m, m, n, n))
    idx, dist = run_search(search, qa, qb, ha, hb, k, EUCLID_ROUND, 1.0)
    assert calls[0] / n < 40  # versus 2000 for brute force
    want_idx, want_dist = naive.nearest_hubs(qa, qb, ha, hb, k, EUCLID_ROUND, 1.0)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID])
def test_near_ties_at_the_boundary_fall_back_exactly(rng, metric):
    """Hubs within 1e-13 degrees of each other, and hubs on a circle round the query: near-ties for k-th place.

    The chord cannot order hubs a rounding error apart like the haversine core
    (without the fallback, the cluster queries come out in the wrong order),
    so the search must notice the tie band and rank by the core: exact, and more core calls.
    """
    spread = 1e-13
    ha = np.concatenate([rng.uniform(30, 40, 40), 35.0 + rng.uniform(-1, 1, 30) * spread])
    hb = np.concatenate([rng.uniform(-100, -90, 40), -95.0 + rng.uniform(-1, 1, 30) * spread])
    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ha = np.concatenate([ha, 33.0 + 0.2 * np.cos(t)])  # a ring of hubs about equally far from (33, -97)
    hb = np.concatenate([hb, -97.0 + 0.2 * np.sin(t)])
    qa = np.concatenate([[33.0], 35.0 + rng.uniform(-3, 3, 40) * spread, rng.uniform(30, 40, 40)])
    qb = np.concatenate([[-97.0], -95.0 + rng.uniform(-3, 3, 40) * spread, rng.uniform(-100, -90, 40)])
    for k in (1, 3, 8):
        assert_exact(qa, qb, ha, hb, k, metric)
    search, calls = counting_search()
    idx, dist = run_search(search, qa[:3], qb[:3], ha, hb, 3, metric, 1.0)
    assert calls[0] > 3 * 3  # at least one query ranked by the scalar core
    want_idx, want_dist = naive.nearest_hubs(qa[:3], qb[:3], ha, hb, 3, metric, 1.0)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)


@pytest.mark.parametrize("scale", [0.0, 1e-300])
def test_degenerate_scale_ranks_by_the_metric(rng, scale):
    """A scale that collapses distances to ties (or underflow) must still give brute force's index order."""
    ha, hb = rng.uniform(25, 49, 50), rng.uniform(-124, -67, 50)
    qa, qb = rng.uniform(25, 49, 40), rng.uniform(-124, -67, 40)
    assert_exact(qa, qb, ha, hb, 5, GREAT_CIRCLE, scale)


def test_grid_embeds_hubs(rng):
    """Great circle hubs become unit vectors; planar hubs keep their coordinates with z = 0."""
    ha, hb = rng.uniform(-90, 90, 30), rng.uniform(-180, 180, 30)
    g = build_hub_grid(ha, hb, GREAT_CIRCLE)
    np.testing.assert_allclose(g.hub_x ** 2 + g.hub_y ** 2 + g.hub_z ** 2, 1.0, rtol=1e-15)
    np.testing.assert_allclose(np.degrees(np.arcsin(g.hub_z)), ha[g.hub_idx], atol=1e-9)
    g = build_hub_grid(ha, hb, EUCLID)
    assert np.array_equal(g.hub_x, ha[g.hub_idx]) and np.array_equal(g.hub_y, hb[g.hub_idx]) and not g.hub_z.any()


def cell_corners_and_edges(g, rng, per_cell: int = 3):
    """Query points on every cell's corners, edge midpoints and a few random inner points (grid coordinates)."""
    i, j = np.divmod(np.arange(g.na * g.nb), g.nb)
    fa = np.concatenate([np.repeat([0.0, 0.0, 1.0, 1.0, 0.5, 0.5, 0.0, 1.0], 1), rng.uniform(0, 1, per_cell)])
    fb = np.concatenate([np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 0.5]), rng.uniform(0, 1, per_cell)])
    qa = (g.a0 + (i[:, None] + fa[None, :]) * g.wa).ravel()
    qb = (g.b0 + (j[:, None] + fb[None, :]) * g.wb).ravel()
    return qa, qb + g.origin


@pytest.mark.parametrize("k", [1, 4, 8])
@pytest.mark.parametrize("metric,region", [(GREAT_CIRCLE, "us"), (GREAT_CIRCLE, "equator"), (GREAT_CIRCLE, "arctic"),
                                           (EUCLID, "plane")])
def test_candidate_lists_hold_every_answer_on_cell_corners(rng, k, metric, region):
    """The worst points for a cell's list are its corners and edges: the listed scan must still equal brute force.

    The lists are built for the same grid the kernel uses, and the Python
    build of the search, given that grid, scans the lists (one block per query).
    """
    lat_lo, lat_hi = {"us": (25, 49), "equator": (-10, 10), "arctic": (70, 85), "plane": (0, 100)}[region]
    ha, hb = rng.uniform(lat_lo, lat_hi, 120), rng.uniform(-124, -67, 120)
    g = build_hub_grid(ha, hb, metric, LIST_HUBS_PER_CELL, k)
    lengths = np.diff(g.cand_ptr)
    assert lengths.size == g.na * g.nb and lengths.min() >= k
    assert lengths.mean() < 4 * k + 16  # lists, not the whole hub set
    qa, qb = cell_corners_and_edges(g, rng)
    search = build_elements(lambda f: f, reference).knn_query
    idx, dist = np.empty((len(qa), k), np.int32), np.empty((len(qa), k))
    for i in range(len(qa)):
        search(i, qa[i], qb[i], k, metric, 1.0, *g, idx, dist)
    want_idx, want_dist = naive.nearest_hubs(qa, qb, ha, hb, k, metric, 1.0)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-13)


def test_candidate_lists_are_skipped_for_rounded_metric_and_without_k(rng):
    ha, hb = rng.uniform(0, 100, 50), rng.uniform(0, 100, 50)
    assert build_hub_grid(ha, hb, EUCLID_ROUND, LIST_HUBS_PER_CELL, 4).cand_ptr.size == 1
    assert build_hub_grid(ha, hb, EUCLID, LIST_HUBS_PER_CELL).cand_ptr.size == 1
    assert build_hub_grid(ha, hb, EUCLID, LIST_HUBS_PER_CELL, 4).cand_ptr.size > 1
