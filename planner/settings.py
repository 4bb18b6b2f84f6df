"""Planner settings: frozen dataclasses validated on construction, loadable from TOML.

Every key has a default; a TOML file only names what it changes, in sections
that mirror the dataclasses (``[speeds]``, ``[service]``, ``[cost]``,
``[revenue]``, ``[improve]``, ``[cluster]``) plus top-level keys.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from planner.errors import SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise SettingsError(f"{owner}.{name} must be a positive number, not {value!r}")


def _non_negative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise SettingsError(f"{owner}.{name} must be a number >= 0, not {value!r}")


@dataclass(frozen=True)
class SpeedSettings:
    """Average driving speeds (km/h) by the density class of a stop's neighbourhood."""

    urban_kmh: float = 22.0
    suburban_kmh: float = 38.0
    rural_kmh: float = 60.0
    #: parcels per km^2 around a stop at or above which it is urban / suburban
    urban_density: float = 400.0
    suburban_density: float = 40.0

    def __post_init__(self) -> None:
        _positive("speeds", urban_kmh=self.urban_kmh, suburban_kmh=self.suburban_kmh,
                  rural_kmh=self.rural_kmh, urban_density=self.urban_density,
                  suburban_density=self.suburban_density)
        if self.suburban_density > self.urban_density:
            raise SettingsError("speeds.suburban_density must not exceed speeds.urban_density")


@dataclass(frozen=True)
class ServiceSettings:
    """Time spent at a stop: a fixed part plus a part per parcel."""

    stop_s: float = 60.0
    parcel_s: float = 15.0

    def __post_init__(self) -> None:
        _non_negative("service", stop_s=self.stop_s, parcel_s=self.parcel_s)


@dataclass(frozen=True)
class CostSettings:
    """Route costs and emissions."""

    usd_per_km: float = 0.65
    usd_per_hour: float = 32.0
    usd_per_route: float = 25.0
    co2_kg_per_km: float = 0.27

    def __post_init__(self) -> None:
        _non_negative("cost", usd_per_km=self.usd_per_km, usd_per_hour=self.usd_per_hour,
                      usd_per_route=self.usd_per_route, co2_kg_per_km=self.co2_kg_per_km)


@dataclass(frozen=True)
class RevenueSettings:
    """How shipping revenue is split: the delivering hub's operator keeps
    ``delivery_share`` of each planned parcel's fee; the rest goes to the
    operator that sold the shipping (``amazon`` for shipper ``amazon``,
    ``usps`` for everyone else)."""

    delivery_share: float = 0.6

    def __post_init__(self) -> None:
        if not (0.0 <= self.delivery_share <= 1.0):
            raise SettingsError(f"revenue.delivery_share must be in [0, 1], not {self.delivery_share!r}")


@dataclass(frozen=True)
class ImproveSettings:
    """Local search: granular neighbourhood size and time budget."""

    neighbours: int = 12
    #: seconds for the improve stage; None scales with the number of stops
    time_budget_s: float | None = None
    max_rounds: int = 200
    #: SISR ruin-and-recreate iterations per stop after the local search (0: none)
    search_iterations_per_stop: float = 4.0
    #: SISR iterations per second of the improve budget, shared by the stops (0: none); the larger of this
    #: share and ``search_iterations_per_stop`` applies (see :meth:`search_iterations`), so SISR runs when
    #: either is positive
    search_iterations_per_s: float = 0.0
    #: nearest stops where SISR tries to re-insert a removed stop
    search_neighbours: int = 40

    def __post_init__(self) -> None:
        if not (isinstance(self.neighbours, int) and 1 <= self.neighbours <= 64):
            raise SettingsError(f"improve.neighbours must be an integer in [1, 64], not {self.neighbours!r}")
        if self.time_budget_s is not None:
            _non_negative("improve", time_budget_s=self.time_budget_s)
        if not (isinstance(self.max_rounds, int) and self.max_rounds >= 0):
            raise SettingsError(f"improve.max_rounds must be an integer >= 0, not {self.max_rounds!r}")
        _non_negative("improve", search_iterations_per_stop=self.search_iterations_per_stop,
                      search_iterations_per_s=self.search_iterations_per_s)
        if not (isinstance(self.search_neighbours, int) and 1 <= self.search_neighbours <= 128):
            raise SettingsError(
                f"improve.search_neighbours must be an integer in [1, 128], not {self.search_neighbours!r}")

    def search_iterations(self, budget_s: float, n_stops: int) -> float:
        """SISR iterations per stop for an improve call of ``budget_s`` seconds over ``n_stops`` routed stops.

        The larger of ``search_iterations_per_stop`` and the budget's share
        ``search_iterations_per_s * budget_s / n_stops``: a pure function of
        the settings and the data, never of the clock, so a run that finishes
        within its budget repeats exactly on any machine.
        """
        return max(float(self.search_iterations_per_stop),
                   self.search_iterations_per_s * max(float(budget_s), 0.0) / max(int(n_stops), 1))

    def budget_for(self, n_stops: int) -> float:
        """The improve stage's time budget for ``n_stops`` stops."""
        if self.time_budget_s is not None:
            return float(self.time_budget_s)
        return min(90.0, 5.0 + n_stops * 6e-5)


