"""A local ``osrm-routed`` for tests and benchmarks (never for production): build a graph, serve it, stop it.

The graph is built with MLD (``osrm-extract`` + ``osrm-partition`` +
``osrm-customize``): on the Baltimore extract that takes under a second where
CH's ``osrm-contract`` takes about 8 s, and at national scale MLD's
customisation is minutes where contraction is hours. CH answers big tables
faster; ``algorithm="ch"`` builds and serves that instead. Builds are cached
under a key of the pbf's sha256, the profile, the algorithm and OSRM's
version, so a graph is rebuilt only when one of them changes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planner.roads.engine import RoadEngineError
from planner.roads.fetch_osrm import DEFAULT_DIR
from planner.roads.osrm import OsrmEngine
from planner.settings import RoadSettings

ALGORITHMS = ("mld", "ch")
_EXES = ("osrm-extract", "osrm-partition", "osrm-customize", "osrm-contract", "osrm-routed")

if TYPE_CHECKING:
    from typing_extensions import Self


class OsrmServerError(RuntimeError):
    """A graph that would not build or a server that would not start (a test or benchmark set-up failure)."""


@dataclass(frozen=True)
class OsrmTools:
    """Where OSRM's executables and Lua profiles are."""

    bin_dir: Path
    profiles: Path
    version: str

    def exe(self, name: str) -> str:
        """Path of one executable."""
        return str(self.bin_dir / name)

    def profile(self, name: str) -> Path:
        """Path of a profile's Lua file (``car`` -> ``car.lua``)."""
        path = self.profiles / f"{name}.lua"
        if not path.is_file():
            raise OsrmServerError(f"no OSRM profile {name!r} in {self.profiles}")
        return path


def _candidates() -> list[tuple[Path, Path]]:
    """(bin dir, profiles dir) pairs to try, most specific first."""
    out: list[tuple[Path, Path]] = []
    env = os.environ.get("HEXROUTE_OSRM_DIR")
    if env:
        root = Path(env)
        out.append((root / "bin", root / "share" / "profiles"))
        out.append((root, root.parent / "share" / "profiles"))
    out.append((DEFAULT_DIR / "bin", DEFAULT_DIR / "share" / "profiles"))
    repo_venv = Path(__file__).resolve().parents[2] / ".venv" / "osrm"
    out.append((repo_venv / "bin", repo_venv / "share" / "profiles"))
    try:  # osrm-bindings installed on Python >= 3.12: its package holds the same layout
        spec = importlib.util.find_spec("osrm")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            out.append((Path(loc) / "bin", Path(loc) / "share" / "profiles"))
    which = shutil.which("osrm-routed")
    if which:
        bin_dir = Path(which).resolve().parent
        for share in (bin_dir.parent / "share" / "osrm" / "profiles", bin_dir.parent / "share" / "profiles",
                      Path("/usr/share/osrm/profiles"), Path("/usr/local/share/osrm/profiles")):
            out.append((bin_dir, share))
    return out


def find_tools() -> OsrmTools | None:
    """OSRM's executables and profiles: ``$HEXROUTE_OSRM_DIR``, ``<venv>/osrm``, an installed osrm-bindings, PATH."""
    for bin_dir, profiles in _candidates():
        if all(os.access(bin_dir / exe, os.X_OK) for exe in _EXES) and (profiles / "car.lua").is_file():
            try:
                done = subprocess.run([str(bin_dir / "osrm-routed"), "--version"], capture_output=True, text=True,
                                      timeout=10, check=False)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                return OsrmTools(bin_dir, profiles, done.stdout.strip() or "unknown")
    return None


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise OsrmServerError(f"{Path(cmd[0]).name} failed (exit {done.returncode}): {tail}")


