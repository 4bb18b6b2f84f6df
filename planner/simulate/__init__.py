"""Several days with a carried backlog, and shared against separate networks.

``planner.simulate(...)`` is :func:`planner.simulate.days.simulate` and
``planner.compare(...)`` is :func:`planner.simulate.compare.compare`. This
package is itself callable: importing any of its modules binds the package to
the name ``planner.simulate``, which would otherwise hide the function of the
same name.
"""
from __future__ import annotations

import sys
import types
from typing import Any

from planner.simulate.compare import Comparison, compare
from planner.simulate.days import Simulation, simulate
from planner.simulate.sources import DayFiles, DaySource, DayTables, Repeated, Synthetic, as_days

__all__ = ["Comparison", "DayFiles", "DaySource", "DayTables", "Repeated", "Simulation", "Synthetic", "as_days",
           "compare", "simulate"]


class _CallableModule(types.ModuleType):
    """The package module, callable as :func:`simulate`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Simulation:
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
