"""Backend-dispatching entry points of the kernels, in the style of h3-py.

Each function takes the kernel's arguments plus ``backend="cpu"|"cuda"`` and
forwards to ``kernels.cpu.<family>`` or ``kernels.cuda.<family>``. The CUDA
modules are imported only when asked for, and asking for ``cuda`` on a
machine without a device (or CuPy) raises
:class:`kernels.backend.BackendUnavailable` instead of falling back.
The CPU returns NumPy arrays; CUDA returns device arrays (CuPy, or Numba's
under the simulator): use :func:`to_host` to copy them back. :func:`to_device`,
:func:`copy` and :func:`rows_differ` let a caller keep arrays on the device
between kernels; on the CPU they are NumPy's own (``to_device`` passes through).
"""
from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from kernels._scalar import GREAT_CIRCLE
from kernels.backend import resolve

__all__ = ["candidate_arcs", "copy", "fill_arcs", "fit_group_stops", "hilbert_keys", "improve_inter", "improve_intra",
           "memory_info", "memory_pool", "nearest_hubs", "nearest_in_groups", "next_fit_tours", "node_distances",
           "pair_distances", "resequence_routes", "route_counts", "route_lengths", "rows_differ", "savings_pairs",
           "savings_tours", "sisr_params", "sisr_search", "split_tours", "to_device", "to_host", "transfers",
           "unit_vectors", "warm_up"]


@cache
def _module(family: str, backend: str) -> ModuleType:
    """The kernel module for ``family`` on ``backend``, checking once that CUDA is usable."""
    if backend not in ("cpu", "cuda"):
        raise ValueError(f"backend must be 'cpu' or 'cuda', not {backend!r}")
    if backend == "cuda":
        resolve("cuda")  # raises BackendUnavailable naming what is missing
    return importlib.import_module(f"kernels.{backend}.{family}")


def pair_distances(a1: Any, b1: Any, a2: Any, b2: Any, metric: int = GREAT_CIRCLE, scale: float = 1.0,
                   *, backend: str = "cpu") -> Any:
    """Elementwise distance between point ``i`` of (a1, b1) and point ``i`` of (a2, b2): float64[n]."""
    return _module("distance", backend).pair_distances(a1, b1, a2, b2, metric, scale)


def node_distances(frm: Any, to: Any, a: Any, b: Any, circuity: Any, metric: int = GREAT_CIRCLE,
                   scale: float = 1.0, *, backend: str = "cpu") -> Any:
    """Distance between node ``frm[i]`` and node ``to[i]`` of (a, b): float64[n], node arrays read where they lie.

    ``circuity`` is each node's circuity multiplier (relative to ``scale``; 1.0 everywhere keeps the run-wide
    figure bit for bit): a leg is ``scale`` x the metric x the mean of its two ends' multipliers.
    """
    return _module("distance", backend).node_distances(frm, to, a, b, circuity, metric, scale)


def unit_vectors(lat: Any, lon: Any, *, backend: str = "cpu") -> Any:
    """Unit vectors (float64[n, 3]) of points in degrees, whose chords rank great-circle distances."""
    return _module("distance", backend).unit_vectors(lat, lon)


def route_lengths(route_ptr: Any, route_nodes: Any, route_depot: Any, a: Any, b: Any, circuity: Any,
                  metric: int = GREAT_CIRCLE, scale: float = 1.0, *, backend: str = "cpu") -> Any:
    """Length of each route (depot -> nodes -> depot) from CSR route arrays, legs as in :func:`node_distances`:
    float64[R]."""
    return _module("distance", backend).route_lengths(route_ptr, route_nodes, route_depot, a, b, circuity, metric,
                                                      scale)


def nearest_hubs(qa: Any, qb: Any, ha: Any, hb: Any, k: int, metric: int = GREAT_CIRCLE, scale: float = 1.0,
                 *, backend: str = "cpu") -> tuple[Any, Any]:
    """Exact k nearest hubs per query point, ``(idx int32[n, k], dist float64[n, k])``, -1 / inf padded."""
    return _module("nearest", backend).nearest_hubs(qa, qb, ha, hb, k, metric, scale)


