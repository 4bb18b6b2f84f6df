"""Hub groups on a Dask cluster: the same plan byte for byte, a killed worker, an unreachable scheduler."""
from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
import cloudpickle  # noqa: E402  (a dependency of distributed)

import planner.run.pipeline  # noqa: E402
from planner.cli import main  # noqa: E402
from planner.run import runners as dist  # noqa: E402
from planner.run.groups import GroupInput, partition_hubs, plan_group  # noqa: E402
from planner.run.pipeline import plan  # noqa: E402
from planner.settings import ClusterSettings, ImproveSettings, Settings  # noqa: E402
from tests.loads import make_load  # noqa: E402

# The slow task below is defined here; workers cannot import this module, so it travels by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

GROUP_STOPS = 100  # a few hundred stops -> several groups, so both workers get tasks
SETTINGS = Settings(improve=ImproveSettings(time_cap_s=60.0, max_rounds=20),
                    cluster=ClusterSettings(group_stops=GROUP_STOPS))
HUBS = [(40.75, -73.99, 6, 400.0), (40.65, -73.95, 5, 500.0), (40.85, -73.90, 4, 300.0),
        (40.70, -74.10, 8, 500.0), (40.60, -74.00, 3, 300.0), (40.80, -74.05, 5, 400.0)]
OUTPUTS = ("assignments.arrow", "routes.arrow", "hubs.arrow", "rejects.arrow")


@pytest.fixture(scope="module")
def load():
    return make_load(600, HUBS, seed=11, spread=0.04)


@pytest.fixture(scope="module")
def expected(load, tmp_path_factory) -> dict[str, bytes]:
    """The in-process plan's output files."""
    out = tmp_path_factory.mktemp("in_process")
    plan(*load, SETTINGS, progress=False).write(out)
    return _outputs(out)


@pytest.fixture(scope="module")
def cluster():
    runner = dist.local_cluster(2, threads=1)
    yield runner
    runner.close()


def _outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def test_partition_balances_stops_and_is_deterministic():
    stop_hub = np.repeat(np.arange(6), [50, 10, 40, 0, 30, 20])
    groups = partition_hubs(stop_hub, 6, group_stops=50)
    assert [g.tolist() for g in groups] == [[0], [1, 2], [4, 5]]
    assert np.concatenate(groups).size == 5  # hub 3 has no stops
    assert partition_hubs(stop_hub, 6, group_stops=1000)[0].tolist() == [0, 1, 2, 4, 5]
    assert partition_hubs(np.zeros(0, np.int64), 3, 10) == []


def test_in_process_plan_repeats_byte_for_byte(load, expected, tmp_path):
    """The reference for the cluster tests: the in-process runner gives the same bytes every time."""
    result = plan(*load, SETTINGS, progress=False, runner=dist.InProcess())
    result.write(tmp_path)
    assert _outputs(tmp_path) == expected
    assert result.summary["hub_groups"]["groups"] >= 4


def test_local_cluster_plan_is_byte_identical(load, expected, cluster, tmp_path):
    result = plan(*load, SETTINGS, progress=False, runner=cluster)
    result.write(tmp_path)
    assert _outputs(tmp_path) == expected
    groups = result.summary["hub_groups"]
    assert groups["mode"] == "local" and groups["workers"] == 2 and groups["groups"] >= 4


def _slow_plan_group(marks: str, delay_s: float, group: GroupInput):
    """plan_group after a pause, leaving a mark per start so the test sees which process ran what."""
    Path(marks, f"{group.index}-{os.getpid()}-{time.monotonic_ns()}").touch()
    time.sleep(delay_s)
    return plan_group(group)


class _Slow:
    """A runner that pauses every task before planning its group (the results are unchanged)."""

    def __init__(self, inner: dist.DaskRunner, marks: Path, delay_s: float):
        self.inner, self.marks, self.delay_s = inner, marks, delay_s

    def map(self, fn, items):
        assert fn is plan_group
        return self.inner.map(_Partial(str(self.marks), self.delay_s), items)

    def describe(self):
        return self.inner.describe()


class _Partial:
    """Picklable ``_slow_plan_group(marks, delay_s, .)`` with a name for the task keys."""

    __name__ = "slow_plan_group"

    def __init__(self, marks: str, delay_s: float):
        self.marks, self.delay_s = marks, delay_s

    def __call__(self, group: GroupInput):
        return _slow_plan_group(self.marks, self.delay_s, group)


