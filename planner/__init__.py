"""hexroute: assign parcels to shared delivery hubs, pack them into routes and sequence them."""
from __future__ import annotations

__version__ = "0.1.0"

from typing import Any

from planner.errors import HexrouteError, InputError, SettingsError
from planner.settings import Settings

__all__ = ["HexrouteError", "InputError", "Settings", "SettingsError", "__version__", "compare", "simulate"]


def __getattr__(name: str) -> Any:
    """``planner.simulate`` and ``planner.compare``, imported on first use so that ``import planner`` stays light."""
    if name in ("simulate", "compare"):
        import importlib

        package = importlib.import_module("planner.simulate")
        return package if name == "simulate" else package.compare
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
