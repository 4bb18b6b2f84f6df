"""Writing an output directory: atomic, byte-identical, manifest last, nothing half written."""
from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from planner.contract import schemas as S
from planner.contract import validate, write
from planner.contract.write import rewrite_outputs, write_outputs
from planner.errors import HexrouteError, InputError
from tests.contract.inputs import hubs, parcels


def outputs() -> tuple[dict[str, pa.Table], dict[str, dict]]:
    rejects = validate(parcels(3, weight_kg=[1.0, -1.0, 2.0]), hubs()).rejects
    routes = S.table_from_columns(S.ROUTES_SCHEMA, {
        "route_id": ["h0-1"], "hub_id": ["h0"], "n_stops": [2], "n_parcels": [2], "load_kg": [3.0],
        "distance_km": [12.5], "duration_s": [1800], "cost_usd": [40.0], "co2_kg": [3.4]})
    return {"rejects": rejects, "routes": routes}, {"summary": {"totals": {"parcels": 2}, "backend": "cpu"}}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_write_outputs_files_and_manifest(tmp_path: Path) -> None:
    tables, documents = outputs()
    target = tmp_path / "run"
    manifest = write_outputs(target, tables, documents)
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "rejects.arrow", "routes.arrow",
                                                        "summary.json"]
    assert json.loads((target / "manifest.json").read_text()) == manifest
    assert manifest["schema_version"] == "1.0"
    assert [f["name"] for f in manifest["files"]] == ["rejects.arrow", "routes.arrow", "summary.json"]
    for entry in manifest["files"]:
        data = (target / entry["name"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert [f["rows"] for f in manifest["files"]] == [1, 1, None]
    routes = pa.ipc.open_file(str(target / "routes.arrow")).read_all()
    assert routes.schema.equals(S.ROUTES_SCHEMA, check_metadata=True) and routes.equals(tables["routes"])
    assert json.loads((target / "summary.json").read_text()) == documents["summary"]
    assert leftovers(tmp_path) == []


def test_write_outputs_is_byte_identical(tmp_path: Path) -> None:
    tables, documents = outputs()
    rechunked = {k: pa.Table.from_batches(t.to_batches(max_chunksize=1) or [], schema=t.schema)
                 for k, t in tables.items()}
    first = write_outputs(tmp_path / "a", tables, documents)
    second = write_outputs(tmp_path / "b", rechunked, dict(reversed(list(documents.items()))))
    assert first == second
    for entry in first["files"] + [{"name": "manifest.json"}]:
        assert (tmp_path / "a" / entry["name"]).read_bytes() == (tmp_path / "b" / entry["name"]).read_bytes()


def test_write_outputs_replaces_an_earlier_plan(tmp_path: Path) -> None:
    target = tmp_path / "run"
    tables, documents = outputs()
    write_outputs(target, tables, documents)
    (target / "report.html").write_text("old report, written outside the manifest by earlier versions")
    write_outputs(target, {"rejects": tables["rejects"]}, {})
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "rejects.arrow"]
    assert leftovers(tmp_path) == []


def test_write_outputs_never_replaces_what_is_not_a_plan(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "notes.txt").write_bytes(b"mine")
    with pytest.raises(InputError, match=r"exists and is not a hexroute plan"):
        write_outputs(target, *outputs())
    assert [p.name for p in target.iterdir()] == ["notes.txt"] and (target / "notes.txt").read_bytes() == b"mine"
    write_outputs(tmp_path / "plan", *outputs())
    (tmp_path / "plan" / "notes.txt").write_bytes(b"mine")  # a plan with a file of someone else's
    with pytest.raises(InputError, match=r"exists and is not a hexroute plan"):
        write_outputs(tmp_path / "plan", *outputs())
    assert (tmp_path / "plan" / "notes.txt").read_bytes() == b"mine"
    assert leftovers(tmp_path) == []


def test_extra_files_are_in_the_manifest_and_the_mode_follows_the_umask(tmp_path: Path) -> None:
    def report(directory: Path) -> None:
        (directory / "report.html").write_text("<html></html>")

    old = os.umask(0o022)
    try:
        manifest = write_outputs(tmp_path / "run", *outputs(), extra=report)
    finally:
        os.umask(old)
    assert [f["name"] for f in manifest["files"]] == ["rejects.arrow", "report.html", "routes.arrow",
                                                      "summary.json"]
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "run" / "report.html").stat().st_mode) == 0o644