def test_killed_worker_costs_only_a_retry(load, expected, cluster, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    worker_pids = set(cluster.client.run(os.getpid).values())
    done: dict[str, object] = {}

    def run() -> None:
        try:
            done["plan"] = plan(*load, SETTINGS, progress=False, runner=_Slow(cluster, marks, 1.0))
        except BaseException as exc:  # pragma: no cover - reported below
            done["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not any(marks.iterdir()):
        assert time.monotonic() < deadline, "no task started"
        time.sleep(0.05)
    first = next(marks.iterdir()).name
    victim_group, victim = (int(x) for x in first.split("-")[:2])
    assert victim in worker_pids
    time.sleep(0.3)  # inside the task's pause
    os.kill(victim, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive() and "error" not in done, done.get("error")

    starts = [name.split("-")[:2] for name in os.listdir(marks)]
    runs_of_victim = {int(pid) for g, pid in starts if int(g) == victim_group}
    assert victim in runs_of_victim and len(runs_of_victim) == 2  # killed once, re-run elsewhere
    out = tmp_path / "plan"
    done["plan"].write(out)
    assert _outputs(out) == expected


def test_unreachable_scheduler_is_one_line_and_status_2(tmp_path, capsys):
    t0 = time.monotonic()
    status = main(["plan", "--parcels", str(tmp_path / "missing.arrow"), "--hubs", str(tmp_path / "missing.arrow"),
                   "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:1", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("hexroute: error: cannot reach Dask scheduler at tcp://127.0.0.1:1 ")
    assert err.count("\n") == 1 and "missing.arrow" not in err  # failed before reading any input
    assert time.monotonic() - t0 < dist.CONNECT_TIMEOUT_S + 5
    assert not (tmp_path / "out").exists()


def test_cli_workers_uses_a_local_cluster(load, cluster, tmp_path, monkeypatch):
    """--workers N plans on a local cluster of N processes (the module's cluster stands in for it)."""
    import pyarrow.feather as feather

    class Borrowed(dist.DaskRunner):
        def close(self) -> None:  # the fixture owns the cluster
            pass

    asked = []
    monkeypatch.setattr(dist, "local_cluster",
                        lambda n, **kwargs: asked.append(n) or Borrowed(cluster.client, "local"))
    parcels, hubs = load
    feather.write_feather(parcels, tmp_path / "parcels.arrow")
    feather.write_feather(hubs, tmp_path / "hubs.arrow")
    args = ["plan", "--parcels", str(tmp_path / "parcels.arrow"), "--hubs", str(tmp_path / "hubs.arrow"),
            "--time-cap", "60", "--quiet", "--no-report"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    assert asked == [2]
    assert _outputs(tmp_path / "a") == _outputs(tmp_path / "b")


# --------------------------------------------------------------------------- clusters without workers, bad addresses

NO_WORKER_S = 3.0


def _inputs(load, root: Path) -> list[str]:
    import pyarrow.feather as feather

    parcels, hubs = load
    feather.write_feather(parcels, root / "parcels.arrow")
    feather.write_feather(hubs, root / "hubs.arrow")
    (root / "plan.toml").write_text(f"[cluster]\nno_worker_timeout_s = {NO_WORKER_S}\ngroup_stops = {GROUP_STOPS}\n")
    return ["plan", "--parcels", str(root / "parcels.arrow"), "--hubs", str(root / "hubs.arrow"),
            "--config", str(root / "plan.toml"), "--time-cap", "60", "--quiet", "--no-report"]


@pytest.fixture
def scheduler():
    """A scheduler of its own with no worker (started and closed here)."""
    import distributed

    cluster = distributed.LocalCluster(n_workers=0, dashboard_address=None, silence_logs=logging.ERROR,
                                       scheduler_kwargs={"dashboard_address": ":0"})
    yield cluster
    cluster.close()


def _no_worker_line(capfd, address: str) -> None:
    out, err = capfd.readouterr()
    assert out == "" and err.strip().splitlines() == [
        f"hexroute: error: the Dask cluster at {address} has had no live worker for {NO_WORKER_S:g} s "
        "(cluster.no_worker_timeout_s); nothing was written"], err


def test_a_scheduler_that_never_had_a_worker_ends_the_run(load, scheduler, tmp_path, capfd):
    args = _inputs(load, tmp_path)
    started = time.monotonic()
    assert main([*args, "--out", str(tmp_path / "out"), "--scheduler", scheduler.scheduler_address]) == 1
    assert time.monotonic() - started < NO_WORKER_S + 30
    _no_worker_line(capfd, scheduler.scheduler_address)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hubs.arrow", "parcels.arrow", "plan.toml"]


def test_the_only_worker_killed_ends_the_run_within_the_set_time(load, scheduler, tmp_path, capfd, monkeypatch):
    import distributed

    address = scheduler.scheduler_address
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--no-nanny",
                               "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with distributed.Client(address, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        marks = tmp_path / "marks"
        marks.mkdir()
        monkeypatch.setattr(planner.run.pipeline, "plan_group", _Partial(str(marks), 60.0))

        def kill_when_a_task_runs() -> None:
            deadline = time.monotonic() + 90
            while not any(marks.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.05)
            killed.append(time.monotonic())
            worker.kill()

        killed: list[float] = []
        killer = threading.Thread(target=kill_when_a_task_runs)
        killer.start()
        args = _inputs(load, tmp_path)
        assert main([*args, "--out", str(tmp_path / "out"), "--scheduler", address]) == 1
        ended = time.monotonic()
        killer.join(5)
        assert killed and ended - killed[0] < NO_WORKER_S + 10  # Dask alone would wait for a worker forever
        _no_worker_line(capfd, address)
        assert not (tmp_path / "out").exists()
    finally:
        worker.kill()
        worker.wait()


@pytest.mark.parametrize("address", ["foo", "", "tcp://", "tcp://127.0.0.1:notaport", "tcp://host:99999",
                                     "http://127.0.0.1:8786", "inproc://x", "tcp://[::1", "tcp://:8786"])
def test_a_malformed_scheduler_address_is_one_line(address, tmp_path, capfd):
    started = time.monotonic()
    assert main(["plan", "--parcels", "p.arrow", "--hubs", "h.arrow", "--out", str(tmp_path / "out"),
                 "--scheduler", address]) == 2
    gc.collect()  # a half-made client would complain from its finaliser here
    out, err = capfd.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"hexroute: error: bad Dask scheduler address {address!r}: ")
    assert time.monotonic() - started < 2.0


def test_quiet_is_quiet_on_a_local_cluster(load, tmp_path, capfd):
    args = _inputs(load, tmp_path)
    assert main([*args, "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    gc.collect()
    assert capfd.readouterr() == ("", "")
