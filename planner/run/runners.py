"""Where hub groups run: in this process, or as Dask tasks on a cluster.

The pipeline hands a :class:`Runner` a function and the hub groups and gets
the results back in the same order. :class:`InProcess` calls the function on
each group in turn; :class:`DaskRunner` submits one task per group to a Dask
scheduler (``--scheduler tcp://host:8786``) or to a local cluster it starts
(``--workers N``). Dask re-runs the tasks of a worker that dies (up to the
scheduler's ``allowed-failures``) and :data:`TASK_RETRIES` times a task
that raises, so a lost worker costs only its tasks. Dask is imported only
here and only when a cluster is asked for (``pip install 'hexroute[dist]'``).
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from planner.errors import HexrouteError, InputError, first_line
from planner.settings import ClusterSettings

log = logging.getLogger("hexroute")

T = TypeVar("T")
R = TypeVar("R")

#: seconds to wait for a scheduler to answer before giving up (exit status 2)
CONNECT_TIMEOUT_S = 3.0
#: re-runs of a task that raised (a task whose worker died is re-run by the scheduler)
TASK_RETRIES = 2

#: one task at a time per worker process: Numba's default threading layer must not be
#: entered by two threads at once, and a task's kernels already use every core given to it
_TASK_LOCK = threading.Lock()


class SchedulerUnreachable(HexrouteError):
    """No Dask scheduler answers at the given address (exit status 2, before any work)."""

    exit_status = 2


class ClusterLost(HexrouteError):
    """The cluster had no live worker (or no scheduler) for longer than ``cluster.no_worker_timeout_s``
    while tasks waited: the run ends with nothing written (exit status 1)."""


#: seconds between looks at the cluster while tasks run (how soon a cluster without workers is noticed)
POLL_S = 1.0
#: schemes a scheduler address may use (``host:port`` after the scheme; none means tcp)
SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


class Runner(Protocol):
    """Maps a function over work items, returning results in item order."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]``, wherever it runs."""
        ...

    def describe(self) -> dict[str, Any]:
        """Where the work runs, for summary.json."""
        ...


class InProcess:
    """Runs every item here, one after another (the default)."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]``."""
        return [fn(x) for x in items]

    def describe(self) -> dict[str, Any]:
        """``{"mode": "in-process"}``."""
        return {"mode": "in-process"}


def _import_planner() -> None:
    import planner.run.groups  # noqa: F401


def run_serially(fn: Callable[[T], R], item: T) -> R:
    """Run ``fn(item)`` holding this process's task lock (what each Dask task does)."""
    with _TASK_LOCK:
        return fn(item)