def hilbert_keys(a: Any, b: Any, lo_a: float, hi_a: float, lo_b: float, hi_b: float,
                 *, backend: str = "cpu") -> Any:
    """Hilbert keys (int64[n]) of points quantised onto ``2**31`` cells per axis within the bounds."""
    return _module("hilbert", backend).hilbert_keys(a, b, lo_a, hi_a, lo_b, hi_b)


def split_tours(tour_ptr: Any, tour_nodes: Any, tour_depot: Any, a: Any, b: Any, circuity: Any, demand_kg: Any,
                demand_n: Any, service_s: Any, speed_kmh: Any, cap_kg: Any, cap_n: Any, max_duration_s: Any,
                max_routes: Any, metric: int = GREAT_CIRCLE, scale: float = 1.0,
                *, backend: str = "cpu") -> tuple[Any, Any]:
    """Optimal cut of each giant tour into feasible routes (Split): ``(route_start int8[m], tour_cost float64[T])``.

    Node arrays: coordinates, circuity multipliers (see :func:`node_distances`), demands, service and speeds.
    """
    return _module("split", backend).split_tours(tour_ptr, tour_nodes, tour_depot, a, b, circuity, demand_kg,
                                                 demand_n, service_s, speed_kmh, cap_kg, cap_n, max_duration_s,
                                                 max_routes, metric, scale)


def next_fit_tours(tour_ptr: Any, tour_nodes: Any, tour_depot: Any, a: Any, b: Any, circuity: Any, demand_kg: Any,
                   demand_n: Any, service_s: Any, speed_kmh: Any, cap_kg: Any, cap_n: Any, max_duration_s: Any,
                   metric: int = GREAT_CIRCLE, scale: float = 1.0, *, backend: str = "cpu") -> tuple[Any, Any]:
    """The next-fit cut of each giant tour, in O(n): ``(route_start int8[m], tour_cost float64[T])``."""
    return _module("split", backend).next_fit_tours(tour_ptr, tour_nodes, tour_depot, a, b, circuity, demand_kg,
                                                    demand_n, service_s, speed_kmh, cap_kg, cap_n, max_duration_s,
                                                    metric, scale)


def nearest_in_groups(points: Any, k: int, group: Any = None) -> Any:
    """Each point's k nearest other points of its group (host arrays on every backend: the granular lists
    are built once per hub group and read by host and device stages alike)."""
    from kernels.cpu.knn import nearest_in_groups as knn
    return knn(points, k, group)


def savings_pairs(stop_hub: Any, neighbours: Any, d0: Any, dist: Any, n_hubs: int) -> tuple[Any, ...]:
    """The pairs Clarke-Wright tries, per hub by decreasing saving (host arrays on every backend: the sort
    is per hub and feeds one sequential merge loop per hub)."""
    from kernels.cpu.savings import savings_pairs as pairs
    return pairs(stop_hub, neighbours, d0, dist, n_hubs)


def savings_tours(hub_ptr: Any, hub_stops: Any, hub_depot: Any, pair_ptr: Any, pair_i: Any, pair_j: Any,
                  pair_d: Any, a: Any, b: Any, circuity: Any, demand_kg: Any, demand_n: Any, service_s: Any,
                  speed_kmh: Any, cap_kg: Any, cap_n: Any, max_duration_s: Any, max_routes: Any,
                  metric: int = GREAT_CIRCLE, scale: float = 1.0, *, backend: str = "cpu") -> tuple[Any, Any, Any]:
    """Clarke-Wright routes of every hub as tours with route starts, and their distances (+inf: too many routes)."""
    return _module("savings", backend).savings_tours(hub_ptr, hub_stops, hub_depot, pair_ptr, pair_i, pair_j, pair_d,
                                                     a, b, circuity, demand_kg, demand_n, service_s, speed_kmh, cap_kg,
                                                     cap_n, max_duration_s, max_routes, metric, scale)


