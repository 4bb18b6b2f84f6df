"""The assignment's rounding step on the host: arcs walked in order, each stop taking the first hub that holds it.

Sequential by nature (each choice uses what the previous ones left), so it is
one compiled loop, not a parallel kernel, and has no CUDA twin.
"""
from __future__ import annotations

import numpy as np
from numba import njit

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
