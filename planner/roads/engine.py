"""The one interface between the planner and a road network: blocks of road km and seconds, never a full matrix.

A caller asks for the pairs its search looks at (each stop's neighbours,
the hub legs, the legs of final routes); the engine answers blocks of
source x target figures in the direction driven (row = from, column = to),
so memory stays linear in the stops. "No road engine" is simply ``None``.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.errors import InputError

#: most entries one ``table`` call may return: a guard against a caller building an n x n matrix by mistake
MAX_BLOCK_ENTRIES = 1 << 22

Block = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Legs = tuple[np.ndarray, np.ndarray]

if TYPE_CHECKING:
    from typing_extensions import Self


class RoadEngineError(InputError):
    """The road engine cannot be reached or refuses a request: one line, exit status 2."""


@dataclass(frozen=True)
class Snapped:
    """Points moved onto the nearest road the engine routes on, and how far they moved."""

    lat: np.ndarray
    lon: np.ndarray
    #: metres from the given point to its snapped point; a big value means "no road near here"
    snap_m: np.ndarray


class Counters:
    """Requests, seconds and bytes spent on the engine, thread-safe, for summary.json.

    ``seconds`` adds up each answered request's time (overlapping requests
    count each), ``wall_s`` the time callers waited; bytes are the request
    line and body sizes plus an estimate of the headers.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_service: dict[str, int] = {}
        self.requests = 0
        self.retries = 0
        self.seconds = 0.0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.table_entries = 0
        self.calls = 0
        self.call_seconds = 0.0

    def request(self, service: str, seconds: float, sent: int, received: int, entries: int = 0) -> None:
        """Record one answered request."""
        with self._lock:
            self.requests += 1
            self._by_service[service] = self._by_service.get(service, 0) + 1
            self.seconds += seconds
            self.bytes_sent += sent
            self.bytes_received += received
            self.table_entries += entries

    def retry(self) -> None:
        """Record one retried request."""
        with self._lock:
            self.retries += 1

    @contextmanager
    def call(self) -> Iterator[None]:
        """Time one public call (its requests may overlap, so this is the wall time the caller waited)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.calls += 1
                self.call_seconds += time.perf_counter() - start

    def as_dict(self) -> dict[str, Any]:
        """Plain dict: ``seconds`` adds up every request's time, ``wall_s`` the time callers waited."""
        with self._lock:
            return {"requests": self.requests, "requests_by_service": dict(sorted(self._by_service.items())),
                    "retries": self.retries, "seconds": round(self.seconds, 6),
                    "wall_s": round(self.call_seconds, 6), "calls": self.calls,
                    "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
                    "table_entries": self.table_entries}


def as_points(lat: Any, lon: Any, what: str = "points") -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 coordinate arrays of one shape (a caller's bug is a ValueError, not an InputError)."""
    la = np.ascontiguousarray(lat, dtype=np.float64).reshape(-1)
    lo = np.ascontiguousarray(lon, dtype=np.float64).reshape(-1)
    if la.shape != lo.shape:
        raise ValueError(f"{what}: {la.size} latitudes but {lo.size} longitudes")
    if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lo))):
        raise ValueError(f"{what}: coordinates must be finite")
    if np.any(np.abs(la) > 90.0) or np.any(np.abs(lo) > 180.0):
        raise ValueError(f"{what}: coordinates out of range")
    return la, lo


class RoadEngine(ABC):
    """Road km and seconds between points, in the direction driven; unreachable pairs are ``inf``."""

    #: short engine name for messages and summary.json (``osrm``)
    name: str = "road"
    #: where the engine is, without credentials
    url: str = ""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`RoadEngineError` within a few seconds unless the engine answers."""

    @abstractmethod
    def tables(self, blocks: Sequence[Block]) -> list[Legs]:
        """For each block ``(src_lat, src_lon, dst_lat, dst_lon)``: ``(km[S, T], seconds[S, T])``.

        Every block's requests run together, so many small blocks cost about
        what one big block does.
        """

    def table(self, src_lat: Any, src_lon: Any, dst_lat: Any, dst_lon: Any) -> Legs:
        """Road ``km[S, T]`` and ``seconds[S, T]`` from each source (row) to each target (column)."""
        return self.tables([(src_lat, src_lon, dst_lat, dst_lon)])[0]

    @abstractmethod
    def legs_many(self, sequences: Sequence[tuple[Any, Any]]) -> list[Legs]:
        """For each point sequence ``(lat, lon)``: ``(km[n-1], seconds[n-1])`` of each consecutive leg as driven."""

    def legs(self, lat: Any, lon: Any) -> Legs:
        """Road ``km`` and ``seconds`` of each leg ``i -> i+1`` of one sequence driven in order."""
        return self.legs_many([(lat, lon)])[0]

    @abstractmethod
    def snap(self, lat: Any, lon: Any) -> Snapped:
        """Each point moved onto the nearest routable road, with the distance it moved."""

    @abstractmethod
    def route_geometry(self, lat: Any, lon: Any) -> np.ndarray:
        """``[m, 2]`` (lat, lon) of the road polyline driven through the points in order, for maps."""

    @property
    @abstractmethod
    def request_capacity(self) -> tuple[int, int]:
        """``(pairs, locations)`` one table request can hold, so callers can cut blocks that need one request each."""

    @abstractmethod
    def counters(self) -> dict[str, Any]:
        """Requests, seconds and bytes so far, with the engine's name and URL, for summary.json."""

    def close(self) -> None:  # noqa: B027 - optional: an engine without connections has nothing to release
        """Release connections and threads."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
