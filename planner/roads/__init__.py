"""Road engines behind one interface (OSRM first): road km and seconds for the pairs a search asks for.

``make_engine(settings)`` gives the configured engine or ``None`` (no road
engine: great-circle km x circuity everywhere).
"""
from __future__ import annotations

from planner.roads.engine import RoadEngine, RoadEngineError, Snapped
from planner.roads.osrm import OsrmEngine, make_engine
from planner.settings import RoadSettings

__all__ = ["OsrmEngine", "RoadEngine", "RoadEngineError", "RoadSettings", "Snapped", "make_engine"]
