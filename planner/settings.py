"""Planner settings: frozen dataclasses validated on construction, loadable from TOML.

Every key has a default; a TOML file only names what it changes, in sections
that mirror the dataclasses (``[speeds]``, ``[service]``, ``[cost]``,
``[revenue]``, ``[improve]`` with ``[improve.sisr]``, ``[assign]``, ``[cluster]``,
``[device]``) plus top-level keys. Every algorithm knob of the planner is
here, each default written once.
"""
from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def _integer(owner: str, low: int, high: int | None = None, **values: int) -> None:
    for name, value in values.items():
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
        if not ok:
            where = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise SettingsError(f"{owner}.{name} must be an integer {where}, not {value!r}")


def _share(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0):
            raise SettingsError(f"{owner}.{name} must be a number in [0, 1], not {value!r}")


@dataclass(frozen=True)
class SisrSettings:
    """SISR ruin-and-recreate (Christiaens & Vanden Berghe 2020); temperatures are per mean route edge."""

    #: c-bar: mean stops removed per iteration
    avg_removed: float = 10.0
    #: L-max: longest string removed from one route
    max_string: float = 10.0
    #: chance a string keeps a preserved middle part
    split_rate: float = 0.5
    #: beta: chance to stop growing the preserved part
    split_depth: float = 0.01
    #: chance to skip a candidate position in recreate
    blink: float = 0.01
    #: start temperature, times the initial mean edge length
    t0: float = 0.4
    #: end temperature of each cycle, same unit
    tf: float = 0.004
    #: first annealing cycle, iterations per stop (cycles then double)
    cycle_per_stop: float = 60.0
    #: converged by then; small hubs leave their time to the others
    max_iterations_per_stop: int = 20_000
    #: iterations per call of the compiled search; the clock is read between calls
    chunk: int = 256

    def __post_init__(self) -> None:
        _positive("improve.sisr", avg_removed=self.avg_removed, max_string=self.max_string, t0=self.t0, tf=self.tf,
                  cycle_per_stop=self.cycle_per_stop)
        _share("improve.sisr", split_rate=self.split_rate, split_depth=self.split_depth, blink=self.blink)
        _integer("improve.sisr", 1, max_iterations_per_stop=self.max_iterations_per_stop, chunk=self.chunk)
        if self.tf > self.t0:
            raise SettingsError("improve.sisr.tf must not exceed improve.sisr.t0")


@dataclass(frozen=True)
class Budget:
    """How much one improve call may do: its work bounds (rounds, SISR iterations per stop), which make
    it repeat exactly, and a wall-clock cap in seconds, which only cuts a run short and says so."""

    seconds: float
    max_rounds: int
    #: SISR iterations per stop; None: SISR runs until the seconds are spent (``hexroute cvrp``'s race)
    sisr_per_stop: float | None


