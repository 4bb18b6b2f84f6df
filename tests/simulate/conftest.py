"""One comparison of the partnership load over three days, shared by the simulation tests (both networks'
directories are ordinary simulation directories)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import planner
from tests.simulate import loads


@pytest.fixture(scope="session")
def comparison(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("compare") / "cmp"
    result = planner.compare(loads.days(3), loads.hubs(), loads.SETTINGS, out=out, progress=False)
    return result, out


@pytest.fixture(scope="session")
def shared_dir(comparison) -> Path:
    return comparison[1] / "shared"


@pytest.fixture(scope="session")
def separate_dir(comparison) -> Path:
    return comparison[1] / "separate"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
