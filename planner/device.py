"""The one door from the planner to the kernels: NumPy in, NumPy out, on the resolved backend.

Every kernel call of the planner goes through a :class:`Compute`, so the
backend is chosen once (``--backend``) and every stage runs on it; this is
also the one place where a backend that cannot run becomes a one-line
:class:`BackendError` (exit status 2). On the CUDA backend data stays on the
device between a hub group's kernels: the group's node arrays are uploaded
once (:meth:`Compute.resident`) and the routes of the local search once
(:class:`LocalSearch`); only the results the host needs (route tables,
per-tour counts for the fleet bisection, schedules) come back. On the CPU
the same calls pass NumPy arrays straight through, without copies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels import api
from kernels.backend import Backend, BackendUnavailable, resolve
from planner.errors import InputError
from planner.model import Nodes
from planner.settings import DeviceSettings, SisrSettings


class BackendError(InputError):
    """The requested backend cannot run on this machine (exit status 2)."""


def open_backend(name: str) -> Backend:
    """Resolve ``auto`` / ``cpu`` / ``cuda``; a ``cuda`` that cannot run is a :class:`BackendError`."""
    try:
        return resolve(name)
    except BackendUnavailable as exc:
        raise BackendError(str(exc)) from None


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of a host or device array (CuPy ``.get()``, Numba ``.copy_to_host()``), counted as a transfer."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get") or hasattr(x, "copy_to_host"):
        return api.to_host(x)
    return np.asarray(x)


def nearest_in_groups(points: np.ndarray, k: int, group: np.ndarray | None = None) -> np.ndarray:
    """Each point's ``k`` nearest other points of its group, exact, nearest first, ties to the lower row
    (int32[n, k], -1 padded): on the host's cores on every backend (:func:`kernels.api.nearest_in_groups`)."""
    return api.nearest_in_groups(points, k, group)


@dataclass(frozen=True)
class KernelNodes:
    """A group's node arrays where the kernels read them (device arrays on CUDA, the NumPy arrays on the CPU)."""

    a: Any
    b: Any
    demand_kg: Any
    demand_n: Any
    service_s: Any
    speed_kmh: Any
    circuity: Any  # each node's circuity multiplier (planner.model.Nodes.circuity)

    def args(self) -> tuple[Any, ...]:
        """(a, b, demand_kg, demand_n, service_s, speed_kmh, circuity), the order of Nodes.kernel_args."""
        return self.a, self.b, self.demand_kg, self.demand_n, self.service_s, self.speed_kmh, self.circuity


