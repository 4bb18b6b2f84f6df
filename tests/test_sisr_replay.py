"""bench/sisr_replay.py: a recorded SISR problem replays to the cost the day reached."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow.feather as feather
import pytest

from tests.loads import make_load

ROOT = Path(__file__).resolve().parent.parent


def _tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("sisr_replay", ROOT / "bench" / "sisr_replay.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("replay")
    parcels, hubs = make_load(900, [(40.75, -73.99, 20, 500.0), (40.66, -73.95, 20, 500.0)], seed=5)
    feather.write_feather(parcels, root / "parcels.arrow")
    feather.write_feather(hubs, root / "hubs.arrow")
    tool = _tool()
    problems = tool.dump(root, root / "problems.pkl", 100)
    return tool, problems, root / "problems.pkl"


def test_dump_keeps_the_hubs_over_the_floor_largest_first(recorded):  # type: ignore[no-untyped-def]
    _, problems, _ = recorded
    sizes = [p["node"].shape[0] - 1 for p in problems]
    assert len(sizes) == 2 and sizes == sorted(sizes, reverse=True) and min(sizes) >= 100
    assert all(p["iterations"] > 0 for p in problems)


def test_the_days_own_seed_replays_the_days_cost(recorded):  # type: ignore[no-untyped-def]
    tool, problems, _ = recorded
    costs, _ = tool.replay(problems, {}, 1.0, 1, 2, first_seed=0)
    assert costs == [p["cost"] for p in problems]


def test_a_variant_and_its_rows(recorded):  # type: ignore[no-untyped-def]
    tool, problems, path = recorded
    run = tool.run_replays(path, ["split_rate=0,avg_removed=4"], 1.0, 1, None, 1)
    none, variant = run["rows"]
    assert variant["changes"] == {"split_rate": 0.0, "avg_removed": 4.0}
    assert none["cost"] != variant["cost"]
    assert run["day_cost"] == pytest.approx(sum(p["cost"] for p in problems))
    assert "| split_rate=0,avg_removed=4 |" in tool.table(run)


def test_an_unknown_field_is_named(recorded):  # type: ignore[no-untyped-def]
    tool, problems, _ = recorded
    with pytest.raises(SystemExit, match="'splitrate' is not a field of Params"):
        tool.parse_variant("splitrate=0", tool.params_of(problems[0]))


def test_a_file_of_other_parameters_is_named(recorded):  # type: ignore[no-untyped-def]
    tool, problems, _ = recorded
    stale = {**problems[0], "params": {**problems[0]["params"], "dropped_field": 1.0}}
    with pytest.raises(SystemExit, match="recorded with other SISR parameters than this checkout's .*: dump it again"):
        tool.params_of(stale)