def test_a_failing_extra_leaves_the_earlier_plan(tmp_path: Path) -> None:
    target = tmp_path / "run"
    write_outputs(target, *outputs())
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(directory: Path) -> None:
        (directory / "report.html").write_text("half")
        raise RuntimeError("matplotlib fell over")

    with pytest.raises(RuntimeError, match="matplotlib"):
        write_outputs(target, {"rejects": outputs()[0]["rejects"]}, {}, extra=broken)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_rewrite_outputs_adds_files_and_keeps_the_manifest_whole(tmp_path: Path) -> None:
    target = tmp_path / "run"
    first = write_outputs(target, *outputs())

    def report(directory: Path) -> None:
        assert (directory / "routes.arrow").is_file()  # the plan's files are there to read
        (directory / "report.html").write_text("new")

    manifest = rewrite_outputs(target, report, drop=lambda name: name.startswith("report"))
    assert json.loads((target / "manifest.json").read_text()) == manifest
    assert [f for f in manifest["files"] if f["name"] != "report.html"] == first["files"]
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "rejects.arrow", "report.html",
                                                        "routes.arrow", "summary.json"]
    with pytest.raises(InputError, match="no such output directory"):
        rewrite_outputs(tmp_path / "none", report)
    assert leftovers(tmp_path) == []


def test_failed_table_leaves_nothing(tmp_path: Path) -> None:
    tables, documents = outputs()
    tables["routes"] = tables["routes"].drop_columns(["co2_kg"])
    with pytest.raises(ValueError, match="table 'routes' has columns"):
        write_outputs(tmp_path / "run", tables, documents)
    assert list(tmp_path.iterdir()) == []


def test_non_json_document_leaves_nothing(tmp_path: Path) -> None:
    tables, _ = outputs()
    with pytest.raises(ValueError):
        write_outputs(tmp_path / "run", tables, {"summary": {"cost": math.nan}})
    assert list(tmp_path.iterdir()) == []


def test_crash_while_writing_manifest_keeps_old_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "run"
    tables, documents = outputs()
    write_outputs(target, tables, documents)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real = write._write_json

    def crash_on_manifest(path: Path, document: Any) -> None:
        if path.name == "manifest.json":
            raise OSError(28, "No space left on device")
        real(path, document)

    monkeypatch.setattr(write, "_write_json", crash_on_manifest)
    with pytest.raises(HexrouteError) as err:
        write_outputs(target, {"rejects": tables["rejects"]}, {})
    assert str(err.value) == f"output {target}: cannot write: [Errno 28] No space left on device"
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert leftovers(tmp_path) == []


def test_crash_on_fresh_target_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: Any) -> None:
        raise RuntimeError("serialiser failed")

    monkeypatch.setattr(write, "_write_table", crash)
    with pytest.raises(RuntimeError, match="serialiser failed"):
        write_outputs(tmp_path / "out" / "run", *outputs())
    assert list(tmp_path.iterdir()) == []  # the parent it made for the target is gone too


def test_target_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.write_text("x")
    with pytest.raises(InputError) as err:
        write_outputs(target, *outputs())
    assert str(err.value) == f"output {target}: exists and is not a directory"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["manifest", "../x", ".hidden", ""])
def test_bad_output_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        write_outputs(tmp_path / "run", {}, {name: {}})
    assert list(tmp_path.iterdir()) == []


KILL_SCRIPT = """
import sys, time
import pyarrow as pa
from planner.contract import schemas, write as io

real = io._write_table
def slow(path, name, table):
    real(path, name, table)
    print("wrote", name, flush=True)
    time.sleep(60)  # killed here, half way through the outputs
io._write_table = slow
table = schemas.table_from_columns(schemas.REJECTS_SCHEMA, {"row": [0], "file": ["parcels"], "id": ["p"],
                                                            "reason": ["r"]})
io.write_outputs(sys.argv[1], {"rejects": table, "routes": table.slice(0, 0)}, {"summary": {}})
"""


def test_killed_writer_leaves_no_target(tmp_path: Path) -> None:
    """SIGKILL in the middle of writing: the target directory never appears half written."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "plan"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("wrote")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
