"""Granular neighbour lists: each stop's k nearest stops of its hub, exact, never a distance matrix.

Savings, the local search and SISR restrict their moves to these lists. Points
are embedded so that Euclidean distance ranks the metric (unit vectors for
great circle, :meth:`planner.device.Compute.embed`) and searched in a k-d tree
per hub (:func:`planner.device.nearest_in_groups`), so every neighbour found lies
in the stop's own hub.
"""
from __future__ import annotations

import numpy as np

from planner.device import Compute, nearest_in_groups
from planner.model import Nodes, RouteSet


def neighbour_lists(points: np.ndarray, k: int, group: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` nearest other points of the same ``group`` of each point (int32[n, k] row indices, -1 padded).

    ``points`` is float64[n, d] in an embedding where Euclidean distance
    ranks the metric. Rows keep distance order; ties go to the lower row.
    """
    return nearest_in_groups(points, k, group)


def node_neighbours(stop_nodes: np.ndarray, hub: np.ndarray, nodes: Nodes, k: int, compute: Compute) -> np.ndarray:
    """For each of ``stop_nodes`` (stop node ids, of hub ``hub`` each), its k nearest of them in the same hub,
    as a table by node id (int32[nodes, k] of node ids, -1 padded and for every node not listed).

    Rows keep distance order, so the first ``j`` columns are the ``j`` nearest: one table built with the
    largest ``k`` any stage wants serves every stage (route's savings, the local search, SISR).
    """
    out = np.full((nodes.a.size, max(k, 1)), -1, dtype=np.int32)
    if stop_nodes.size < 2:
        return out
    local = neighbour_lists(compute.embed(nodes.a[stop_nodes], nodes.b[stop_nodes]), k, hub)
    out[stop_nodes] = np.where(local >= 0, stop_nodes[np.maximum(local, 0)], -1)
    return out


def as_local(table: np.ndarray, members: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of a node table's rows ``members`` as positions in ``members`` (-1 padded):
    neighbour lists for a problem built on those nodes only (every listed neighbour must be a member)."""
    position = np.full(table.shape[0], -1, dtype=np.int64)
    position[members] = np.arange(members.size)
    near = table[members, :k]
    local = np.where(near >= 0, position[np.maximum(near, 0)], -1)
    order = np.argsort(local < 0, axis=1, kind="stable")  # members first, in distance order
    return np.take_along_axis(local, order, axis=1).astype(np.int32)


def granular_neighbours(routes: RouteSet, nodes: Nodes, k: int, compute: Compute) -> np.ndarray:
    """For every stop node on a route, its k nearest stops on routes of the same hub (node ids, -1 padded)."""
    r, p = np.nonzero(routes.routes >= 0)
    return node_neighbours(routes.routes[r, p], routes.route_hub[r], nodes, k, compute)