def route_counts(tour_ptr: Any, tour_nodes: Any, tour_depot: Any, a: Any, b: Any, circuity: Any, demand_kg: Any,
                 demand_n: Any, service_s: Any, speed_kmh: Any, cap_kg: Any, cap_n: Any, max_duration_s: Any,
                 metric: int = GREAT_CIRCLE, scale: float = 1.0, *, backend: str = "cpu") -> Any:
    """Routes a next-fit cut of each giant tour needs (int32[T], -1 if a stop fits no route): Split's fleet test in
    O(n)."""
    return _module("split", backend).route_counts(tour_ptr, tour_nodes, tour_depot, a, b, circuity, demand_kg,
                                                  demand_n, service_s, speed_kmh, cap_kg, cap_n, max_duration_s, metric,
                                                  scale)


def improve_intra(routes: Any, route_len: Any, route_depot: Any, a: Any, b: Any, circuity: Any, service_s: Any,
                  speed_kmh: Any, max_duration_s: Any, metric: int, scale: float, max_passes: int, granular_k: int,
                  rows: Any = None, confirm: bool = True, *, backend: str = "cpu") -> Any:
    """2-opt and Or-opt inside every padded route (or only ``rows``), in place; returns their distances (float64).

    ``granular_k`` is the nearest-node list length of the granular
    neighbourhood (<= 0: full neighbourhood only). The per-route arrays are
    indexed by route: ``rows`` picks which routes to improve without the
    caller gathering them.
    """
    return _module("intra", backend).improve_intra(routes, route_len, route_depot, a, b, circuity, service_s,
                                                   speed_kmh, max_duration_s, metric, scale, max_passes, granular_k,
                                                   rows=rows, confirm=confirm)


def improve_inter(routes: Any, route_len: Any, route_depot: Any, route_group: Any, neighbours: Any, a: Any, b: Any,
                  circuity: Any, demand_kg: Any, demand_n: Any, service_s: Any, speed_kmh: Any, cap_kg: Any,
                  cap_n: Any, max_duration_s: Any, metric: int = GREAT_CIRCLE, scale: float = 1.0,
                  max_rounds: int = 100, *, backend: str = "cpu") -> int:
    """Relocate / swap / 2-opt* between routes of one group over granular neighbours, in place; returns moves
    applied."""
    return _module("inter", backend).improve_inter(routes, route_len, route_depot, route_group, neighbours, a, b,
                                                   circuity, demand_kg, demand_n, service_s, speed_kmh, cap_kg, cap_n,
                                                   max_duration_s, metric, scale, max_rounds)


def candidate_arcs(free: Any, cell_of: Any, cell_hub: Any, lat: Any, lon: Any, hub_lat: Any, hub_lon: Any,
                   metric: int, scale: float, max_km: float) -> tuple[Any, Any, Any]:
    """Each stop's arcs to its cell's candidate hubs within reach, nearest first, on the host (they feed the
    host's LP; see :func:`kernels.cpu.assign.candidate_arcs`)."""
    return _module("assign", "cpu").candidate_arcs(free, cell_of, cell_hub, lat, lon, hub_lat, hub_lon, metric,
                                                   scale, max_km)


def fill_arcs(arc_stop: Any, arc_hub: Any, arc_share: Any, share: Any, stop_n: Any, stop_kg: Any, rem_n: Any,
              rem_kg: Any, stop_hub: Any, *, backend: str = "cpu") -> None:
    """The assignment's sequential rounding step, in place, on the host (see :func:`kernels.cpu.assign.fill_arcs`)."""
    _module("assign", "cpu").fill_arcs(arc_stop, arc_hub, arc_share, share, stop_n, stop_kg, rem_n, rem_kg, stop_hub)


