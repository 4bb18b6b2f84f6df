"""hexroute's compute kernels: arrays in, arrays out, on the CPU or a CUDA device.

Nothing here imports Arrow or the planner, and importing this package never
needs a GPU or CuPy: CUDA modules live in :mod:`kernels.cuda` and are imported
only when the CUDA backend is chosen.
"""
from kernels._scalar import EUCLID, EUCLID_ROUND, GREAT_CIRCLE, METRICS
from kernels.backend import Backend, BackendUnavailable, resolve

__all__ = ["Backend", "BackendUnavailable", "EUCLID", "EUCLID_ROUND", "GREAT_CIRCLE", "METRICS", "resolve"]
