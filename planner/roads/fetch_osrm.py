"""Put OSRM's executables and profiles into ``<venv>/osrm`` from the ``osrm-bindings`` wheel on PyPI, once.

The wheel ships statically linked ``osrm-extract``, ``osrm-partition``,
``osrm-customize``, ``osrm-contract``, ``osrm-routed`` and the Lua profiles.
It is tagged for CPython >= 3.12, so it is fetched as a file (not installed)
and only its ``osrm/bin`` and ``osrm/share`` are unpacked; the executables do
not care which Python runs hexroute. Run ``python -m planner.roads.fetch_osrm``
(``make install-test`` does); a second run with the same version does nothing.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "26.10.0"
#: where the executables go: beside the running interpreter's environment (``.venv/osrm``)
DEFAULT_DIR = Path(sys.prefix) / "osrm"
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class FetchError(RuntimeError):
    """The wheel could not be fetched or unpacked."""


def installed_version(dest: Path = DEFAULT_DIR) -> str | None:
    """The version unpacked in ``dest``, or None when there is none (or it is incomplete)."""
    marker = dest / "VERSION"
    if marker.is_file() and (dest / "bin" / "osrm-routed").is_file():
        return marker.read_text().strip()
    return None


def platform_tag() -> str:
    """The wheel platform tag for this machine; OSRM's wheels exist for Linux only."""
    machine = _MACHINES.get(platform.machine().lower())
    if not sys.platform.startswith("linux") or machine is None:
        raise FetchError(f"no osrm-bindings wheel for {sys.platform}/{platform.machine()} (Linux x86_64 or aarch64)")
    return f"manylinux_2_28_{machine}"


def _unpack(wheel: Path, into: Path) -> None:
    """``osrm/bin`` and ``osrm/share`` of the wheel into ``into/bin`` and ``into/share``, executables marked so."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or not (name.startswith(("osrm/bin/", "osrm/share/")) or name.endswith("LICENSE.TXT")):
                continue
            rel = Path(name.split("/", 1)[1]) if name.startswith("osrm/") else Path(Path(name).name)
            if ".." in rel.parts:
                raise FetchError(f"{wheel.name}: unsafe path {name}")
            target = into / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            if rel.parts[0] == "bin":
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def fetch(dest: Path = DEFAULT_DIR, version: str = VERSION, python: str = sys.executable) -> Path:
    """Download and unpack the wheel into ``dest`` unless that version is already there; returns ``dest``."""
    dest = Path(dest)
    if installed_version(dest) == version:
        return dest
    tag = platform_tag()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".osrm-fetch-", dir=dest.parent) as tmp:
        tmp_path = Path(tmp)
        cmd = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--platform", tag, "--dest", str(tmp_path / "wheel"),
               f"osrm-bindings=={version}"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise FetchError(f"pip download osrm-bindings=={version} failed: {tail[0]}")
        wheels = sorted((tmp_path / "wheel").glob("osrm_bindings-*.whl"))
        if not wheels:
            raise FetchError(f"pip download osrm-bindings=={version} left no wheel")
        new = tmp_path / "osrm"
        _unpack(wheels[0], new)
        if not (new / "bin" / "osrm-routed").is_file():
            raise FetchError(f"{wheels[0].name} holds no osrm/bin/osrm-routed")
        (new / "VERSION").write_text(version + "\n")
        old = tmp_path / "old"
        if dest.exists():
            os.replace(dest, old)
        os.replace(new, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m planner.roads.fetch_osrm [--dest DIR] [--version V]``."""
    parser = argparse.ArgumentParser(prog="python -m planner.roads.fetch_osrm", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DIR, help=f"target folder (default {DEFAULT_DIR})")
    parser.add_argument("--version", default=VERSION, help=f"osrm-bindings version (default {VERSION})")
    args = parser.parse_args(argv)
    before = installed_version(args.dest)
    try:
        dest = fetch(args.dest, args.version)
    except FetchError as exc:
        print(f"fetch_osrm: {exc}", file=sys.stderr)
        return 1
    if before != args.version:
        print(f"OSRM {args.version} executables in {dest / 'bin'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
