"""``hexroute simulate`` and ``hexroute compare``: they run end to end, and bad input or a target that must not
be replaced ends with one line naming the file and the column (or the location), exit status 2, no output."""
from __future__ import annotations

from pathlib import Path

import pyarrow.feather as feather
import pytest

from planner.cli import main
from tests.simulate import loads
from tests.simulate.conftest import read_json

CONFIG = "max_hub_km = 40.0\n[improve]\ntime_cap_s = 20.0\nmax_rounds = 5\neffort_s = 0.005\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("days-cli")
    days = root / "days"
    days.mkdir()
    for d in (1, 2):
        feather.write_feather(loads.day(d), days / f"day-{d}.arrow")
    feather.write_feather(loads.hubs(), root / "hubs.arrow")
    (root / "plan.toml").write_text(CONFIG)
    return {"days": days, "hubs": root / "hubs.arrow", "config": root / "plan.toml", "day1": days / "day-1.arrow"}


def _args(inputs, command: str, out: Path, *load: str) -> list[str]:
    return [command, *load, "--hubs", str(inputs["hubs"]), "--out", str(out), "--config", str(inputs["config"]),
            "--no-report"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_simulate_plans_each_day_of_a_days_directory(inputs, tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(_args(inputs, "simulate", out, "--days-dir", str(inputs["days"]), "--network", "separate")) == 0
    printed = capsys.readouterr().out
    assert "| separate | 2 |" in printed
    document = read_json(out / "simulation.json")
    assert document["network"] == "separate" and len(document["days"]) == 2
    assert document["source"]["files"] == [str(inputs["days"] / "day-1.arrow"), str(inputs["days"] / "day-2.arrow")]
    assert main(_args(inputs, "simulate", out, "--days-dir", str(inputs["days"]), "--days", "1", "--quiet",
                      "--day-reports")) == 0
    assert len(read_json(out / "simulation.json")["days"]) == 1, "an earlier simulation is replaced"
    listed = {f["name"] for f in read_json(out / "manifest.json")["files"]}
    assert {"day-01/report.html", "day-01/report-national.png"} <= listed, "the day's report, with its maps"
    assert "report.html" not in listed, "--no-report leaves out the simulation's page"


def test_compare_one_load_writes_both_plans_and_the_comparison(inputs, tmp_path):
    out = tmp_path / "cmp"
    assert main(_args(inputs, "compare", out, "--parcels", str(inputs["day1"]), "--quiet")) == 0
    assert (out / "shared" / "summary.json").is_file() and (out / "separate" / "summary.json").is_file()
    document = read_json(out / "comparison.json")
    assert document["days"] == 1 and set(document["networks"]) == {"shared", "separate"}
    assert main(_args(inputs, "compare", out, "--parcels", str(inputs["day1"]), "--days", "2", "--quiet")) == 0
    assert (out / "shared" / "day-02" / "assignments.arrow").is_file(), "a repeated load over two days"


def test_a_day_file_without_a_required_column_is_one_line_and_status_2(inputs, tmp_path, capsys):
    days = tmp_path / "days"
    days.mkdir()
    feather.write_feather(loads.day(1), days / "a.arrow")
    feather.write_feather(loads.day(2).drop_columns(["lon"]), days / "b.arrow")
    out = tmp_path / "sim"
    assert main(_args(inputs, "simulate", out, "--days-dir", str(days))) == 2
    line = _one_error_line(capsys)
    assert str(days / "b.arrow") in line and "'lon'" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["days"]


@pytest.mark.parametrize("load, message", [
    (("--synth", "national"), "--parcels-per-day"),
    (("--synth", "atlantis", "--parcels-per-day", "10"), "unknown region"),
    (("--days-dir", "/nonexistent/days"), "no such directory"),
])
def test_bad_load_options_are_one_line_and_status_2(inputs, tmp_path, capsys, load, message):
    assert main(_args(inputs, "simulate", tmp_path / "sim", *load)) == 2
    assert message in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_is_not_a_simulation_is_never_replaced(inputs, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(_args(inputs, "compare", out, "--parcels", str(inputs["day1"]))) == 2
    assert str(out) in _one_error_line(capsys)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_bad_network_setting_names_the_key(inputs, tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('network = "pooled"\n')
    args = _args(inputs, "simulate", tmp_path / "sim", "--days-dir", str(inputs["days"]))
    args[args.index("--config") + 1] = str(config)
    assert main(args) == 2
    assert "network" in _one_error_line(capsys)