class DaskRunner:
    """One Dask task per item on a connected ``distributed.Client``."""

    def __init__(self, client: Any, mode: str, cluster: Any = None,
                 no_worker_timeout_s: float = ClusterSettings.no_worker_timeout_s):
        self.client = client
        self.mode = mode
        self._cluster = cluster
        self.no_worker_timeout_s = float(no_worker_timeout_s)
        # Each worker imports the planner (Numba, SciPy, the kernels) while the client indexes and assigns.
        self._warm = [client.submit(_import_planner, pure=False, workers=[addr]) for addr in self.workers()]

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Submit every item as its own task and gather the results in item order."""
        run = uuid.uuid4().hex[:8]
        name = getattr(fn, "__name__", "task")
        futures = [self.client.submit(run_serially, fn, item, key=f"{name}-{run}-{i}", pure=False,
                                      retries=TASK_RETRIES) for i, item in enumerate(items)]
        log.info("submitted %d %s tasks to %s", len(futures), name, self.client.scheduler.address)
        self._warm = []  # dropped: an import under way finishes; one not yet started is left to the first task
        try:
            self._wait(futures)
            return self.client.gather(futures)
        except ClusterLost:
            raise
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":  # the same task took down worker after worker
                raise HexrouteError(f"Dask gave up on a {name} task: {first_line(exc)}") from exc
            if "CancelledError" in type(exc).__name__:  # the client lost its scheduler and cancelled every task
                raise ClusterLost(f"lost the Dask scheduler at {self.address} ({first_line(exc)}); nothing was "
                                  "written") from exc
            raise
        finally:
            with contextlib.suppress(Exception):  # a client that lost its scheduler cannot release
                for f in futures:
                    f.release()

    def _wait(self, futures: list[Any]) -> None:
        """Wait for every task; ClusterLost once the cluster has had no live worker (or its scheduler has not
        answered) for ``no_worker_timeout_s``: Dask itself would wait for a worker forever."""
        seen = time.monotonic()
        while True:
            pending = [f for f in futures if not f.done()]
            if not pending:
                return
            try:
                pending[0].result(timeout=POLL_S)  # back as soon as it is done
                continue
            except TimeoutError:
                pass
            except Exception:  # noqa: BLE001 - the task failed for good: gather reports it
                continue
            now = time.monotonic()
            if self._live_workers() > 0:
                seen = now
            elif now - seen > self.no_worker_timeout_s:
                raise ClusterLost(f"the Dask cluster at {self.address} has had no live worker for "
                                  f"{self.no_worker_timeout_s:g} s (cluster.no_worker_timeout_s); nothing was "
                                  "written")

    def _live_workers(self) -> int:
        """Workers the scheduler knows now; 0 when the scheduler does not answer."""
        if self.client.status in ("closing", "closed"):
            return 0
        try:
            return len(self.client.nthreads(callback_timeout=max(POLL_S, CONNECT_TIMEOUT_S)))
        except Exception:  # noqa: BLE001 - a lost scheduler counts as no worker
            return 0

    @property
    def address(self) -> str:
        """The scheduler's address, as the client knows it."""
        try:
            return str(self.client.scheduler.address)
        except Exception:  # noqa: BLE001 - a closed client
            return "?"

    def workers(self) -> dict[str, int]:
        """Worker address -> threads, as the scheduler sees them now (ClusterLost when it no longer answers)."""
        try:
            workers = self.client.scheduler_info()["workers"]
        except Exception as exc:  # noqa: BLE001 - a client without its scheduler has no worker table
            raise ClusterLost(f"lost the Dask scheduler at {self.address} ({type(exc).__name__}: "
                              f"{first_line(exc)}); nothing was written") from None
        return {addr: w["nthreads"] for addr, w in workers.items()}

    def describe(self) -> dict[str, Any]:
        """Scheduler address and workers at the time of the call."""
        workers = self.workers()
        return {"mode": self.mode, "scheduler": self.client.scheduler.address, "workers": len(workers),
                "threads": sum(workers.values())}

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this runner started one; quietly, and within a few seconds
        even when the scheduler or the workers are gone (the run's outcome is decided by then)."""
        with _quiet_dask():
            with contextlib.suppress(Exception):
                self.client.close(timeout=CONNECT_TIMEOUT_S)
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close(timeout=CONNECT_TIMEOUT_S)


def _import_distributed() -> Any:
    """The distributed package, its loggers no more talkative than hexroute's (Dask sets its own INFO level,
    which would let its lines through a ``--quiet`` run; with ``--quiet`` not even its errors, which the run's
    own line reports)."""
    try:
        import distributed
    except ImportError:
        raise InputError("a Dask cluster needs dask[distributed]: pip install 'hexroute[dist]'") from None
    # --quiet prints errors only, and the run's own line says what went wrong with the cluster. Dask's config
    # gives several of its loggers levels of their own (distributed.client: warning, ...): each is raised.
    wanted = logging.CRITICAL if log.getEffectiveLevel() >= logging.ERROR else log.getEffectiveLevel()
    for name in {"distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))}:
        dask_log = logging.getLogger(name)
        if dask_log.getEffectiveLevel() < wanted and (dask_log.level != logging.NOTSET or name == "distributed"):
            dask_log.setLevel(wanted)
    global _QUIET_AT_EXIT
    if not _QUIET_AT_EXIT:  # registered after Dask's own exit handlers, so it runs before them
        atexit.register(_mute_finalisers)
        _QUIET_AT_EXIT = True
    return distributed


_QUIET_AT_EXIT = False


def _mute_finalisers() -> None:
    """At exit, Dask closes what is left of a cluster that an interrupt cut short, and fails loudly if a worker
    was still starting: such complaints go to the debug log, not under the run's one line."""
    sys.unraisablehook = lambda unraisable: log.debug("ignored at exit: %r", unraisable.exc_value)


def check_address(address: str) -> str:
    """``address`` as a Dask scheduler address (``[scheme://]host:port``, tcp by default); InputError otherwise.

    Checked before a client exists: a client made on a malformed address fails and then, being collected,
    prints a traceback from its own clean-up.
    """
    text = address.strip()
    scheme, _, location = text.rpartition("://")
    scheme = scheme or "tcp"
    if scheme not in SCHEMES:
        raise InputError(f"bad Dask scheduler address {address!r}: the scheme must be one of "
                         f"{', '.join(SCHEMES)} (e.g. tcp://host:8786)")
    host, colon, port = location.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535 or any(c in host for c in "/[]@ "):
        raise InputError(f"bad Dask scheduler address {address!r}: expected {scheme}://HOST:PORT with a port "
                         "in 1..65535 (e.g. tcp://host:8786)")
    return f"{scheme}://{location}"


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S,
            no_worker_timeout_s: float = ClusterSettings.no_worker_timeout_s) -> DaskRunner:
    """A runner on the Dask scheduler at ``address``; :class:`SchedulerUnreachable` if none answers."""
    target = check_address(address)
    distributed = _import_distributed()
    with _quiet_dask():
        try:
            client = distributed.Client(target, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            why = f"no answer within {timeout_s:g} s" if "timed out" in str(exc).lower() else first_line(exc)
            raise SchedulerUnreachable(f"cannot reach Dask scheduler at {address} ({why})") from None
        except Exception as exc:  # noqa: BLE001 - a server that is not Dask's, TLS without its configuration, ...
            raise InputError(f"cannot use {address} as a Dask scheduler: {first_line(exc)}") from None
        finally:
            gc.collect()  # a client that failed half way is collected here, its clean-up's complaint muted
    return DaskRunner(client, "scheduler", no_worker_timeout_s=no_worker_timeout_s)


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Mute what Dask's objects print from their finalisers (``Exception ignored in ...``) while a client
    is made or closed; the run reports its outcome in one line of its own."""
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: log.debug("ignored while closing Dask: %s", unraisable.exc_value)
    try:
        yield
    finally:
        sys.unraisablehook = hook


def local_cluster(workers: int, threads: int | None = None,
                  no_worker_timeout_s: float = ClusterSettings.no_worker_timeout_s) -> DaskRunner:
    """A runner on a new local cluster of ``workers`` processes sharing this machine's cores.

    Each worker runs one task at a time; ``threads`` (default: cores / workers)
    is the number of Numba threads each task's kernels use.
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1, not {workers}")
    distributed = _import_distributed()
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    quiet = log.getEffectiveLevel() > logging.INFO
    env = {"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    if quiet:  # the worker processes log on their own stderr
        env["DASK_LOGGING__DISTRIBUTED"] = logging.getLevelName(log.getEffectiveLevel()).lower()
    # No dashboard; the scheduler's HTTP server (health, metrics) on a free port, not on 8787, which
    # another cluster may hold (Dask would warn on stderr, even in a --quiet run).
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                                       silence_logs=logging.ERROR, env=env)
    return DaskRunner(distributed.Client(cluster, set_as_default=False), "local", cluster,
                      no_worker_timeout_s=no_worker_timeout_s)


@contextmanager
def open_runner(scheduler: str | None = None, workers: int | None = None,
                no_worker_timeout_s: float = ClusterSettings.no_worker_timeout_s) -> Iterator[Runner]:
    """The runner the command line asks for: a scheduler, a local cluster, or in-process."""
    if scheduler is not None and workers is not None:
        raise InputError("give either --scheduler or --workers, not both")
    if scheduler is None and workers is None:
        yield InProcess()
        return
    runner = (connect(scheduler, no_worker_timeout_s=no_worker_timeout_s) if scheduler is not None
              else local_cluster(int(workers or 0), no_worker_timeout_s=no_worker_timeout_s))
    try:
        yield runner
    finally:
        runner.close()