@dataclass(frozen=True)
class ImproveSettings:
    """Local search and SISR: neighbourhoods, work bounds and the time budget."""

    #: granular neighbour list size for moves between routes
    neighbours: int = 12
    #: seconds for the improve stage; None scales with the number of stops
    time_budget_s: float | None = None
    #: rounds of intra + inter route local search
    max_rounds: int = 200
    #: SISR ruin-and-recreate iterations per stop after the local search (0: none)
    search_iterations_per_stop: float = 4.0
    #: SISR iterations per second of the improve budget, shared by the stops (0: none); the larger of this
    #: share and ``search_iterations_per_stop`` applies (see :meth:`budget`)
    search_iterations_per_s: float = 0.0
    #: nearest stops where SISR tries to re-insert a removed stop
    search_neighbours: int = 40
    #: nearest stops of a route in the granular 2-opt / Or-opt neighbourhood (0: full neighbourhood only)
    intra_neighbours: int = 10
    #: most 2-opt / Or-opt passes per route and call of the intra kernel
    intra_passes: int = 1000
    #: most routes per call of the intra kernel (the clock is checked between calls)
    intra_batch: int = 4096
    #: routes in the first call of a pass, which measures the kernel's rate for sizing the next calls
    intra_probe: int = 64
    #: inter-route rounds per call of the inter kernel between intra passes
    inter_rounds_per_step: int = 25
    sisr: SisrSettings = field(default_factory=SisrSettings)

    def __post_init__(self) -> None:
        _integer("improve", 1, 64, neighbours=self.neighbours)
        if self.time_budget_s is not None:
            _non_negative("improve", time_budget_s=self.time_budget_s)
        _integer("improve", 0, max_rounds=self.max_rounds, intra_neighbours=self.intra_neighbours)
        _non_negative("improve", search_iterations_per_stop=self.search_iterations_per_stop,
                      search_iterations_per_s=self.search_iterations_per_s)
        _integer("improve", 1, 128, search_neighbours=self.search_neighbours)
        _integer("improve", 1, intra_passes=self.intra_passes, intra_batch=self.intra_batch,
                 intra_probe=self.intra_probe, inter_rounds_per_step=self.inter_rounds_per_step)

    def budget(self, seconds: float, n_stops: int) -> Budget:
        """The budget of an improve call of ``seconds`` over ``n_stops`` routed stops.

        SISR gets the larger of ``search_iterations_per_stop`` and the
        budget's share ``search_iterations_per_s * seconds / n_stops`` per
        stop: a pure function of the settings and the data, never of the
        clock, so a run that finishes within its budget repeats exactly.
        """
        per_stop = max(float(self.search_iterations_per_stop),
                       self.search_iterations_per_s * max(float(seconds), 0.0) / max(int(n_stops), 1))
        return Budget(float(seconds), self.max_rounds, per_stop)

    def budget_for(self, n_stops: int) -> float:
        """The improve stage's time budget in seconds for a run of ``n_stops`` stops."""
        if self.time_budget_s is not None:
            return float(self.time_budget_s)
        return min(90.0, 5.0 + n_stops * 6e-5)


@dataclass(frozen=True)
class AssignSettings:
    """The assignment's capacity model and the size of its transportation LP (planner.stages.assign)."""

    #: share of a fleet's kg capacity that assignment plans for, leaving slack for routing
    fill_factor: float = 0.92
    #: H3 resolution of the LP's cells when there are more than ``lp_max_cells`` occupied cells
    lp_resolution: int = 6
    #: occupied cells up to which the LP runs on the index's own cells
    lp_max_cells: int = 20_000
    #: how far from the overloaded hubs the LP reaches (hub -> cells that can use it -> their hubs -> ...)
    lp_hops: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.fill_factor, (int, float)) and 0.0 < self.fill_factor <= 1.0):
            raise SettingsError(f"assign.fill_factor must be a number in (0, 1], not {self.fill_factor!r}")
        _integer("assign", 0, 15, lp_resolution=self.lp_resolution)
        _integer("assign", 1, lp_max_cells=self.lp_max_cells, lp_hops=self.lp_hops)


@dataclass(frozen=True)
class DeviceSettings:
    """How much of a CUDA device a hub group may plan to use (the kernels know their bytes per stop)."""

    #: device memory held back from groups: the intra-route workspace and headroom for the context
    reserved_mib: int = 512
    #: share of the free device memory a group may plan to use (fragmentation, estimates that run short)
    memory_share: float = 0.5

    def __post_init__(self) -> None:
        _integer("device", 0, reserved_mib=self.reserved_mib)
        if not (isinstance(self.memory_share, (int, float)) and 0.0 < self.memory_share <= 1.0):
            raise SettingsError(f"device.memory_share must be a number in (0, 1], not {self.memory_share!r}")


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
    assign: AssignSettings = field(default_factory=AssignSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    device: DeviceSettings = field(default_factory=DeviceSettings)

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
        path = key if where == "settings" else f"{where}.{key}"
        if key not in fields:
            raise SettingsError(f"unknown setting {path}")
        default = fields[key].default_factory if fields[key].default_factory is not dataclasses.MISSING else None
        if default is not None and dataclasses.is_dataclass(default):
            kwargs[key] = _build(default, value, path)
        else:
            kwargs[key] = value
    return cls(**kwargs)