def build_graph(pbf: str | Path, cache_dir: str | Path, *, profile: str = "car", algorithm: str = "mld",
                tools: OsrmTools | None = None, threads: int = 2) -> Path:
    """The ``.osrm`` base path of ``pbf``'s graph in ``cache_dir``, built unless an identical build is there."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
    tools = tools or find_tools()
    if tools is None:
        raise OsrmServerError("OSRM executables not found (run: python -m planner.roads.fetch_osrm)")
    pbf, cache_dir = Path(pbf), Path(cache_dir)
    stem = pbf.name.split(".")[0]
    version = "".join(c for c in tools.version if c.isalnum() or c in ".-_")
    key = f"{stem}-{sha256(pbf)[:16]}-{profile}-{algorithm}-{version}"
    target = cache_dir / key
    if (target / "complete").is_file():
        return target / f"{stem}.osrm"
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        shutil.copyfile(pbf, work / f"{stem}.osm.pbf")
        _run([tools.exe("osrm-extract"), "-p", str(tools.profile(profile)), "-t", str(threads),
              f"{stem}.osm.pbf"], work)
        (work / f"{stem}.osm.pbf").unlink()
        steps = (["osrm-partition", "osrm-customize"] if algorithm == "mld" else ["osrm-contract"])
        for step in steps:
            _run([tools.exe(step), "-t", str(threads), f"{stem}.osrm"], work)
        (work / "complete").write_text(f"{pbf.resolve()}\n")
        try:
            os.replace(work, target)
        except OSError:  # another process finished the same build first
            if not (target / "complete").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target / f"{stem}.osrm"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM when the process that started it dies, so no test leaves one behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class OsrmServer:
    """``osrm-routed`` on a loopback port, started and stopped by its process id."""

    def __init__(self, base: str | Path, *, algorithm: str = "mld", max_table_size: int = 100,
                 max_route_size: int = 500, port: int | None = None, threads: int = 2,
                 tools: OsrmTools | None = None, log_path: str | Path | None = None) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
        self.base = Path(base)
        self.algorithm = algorithm
        self.max_table_size = max_table_size
        self.max_route_size = max_route_size
        self.threads = threads
        self._port = port
        self.tools = tools or find_tools()
        if self.tools is None:
            raise OsrmServerError("OSRM executables not found (run: python -m planner.roads.fetch_osrm)")
        self._log_path = Path(log_path) if log_path else None
        self.log_path = self._log_path or self.base.parent / "osrm-routed.log"
        self.port = 0
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **changes: object) -> RoadSettings:
        """Road settings that match this server's limits (and any ``changes``)."""
        values: dict[str, object] = {"engine": "osrm", "url": self.url, "max_table_size": self.max_table_size,
                                     "max_route_size": self.max_route_size}
        values.update(changes)
        return RoadSettings(**values)  # type: ignore[arg-type]

    def start(self, timeout_s: float = 30.0) -> Self:
        """Start the server and wait until it answers; a port taken meanwhile is retried on another."""
        if self._proc is not None:
            return self
        for attempt in range(3):
            self.port = self._port or free_port()
            cmd = [self.tools.exe("osrm-routed"), "--algorithm", self.algorithm.upper(), "-i", "127.0.0.1",
                   "-p", str(self.port), "-t", str(self.threads), "--max-table-size", str(self.max_table_size),
                   "--max-viaroute-size", str(self.max_route_size), str(self.base)]
            self.log_path = self._log_path or self.base.parent / f"osrm-routed-{self.port}.log"
            with open(self.log_path, "wb") as log:
                # preexec_fn only calls prctl (async-signal-safe), so the thread warning does not apply
                self._proc = subprocess.Popen(  # noqa: PLW1509
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            self.pid = self._proc.pid
            if self._wait_ready(timeout_s):
                return self
            code = self._proc.poll()
            self.stop()
            tail = " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-3:])
            if self._port is None and attempt < 2 and "in use" in tail.lower():
                continue
            raise OsrmServerError(f"osrm-routed did not start (exit {code}): {tail}")
        raise OsrmServerError("osrm-routed did not start")  # pragma: no cover

    def _wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        engine = OsrmEngine(RoadSettings(engine="osrm", url=self.url, check_timeout_s=1.0, retries=0))
        try:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    return False
                try:
                    engine.check()
                    return True
                except RoadEngineError:
                    time.sleep(0.05)
            return False
        finally:
            engine.close()

    def kill(self) -> None:
        """SIGKILL the server by its pid (to test a server that dies mid-run)."""
        if self.pid is not None and self._proc is not None and self._proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the server by its pid, then SIGKILL if it has not exited within ``grace_s``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.pid = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def running_server(pbf: str | Path, cache_dir: str | Path, *, algorithm: str = "mld", profile: str = "car",
                   max_table_size: int = 100, threads: int = 2) -> Iterator[OsrmServer]:
    """Build (or reuse) ``pbf``'s graph and serve it for the ``with`` block."""
    tools = find_tools()
    if tools is None:
        raise OsrmServerError("OSRM executables not found (run: python -m planner.roads.fetch_osrm)")
    base = build_graph(pbf, cache_dir, profile=profile, algorithm=algorithm, tools=tools, threads=threads)
    with OsrmServer(base, algorithm=algorithm, max_table_size=max_table_size, threads=threads, tools=tools) as srv:
        yield srv
