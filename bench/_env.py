"""What every benchmark records beside its figures: machine, backend, device and versions."""
from __future__ import annotations

import importlib
import os
import platform
from typing import Any

from kernels.backend import cpu_model, resolve

PACKAGES = ("numpy", "numba", "scipy", "pyarrow", "h3", "cupy", "pyvrp", "ortools", "vroom", "dask")


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
    resolved = resolve(backend)
    return {
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "backend": resolved.name,
        "device": resolved.device,
        "versions": versions(),
    }
