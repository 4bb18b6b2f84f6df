"""Sparse pairs in blocks of one request each: same figures as asking pair by pair, memory O(n k)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from scipy.spatial import cKDTree

from planner.roads.engine import Block, Legs, RoadEngine, Snapped
from planner.roads.osrm import OsrmEngine
from planner.roads.pairs import neighbour_pairs, pair_table


class FakeEngine(RoadEngine):
    """Asymmetric planar figures, recording every block it was asked for."""

    name = "fake"

    def __init__(self, max_pairs: int = 100, max_locations: int = 30) -> None:
        self.capacity = (max_pairs, max_locations)
        self.shapes: list[tuple[int, int]] = []

    def check(self) -> None:
        pass

    def tables(self, blocks: Sequence[Block]) -> list[Legs]:
        out = []
        for sla, slo, dla, dlo in blocks:
            sla, slo, dla, dlo = (np.asarray(x, dtype=np.float64) for x in (sla, slo, dla, dlo))
            self.shapes.append((sla.size, dla.size))
            km = np.hypot(sla[:, None] - dla[None, :], slo[:, None] - dlo[None, :]) * (1.0 + 0.1 * (slo[:, None] < dlo))
            out.append((km, km * 100.0))
        return out

    def legs_many(self, sequences: Any) -> list[Legs]:  # pragma: no cover - not used here
        raise NotImplementedError

    def snap(self, lat: Any, lon: Any) -> Snapped:  # pragma: no cover
        raise NotImplementedError

    def route_geometry(self, lat: Any, lon: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @property
    def request_capacity(self) -> tuple[int, int]:
        return self.capacity

    def counters(self) -> dict[str, Any]:
        return {"requests": len(self.shapes)}


def _knn(lat: np.ndarray, lon: np.ndarray, k: int) -> np.ndarray:
    return cKDTree(np.column_stack([lat, lon])).query(np.column_stack([lat, lon]), k=k + 1)[1][:, 1:]


def test_pairs_match_the_pairwise_figures_and_fit_one_request_each(rng):
    n, k = 500, 6
    lat, lon = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    by_lat = np.argsort(lat)  # a spatial order, as the planner's Hilbert order is
    lat, lon = lat[by_lat], lon[by_lat]
    nbr = _knn(lat, lon, k)
    nbr[::7, -1] = -1  # padded lists
    src, dst = neighbour_pairs(nbr)
    assert src.size == 2 * np.count_nonzero(nbr >= 0)
    eng = FakeEngine()
    km, sec = pair_table(eng, lat, lon, src, dst, batch_blocks=5)
    expect = np.hypot(lat[src] - lat[dst], lon[src] - lon[dst]) * (1.0 + 0.1 * (lon[src] < lon[dst]))
    np.testing.assert_allclose(km, expect)
    np.testing.assert_allclose(sec, expect * 100.0)
    assert all(s * t <= 100 and s + t <= 30 for s, t in eng.shapes)
    assert sum(s * t for s, t in eng.shapes) < 20 * src.size  # blocks, not a matrix


def test_a_source_with_many_targets_is_one_block_the_engine_tiles(rng):
    lat, lon = rng.uniform(0, 1, 80), rng.uniform(0, 1, 80)
    src = np.zeros(79, dtype=np.int64)
    dst = np.arange(1, 80)
    eng = FakeEngine(max_pairs=16, max_locations=10)
    km, _ = pair_table(eng, lat, lon, src, dst)
    assert eng.shapes == [(1, 79)]
    assert km.shape == (79,) and np.all(km > 0)


def test_empty_and_bad_pairs():
    eng = FakeEngine()
    km, sec = pair_table(eng, [0.0, 1.0], [0.0, 1.0], [], [])
    assert km.shape == sec.shape == (0,) and eng.shapes == []
    with pytest.raises(ValueError, match="does not exist"):
        pair_table(eng, [0.0], [0.0], [0], [1])


def test_pairs_on_real_roads_equal_the_table(engine, city_points):
    lat, lon = city_points("baltimore", 300, 21)
    snapped = engine.snap(lat, lon)
    order = np.lexsort((snapped.lon, np.floor(snapped.lat * 200)))
    la, lo = snapped.lat[order], snapped.lon[order]
    src, dst = neighbour_pairs(_knn(la, lo * np.cos(np.radians(39.28)), 8))
    before = engine.counters()["requests"]
    km, sec = pair_table(engine, la, lo, src, dst)
    requests = engine.counters()["requests"] - before
    assert requests < 300 / 10
    pick = np.arange(0, src.size, 97)
    for p in pick:
        tkm, tsec = engine.table(la[src[p]], lo[src[p]], la[dst[p]], lo[dst[p]])
        assert km[p] == tkm[0, 0] and sec[p] == tsec[0, 0]
    assert isinstance(engine, OsrmEngine)
