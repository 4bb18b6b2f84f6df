"""The scalar cores of :mod:`kernels._scalar` compiled as CUDA device functions."""
from numba import cuda

from kernels._scalar import build

_cores = build(cuda.jit(device=True, inline=True))
haversine_km = _cores.haversine_km
haversine_cos_km = _cores.haversine_cos_km
point_distance = _cores.point_distance
pair_circuity = _cores.pair_circuity
node_distance = _cores.node_distance
embed = _cores.embed
chord_km = _cores.chord_km
leg_seconds = _cores.leg_seconds
hilbert_d = _cores.hilbert_d
