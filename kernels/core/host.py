"""The scalar cores of :mod:`kernels._scalar` compiled for the host CPU (inlined into callers).

The CPU drivers compile on these, and so do the host-side helpers of
:mod:`kernels.core` (the nearest-hub grid build), which both backends use.
"""
from numba import njit

from kernels._scalar import build

_cores = build(njit(inline="always", cache=True))
haversine_km = _cores.haversine_km
haversine_cos_km = _cores.haversine_cos_km
point_distance = _cores.point_distance
pair_circuity = _cores.pair_circuity
node_distance = _cores.node_distance
embed = _cores.embed
chord_km = _cores.chord_km
chord_km_floor = _cores.chord_km_floor
leg_seconds = _cores.leg_seconds
hilbert_d = _cores.hilbert_d
