"""The scalar cores of :mod:`kernels._scalar` compiled for the CPU (inlined into callers)."""
from numba import njit

from kernels._scalar import build

_cores = build(njit(inline="always", cache=True))
haversine_km = _cores.haversine_km
haversine_cos_km = _cores.haversine_cos_km
point_distance = _cores.point_distance
leg_seconds = _cores.leg_seconds
hilbert_d = _cores.hilbert_d
