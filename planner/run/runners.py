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

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from planner.errors import HexrouteError, InputError, first_line

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

    def __init__(self, client: Any, mode: str, cluster: Any = None):
        self.client = client
        self.mode = mode
        self._cluster = cluster
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
            return self.client.gather(futures)
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":  # the same task took down worker after worker
                raise HexrouteError(f"Dask gave up on a {name} task: {first_line(exc)}") from exc
            raise
        finally:
            for f in futures:
                f.release()

    def workers(self) -> dict[str, int]:
        """Worker address -> threads, as the scheduler sees them now."""
        return {addr: w["nthreads"] for addr, w in self.client.scheduler_info()["workers"].items()}

    def describe(self) -> dict[str, Any]:
        """Scheduler address and workers at the time of the call."""
        workers = self.workers()
        return {"mode": self.mode, "scheduler": self.client.scheduler.address, "workers": len(workers),
                "threads": sum(workers.values())}

    def close(self) -> None:
        """Disconnect, and stop the local cluster if this runner started one."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError("a Dask cluster needs dask[distributed]: pip install 'hexroute[dist]'") from None
    return distributed


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> DaskRunner:
    """A runner on the Dask scheduler at ``address``; :class:`SchedulerUnreachable` if none answers."""
    distributed = _import_distributed()
    try:
        client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        why = f"no answer within {timeout_s:g} s" if "timed out" in str(exc).lower() else first_line(exc)
        raise SchedulerUnreachable(f"cannot reach Dask scheduler at {address} ({why})") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad Dask scheduler address {address!r}: {first_line(exc)}") from None
    return DaskRunner(client, "scheduler")


def local_cluster(workers: int, threads: int | None = None) -> DaskRunner:
    """A runner on a new local cluster of ``workers`` processes sharing this machine's cores.

    Each worker runs one task at a time; ``threads`` (default: cores / workers)
    is the number of Numba threads each task's kernels use.
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1, not {workers}")
    distributed = _import_distributed()
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR,
                                       env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)})
    return DaskRunner(distributed.Client(cluster, set_as_default=False), "local", cluster)


@contextmanager
def open_runner(scheduler: str | None = None, workers: int | None = None) -> Iterator[Runner]:
    """The runner the command line asks for: a scheduler, a local cluster, or in-process."""
    if scheduler is not None and workers is not None:
        raise InputError("give either --scheduler or --workers, not both")
    if scheduler is None and workers is None:
        yield InProcess()
        return
    runner = connect(scheduler) if scheduler is not None else local_cluster(int(workers or 0))
    try:
        yield runner
    finally:
        runner.close()