def resequence_routes(route_ptr: Any, mat_ptr: Any, km: Any, sec: Any, limit_s: Any, max_passes: int,
                      *, backend: str = "cpu") -> tuple[Any, Any]:
    """Each finished route reordered on its own asymmetric road matrix (see :mod:`kernels.cpu.resequence`).

    Small matrices, one route at a time: on the host's cores on every backend (``backend`` is ignored).
    """
    return _module("resequence", "cpu").resequence(route_ptr, mat_ptr, km, sec, limit_s, max_passes)


def sisr_search(node: Any, neighbours: Any, flat: Any, ptr: Any, limits: tuple[float, float, float, float],
                metric: int, scale: float, params: Any, seed: int, iterations: int | None, seconds: float,
                clock_stops: bool, *, backend: str = "cpu") -> tuple[Any, Any, float, int]:
    """SISR ruin-and-recreate on one depot's routes (see :func:`kernels.cpu.sisr.search`).

    A sequential search on the host's cores on every backend: ``backend``
    is accepted so callers stay backend-neutral, and ignored. ``node`` rows hold
    a, b, kg, parcels, service s, speed km/h and the circuity multiplier.
    """
    return _module("sisr", "cpu").search(node, neighbours, flat, ptr, limits, metric, scale, params, seed,
                                         iterations, seconds, clock_stops)


def sisr_params(**values: Any) -> Any:
    """The parameter tuple :func:`sisr_search` takes, from keyword values (see :class:`kernels.cpu.sisr.Params`)."""
    return _module("sisr", "cpu").Params(**values)


#: Device bytes one routable stop of a hub group may need at once on CUDA, neighbour lists aside: seven
#: float64 node arrays (56: coordinates, circuity, demands, service, speed); the padded routes, three copies
#: in the local search at 4 bytes a slot and up to 8 slots a stop (96); the inter-route scratch (124); Split's
#: workspace and, for fleet-limited tours, its layers (~265); leg, hub-distance and tour index arrays (~36).
DEVICE_BYTES_PER_STOP = 56 + 96 + 124 + 265 + 36
#: Device bytes per stop and granular neighbour (int32 lists).
DEVICE_BYTES_PER_NEIGHBOUR = 4


