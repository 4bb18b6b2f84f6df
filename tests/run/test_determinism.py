"""A plan repeats: cold Numba cache or warm, idle machine or loaded, and more effort never lengthens it.

The search's work is set by the effort (iterations, rounds), never by the clock, and compilation happens
in a stage of its own before any other, so these hold by construction; the tests check that they do.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.feather as feather
import pytest

from planner.run.pipeline import plan
from planner.settings import ImproveSettings, Settings
from tests.loads import make_load

HUBS = [(40.75, -73.99, 6, 400.0), (40.68, -73.90, 6, 400.0)]
TABLES = ("assignments", "routes", "hubs", "rejects")
#: small, but enough SISR iterations per stop (0.1 s x 90,000 / ~250 stops) that the search matters
EFFORT = "0.1"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("determinism")
    parcels, hubs = make_load(300, HUBS, seed=5, spread=0.03)
    feather.write_feather(parcels, root / "parcels.arrow")
    feather.write_feather(hubs, root / "hubs.arrow")
    return root / "parcels.arrow", root / "hubs.arrow"


def _plan(inputs: tuple[Path, Path], out: Path, env: dict[str, str] | None = None) -> dict[str, bytes]:
    """``hexroute plan`` in a fresh process; the bytes of its Arrow outputs."""
    cmd = [sys.executable, "-m", "planner.cli", "plan", "--parcels", str(inputs[0]), "--hubs", str(inputs[1]),
           "--out", str(out), "--seed", "3", "--effort", EFFORT, "--backend", "cpu", "--no-report", "--quiet"]
    subprocess.run(cmd, check=True, env={**os.environ, **(env or {})}, timeout=900)
    return {t: (out / f"{t}.arrow").read_bytes() for t in TABLES}


@pytest.fixture(scope="module")
def cold_and_warm(inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cache")
    cache = {"NUMBA_CACHE_DIR": str(root / "numba-cache")}  # empty: every kernel compiles in the first run
    cold = _plan(inputs, root / "cold", cache)
    assert any((root / "numba-cache").rglob("*.nbi")), "the first run filled the empty cache"
    warm = _plan(inputs, root / "warm", cache)
    return cold, warm


def test_a_cold_cache_plans_what_a_warm_one_plans(cold_and_warm) -> None:
    cold, warm = cold_and_warm
    assert cold == warm


def test_a_loaded_machine_plans_the_same(inputs: tuple[Path, Path], cold_and_warm, tmp_path: Path) -> None:
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        loaded = _plan(inputs, tmp_path / "loaded")
    finally:
        for p in spinners:
            p.kill()
            p.wait(timeout=30)
    assert loaded == cold_and_warm[1]


def test_more_effort_never_lengthens_the_plan() -> None:
    parcels, hubs = make_load(400, HUBS, seed=9, spread=0.04)
    km = []
    for effort in (0.0, 0.02, 0.1, 0.4):
        result = plan(parcels, hubs, Settings(seed=2, improve=ImproveSettings(effort_s=effort)), progress=False)
        assert result.summary["improve"]["stopped_by_clock"] is False
        km.append(result.summary["totals"]["distance_km"])
    assert km == sorted(km, reverse=True)
    assert km[-1] < km[0]  # the search found something


def test_the_plan_does_not_depend_on_the_group_size():
    """Hubs are independent after assignment and each draws its own seed and its share of the effort, so
    cutting the run into 4, 3, 2 or 1 hub groups (cluster.group_stops) plans the same routes."""
    from planner.settings import ClusterSettings

    hubs = [(40.75, -73.99, 8, 25.0), (40.70, -73.90, 8, 25.0), (40.80, -73.85, 8, 25.0), (40.72, -74.05, 6, 40.0)]
    load = make_load(600, hubs, seed=11, spread=0.05)
    plans = {size: plan(*load, Settings(cluster=ClusterSettings(group_stops=size)), progress=False)
             for size in (50, 150, 400, 100_000)}
    assert [p.summary["hub_groups"]["groups"] for p in plans.values()] == [4, 3, 2, 1]
    first = plans[50]
    for p in plans.values():
        for name in TABLES:
            assert p.tables()[name].equals(first.tables()[name]), name
