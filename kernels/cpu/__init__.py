"""CPU kernels: ``numba.njit(parallel=True)`` with ``prange``, compiled on first call and cached."""
