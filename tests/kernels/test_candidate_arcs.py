"""The assignment's candidate arcs (kernels.cpu.assign.candidate_arcs) against the stop x candidate matrix form."""
from __future__ import annotations

import numpy as np
import pytest

from kernels import EUCLID, GREAT_CIRCLE
from kernels.cpu.assign import candidate_arcs
from tests.naive import candidate_arcs_by_sorting


@pytest.mark.parametrize("metric", [GREAT_CIRCLE, EUCLID])
@pytest.mark.parametrize("max_km", [np.inf, 40.0, 0.0])
def test_arcs_equal_the_sorted_matrix(max_km: float, metric: int) -> None:
    rng = np.random.default_rng(7)
    n, n_cells, n_hubs, k = 3000, 40, 25, 5
    lat, lon = rng.uniform(39.0, 40.0, n), rng.uniform(-77.0, -76.0, n)
    hub_lat, hub_lon = rng.uniform(39.0, 40.0, n_hubs), rng.uniform(-77.0, -76.0, n_hubs)
    free = np.sort(rng.choice(n, 2000, replace=False)).astype(np.int64)
    cell_of = rng.integers(0, n_cells, free.size).astype(np.int64)
    cell_hub = rng.integers(0, n_hubs, (n_cells, k)).astype(np.int32)
    cell_hub[rng.random((n_cells, k)) < 0.2] = -1  # cells with fewer candidates
    cell_hub[3, 1] = cell_hub[3, 0]  # the same hub twice: equal distances keep the candidates' order
    got = candidate_arcs(free, cell_of, cell_hub, lat, lon, hub_lat, hub_lon, metric, 1.3, max_km)
    want = candidate_arcs_by_sorting(free, cell_of, cell_hub, lat, lon, hub_lat, hub_lon, metric, 1.3, max_km)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    assert got[1].dtype == np.int32 and got[0].dtype == np.int64
    if metric == EUCLID and max_km == 40.0:  # every pair of a degree box is within 40 planar units
        assert got[0].size == np.count_nonzero(cell_hub[cell_of] >= 0)
    if max_km == 0.0:
        assert got[0].size == 0


def test_no_stops_no_arcs() -> None:
    z = np.zeros(0)
    out = candidate_arcs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((1, 3), np.int32), z, z, z, z,
                         GREAT_CIRCLE, 1.3, 10.0)
    assert [a.size for a in out] == [0, 0, 0]
