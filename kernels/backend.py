"""Choosing where kernels run: ``auto``, ``cpu`` or ``cuda``.

``auto`` picks CUDA when a device is visible and CuPy imports; asking for
``cuda`` without one raises :class:`BackendUnavailable` naming the missing
piece. There is never a silent fallback from an explicit ``cuda``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

BACKENDS = ("auto", "cpu", "cuda")


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine."""


@dataclass(frozen=True)
class Backend:
    """A resolved backend: ``name`` is ``cpu`` or ``cuda``; ``device`` describes the hardware."""

    name: str
    device: str
    simulator: bool = False


def cuda_simulator() -> bool:
    """True when Numba's CUDA simulator is enabled for this process."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def _cuda_problem() -> str | None:
    """Why CUDA cannot be used here, or None when it can."""
    if cuda_simulator():
        return None
    try:
        from numba import cuda
    except Exception as exc:  # pragma: no cover - numba is a hard dependency
        return f"numba.cuda failed to import ({exc})"
    try:
        if not cuda.is_available():
            return "no CUDA device or driver found (numba.cuda.is_available() is False)"
    except Exception as exc:  # pragma: no cover - driver-specific
        return f"CUDA driver error ({exc})"
    try:
        import cupy  # noqa: F401
    except Exception:
        return "CuPy is not installed (pip install 'hexroute[gpu]')"
    return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_name() -> str:
    return f"{cpu_model()} ({os.cpu_count()} cores)"


def resolve(name: str = "auto") -> Backend:
    """Resolve a backend name to a :class:`Backend`, raising if ``cuda`` is unavailable."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if name == "cpu":
        return Backend("cpu", _cpu_name())
    problem = _cuda_problem()
    if problem is not None:
        if name == "cuda":
            raise BackendUnavailable(f"backend 'cuda' requested but {problem}")
        return Backend("cpu", _cpu_name())
    if cuda_simulator():
        return Backend("cuda", "numba CUDA simulator", simulator=True)
    from numba import cuda

    name = cuda.get_current_device().name
    return Backend("cuda", name.decode() if isinstance(name, bytes) else str(name))
