"""HTTP client for a running ``osrm-routed`` (the user's own server): tiled, bounded, retried, one-line errors.

Stdlib only. Each worker thread keeps one keep-alive connection; requests are
cut so that none exceeds the server's limits (``--max-table-size`` caps
sources x targets at its square; the URL must fit the server's header
limit), and transient failures (connection lost, timeout, HTTP 5xx) are
retried with exponential backoff before the run ends with a
:class:`RoadEngineError`.
"""
from __future__ import annotations

import gzip
import http.client
import json
import math
import socket
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from planner.roads.engine import (
    MAX_BLOCK_ENTRIES,
    Block,
    Counters,
    Legs,
    RoadEngine,
    RoadEngineError,
    Snapped,
    as_points,
)
from planner.settings import RoadSettings

#: URL bytes of one location, worst case: "-179.123456,-89.123456;" and its index "12345;"
_COORD_BYTES = 24
_INDEX_BYTES = 6
#: room for the path prefix and the query string besides the locations
_URL_OVERHEAD = 320
#: longest single pause between retries
_MAX_BACKOFF_S = 5.0


class _Refused(Exception):
    """The server answered but refused the request (not retried)."""


def _reason(exc: BaseException, timeout: float) -> str:
    """A few words on why a request got no answer."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                        http.client.IncompleteRead, ConnectionAbortedError)):
        return "connection closed by the server"
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc) or type(exc).__name__).lower()
    return f"bad HTTP answer ({type(exc).__name__})"


def _coords(lat: np.ndarray, lon: np.ndarray) -> str:
    return ";".join(f"{x:.6f},{y:.6f}" for x, y in zip(lon.tolist(), lat.tolist(), strict=True))


def _values(rows: Any, shape: tuple[int, int], scale: float) -> np.ndarray:
    """An OSRM matrix (lists with ``null`` for unreachable) as float64 with ``inf``."""
    out = np.array(rows, dtype=np.float64)  # null -> nan
    if out.shape != shape:
        raise _Refused(f"a table of shape {out.shape} for {shape[0]} x {shape[1]}")
    out[np.isnan(out)] = math.inf
    return out * scale


@lru_cache(maxsize=4096)
def best_tile(n_src: int, n_dst: int, max_pairs: int, max_locations: int) -> tuple[int, int]:
    """Sources and targets per request that cover an ``n_src x n_dst`` block in the fewest requests."""
    if n_src * n_dst <= max_pairs and n_src + n_dst <= max_locations:
        return n_src, n_dst
    best: tuple[int, int, int] | None = None
    for s in range(1, min(n_src, max_locations - 1) + 1):
        t = min(n_dst, max_pairs // s, max_locations - s)
        if t < 1:
            break
        count = -(-n_src // s) * -(-n_dst // t)
        key = (count, -s * t, s)
        if best is None or key < best:
            best = key
    assert best is not None
    return best[2], min(n_dst, max_pairs // best[2], max_locations - best[2])


class OsrmEngine(RoadEngine):
    """Road figures from ``osrm-routed``'s ``table``, ``route`` and ``nearest`` services."""

    name = "osrm"

    def __init__(self, settings: RoadSettings) -> None:
        self.settings = settings
        parts = urlsplit(settings.url)
        self.url = settings.url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._counters = Counters()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: set[http.client.HTTPConnection] = set()
        self._pool: ThreadPoolExecutor | None = None
        room = settings.max_url_bytes - _URL_OVERHEAD - len(self._prefix) - len(settings.profile)
        #: locations one table request may name (coordinates plus a source or target index each)
        self.table_locations = max(2, room // (_COORD_BYTES + _INDEX_BYTES))
        #: waypoints one route request may name
        self.route_locations = max(2, min(settings.max_route_size, room // _COORD_BYTES))
        #: points one snapping request may name
        self.snap_locations = max(1, min(settings.max_table_size ** 2, room // _COORD_BYTES))

    # -- transport ---------------------------------------------------------------------------------------------

    def _prefix_msg(self) -> str:
        return f"road engine {self.name} at {self.url}: "

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection and whether it was used before (a reused one may have been closed)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "timeout", None) == timeout:
            return conn, True
        if conn is not None:
            conn.close()
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=timeout)
        self._local.conn, self._local.timeout = conn, timeout
        with self._lock:
            self._connections.add(conn)
        return conn, False

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            with self._lock:
                self._connections.discard(conn)
        self._local.conn = None

    def _once(self, path: str, timeout: float) -> tuple[int, bytes, int, int]:
        """One GET: status, body, bytes sent and received. A closed keep-alive connection is reopened once."""
        headers = {"Accept-Encoding": "gzip", "User-Agent": "hexroute"}
        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop_connection()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                self._drop_connection()
                raise
            if resp.getheader("Connection", "").lower() == "close":
                self._drop_connection()
            try:
                body = gzip.decompress(raw) if resp.getheader("Content-Encoding", "") == "gzip" else raw
            except (OSError, EOFError, zlib.error) as exc:
                raise http.client.HTTPException("corrupt gzip body") from exc
            return resp.status, body, len(path) + 80, len(raw) + 200
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, service: str, coords: str, query: str, *, accept: tuple[str, ...] = (),
             timeout: float | None = None, retries: int | None = None, entries: int = 0) -> dict[str, Any]:
        """The JSON answer of one request, retried while the failure is transient."""
        timeout = self.settings.timeout_s if timeout is None else timeout
        retries = self.settings.retries if retries is None else retries
        path = f"{self._prefix}/{service}/v1/{self.settings.profile}/{coords}?{query}"
        if len(path) > self.settings.max_url_bytes:  # pragma: no cover - the tiling keeps below it
            raise RuntimeError(f"{service} request of {len(path)} bytes exceeds roads.max_url_bytes")
        reason, state = "", "unreachable"
        for attempt in range(retries + 1):
            if attempt:
                self._counters.retry()
                time.sleep(min(_MAX_BACKOFF_S, self.settings.backoff_s * 2 ** (attempt - 1)))
            start = time.perf_counter()
            try:
                status, body, sent, received = self._once(path, timeout)
            except (OSError, http.client.HTTPException) as exc:
                reason, state = _reason(exc, timeout), "unreachable"
                continue
            seconds = time.perf_counter() - start
            if status >= 500 or status == 429:
                reason, state = f"HTTP {status}", "failing"
                continue
            try:
                answer = json.loads(body)
                code = answer["code"]
            except (ValueError, KeyError, TypeError):
                raise RoadEngineError(f"{self._prefix_msg()}answered HTTP {status} to a {service} request, "
                                      f"not OSRM JSON (is it an osrm-routed?)") from None
            self._counters.request(service, seconds, sent, received, entries if code == "Ok" else 0)
            if code == "Ok" or code in accept:
                return answer
            message = str(answer.get("message", "")).strip()
            raise RoadEngineError(f"{self._prefix_msg()}{service} request refused: {code}"
                                  + (f" ({message})" if message else ""))
        tried = f"; {service} request tried {retries + 1} times" if retries else ""
        raise RoadEngineError(f"{self._prefix_msg()}{state} ({reason}{tried})")

    def _run(self, jobs: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run jobs at most ``concurrency`` at a time; the first failure cancels the rest and is raised."""
        if len(jobs) <= 1 or self.settings.concurrency == 1:
            return [job() for job in jobs]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="osrm")
            pool = self._pool
        futures: list[Future[Any]] = [pool.submit(job) for job in jobs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                for other in pending:
                    other.cancel()
                wait(pending)
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]

    # -- services ----------------------------------------------------------------------------------------------

    def check(self) -> None:
        """One ``nearest`` request with a short timeout and no retry: any OSRM answer means it is up."""
        with self._counters.call():
            self._get("nearest", "0.000000,0.000000", "number=1&generate_hints=false",
                      accept=("NoSegment",), timeout=self.settings.check_timeout_s, retries=0)

    @property
    def request_capacity(self) -> tuple[int, int]:
        """``(pairs, locations)`` of one table request."""
        return self.settings.max_table_size ** 2, self.table_locations

    def _table_tile(self, s_lat: np.ndarray, s_lon: np.ndarray, d_lat: np.ndarray, d_lon: np.ndarray) -> Legs:
        s, t = s_lat.size, d_lat.size
        coords = _coords(np.concatenate([s_lat, d_lat]), np.concatenate([s_lon, d_lon]))
        query = (f"sources={';'.join(map(str, range(s)))}&destinations={';'.join(map(str, range(s, s + t)))}"
                 "&annotations=distance,duration&skip_waypoints=true")
        answer = self._get("table", coords, query, entries=s * t)
        try:
            return _values(answer["distances"], (s, t), 1e-3), _values(answer["durations"], (s, t), 1.0)
        except (KeyError, TypeError, _Refused) as exc:
            raise RoadEngineError(f"{self._prefix_msg()}table answer without distances and durations "
                                  f"({exc or 'missing'})") from None

    def tables(self, blocks: Sequence[Block]) -> list[Legs]:
        """Each block's ``(km[S, T], seconds[S, T])``; every tile of every block runs in one bounded pool."""
        with self._counters.call():
            prepared, jobs, spots = [], [], []
            pairs, locations = self.request_capacity
            for b, (sla, slo, dla, dlo) in enumerate(blocks):
                sla, slo = as_points(sla, slo, "table sources")
                dla, dlo = as_points(dla, dlo, "table targets")
                n_s, n_d = sla.size, dla.size
                if n_s * n_d > MAX_BLOCK_ENTRIES:
                    raise ValueError(f"table block of {n_s} x {n_d} exceeds {MAX_BLOCK_ENTRIES} entries: "
                                     "ask for the pairs the search needs, not a full matrix")
                prepared.append((np.full((n_s, n_d), math.inf), np.full((n_s, n_d), math.inf)))
                if n_s == 0 or n_d == 0:
                    continue
                s, t = best_tile(n_s, n_d, pairs, locations)
                for i in range(0, n_s, s):
                    for j in range(0, n_d, t):
                        si, sj = slice(i, i + s), slice(j, j + t)
                        jobs.append(lambda a=sla[si], o=slo[si], c=dla[sj], d=dlo[sj]: self._table_tile(a, o, c, d))
                        spots.append((b, si, sj))
            for (b, si, sj), (km, sec) in zip(spots, self._run(jobs), strict=True):
                prepared[b][0][si, sj] = km
                prepared[b][1][si, sj] = sec
            return prepared

    def _route(self, lat: np.ndarray, lon: np.ndarray, geometry: bool) -> Any:
        """One window's legs (or geometry); a window with no route is split until the unroutable leg is alone."""
        query = ("overview=full&geometries=geojson&steps=false&generate_hints=false" if geometry
                 else "overview=false&steps=false&generate_hints=false&skip_waypoints=true")
        query += f"&continue_straight={'false' if self.settings.uturn_at_stops else 'true'}"
        answer = self._get("route", _coords(lat, lon), query, accept=("NoRoute",))
        if answer["code"] == "NoRoute":
            if lat.size == 2:
                if geometry:
                    return np.column_stack([lat, lon])
                return np.array([math.inf]), np.array([math.inf])
            mid = lat.size // 2
            a = self._route(lat[:mid + 1], lon[:mid + 1], geometry)
            b = self._route(lat[mid:], lon[mid:], geometry)
            if geometry:
                return np.concatenate([a, b[1:]])
            return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
        try:
            route = answer["routes"][0]
            if geometry:
                xy = np.asarray(route["geometry"]["coordinates"], dtype=np.float64).reshape(-1, 2)
                return xy[:, ::-1].copy()
            legs = route["legs"]
            km = np.array([leg["distance"] for leg in legs], dtype=np.float64) * 1e-3
            sec = np.array([leg["duration"] for leg in legs], dtype=np.float64)
        except (KeyError, IndexError, TypeError) as exc:
            raise RoadEngineError(f"{self._prefix_msg()}route answer without routes ({exc})") from None
        if km.size != lat.size - 1:
            raise RoadEngineError(f"{self._prefix_msg()}route answer with {km.size} legs for {lat.size} waypoints")
        return km, sec

    def _windows(self, n: int) -> list[slice]:
        """Overlapping windows (sharing one waypoint) of at most ``route_locations`` waypoints."""
        w = self.route_locations
        return [slice(start, min(start + w, n)) for start in range(0, max(n - 1, 0), w - 1)]

    def legs_many(self, sequences: Sequence[tuple[Any, Any]]) -> list[Legs]:
        """Each sequence's leg km and seconds from OSRM's ``route`` service (the figures a driver's route has).

        With ``uturn_at_stops`` (the default) each leg is the fastest path on
        its own and equals ``table``'s figure for the pair; without it the car
        profile leaves each stop in the direction it came, a few per cent longer,
        and a sequence longer than ``route_locations`` loses that constraint
        where its windows meet.
        """
        with self._counters.call():
            points = [as_points(la, lo, "route legs") for la, lo in sequences]
            jobs, owners = [], []
            for s, (la, lo) in enumerate(points):
                for w in self._windows(la.size):
                    jobs.append(lambda a=la[w], o=lo[w]: self._route(a, o, False))
                    owners.append(s)
            parts: list[list[Legs]] = [[] for _ in points]
            for s, part in zip(owners, self._run(jobs), strict=True):
                parts[s].append(part)
            return [(np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps])) if ps
                    else (np.zeros(0), np.zeros(0)) for ps in parts]

    def route_geometry(self, lat: Any, lon: Any) -> np.ndarray:
        """``[m, 2]`` (lat, lon) of the road polyline through the points; an unroutable leg is a straight line."""
        with self._counters.call():
            la, lo = as_points(lat, lon, "route geometry")
            if la.size < 2:
                return np.column_stack([la, lo])
            jobs = [lambda a=la[w], o=lo[w]: self._route(a, o, True) for w in self._windows(la.size)]
            pieces = self._run(jobs)
            return np.concatenate([pieces[0]] + [p[1:] for p in pieces[1:]])

    def _snap_chunk(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # An n x 1 table returns every source's snapped waypoint: one request for many points on any OSRM 5.x+
        # (a table needs two coordinates, so a lone point goes twice).
        n = lat.size
        if n == 1:
            lat, lon = np.repeat(lat, 2), np.repeat(lon, 2)
        answer = self._get("table", _coords(lat, lon), "destinations=0&generate_hints=false", entries=lat.size)
        try:
            way = answer["sources"]
            loc = np.array([w["location"] for w in way], dtype=np.float64).reshape(-1, 2)
            dist = np.array([w["distance"] for w in way], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise RoadEngineError(f"{self._prefix_msg()}table answer without waypoints ({exc})") from None
        if dist.size != lat.size:
            raise RoadEngineError(f"{self._prefix_msg()}table answer with {dist.size} waypoints for {lat.size}")
        return loc[:n, 1].copy(), loc[:n, 0].copy(), dist[:n]

    def snap(self, lat: Any, lon: Any) -> Snapped:
        """Each point on the nearest road segment the profile routes on, and the metres it moved."""
        with self._counters.call():
            la, lo = as_points(lat, lon, "snap")
            step = self.snap_locations
            chunks = [slice(i, i + step) for i in range(0, la.size, step)]
            parts = self._run([lambda c=c: self._snap_chunk(la[c], lo[c]) for c in chunks])
            if not parts:
                empty = np.zeros(0)
                return Snapped(empty, empty.copy(), empty.copy())
            return Snapped(*(np.concatenate([p[i] for p in parts]) for i in range(3)))

    def counters(self) -> dict[str, Any]:
        """Engine, URL, profile and the request counters."""
        return {"engine": self.name, "url": self.url, "profile": self.settings.profile, **self._counters.as_dict()}

    def close(self) -> None:
        """Stop the worker threads and close every connection."""
        with self._lock:
            pool, self._pool = self._pool, None
            conns, self._connections = self._connections, set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for conn in conns:
            conn.close()


def make_engine(settings: RoadSettings) -> RoadEngine | None:
    """The configured engine, or ``None`` for ``engine = "none"``."""
    if settings.engine == "osrm":
        return OsrmEngine(settings)
    return None
