"""CVRPLIB instances: read, check, cost and write solutions (the solver is :mod:`planner.cvrp.solve`).

Distances are CVRPLIB's EUC_2D: every edge is the Euclidean distance
rounded to the nearest integer (:data:`kernels.EUCLID_ROUND`), computed from
coordinates on the fly. Customers are numbered as in CVRPLIB solutions:
the file's nodes in order with the depot left out, starting at 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner.errors import InputError


class InstanceError(InputError):
    """A CVRP instance file cannot be used (exit status 2)."""


@dataclass(frozen=True)
class Instance:
    """A single-depot CVRP: customer coordinates and demands, depot coordinates, capacity."""

    name: str
    x: np.ndarray  # float64[n], customer c + 1 at index c
    y: np.ndarray  # float64[n]
    demand: np.ndarray  # float64[n]
    depot_x: float
    depot_y: float
    capacity: float

    @property
    def n(self) -> int:
        """Number of customers."""
        return int(self.x.size)


@dataclass(frozen=True)
class Solution:
    """Routes as lists of customer numbers (1-based, depot excluded) and their rounded-EUC_2D cost."""

    routes: list[list[int]]
    cost: int
    iterations: int = 0


def read_instance(path: str | Path) -> Instance:
    """Read a VRPLIB CVRP file with ``vrplib`` (coordinates only: no distance matrix is built)."""
    import vrplib

    try:
        data = vrplib.read_instance(str(path), compute_edge_weights=False)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise InstanceError(f"{path}: cannot read the instance ({exc})") from exc
    for key in ("node_coord", "demand", "capacity"):
        if key not in data:
            raise InstanceError(f"{path}: no {key.upper()} in the instance")
    kind = str(data.get("edge_weight_type", "EUC_2D")).strip()
    if kind != "EUC_2D":
        raise InstanceError(f"{path}: EDGE_WEIGHT_TYPE {kind} is not supported (only EUC_2D)")
    depots = np.atleast_1d(data.get("depot", np.array([0])))
    if depots.size != 1:
        raise InstanceError(f"{path}: {depots.size} depots; only single-depot CVRP is supported")
    coords = np.asarray(data["node_coord"], dtype=np.float64)
    demand = np.asarray(data["demand"], dtype=np.float64)
    depot = int(depots[0])
    cust = np.delete(np.arange(coords.shape[0]), depot)
    capacity = float(data["capacity"])
    if np.any(demand[cust] > capacity):
        raise InstanceError(f"{path}: a customer's demand exceeds the vehicle capacity {capacity:g}")
    return Instance(name=str(data.get("name", Path(path).stem)).strip(), x=coords[cust, 0].copy(),
                    y=coords[cust, 1].copy(), demand=demand[cust].copy(), depot_x=float(coords[depot, 0]),
                    depot_y=float(coords[depot, 1]), capacity=capacity)


def _rounded(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """CVRPLIB's EUC_2D edge length: Euclidean distance rounded to the nearest integer (half up)."""
    return np.floor(np.sqrt(dx * dx + dy * dy) + 0.5)


def solution_cost(instance: Instance, routes: list[list[int]]) -> int:
    """Total rounded-EUC_2D distance of the routes, recomputed from the coordinates (independent of the engine)."""
    total = 0.0
    for route in routes:
        idx = np.asarray(route, dtype=np.int64) - 1
        xs = np.concatenate([[instance.depot_x], instance.x[idx], [instance.depot_x]])
        ys = np.concatenate([[instance.depot_y], instance.y[idx], [instance.depot_y]])
        total += float(_rounded(np.diff(xs), np.diff(ys)).sum())
    return int(round(total))


def check_solution(instance: Instance, routes: list[list[int]]) -> None:
    """Raise ``ValueError`` unless every customer is visited exactly once and no route is over capacity."""
    seen = np.zeros(instance.n + 1, dtype=np.int64)
    for k, route in enumerate(routes, start=1):
        if len(route) == 0:
            raise ValueError(f"route #{k} is empty")
        idx = np.asarray(route, dtype=np.int64)
        if idx.min() < 1 or idx.max() > instance.n:
            raise ValueError(f"route #{k} visits a customer outside 1..{instance.n}")
        load = float(instance.demand[idx - 1].sum())
        if load > instance.capacity:
            raise ValueError(f"route #{k} carries {load:g} > capacity {instance.capacity:g}")
        np.add.at(seen, idx, 1)
    if np.any(seen[1:] > 1):
        raise ValueError(f"customer {int(np.argmax(seen[1:] > 1)) + 1} is visited more than once")
    if np.any(seen[1:] == 0):
        raise ValueError(f"customer {int(np.argmax(seen[1:] == 0)) + 1} is not visited")


def write_solution(path: str | Path, solution: Solution) -> None:
    """Write ``Route #k: c1 c2 ...`` lines and ``Cost N``, the CVRPLIB .sol format."""
    lines = [f"Route #{k}: {' '.join(str(c) for c in route)}" for k, route in enumerate(solution.routes, start=1)]
    lines.append(f"Cost {solution.cost}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
