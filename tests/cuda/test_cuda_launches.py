"""Launch shapes: one launch covers every tour or hub of a call, so a stage's launches do not grow with hubs.

Every launch is counted by ``kernels.cuda._launch.TRANSFERS`` (with the copies to the host, which block);
summary.json reports both per stage (``hub_groups.transfers``).
"""
from __future__ import annotations

import numpy as np
import pytest

from kernels._scalar import EUCLID
from kernels.cuda import _launch
from kernels.cuda import savings as cuda_savings
from kernels.cuda import split as cuda_split
from planner.run.pipeline import plan
from planner.settings import ClusterSettings, ImproveSettings, Settings
from tests.kernels.test_savings import instance
from tests.loads import make_load


def launches(fn, *args) -> int:
    before = _launch.TRANSFERS.snapshot()["launches"]
    fn(*args)
    return _launch.TRANSFERS.snapshot()["launches"] - before


@pytest.mark.parametrize("n_hubs", [2, 9])
def test_one_launch_per_call_whatever_the_hubs(rng, n_hubs):
    n, _, (a, b, *demands), circ, (ptr, pi, pj, pd, _), _ = instance(rng, n_hubs, 10, EUCLID)
    nodes = (a, b, circ, *demands)
    hub_ptr = np.arange(0, n + 1, 10, dtype=np.int64)
    depots = (n + np.arange(n_hubs)).astype(np.int32)
    caps = (np.full(n_hubs, 40.0), np.full(n_hubs, 12.0), np.full(n_hubs, np.inf))
    stops = np.arange(n, dtype=np.int32)
    assert launches(cuda_savings.savings_tours, hub_ptr, stops, depots, ptr, pi, pj, pd, *nodes, *caps,
                    np.full(n_hubs, 30.0), EUCLID, 1.0) == 1
    assert launches(cuda_split.split_tours, hub_ptr, stops, depots, *nodes, *caps, np.full(n_hubs, 30, np.int32),
                    EUCLID, 1.0) == 1  # the fleet never binds here: no layered launch
    assert launches(cuda_split.next_fit_tours, hub_ptr, stops, depots, *nodes, *caps, EUCLID, 1.0) == 1


def _stage_launches(n_hubs: int) -> dict[str, int]:
    hubs = [(40.6 + 0.05 * i, -74.0 + 0.05 * (i % 3), 6, 200.0) for i in range(n_hubs)]
    settings = Settings(backend="cuda", cluster=ClusterSettings(group_stops=10**6),
                        improve=ImproveSettings(max_rounds=2, effort_s=0.0))
    result = plan(*make_load(25 * n_hubs, hubs, seed=3, spread=0.02), settings, progress=False)
    assert result.summary["hub_groups"]["groups"] == 1
    return {stage: counts["launches"] for stage, counts in result.summary["hub_groups"]["transfers"].items()}


def test_a_stage_launches_as_often_for_more_hubs():
    few, many = _stage_launches(2), _stage_launches(6)
    assert few["route"] > 0 and few["schedule"] > 0
    for stage in ("route", "schedule"):
        assert many[stage] <= few[stage] + 4, (stage, few, many)  # bisection steps grow with the largest hub only
