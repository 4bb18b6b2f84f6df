"""kernels.cpu.knn: the k-d tree search finds exactly the brute-force k nearest of each point's group."""
from __future__ import annotations

import numpy as np
import pytest

from kernels.cpu.knn import nearest_in_groups
from tests import naive


@pytest.mark.parametrize("case", range(24))
def test_tree_search_equals_brute_force(case: int) -> None:
    rng = np.random.default_rng(case)
    n, d, k = int(rng.integers(2, 600)), int(rng.integers(1, 4)), int(rng.integers(1, 40))
    points = rng.normal(size=(n, d)) * rng.uniform(0.001, 10.0, d)
    if case % 3 == 0:
        points = np.round(points, 1)  # equal distances and duplicate points: ties go to the lower row
    if case % 4 == 0:
        points[:, 0] = 0.0  # a flat axis
    group = rng.integers(-1, int(rng.integers(1, 6)), n)
    got = nearest_in_groups(points, k, group)
    np.testing.assert_array_equal(got, naive.nearest_in_groups(points, k, group))


def test_unit_vectors_of_hubs_and_no_group() -> None:
    """National-like input: unit vectors of stops around a few hubs; and one group of everything."""
    rng = np.random.default_rng(7)
    hub = rng.integers(0, 5, 1500)
    lat = np.radians(40.0 + hub * 0.7 + rng.normal(0, 0.05, hub.size))
    lon = np.radians(-90.0 + hub * 0.4 + rng.normal(0, 0.05, hub.size))
    xyz = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    np.testing.assert_array_equal(nearest_in_groups(xyz, 12, hub), naive.nearest_in_groups(xyz, 12, hub))
    everything = np.zeros(hub.size, np.int64)
    np.testing.assert_array_equal(nearest_in_groups(xyz, 5, None), naive.nearest_in_groups(xyz, 5, everything))


def test_fewer_points_than_k_and_empty_input() -> None:
    points = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    assert nearest_in_groups(points, 4, np.array([0, 0, 1])).tolist() == [[1, -1, -1, -1], [0, -1, -1, -1],
                                                                          [-1, -1, -1, -1]]
    assert nearest_in_groups(np.zeros((0, 3)), 3).shape == (0, 3)