def fit_group_stops(group_stops: int, free_bytes: int | None, neighbours: int, reserved_bytes: int,
                    share: float) -> int:
    """The hub-group size to plan with: ``group_stops``, lowered until a group fits ``share`` of
    ``free_bytes`` of device memory less ``reserved_bytes``. ``free_bytes`` None (the CPU, the
    simulator) keeps the setting. Never below 1."""
    if free_bytes is None:
        return group_stops
    per_stop = DEVICE_BYTES_PER_STOP + DEVICE_BYTES_PER_NEIGHBOUR * int(neighbours)
    fits = int((free_bytes * share - reserved_bytes) // per_stop)
    return max(1, min(group_stops, fits))


_WARM: set[str] = set()


def warm_up(*, backend: str = "cpu") -> bool:
    """Compile (or load from Numba's cache) every kernel the planner calls, on a tiny problem.

    The planner calls this before any stage clock starts, so that compilation never counts against a
    stage's work or time; the tiny inputs have the dtypes and layouts the drivers pass, so the
    specialisations compiled here are the ones the real calls use. Done once per process and backend;
    returns whether this call did the work.
    """
    if backend in _WARM:
        return False
    n = 8
    rng = np.random.default_rng(0)
    a = np.concatenate([40.0 + 0.01 * rng.random(n), [40.0]])
    b = np.concatenate([-74.0 + 0.01 * rng.random(n), [-74.0]])
    kg, pn = np.r_[np.ones(n), 0.0], np.r_[np.ones(n), 0.0]
    svc, spd = np.r_[np.full(n, 60.0), 0.0], np.full(n + 1, 30.0)
    circ = np.ones(n + 1)
    stops = np.arange(n, dtype=np.int32)
    depot = np.array([n], np.int32)
    one = np.ones(1)
    to_host(pair_distances(a, b, a[::-1].copy(), b[::-1].copy(), GREAT_CIRCLE, 1.3, backend=backend))
    to_host(node_distances(to_device(stops, np.int32, backend=backend), to_device(stops[::-1].copy(), np.int32,
                                                                                   backend=backend),
                           to_device(a, np.float64, backend=backend), to_device(b, np.float64, backend=backend),
                           to_device(circ, np.float64, backend=backend), GREAT_CIRCLE, 1.3, backend=backend))
    to_host(unit_vectors(a, b, backend=backend))
    unit_vectors(a, b, backend="cpu")  # the host embedding for k-d trees
    to_host(hilbert_keys(a, b, 39.0, 41.0, -75.0, -73.0, backend=backend))
    for k in (1, 4):
        to_host(nearest_hubs(a[:n], b[:n], a[:3], b[:3], k, GREAT_CIRCLE, 1.3, backend=backend)[0])
    ptr = np.array([0, n], np.int64)
    to_host(split_tours(ptr, stops, depot, a, b, circ, kg, pn, svc, spd, 3.0 * one, 3.0 * one, 1e4 * one,
                        np.array([2], np.int32), GREAT_CIRCLE, 1.3, backend=backend)[1])  # fleet-limited: layers
    to_host(route_counts(ptr, stops, depot, a, b, circ, kg, pn, svc, spd, 3.0 * one, 3.0 * one, 1e4 * one, GREAT_CIRCLE,
                         1.3, backend=backend))
    to_host(next_fit_tours(ptr, stops, depot, a, b, circ, kg, pn, svc, spd, 3.0 * one, 3.0 * one, 1e4 * one,
                           GREAT_CIRCLE, 1.3, backend=backend)[1])
    near = (np.arange(n)[:, None] + np.arange(1, 3)) % n
    nearest_in_groups(np.column_stack([a, b]), 3, np.arange(n + 1) % 2)
    savings_pairs(np.zeros(n, np.int64), near.astype(np.int32), np.ones(n), np.full(near.shape, 0.5), 1)
    pair = np.array([0, n - 1], np.int64)
    savings_tours(ptr, stops, depot, pair, stops[:-1].copy(), stops[1:].copy(), np.full(n - 1, 0.001), a, b, circ, kg,
                  pn, svc, spd, 3.0 * one, 3.0 * one, 1e4 * one, 3.0 * one, GREAT_CIRCLE, 1.3, backend=backend)
    routes = np.full((2, n), -1, np.int32)
    routes[0, :4], routes[1, :4] = stops[:4], stops[4:]
    lens, depots, groups = np.full(2, 4, np.int32), np.full(2, n, np.int32), np.zeros(2, np.int32)
    work = to_device(routes, np.int32, backend=backend)
    work_len = to_device(lens, np.int32, backend=backend)
    node_args = [to_device(x, np.float64, backend=backend) for x in (a, b, circ, svc, spd, np.full(2, 1e4))]
    improve_intra(work, work_len, to_device(depots, np.int32, backend=backend), *node_args, GREAT_CIRCLE, 1.3, 10, 4,
                  rows=to_device(np.arange(2, dtype=np.int32), np.int32, backend=backend), backend=backend)
    neighbours = np.full((n + 1, 3), -1, np.int32)
    neighbours[:n] = (np.arange(n)[:, None] + np.arange(1, 4)) % n
    args = [to_device(x, np.int32, backend=backend) for x in (depots, groups, neighbours)]
    args += [to_device(x, np.float64, backend=backend) for x in (a, b, circ, kg, pn, svc, spd)]
    limits = [to_device(x, np.float64, backend=backend) for x in (np.full(2, 5.0), np.full(2, 5.0), np.full(2, 1e4))]
    improve_inter(work, work_len, *args, *limits, GREAT_CIRCLE, 1.3, 3, backend=backend)
    to_host(rows_differ(work, copy(work, backend=backend), backend=backend))
    node = np.column_stack([a, b, kg, pn, svc, spd, circ])
    params = sisr_params(avg_removed=3.0, max_string=3.0, split_rate=0.5, split_depth=0.01, blink=0.01, t0=0.4,
                         tf=0.004, cycle_per_stop=2.0, max_iterations_per_stop=4, chunk=8, penalties=True,
                         penalty_target=0.5, penalty_step=2.0, penalty_window=4, shift_penalty=1.0, load_penalty=1.0,
                         penalty_floor=0.5, load_penalty_min_stops=1.0, polish_passes=2, polish_neighbours=2,
                         route_ruin=0.5, route_ruin_slack=0, route_ruin_min_per_stop=0.0)
    z = np.zeros(1)
    fill_arcs(np.zeros(1, np.int64), np.zeros(1, np.int32), np.zeros(1, np.int64), np.ones(1), z, z, z.copy(),
              z.copy(), np.full(1, -1, np.int32))
    candidate_arcs(np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros((1, 2), np.int32), z, z, z, z,
                   GREAT_CIRCLE, 1.3, 1e3)
    for penalised in (True, False):  # the penalised search and the hard one are compiled apart
        sisr_search(node, neighbours[:n], stops, np.array([0, 4, n], np.int64), (5.0, 5.0, 1e4, 3.0), GREAT_CIRCLE,
                    1.3, params._replace(penalties=penalised), 1, 16, 60.0, False)
    m = np.abs(np.subtract.outer(np.arange(5.0), np.arange(5.0))) + np.eye(5)[::-1]  # asymmetric 4-stop route
    resequence_routes(np.array([0, 4], np.int64), np.zeros(1, np.int64), m.ravel(), m.ravel(), np.full(1, 1e9), 4)
    _WARM.add(backend)
    return True


def to_device(x: Any, dtype: Any, *, backend: str = "cpu") -> Any:
    """``x`` where ``backend``'s kernels read it: a device array of ``dtype`` on CUDA (uploaded only when
    not already one), ``x`` itself on the CPU."""
    if backend == "cpu":
        return x
    return _module("_launch", backend).to_device(x, dtype)


def to_host(x: Any) -> np.ndarray:
    """A NumPy array of a host or device array (a device array is copied, and the copy counted)."""
    if isinstance(x, np.ndarray):
        return x
    return _module("_launch", "cuda").to_host(x)


def copy(x: Any, *, backend: str = "cpu") -> Any:
    """A copy of ``x`` made where it lies."""
    if backend == "cpu":
        return x.copy()
    return _module("arrays", backend).copy(x)


def rows_differ(x: Any, y: Any, *, backend: str = "cpu") -> Any:
    """bool[R]: whether row ``r`` of the [R, L] arrays ``x`` and ``y`` differs, computed where they lie."""
    if backend == "cpu":
        return (x != y).any(axis=1)
    return _module("arrays", backend).rows_differ(x, y)


def transfers(*, backend: str = "cpu") -> dict[str, int]:
    """Host <-> device copies so far in this process (bytes and calls each way); zeros on the CPU."""
    if backend == "cpu":
        return {"h2d_bytes": 0, "h2d_calls": 0, "d2h_bytes": 0, "d2h_calls": 0}
    return _module("_launch", backend).TRANSFERS.snapshot()


def memory_info(*, backend: str = "cpu") -> tuple[int, int] | None:
    """``(free, total)`` device memory in bytes; None on the CPU and in the simulator."""
    if backend == "cpu":
        return None
    return _module("_launch", backend).memory_info()


def memory_pool(*, backend: str = "cpu") -> dict[str, int] | None:
    """CuPy's memory pool, ``{"used_bytes", "peak_bytes"}``; None on the CPU and in the simulator."""
    if backend == "cpu":
        return None
    return _module("_launch", backend).memory_pool()
