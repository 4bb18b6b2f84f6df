"""hexroute: assign parcels to shared delivery hubs, pack them into routes and sequence them."""
from __future__ import annotations

__version__ = "0.1.0"

from planner.errors import HexrouteError, InputError, SettingsError
from planner.settings import Settings

__all__ = ["HexrouteError", "InputError", "Settings", "SettingsError", "__version__"]
