"""The assignment's host loops: each stop's candidate arcs, and the rounding step that walks them.

The candidate arcs (each stop to its cell's candidate hubs within reach,
nearest first) are one pass over the stops on every core: the distances,
the reach test and the per-stop sort happen in registers, where the array
form built and sorted an S x k matrix several times over. The rounding is
sequential by nature (each choice uses what the previous ones left), so it
is one compiled loop. Neither has a CUDA twin: both feed the host's LP.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from kernels.core import host as _core

_point_distance = _core.point_distance
_haversine_cos_km = _core.haversine_cos_km

#: Slack on an LP share, so a share of 2.9999999 parcels still takes a 3-parcel stop.
SHARE_TOLERANCE = 1e-6


@njit(cache=True)
def _fill(arc_stop, arc_hub, arc_share, share, stop_n, stop_kg, rem_n, rem_kg, stop_hub):  # type: ignore[no-untyped-def]
    for a in range(arc_stop.shape[0]):
        s = arc_stop[a]
        if stop_hub[s] >= 0:
            continue
        h = arc_hub[a]
        v = arc_share[a]
        n = stop_n[s]
        kg = stop_kg[s]
        if n <= share[v] + SHARE_TOLERANCE and n <= rem_n[h] and kg <= rem_kg[h]:
            stop_hub[s] = h
            share[v] -= n
            rem_n[h] -= n
            rem_kg[h] -= kg


def fill_arcs(arc_stop: np.ndarray, arc_hub: np.ndarray, arc_share: np.ndarray, share: np.ndarray,
              stop_n: np.ndarray, stop_kg: np.ndarray, rem_n: np.ndarray, rem_kg: np.ndarray,
              stop_hub: np.ndarray) -> None:
    """Walk arcs (stop, hub, LP variable) in order: an open stop takes the arc's hub when the variable's
    ``share`` and the hub's parcels and kg left (``rem_n``, ``rem_kg``) hold it. Updates ``share``, ``rem_n``,
    ``rem_kg`` and ``stop_hub`` (-1: open) in place."""
    _fill(arc_stop, arc_hub, arc_share, share, stop_n, stop_kg, rem_n, rem_kg, stop_hub)


@njit(cache=True)
def _radians_and_cosines(lat):  # type: ignore[no-untyped-def]
    p = np.empty(lat.size)
    c = np.empty(lat.size)
    for i in range(lat.size):
        p[i] = math.radians(lat[i])
        c[i] = math.cos(p[i])
    return p, c


@njit(parallel=True, cache=True)
def _arc_counts(free, cell_of, cell_hub, lat, lon, hub_lat, hub_lon, metric, scale, max_km, dist, count):  # type: ignore[no-untyped-def]
    k = cell_hub.shape[1]
    hub_p, hub_cos = _radians_and_cosines(hub_lat)
    for i in prange(free.shape[0]):
        s = free[i]
        c = cell_of[i]
        p = math.radians(lat[s])  # a stop meets k hubs: its cosine once (bit-identical to point_distance)
        cos_p = math.cos(p)
        m = 0
        for j in range(k):
            h = cell_hub[c, j]
            d = np.inf
            if h >= 0:
                if metric == 0:
                    d = scale * _haversine_cos_km(p, lon[s], cos_p, hub_p[h], hub_lon[h], hub_cos[h])
                else:
                    d = _point_distance(metric, scale, lat[s], lon[s], hub_lat[h], hub_lon[h])
                if not d <= max_km:  # beyond reach (or not a number): no arc
                    d = np.inf
            dist[i, j] = d
            if d < np.inf:
                m += 1
        count[i] = m


@njit(parallel=True, cache=True)
def _arc_write(free, cell_of, cell_hub, dist, start, arc_stop, arc_hub, arc_dist):  # type: ignore[no-untyped-def]
    k = cell_hub.shape[1]
    for i in prange(free.shape[0]):
        c = cell_of[i]
        out = start[i]
        m = 0
        for j in range(k):  # insertion sort of the finite arcs: stable, ties keep the cell's candidate order
            d = dist[i, j]
            if d == np.inf:
                continue
            h = cell_hub[c, j]
            t = m
            while t > 0 and arc_dist[out + t - 1] > d:
                arc_dist[out + t] = arc_dist[out + t - 1]
                arc_hub[out + t] = arc_hub[out + t - 1]
                t -= 1
            arc_dist[out + t] = d
            arc_hub[out + t] = h
            arc_stop[out + m] = free[i]
            m += 1


def candidate_arcs(free: np.ndarray, cell_of: np.ndarray, cell_hub: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                   hub_lat: np.ndarray, hub_lon: np.ndarray, metric: int, scale: float,
                   max_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arcs (stop int64, hub int32, km float64) from each stop ``free[i]`` to the candidate hubs of its cell
    (``cell_hub[cell_of[i]]``, -1 padded) no farther than ``max_km``: grouped by ``free``'s order, each stop's
    nearest first, ties in the candidates' order. Distances are the scalar core's, as ``pair_distances``."""
    n = int(free.size)
    cell_hub = np.ascontiguousarray(cell_hub, np.int32)
    free = np.ascontiguousarray(free, np.int64)
    cell_of = np.ascontiguousarray(cell_of, np.int64)
    f64 = np.float64
    lat, lon = np.ascontiguousarray(lat, f64), np.ascontiguousarray(lon, f64)
    hub_lat, hub_lon = np.ascontiguousarray(hub_lat, f64), np.ascontiguousarray(hub_lon, f64)
    dist = np.empty((n, cell_hub.shape[1]), f64)
    count = np.empty(n, np.int64)
    _arc_counts(free, cell_of, cell_hub, lat, lon, hub_lat, hub_lon, int(metric), float(scale), float(max_km),
                dist, count)
    start = np.zeros(n + 1, np.int64)
    np.cumsum(count, out=start[1:])
    total = int(start[-1])
    arc_stop, arc_hub, arc_dist = np.empty(total, np.int64), np.empty(total, np.int32), np.empty(total, f64)
    _arc_write(free, cell_of, cell_hub, dist, start, arc_stop, arc_hub, arc_dist)
    return arc_stop, arc_hub, arc_dist
