"""Getting OSRM without installing anything by hand, and building graphs only when the pbf changed."""
from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from planner.roads import fetch_osrm
from planner.roads.server import OsrmServerError, build_graph
from tests.roads.conftest import ROADS


def _fake_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("osrm/bin/osrm-routed", "#!/bin/sh\necho v0\n")
        zf.writestr("osrm/share/profiles/car.lua", "-- car\n")
        zf.writestr("osrm/__init__.py", "")
        zf.writestr("osrm_bindings-0.dist-info/licenses/LICENSE.TXT", "BSD\n")
    return path


def test_unpack_keeps_bin_and_profiles_executable(tmp_path):
    wheel = _fake_wheel(tmp_path / "osrm_bindings-0-cp312-abi3-manylinux_2_28_x86_64.whl")
    fetch_osrm._unpack(wheel, tmp_path / "osrm")
    routed = tmp_path / "osrm" / "bin" / "osrm-routed"
    assert os.access(routed, os.X_OK)
    assert (tmp_path / "osrm" / "share" / "profiles" / "car.lua").is_file()
    assert (tmp_path / "osrm" / "LICENSE.TXT").is_file() and not (tmp_path / "osrm" / "__init__.py").exists()


def test_fetch_is_idempotent_and_replaces_another_version(tmp_path, monkeypatch):
    calls = []

    def fake_pip(cmd, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("--dest") + 1])
        dest.mkdir(parents=True)
        _fake_wheel(dest / "osrm_bindings-9-cp312-abi3-manylinux_2_28_x86_64.whl")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch_osrm.subprocess, "run", fake_pip)
    monkeypatch.setattr(fetch_osrm, "platform_tag", lambda: "manylinux_2_28_x86_64")
    dest = tmp_path / "venv" / "osrm"
    assert fetch_osrm.fetch(dest, "9") == dest and fetch_osrm.installed_version(dest) == "9"
    assert "--python-version" in calls[0] and "osrm-bindings==9" in calls[0]
    fetch_osrm.fetch(dest, "9")
    assert len(calls) == 1
    fetch_osrm.fetch(dest, "10")
    assert len(calls) == 2 and fetch_osrm.installed_version(dest) == "10"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["osrm"]


def test_fetch_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch_osrm.subprocess, "run",
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n"))
    monkeypatch.setattr(fetch_osrm, "platform_tag", lambda: "manylinux_2_28_x86_64")
    with pytest.raises(fetch_osrm.FetchError, match="pip download osrm-bindings==1 failed: ERROR: No matching"):
        fetch_osrm.fetch(tmp_path / "osrm", "1")
    assert fetch_osrm.main(["--dest", str(tmp_path / "osrm"), "--version", "1"]) == 1


def test_graph_is_built_once_per_pbf_content(osrm_tools, tmp_path, graph_cache, harrisburg):
    pbf = ROADS / "harrisburg.osm.pbf"
    base = build_graph(pbf, graph_cache, tools=osrm_tools)
    assert base == harrisburg.base
    marker = base.parent / "complete"
    stamp = marker.stat().st_mtime_ns
    assert build_graph(pbf, graph_cache, tools=osrm_tools) == base and marker.stat().st_mtime_ns == stamp
    copy = tmp_path / "in" / "harrisburg.osm.pbf"
    copy.parent.mkdir()
    copy.write_bytes(pbf.read_bytes())
    assert build_graph(copy, graph_cache, tools=osrm_tools) == base  # same content, same graph
    with pytest.raises(OsrmServerError, match="osrm-extract failed"):
        (tmp_path / "bad.osm.pbf").write_bytes(b"not a pbf")
        build_graph(tmp_path / "bad.osm.pbf", graph_cache, tools=osrm_tools)
    assert [p.name for p in graph_cache.iterdir() if p.name.startswith(".")] == []