@dataclass(frozen=True)
class ClusterSettings:
    """How hubs are grouped into tasks (in-process and on a Dask cluster alike)."""

    #: target routable stops per hub group; a hub is never split
    group_stops: int = 25_000

    def __post_init__(self) -> None:
        if not (isinstance(self.group_stops, int) and self.group_stops >= 1):
            raise SettingsError(f"cluster.group_stops must be an integer >= 1, not {self.group_stops!r}")


@dataclass(frozen=True)
class Settings:
    """Everything a plan depends on besides its inputs."""

    h3_resolution: int = 8
    circuity: float = 1.3
    candidate_hubs: int = 4
    max_hub_km: float = 120.0
    seed: int = 0
    backend: str = "auto"
    speeds: SpeedSettings = field(default_factory=SpeedSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    cost: CostSettings = field(default_factory=CostSettings)
    revenue: RevenueSettings = field(default_factory=RevenueSettings)
    improve: ImproveSettings = field(default_factory=ImproveSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)

    def __post_init__(self) -> None:
        if not (isinstance(self.h3_resolution, int) and 0 <= self.h3_resolution <= 15):
            raise SettingsError(f"h3_resolution must be an integer in [0, 15], not {self.h3_resolution!r}")
        if not (isinstance(self.circuity, (int, float)) and 1.0 <= self.circuity <= 3.0):
            raise SettingsError(f"circuity must be a number in [1, 3], not {self.circuity!r}")
        if not (isinstance(self.candidate_hubs, int) and 1 <= self.candidate_hubs <= 16):
            raise SettingsError(f"candidate_hubs must be an integer in [1, 16], not {self.candidate_hubs!r}")
        _positive("settings", max_hub_km=self.max_hub_km)
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise SettingsError(f"seed must be an integer >= 0, not {self.seed!r}")
        if self.backend not in ("auto", "cpu", "cuda"):
            raise SettingsError(f"backend must be one of auto, cpu, cuda, not {self.backend!r}")

    def replace(self, **changes: Any) -> "Settings":
        """A copy with top-level fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, as written to summary.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Settings":
        """Build settings from a nested mapping; unknown keys are an error."""
        return _build(cls, data, "settings")

    @classmethod
    def from_toml(cls, path: str | Path) -> "Settings":
        """Load settings from a TOML file."""
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read settings ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: invalid TOML ({exc})") from None
        return cls.from_dict(data)


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise SettingsError(f"{where} must be a table, not {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise SettingsError(f"unknown setting {where}.{key}" if where != "settings" else f"unknown setting {key}")
        default = fields[key].default_factory if fields[key].default_factory is not dataclasses.MISSING else None
        if default is not None and dataclasses.is_dataclass(default):
            kwargs[key] = _build(default, value, key)
        else:
            kwargs[key] = value
    return cls(**kwargs)
