"""The planner's view of the kernels: NumPy in, NumPy out, on the resolved backend.

The pipeline calls kernels only through :class:`Compute`, so the choice of
backend is made once (``--backend``) and every stage runs on it. On the CUDA
backend the kernels take and return device arrays; results the host needs
(route tables, schedules) are copied back here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels import api
from kernels.backend import Backend


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of a host or device array (CuPy ``.get()``, Numba ``.copy_to_host()``)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):
        return x.get()
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    return np.asarray(x)


@dataclass(frozen=True)
class Compute:
    """Kernel calls bound to a backend and a distance metric."""

    backend: Backend
    metric: int
    scale: float

    @property
    def name(self) -> str:
        """``cpu`` or ``cuda``."""
        return self.backend.name

    def pair_distances(self, a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> np.ndarray:
        """Distance of each pair (a1[i], b1[i]) - (a2[i], b2[i])."""
        return to_numpy(api.pair_distances(a1, b1, a2, b2, self.metric, self.scale, backend=self.name))

    def nearest_hubs(self, qa, qb, ha, hb, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest hubs of each query point: (index, distance), -1 / inf padded."""
        idx, dist = api.nearest_hubs(qa, qb, ha, hb, k, self.metric, self.scale, backend=self.name)
        return to_numpy(idx), to_numpy(dist)

    def hilbert_keys(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hilbert keys of the points inside their own bounding box."""
        if a.size == 0:
            return np.zeros(0, dtype=np.int64)
        return to_numpy(api.hilbert_keys(a, b, float(a.min()), float(a.max()), float(b.min()), float(b.max()),
                                         backend=self.name))

    def split_tours(self, tour_ptr, tour_nodes, tour_depot, nodes, cap_kg, cap_n, max_duration_s, max_routes):
        """Optimal cut of each giant tour into feasible routes: (route_start, tour_cost)."""
        start, cost = api.split_tours(tour_ptr, tour_nodes, tour_depot, *nodes.kernel_args(), cap_kg, cap_n,
                                      max_duration_s, max_routes, self.metric, self.scale, backend=self.name)
        return to_numpy(start), to_numpy(cost)

    def route_counts(self, tour_ptr, tour_nodes, tour_depot, nodes, cap_kg, cap_n, max_duration_s) -> np.ndarray:
        """Routes a next-fit cut of each tour needs (-1 when a stop fits no route)."""
        return to_numpy(api.route_counts(tour_ptr, tour_nodes, tour_depot, *nodes.kernel_args(), cap_kg, cap_n,
                                          max_duration_s, self.metric, self.scale, backend=self.name))

    def improve_intra(self, routes, route_len, route_depot, nodes, max_duration_s, max_passes: int) -> np.ndarray:
        """2-opt and Or-opt inside every route, in place; returns route distances."""
        return to_numpy(api.improve_intra(routes, route_len, route_depot, nodes.a, nodes.b, nodes.service_s,
                                          nodes.speed_kmh, max_duration_s, self.metric, self.scale, max_passes,
                                          backend=self.name))

    def improve_inter(self, routes, route_len, route_depot, route_group, neighbours, nodes, cap_kg, cap_n,
                      max_duration_s, max_rounds: int) -> int:
        """Relocate / swap / 2-opt* between routes of a group, in place; returns moves applied."""
        return int(api.improve_inter(routes, route_len, route_depot, route_group, neighbours, *nodes.kernel_args(),
                                     cap_kg, cap_n, max_duration_s, self.metric, self.scale, max_rounds,
                                     backend=self.name))
