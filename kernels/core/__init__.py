"""Kernel bodies written once and compiled by both backends.

Each module builds its per-item functions around a JIT decorator
(``build_*(jit, cores)``): :mod:`kernels.cpu` compiles them with
``numba.njit`` into ``prange`` loops, :mod:`kernels.cuda` with
``numba.cuda.jit(device=True)`` into grid- or block-stride kernels, so both
run the same arithmetic. The argument checks the drivers share live here too.
"""
