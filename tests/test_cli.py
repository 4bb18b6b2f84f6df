"""The command line: every option's default in the help, exit statuses 0 / 2 / 1, the report subcommand."""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import pyarrow.feather as feather
import pytest

import planner.run.pipeline
from planner.cli import build_parser, main
from tests.loads import make_load

HUBS = [(40.75, -73.99, 10, 500.0)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    parcels, hubs = make_load(150, HUBS, seed=21)
    feather.write_feather(parcels, root / "p.arrow")
    feather.write_feather(hubs, root / "h.arrow")
    return root / "p.arrow", root / "h.arrow"


def plan_args(inputs, out: Path, *extra: str) -> list[str]:
    return ["plan", "--parcels", str(inputs[0]), "--hubs", str(inputs[1]), "--out", str(out),
            "--time-cap", "1", *extra]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_help_lists_every_option_with_its_default(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in _subcommands()[command]._actions:
        if not action.option_strings or action.default == argparse.SUPPRESS or action.required:
            continue
        assert action.option_strings[-1] in text
        help_text = " ".join((action.help or "").split())
        shown = help_text if "default" in help_text else f"{help_text} (default: {action.default})"
        assert shown in text, (command, action.dest)


def test_top_level_help_names_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in _subcommands():
        assert command in text


def test_plan_writes_the_report_unless_told_not_to(inputs, tmp_path, capsys):
    assert main(plan_args(inputs, tmp_path / "a")) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "a" / "report.html").is_file() and (tmp_path / "a" / "report-national.png").is_file()
    assert f"report in {tmp_path / 'a' / 'report.html'}" in out
    assert main(plan_args(inputs, tmp_path / "b", "--no-report", "--quiet")) == 0
    assert capsys.readouterr().out == ""
    assert not list((tmp_path / "b").glob("report*"))
    assert main(["report", str(tmp_path / "b"), "--quiet"]) == 0
    assert (tmp_path / "b" / "report.html").is_file() and not (tmp_path / "b" / "report-national.png").exists()


def test_missing_file_exits_2(inputs, tmp_path, capsys):
    code = main(["plan", "--parcels", str(tmp_path / "nope.arrow"), "--hubs", str(inputs[1]),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert one_error_line(capsys) == f"hexroute: error: parcels file {tmp_path / 'nope.arrow'}: no such file"
    assert main(["report", str(tmp_path / "none")]) == 2
    assert one_error_line(capsys) == f"hexroute: error: {tmp_path / 'none'}: no such output directory"


def test_missing_column_exits_2(inputs, tmp_path, capsys):
    feather.write_feather(feather.read_table(inputs[1]).drop(["vehicles"]), tmp_path / "h.arrow")
    code = main(["plan", "--parcels", str(inputs[0]), "--hubs", str(tmp_path / "h.arrow"),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert one_error_line(capsys) == (f"hexroute: error: hubs file {tmp_path / 'h.arrow'}: "
                                      "missing required column 'vehicles'")


@pytest.mark.parametrize("toml, message", [
    ("h3_resolution = \n", "invalid TOML"),
    ("colour = 'red'\n", "unknown setting colour"),
    ("[cost]\nusd_per_mile = 1.0\n", "unknown setting cost.usd_per_mile"),
    ("circuity = 9.0\n", "circuity must be a number in [1, 3]"),
])
def test_bad_settings_exit_2(inputs, tmp_path, capsys, toml, message):
    (tmp_path / "plan.toml").write_text(toml)
    assert main(plan_args(inputs, tmp_path / "o", "--config", str(tmp_path / "plan.toml"))) == 2
    line = one_error_line(capsys)
    assert line.startswith("hexroute: error: ") and message in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv", [[], ["bogus"], ["plan", "--parcels", "p.arrow"], ["synth", "o", "--parcels", "x"],
                                  ["report"], ["plan", "--backend", "tpu"]])
def test_bad_usage_exits_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: hexroute" in capsys.readouterr().err


def test_report_needs_both_inputs(inputs, tmp_path, capsys):
    assert main(plan_args(inputs, tmp_path / "o", "--no-report", "--quiet")) == 0
    assert main(["report", str(tmp_path / "o"), "--parcels", str(inputs[0])]) == 2
    assert one_error_line(capsys) == "hexroute: error: report: give both --parcels and --hubs, or neither"


def test_internal_error_exits_1_with_one_line(inputs, tmp_path, capsys, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(planner.run.pipeline, "assign_stops", boom)
    assert main(plan_args(inputs, tmp_path / "o", "--log-level", "WARNING")) == 1
    assert one_error_line(capsys) == "hexroute: internal error: RuntimeError: boom"
    assert not (tmp_path / "o").exists()
    assert not any(r.exc_info for r in caplog.records)
    caplog.set_level(logging.DEBUG, logger="hexroute")
    assert main(plan_args(inputs, tmp_path / "o", "--log-level", "DEBUG")) == 1
    assert one_error_line(capsys) == "hexroute: internal error: RuntimeError: boom"
    traced = [r for r in caplog.records if r.exc_info]
    assert traced and traced[-1].exc_info[0] is RuntimeError


def test_the_process_exit_status_is_the_same():
    done = subprocess.run([sys.executable, "-m", "planner.cli", "plan"], capture_output=True, text=True)
    assert done.returncode == 2 and "the following arguments are required" in done.stderr
