"""CUDA kernels: ``numba.cuda.jit`` with grid-stride loops.

Importing this package needs numba only; CuPy is imported lazily by the
functions that use it, and under ``NUMBA_ENABLE_CUDASIM=1`` NumPy stands in.
"""
