"""Launch helpers shared by the CUDA kernels: block size, grid sizing and array transfer.

Arrays live on the device as CuPy arrays when CuPy imports and the simulator is
off; otherwise (Numba's simulator, or a GPU node without CuPy) as Numba device
arrays. Inputs may be NumPy arrays or anything with ``__cuda_array_interface__``.
Every copy between host and device goes through :func:`to_device` /
:func:`to_host` / :func:`to_host_into` and is counted in :data:`TRANSFERS`
(a copy to the host blocks until the device is done), and so is every kernel
launch (each launch sizes its grid with :func:`launch_config`), so tests and
summary.json can see how often the host waits and how many launches a stage
takes.

With CuPy, device memory comes from CuPy's pool but is handed out as Numba
device arrays viewing it (:func:`numba.cuda.as_cuda_array`, once per array):
a launch given CuPy arrays would convert every argument again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import cuda

from kernels.backend import cuda_simulator

#: Threads per block; tests shrink it so tiny simulator inputs span several blocks.
THREADS = 128
#: Upper bound on blocks per launch: the kernels use grid-stride loops, so more adds nothing.
MAX_BLOCKS = 65535


def launch_config(n: int, threads: int | None = None, max_blocks: int = MAX_BLOCKS) -> tuple[int, int]:
    """Return ``(blocks, threads)`` covering ``n`` items with ``threads`` (default :data:`THREADS`) a block;
    called once per launch, which is what :data:`TRANSFERS` counts as one."""
    threads = int(THREADS if threads is None else threads)
    blocks = max(1, min(max_blocks, math.ceil(n / threads)))
    TRANSFERS.launch()
    return blocks, threads


@dataclass
class TransferLog:
    """Bytes and copies host -> device (h2d) and device -> host (d2h, each one blocking), and kernel launches,
    since the last :meth:`reset`."""

    h2d_bytes: int = 0
    h2d_calls: int = 0
    d2h_bytes: int = 0
    d2h_calls: int = 0
    launches: int = 0

    def reset(self) -> None:
        """Start counting from zero."""
        self.h2d_bytes = self.h2d_calls = self.d2h_bytes = self.d2h_calls = self.launches = 0

    def snapshot(self) -> dict[str, int]:
        """The counters as a plain dict (for differences and summary.json)."""
        return {"h2d_bytes": self.h2d_bytes, "h2d_calls": self.h2d_calls,
                "d2h_bytes": self.d2h_bytes, "d2h_calls": self.d2h_calls, "launches": self.launches}

    def launch(self) -> None:
        """Count one kernel launch."""
        self.launches += 1

    def h2d(self, nbytes: int) -> None:
        """Count one copy to the device."""
        self.h2d_bytes += int(nbytes)
        self.h2d_calls += 1

    def d2h(self, nbytes: int) -> None:
        """Count one copy to the host."""
        self.d2h_bytes += int(nbytes)
        self.d2h_calls += 1


#: this process's transfers (one hub group runs at a time per process, see planner.distributed)
TRANSFERS = TransferLog()


def _cupy() -> Any | None:
    """CuPy when it is importable and the simulator is off, else None."""
    if cuda_simulator():
        return None
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def to_device(x: Any, dtype: np.dtype | type) -> Any:
    """Return ``x`` as a contiguous device array of ``dtype``, copying only when needed."""
    cp = _cupy()
    if cp is not None:
        if hasattr(x, "copy_to_host") and x.dtype == np.dtype(dtype) and x.is_c_contiguous():
            return x  # a Numba device array already: as the kernels take it
        if on_host(x):
            x = np.ascontiguousarray(x, dtype=dtype)
            TRANSFERS.h2d(x.nbytes)
        return cuda.as_cuda_array(cp.ascontiguousarray(cp.asarray(x, dtype=dtype)))
    if not isinstance(x, np.ndarray) and hasattr(x, "__cuda_array_interface__") and not cuda_simulator():
        x = cuda.as_cuda_array(x)
    if hasattr(x, "copy_to_host"):  # a Numba device array (or the simulator's stand-in)
        if x.dtype == np.dtype(dtype) and x.is_c_contiguous():
            return x
        x = to_host(x)
    host = np.ascontiguousarray(x, dtype=dtype)
    TRANSFERS.h2d(host.nbytes)
    return cuda.to_device(host)


def on_host(x: Any) -> bool:
    """True for NumPy arrays, lists and scalars; False for device arrays."""
    return isinstance(x, np.ndarray) or not (hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host"))


def device_empty(shape: int | tuple[int, ...], dtype: np.dtype | type) -> Any:
    """Allocate an uninitialised device array (CuPy when available)."""
    cp = _cupy()
    if cp is not None:
        return cuda.as_cuda_array(cp.empty(shape, dtype=dtype))
    return cuda.device_array(shape, dtype=dtype)


def to_host(x: Any) -> np.ndarray:
    """Copy a device array (CuPy or Numba) to a NumPy array; NumPy input is returned as is."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "copy_to_host"):
        out = x.copy_to_host()
    else:
        cp = _cupy()
        if cp is None or not isinstance(x, cp.ndarray):
            return np.asarray(x)
        out = cp.asnumpy(x)
    TRANSFERS.d2h(out.nbytes)
    return out


def to_host_into(x: Any, out: np.ndarray) -> None:
    """Copy device array ``x`` into the NumPy array ``out`` (same shape and dtype), without a temporary."""
    if hasattr(x, "copy_to_host"):
        x.copy_to_host(out)
        TRANSFERS.d2h(out.nbytes)
    else:
        out[...] = to_host(x)


def synchronize() -> None:
    """Wait for all queued device work (used by benchmarks around timed regions)."""
    cuda.synchronize()


def memory_info() -> tuple[int, int] | None:
    """``(free, total)`` bytes of the current device; None without CuPy (the simulator, or Numba alone)."""
    cp = _cupy()
    if cp is None:
        return None
    free, total = cp.cuda.Device().mem_info
    return int(free), int(total)


def memory_pool() -> dict[str, int] | None:
    """CuPy's default memory pool: bytes in use now and its peak; None without CuPy.

    ``peak_bytes`` is what the pool holds: freed blocks stay cached (nothing
    here calls ``free_all_blocks``), so it never falls below the most ever in use.
    """
    cp = _cupy()
    if cp is None:
        return None
    pool = cp.get_default_memory_pool()
    return {"used_bytes": int(pool.used_bytes()), "peak_bytes": int(pool.total_bytes())}