@dataclass(frozen=True)
class Compute:
    """Kernel calls bound to a backend and a distance metric (``scale``: the run's circuity, or 1).

    Distances between nodes also take each node's circuity multiplier (:attr:`planner.model.Nodes.circuity`),
    read from the resident node arrays; distances between free points (:meth:`pair_distances`,
    :meth:`nearest_hubs`) use ``scale`` alone.
    """

    backend: Backend
    metric: int
    scale: float
    #: the one :class:`Nodes` kept on the device, and its device arrays (see :meth:`resident`)
    _held: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def open(cls, backend: str, metric: int, scale: float) -> "Compute":
        """A Compute on the backend named ``backend`` (see :func:`open_backend`)."""
        return cls(open_backend(backend), metric, scale)

    @property
    def name(self) -> str:
        """``cpu`` or ``cuda``."""
        return self.backend.name

    def put(self, x: Any, dtype: Any) -> Any:
        """``x`` where the kernels read it: uploaded on CUDA (unless already there), unchanged on the CPU."""
        return api.to_device(x, dtype, backend=self.name)

    def resident(self, nodes: Nodes) -> KernelNodes:
        """``nodes`` as the kernels take them, uploaded once.

        A Compute keeps the device copy of the last nodes it was given (a hub
        group's), so every kernel of the group reads the same device arrays.
        """
        if self._held.get("nodes") is not nodes:
            arrays = (self.put(x, np.float64) for x in nodes.kernel_args())
            self._held.clear()
            self._held.update(nodes=nodes, kernel=KernelNodes(*arrays))
        return self._held["kernel"]

    def warm_up(self) -> bool:
        """Compile (or load from the cache) every kernel, before any stage clock starts (see kernels.api.warm_up)."""
        return api.warm_up(backend=self.name)

    # ---------------------------------------------------------------- geometry

    def pair_distances(self, a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> np.ndarray:
        """Distance from point ``i`` of (a1, b1) to point ``i`` of (a2, b2)."""
        return to_numpy(api.pair_distances(a1, b1, a2, b2, self.metric, self.scale, backend=self.name))

    def node_distances(self, frm: np.ndarray, to: np.ndarray, nodes: Nodes) -> np.ndarray:
        """Distance from node ``frm[i]`` to node ``to[i]``, read from the resident coordinates."""
        kn = self.resident(nodes)
        return to_numpy(api.node_distances(self.put(frm, np.int32), self.put(to, np.int32), kn.a, kn.b, kn.circuity,
                                           self.metric, self.scale, backend=self.name))

    def nearest_hubs(self, qa: np.ndarray, qb: np.ndarray, ha: np.ndarray, hb: np.ndarray,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest hubs of each query point: (index, distance), -1 / inf padded."""
        idx, dist = api.nearest_hubs(qa, qb, ha, hb, k, self.metric, self.scale, backend=self.name)
        return to_numpy(idx), to_numpy(dist)

    def hilbert_keys(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hilbert keys of the points inside their own bounding box."""
        if a.size == 0:
            return np.zeros(0, dtype=np.int64)
        return to_numpy(api.hilbert_keys(a, b, float(a.min()), float(a.max()), float(b.min()), float(b.max()),
                                         backend=self.name))

    def embed(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Points where Euclidean distance ranks the metric, for k-d trees on the host: unit vectors for
        great circle (float64[n, 3]), the coordinates themselves for planar metrics (float64[n, 2])."""
        from kernels import GREAT_CIRCLE

        if self.metric == GREAT_CIRCLE:
            return api.unit_vectors(a, b, backend="cpu")
        return np.column_stack([a, b]).astype(np.float64)

    # ---------------------------------------------------------------- routing

    def split_tours(self, tour_ptr, tour_nodes, tour_depot, nodes, cap_kg, cap_n, max_duration_s, max_routes):
        """Optimal cut of each giant tour into feasible routes: (route_start, tour_cost)."""
        kn = self.resident(nodes)
        start, cost = api.split_tours(tour_ptr, tour_nodes, tour_depot, kn.a, kn.b, kn.circuity, kn.demand_kg,
                                      kn.demand_n, kn.service_s, kn.speed_kmh, cap_kg, cap_n, max_duration_s,
                                      max_routes, self.metric, self.scale, backend=self.name)
        return to_numpy(start), to_numpy(cost)

    def next_fit_tours(self, tour_ptr, tour_nodes, tour_depot, nodes, cap_kg, cap_n,
                       max_duration_s) -> tuple[np.ndarray, np.ndarray]:
        """The next-fit cut of each giant tour: (route_start, tour_cost)."""
        kn = self.resident(nodes)
        start, cost = api.next_fit_tours(tour_ptr, tour_nodes, tour_depot, kn.a, kn.b, kn.circuity, kn.demand_kg,
                                         kn.demand_n, kn.service_s, kn.speed_kmh, cap_kg, cap_n, max_duration_s,
                                         self.metric, self.scale, backend=self.name)
        return to_numpy(start), to_numpy(cost)

    def savings_pairs(self, stop_hub, neighbours, d0, dist, n_hubs) -> tuple[np.ndarray, ...]:
        """Clarke-Wright's pairs, per hub by decreasing saving: (pair_ptr, pair_i, pair_j, pair_d, saving)."""
        return api.savings_pairs(stop_hub, neighbours, d0, dist, n_hubs)

    def savings_tours(self, hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, nodes, cap_kg, cap_n,
                      max_duration_s, max_routes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Clarke-Wright routes of each hub as tours with route starts, and their distances."""
        kn = self.resident(nodes)
        out = api.savings_tours(hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d, kn.a, kn.b,
                                kn.circuity, kn.demand_kg, kn.demand_n, kn.service_s, kn.speed_kmh, cap_kg, cap_n,
                                max_duration_s, max_routes, self.metric, self.scale, backend=self.name)
        return to_numpy(out[0]), to_numpy(out[1]), to_numpy(out[2])

    def route_counts(self, tour_ptr, tour_nodes, tour_depot, nodes, cap_kg, cap_n, max_duration_s) -> np.ndarray:
        """Routes a next-fit cut of each tour needs (-1 when a stop fits no route)."""
        kn = self.resident(nodes)
        return to_numpy(api.route_counts(tour_ptr, tour_nodes, tour_depot, kn.a, kn.b, kn.circuity, kn.demand_kg,
                                          kn.demand_n, kn.service_s, kn.speed_kmh, cap_kg, cap_n, max_duration_s,
                                          self.metric, self.scale, backend=self.name))

    def candidate_arcs(self, free: np.ndarray, cell_of: np.ndarray, cell_hub: np.ndarray, lat: np.ndarray,
                       lon: np.ndarray, hub_lat: np.ndarray, hub_lon: np.ndarray,
                       max_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each stop's arcs to its cell's candidate hubs within ``max_km``, nearest first (kernels.cpu.assign)."""
        return api.candidate_arcs(free, cell_of, cell_hub, lat, lon, hub_lat, hub_lon, self.metric, self.scale,
                                  max_km)

    def fill_arcs(self, arc_stop: np.ndarray, arc_hub: np.ndarray, arc_share: np.ndarray, share: np.ndarray,
                  stop_n: np.ndarray, stop_kg: np.ndarray, rem_n: np.ndarray, rem_kg: np.ndarray,
                  stop_hub: np.ndarray) -> None:
        """The assignment's sequential rounding, in place, on the host (kernels.cpu.assign)."""
        api.fill_arcs(arc_stop, arc_hub, arc_share, share, stop_n, stop_kg, rem_n, rem_kg, stop_hub)

    def resequence_routes(self, route_ptr: np.ndarray, mat_ptr: np.ndarray, km: np.ndarray, sec: np.ndarray,
                          limit_s: np.ndarray, max_passes: int) -> tuple[np.ndarray, np.ndarray]:
        """Finished routes reordered on their road matrices (host cores on every backend)."""
        return api.resequence_routes(route_ptr, mat_ptr, km, sec, limit_s, max_passes)

    def local_search(self, routes, route_len, route_depot, route_group, neighbours, nodes, cap_kg, cap_n,
                     max_duration_s) -> "LocalSearch":
        """The routes handed to the local-search kernels (see :class:`LocalSearch`)."""
        return LocalSearch(self, routes, route_len, route_depot, route_group, neighbours, nodes, cap_kg, cap_n,
                           max_duration_s)

    def sisr(self, node: np.ndarray, neighbours: np.ndarray, flat: np.ndarray, ptr: np.ndarray,
             limits: tuple[float, float, float, float], settings: SisrSettings, seed: int, iterations: int | None,
             seconds: float, clock_stops: bool) -> tuple[np.ndarray, np.ndarray, float, int]:
        """SISR on one depot's routes, on the host's cores: (flat, ptr, cost, iterations)."""
        params = api.sisr_params(**dataclasses.asdict(settings))
        return api.sisr_search(node, neighbours, flat, ptr, limits, self.metric, self.scale, params, seed,
                               iterations, seconds, clock_stops, backend=self.name)

    # ---------------------------------------------------------------- the device itself

    def group_stops(self, group_stops: int, neighbours: int, settings: DeviceSettings) -> int:
        """``group_stops`` capped so that one hub group's arrays fit this device's free memory."""
        free = api.memory_info(backend=self.name)
        return api.fit_group_stops(group_stops, None if free is None else free[0], neighbours,
                                   settings.reserved_mib * 2**20, settings.memory_share)

    def transfers(self) -> dict[str, int]:
        """Host <-> device copies so far in this process (zeros on the CPU)."""
        return api.transfers(backend=self.name)

    def memory_pool(self) -> dict[str, int] | None:
        """CuPy's memory-pool figures (None without CuPy)."""
        return api.memory_pool(backend=self.name)


class LocalSearch:
    """Padded routes improved in place by repeated intra- and inter-route kernel calls.

    On CUDA the routes and their per-route arrays are uploaded once and stay on
    the device through every call; the host reads back only what steers the
    search (route lengths, the rows a call changed) and, at the end, the
    routes. On the CPU the arrays given are the ones improved.
    """

    def __init__(self, compute: Compute, routes, route_len, route_depot, route_group, neighbours, nodes: Nodes,
                 cap_kg, cap_n, max_duration_s):
        put = compute.put
        self._compute = compute
        self._nodes = compute.resident(nodes)
        self.routes = put(routes, np.int32)
        self.route_len = put(route_len, np.int32)
        self._depot, self._group, self._neighbours = (put(x, np.int32) for x in (route_depot, route_group, neighbours))
        self._cap_kg, self._cap_n, self._max_s = (put(x, np.float64) for x in (cap_kg, cap_n, max_duration_s))

    def intra(self, rows: np.ndarray, max_passes: int, granular_k: int, confirm: bool) -> None:
        """2-opt and Or-opt inside the routes ``rows``."""
        c, kn = self._compute, self._nodes
        api.improve_intra(self.routes, self.route_len, self._depot, kn.a, kn.b, kn.circuity, kn.service_s,
                          kn.speed_kmh, self._max_s, c.metric, c.scale, max_passes, granular_k, confirm=confirm,
                          rows=c.put(rows, np.int32), backend=c.name)

    def inter(self, max_rounds: int) -> tuple[int, np.ndarray]:
        """Relocate / swap / 2-opt* between routes of a group: (moves applied, bool[R] rows changed)."""
        c = self._compute
        before = api.copy(self.routes, backend=c.name)
        kn = self._nodes
        applied = api.improve_inter(self.routes, self.route_len, self._depot, self._group, self._neighbours, kn.a, kn.b,
                                    kn.circuity, kn.demand_kg, kn.demand_n, kn.service_s, kn.speed_kmh, self._cap_kg,
                                    self._cap_n, self._max_s, c.metric, c.scale, max_rounds, backend=c.name)
        return int(applied), to_numpy(api.rows_differ(self.routes, before, backend=c.name))

    def lengths(self) -> np.ndarray:
        """Stops on each route now (on the host)."""
        return to_numpy(self.route_len)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(routes, route_len) on the host."""
        return to_numpy(self.routes), self.lengths()
