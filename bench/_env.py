"""What every benchmark records beside its figures: machine, backend, device and versions."""
from __future__ import annotations

import importlib
import os
import platform
from typing import Any

PACKAGES = ("numpy", "numba", "scipy", "pyarrow", "h3", "cupy", "pyvrp", "ortools", "vroom", "dask")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Versions of Python, hexroute and the packages that shape the figures (absent ones left out)."""
    out = {"python": platform.python_version()}
    try:
        from planner import __version__

        out["hexroute"] = __version__
    except ImportError:  # pragma: no cover
        pass
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        out[name] = str(getattr(module, "__version__", "installed"))
    return out


def environment(backend: str = "cpu") -> dict[str, Any]:
    """Machine, backend, device and versions, for a benchmark's JSON."""
    from kernels.backend import resolve

    resolved = resolve(backend)
    return {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "backend": resolved.name,
        "device": resolved.device,
        "versions": versions(),
    }
