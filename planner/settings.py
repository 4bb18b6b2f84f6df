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
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from planner.errors import SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


#: the values of ``Settings.network``
NETWORKS = ("shared", "separate")


#: the documented seed range: what a signed 64-bit integer (a TOML integer) holds
MAX_SEED = 2**63 - 1


def _key(owner: str, name: str) -> str:
    """A setting's name as written in a TOML file: ``section.key``, or ``key`` at the top level."""
    return f"{owner}.{name}" if owner else name


def _is_number(value: Any) -> bool:
    """A finite int or float; never a bool (``true`` is not 1 in a settings file)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (_is_number(value) and value > 0):
            raise SettingsError(f"{_key(owner, name)} must be a positive number, not {value!r}")


def _non_negative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (_is_number(value) and value >= 0):
            raise SettingsError(f"{_key(owner, name)} must be a number >= 0, not {value!r}")


def _between(owner: str, low: float, high: float, *, open_low: bool = False, **values: float) -> None:
    """Numbers in [low, high] ((low, high] with ``open_low``)."""
    for name, value in values.items():
        if not (_is_number(value) and (value > low if open_low else value >= low) and value <= high):
            interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
            raise SettingsError(f"{_key(owner, name)} must be a number in {interval}, not {value!r}")


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
        _between("revenue", 0.0, 1.0, delivery_share=self.delivery_share)


def _integer(owner: str, low: int, high: int | None = None, **values: int) -> None:
    for name, value in values.items():
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
        if not ok:
            where = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise SettingsError(f"{_key(owner, name)} must be an integer {where}, not {value!r}")


def _boolean(owner: str, **values: bool) -> None:
    for name, value in values.items():
        if not isinstance(value, bool):
            raise SettingsError(f"{_key(owner, name)} must be true or false, not {value!r}")


def _share(owner: str, **values: float) -> None:
    for name, value in values.items():
        _between(owner, 0.0, 1.0, open_low=False, **{name: value})


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
    #: search through routes over the shift or the load at a penalty (PyVRP's way through tight limits), keeping
    #: only solutions within every limit as the best; False: both are hard limits at every step
    penalties: bool = True
    #: share of iterations whose solution is within a limit that its penalty weight steers to
    penalty_target: float = 0.3
    #: factor by which a penalty weight rises or falls after each window
    penalty_step: float = 1.3
    #: iterations in a window
    penalty_window: int = 100
    #: start weight of a second over the shift, times the km a vehicle drives in a second at the stops' mean speed
    shift_penalty: float = 0.3
    #: start weight of a mean stop's demand (kg, parcels) over the load, times the start's mean edge
    load_penalty: float = 0.2
    #: lowest a penalty weight falls to, as a share of its start weight: a weight with no floor sinks while the
    #: search keeps within its limit, and the search then wanders far outside it before the weight is back
    penalty_floor: float = 0.1
    #: the load is searched at a penalty only where the start's routes have at least this many stops on average
    #: (national hubs: 100-200); on CVRPLIB's short routes (2-25 stops) the penalised load lost 0.5-3 % at 10 s
    load_penalty_min_stops: float = 50.0
    #: most 2-opt / Or-opt passes over each of the best solution's routes after the search (0: no polish)
    polish_passes: int = 1000
    #: nearest stops of a route in the polish's granular neighbourhood (0: every move of the route)
    polish_neighbours: int = 4
    #: chance that an iteration of the penalised search removes the route with the fewest stops whole instead of
    #: strings (strings never empty a route of a hundred stops), while the solution has more than
    #: ``route_ruin_slack`` routes above the fewest that can carry the hub's kg, parcels and service time
    route_ruin: float = 0.04
    #: routes above that floor from which on whole routes are ruined
    route_ruin_slack: int = 2
    #: fewest iterations a stop for which whole routes are ruined: a whole route costs some 15 strings' work, and a
    #: hub with fewer iterations ends longer with it (10M day at 1.1 a stop: 0.65 % longer, 14 % slower)
    route_ruin_min_per_stop: float = 4.0

    def __post_init__(self) -> None:
        _positive("improve.sisr", avg_removed=self.avg_removed, max_string=self.max_string, t0=self.t0, tf=self.tf,
                  cycle_per_stop=self.cycle_per_stop)
        _share("improve.sisr", split_rate=self.split_rate, split_depth=self.split_depth, blink=self.blink,
               route_ruin=self.route_ruin)
        _integer("improve.sisr", 1, max_iterations_per_stop=self.max_iterations_per_stop, chunk=self.chunk,
                 penalty_window=self.penalty_window)
        _positive("improve.sisr", shift_penalty=self.shift_penalty, load_penalty=self.load_penalty)
        _non_negative("improve.sisr", load_penalty_min_stops=self.load_penalty_min_stops)
        _integer("improve.sisr", 0, polish_passes=self.polish_passes, polish_neighbours=self.polish_neighbours,
                 route_ruin_slack=self.route_ruin_slack)
        _share("improve.sisr", penalty_target=self.penalty_target, penalty_floor=self.penalty_floor)
        _non_negative("improve.sisr", route_ruin_min_per_stop=self.route_ruin_min_per_stop)
        _boolean("improve.sisr", penalties=self.penalties)
        if not self.penalty_step > 1.0:
            raise SettingsError(f"improve.sisr.penalty_step must be above 1, not {self.penalty_step!r}")
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
    """Local search and SISR: neighbourhoods, the effort that sets their work, and a wall-clock safety cap.

    The work is set by the load and the settings only: SISR runs
    ``effort_s * iterations_per_effort_s`` iterations shared by the run's
    stops, on every hub from the start, after an optional local search to a
    local optimum (at most ``max_rounds`` rounds), so a plan repeats exactly
    on any machine, cold or warm, loaded or idle. ``time_cap_s`` only stops a
    run that has gone on far too long, and summary.json then says so.
    """

    #: granular neighbour list size for moves between routes
    neighbours: int = 12
    #: effort of the improve stage's metaheuristic in seconds of the reference machine (the 2-core machine
    #: the project is measured on, both cores busy); None: :meth:`effort_for` the run's stops
    effort_s: float | None = None
    #: the default effort: this many seconds, plus ``default_effort_per_million_s`` per million stops, at most
    #: ``default_effort_max_s`` (so a 10M-parcel day stays a batch job of minutes on 2 cores)
    default_effort_base_s: float = 5.0
    default_effort_per_million_s: float = 130.0
    default_effort_max_s: float = 150.0
    #: SISR iterations one second of effort buys: the reference machine's rate on national hubs (fixed, so
    #: that an effort means the same work everywhere)
    iterations_per_effort_s: float = 150_000.0
    #: wall-clock safety cap of the improve stage in seconds; None: max(600, 10 x the effort)
    time_cap_s: float | None = None
    #: rounds of intra + inter route local search before SISR; None: :meth:`rounds_for` the run (three where
    #: they cost at most ``local_search_share`` of the effort, else none, so SISR gets every hub from the start)
    max_rounds: int | None = None
    #: reference seconds three local-search rounds take per million stops (measured: 30 s for 866k stops)
    local_search_s_per_million: float = 35.0
    #: largest share of the effort the default local search may cost
    local_search_share: float = 0.125
    #: most rounds of the local search on SISR's plan (relocate / swap / 2-opt* between routes, then 2-opt /
    #: Or-opt inside the routes they change), where SISR ran for a number of iterations a stop; 0: none
    final_rounds: int = 1000
    #: fewest SISR iterations a stop for which the final local search runs: below, the plan is far from its local
    #: optimum and the search costs more than SISR did (10M day at 1.1 a stop: 197 s against SISR's 130 s)
    final_min_per_stop: float = 4.0
    #: nearest stops where SISR tries to re-insert a removed stop
    search_neighbours: int = 40
    #: nearest stops of a route in the granular 2-opt / Or-opt neighbourhood (0: full neighbourhood only)
    intra_neighbours: int = 10
    #: whether a long route's first granular 2-opt / Or-opt optimum is confirmed by one pass over every move
    #: (O(n^2) a route: a quarter of the intra time for about 0.1 % of distance)
    intra_confirm: bool = False
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
        for name in ("effort_s", "time_cap_s"):
            if getattr(self, name) is not None:
                _non_negative("improve", **{name: getattr(self, name)})
        _positive("improve", iterations_per_effort_s=self.iterations_per_effort_s)
        _integer("improve", 0, intra_neighbours=self.intra_neighbours)
        _integer("improve", 0, final_rounds=self.final_rounds)
        _non_negative("improve", final_min_per_stop=self.final_min_per_stop)
        if self.max_rounds is not None:
            _integer("improve", 0, max_rounds=self.max_rounds)
        _positive("improve", local_search_s_per_million=self.local_search_s_per_million)
        _share("improve", local_search_share=self.local_search_share)
        _non_negative("improve", default_effort_base_s=self.default_effort_base_s,
                      default_effort_per_million_s=self.default_effort_per_million_s,
                      default_effort_max_s=self.default_effort_max_s)
        _integer("improve", 1, 128, search_neighbours=self.search_neighbours)
        _boolean("improve", intra_confirm=self.intra_confirm)
        _integer("improve", 1, intra_passes=self.intra_passes, intra_batch=self.intra_batch,
                 intra_probe=self.intra_probe, inter_rounds_per_step=self.inter_rounds_per_step)

    @property
    def neighbour_depth(self) -> int:
        """Columns of the one neighbour table the route stage builds for the local search and SISR."""
        return max(self.neighbours, self.search_neighbours)

    def effort_for(self, n_stops: int) -> float:
        """The effort in reference seconds for a run of ``n_stops`` routable stops: ``effort_s`` when set, else
        the default (:meth:`default_effort_text`)."""
        if self.effort_s is not None:
            return float(self.effort_s)
        return min(self.default_effort_max_s,
                   self.default_effort_base_s + self.default_effort_per_million_s * n_stops / 1e6)

    def default_effort_text(self) -> str:
        """The default effort in words, for help texts."""
        return (f"{self.default_effort_base_s:g} s + {self.default_effort_per_million_s:g} s per million stops, "
                f"at most {self.default_effort_max_s:g} s")

    def rounds_for(self, n_stops: int) -> int:
        """Local-search rounds before SISR in a run of ``n_stops`` routable stops: ``max_rounds`` when set, else
        three where they cost at most ``local_search_share`` of :meth:`effort_for` them, none elsewhere. Where
        the effort is small (a default national day: 83 s for 866k stops) the rounds would take most of it and
        SISR gains as much in that time; where it is large (300 s for the same day) they are a small share and
        leave SISR a better start (0.3 % shorter)."""
        if self.max_rounds is not None:
            return int(self.max_rounds)
        cost = self.local_search_s_per_million * n_stops / 1e6
        return 3 if cost <= self.local_search_share * self.effort_for(n_stops) else 0

    def cap_for(self, n_stops: int) -> float:
        """The improve stage's wall-clock safety cap in seconds for a run of ``n_stops`` routable stops."""
        if self.time_cap_s is not None:
            return float(self.time_cap_s)
        return max(600.0, 10.0 * self.effort_for(n_stops))

    def budget(self, run_stops: int) -> Budget:
        """The budget of an improve call (a hub group's) in a run of ``run_stops`` routable stops.

        SISR gets the run's effort in iterations, the same number per stop
        everywhere (a pure function of the settings and the load, so a hub's
        plan does not depend on where it runs or which hubs share its group).
        The cap bounds each call: a group is cut only when it alone has run
        longer than the whole stage should.
        """
        per_stop = self.effort_for(run_stops) * self.iterations_per_effort_s / max(int(run_stops), 1)
        return Budget(self.cap_for(run_stops), self.rounds_for(run_stops), per_stop)


@dataclass(frozen=True)
class RouteSettings:
    """The route stage's starts (planner.stages.route): Split of two giant tours and Clarke-Wright savings."""

    #: nearest stops of each stop whose pairs the savings construction merges along (0: Split cuts only)
    savings_neighbours: int = 16
    #: the fleet-limited Split DP (O(n K L)) runs on tours of n stops and K vehicles with K x n at most this;
    #: larger tours keep the unlimited cut where it fits the fleet, else the next-fit cut
    split_layer_cells: int = 20_000
    #: cut the giant tours with Split at every hub; False: only at hubs whose savings routes do not fit the
    #: fleet (or with savings off), since wherever both fit savings was shorter at every hub measured
    split_everywhere: bool = False

    def __post_init__(self) -> None:
        _integer("route", 0, 64, savings_neighbours=self.savings_neighbours)
        _integer("route", 0, split_layer_cells=self.split_layer_cells)
        _boolean("route", split_everywhere=self.split_everywhere)


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
        _between("assign", 0.0, 1.0, open_low=True, fill_factor=self.fill_factor)
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
        _between("device", 0.0, 1.0, open_low=True, memory_share=self.memory_share)


#: road engines (``[roads] engine``): ``none`` keeps every distance great-circle km x circuity
ENGINES = ("none", "osrm")
_PROFILE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class RoadSettings:
    """Road engine (the ``[roads]`` section): which engine, where it is, how hard to push it.

    ``engine = "none"`` (the default) keeps every distance great-circle km x
    circuity, so plans without a road engine are unchanged. The size limits
    mirror ``osrm-routed``'s own options: set them to what the server was
    started with (``--max-table-size``, ``--max-viaroute-size``), or lower.
    """

    #: ``none`` (great-circle km x circuity) or ``osrm`` (an ``osrm-routed`` at ``url``)
    engine: str = "none"
    #: base URL of the server; a path prefix is kept (``http://host/osrm``)
    url: str = "http://127.0.0.1:5000"
    #: profile name in the request path; ``osrm-routed`` serves the graph it loaded whatever this says
    profile: str = "car"
    #: the server's ``--max-table-size``: a table request holds at most this squared source x target pairs
    max_table_size: int = 100
    #: the server's ``--max-viaroute-size``: waypoints per route request (longer sequences are chunked)
    max_route_size: int = 500
    #: longest request URL sent; osrm-routed closes the connection without an answer past its header limit
    max_url_bytes: int = 8000
    #: requests in flight at once
    concurrency: int = 4
    #: extra tries for a request that failed transiently (connection lost, timeout, HTTP 5xx)
    retries: int = 3
    #: first pause before a retry, doubled for each further one
    backoff_s: float = 0.25
    #: a vehicle may turn around at a stop (OSRM ``continue_straight=false``): each leg is then the fastest path
    #: on its own, equal to ``table``'s figure for the pair; False keeps the car profile's default (leave a stop
    #: in the direction it came), which makes legs depend on the leg before and longer by a few per cent
    uturn_at_stops: bool = True
    #: per-request connect and read timeout
    timeout_s: float = 30.0
    #: timeout of the start-up check, so an unreachable server ends the run in seconds
    check_timeout_s: float = 3.0
    #: nearest stops whose road legs (both ways) each stop keeps: the sample the estimates are calibrated on
    neighbours: int = 6
    #: fit the search's circuity and each stop's speed to the sampled road legs; False plans on the
    #: great-circle estimates and only re-times the final routes on roads (the "re-timed" reference plan)
    calibrate: bool = True
    #: with ``calibrate``, also fit each stop's own circuity (a multiplier of the run's, from its own sampled
    #: legs): a leg is then estimated at great circle x circuity x the mean of its two ends' multipliers;
    #: False keeps the one run-wide circuity
    node_circuity: bool = True
    #: passes of asymmetric 2-opt and Or-opt over each finished route on its road matrix; 0 keeps the order
    resequence_passes: int = 50
    #: most routes drawn on their road geometry in the report (one ``route`` request each)
    geometry_routes: int = 200

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise SettingsError(f"roads.engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        _check_url(self.url)
        if not (isinstance(self.profile, str) and _PROFILE.match(self.profile)):
            raise SettingsError(
                f"roads.profile must be a name of letters, digits, '_', '-' or '.', not {self.profile!r}")
        _integer("roads", 2, max_table_size=self.max_table_size, max_route_size=self.max_route_size)
        _integer("roads", 1024, max_url_bytes=self.max_url_bytes)
        _integer("roads", 1, concurrency=self.concurrency)
        _integer("roads", 0, retries=self.retries)
        _non_negative("roads", backoff_s=self.backoff_s)
        _boolean("roads", uturn_at_stops=self.uturn_at_stops, calibrate=self.calibrate,
                 node_circuity=self.node_circuity)
        _positive("roads", timeout_s=self.timeout_s, check_timeout_s=self.check_timeout_s)
        _integer("roads", 1, neighbours=self.neighbours)
        _integer("roads", 0, resequence_passes=self.resequence_passes, geometry_routes=self.geometry_routes)

    @property
    def enabled(self) -> bool:
        """True when a road engine is configured."""
        return self.engine != "none"


def _check_url(url: object) -> None:
    if not isinstance(url, str):
        raise SettingsError(f"roads.url must be an http:// or https:// URL, not {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise SettingsError(f"roads.url must be an http:// or https:// URL with a valid port, not {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"roads.url must be an http:// or https:// URL with a host, not {url!r}")
    if parts.username is not None or parts.password is not None:
        raise SettingsError("roads.url must not hold credentials (it is written to summary.json)")
    if parts.query or parts.fragment:
        raise SettingsError(f"roads.url must have no query or fragment, not {url!r}")


@dataclass(frozen=True)
class ClusterSettings:
    """How hubs are grouped into tasks (in-process and on a Dask cluster alike)."""

    #: target routable stops per hub group on the CPU (and per Dask task); a hub is never split
    group_stops: int = 25_000
    #: the same on the CUDA backend, where one launch should see as many routes as the device holds: capped
    #: by device memory (planner.device.Compute.group_stops), so a 10M-parcel day is one or a few groups
    cuda_group_stops: int = 10_000_000
    #: seconds a Dask cluster may have no live worker while tasks wait before the run ends (one line, no output)
    no_worker_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        _integer("cluster", 1, group_stops=self.group_stops, cuda_group_stops=self.cuda_group_stops)
        _positive("cluster", no_worker_timeout_s=self.no_worker_timeout_s)


@dataclass(frozen=True)
class Settings:
    """Everything a plan depends on besides its inputs."""

    h3_resolution: int = 8
    circuity: float = 1.3
    candidate_hubs: int = 4
    max_hub_km: float = 120.0
    seed: int = 0
    backend: str = "auto"
    #: which hubs may deliver a parcel: "shared", any hub; "separate", only the hubs of the operator that
    #: sold its shipping (contract.schemas.SHIPPER_OPERATOR)
    network: str = "shared"
    speeds: SpeedSettings = field(default_factory=SpeedSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    cost: CostSettings = field(default_factory=CostSettings)
    revenue: RevenueSettings = field(default_factory=RevenueSettings)
    improve: ImproveSettings = field(default_factory=ImproveSettings)
    assign: AssignSettings = field(default_factory=AssignSettings)
    route: RouteSettings = field(default_factory=RouteSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    device: DeviceSettings = field(default_factory=DeviceSettings)
    roads: RoadSettings = field(default_factory=RoadSettings)

    def __post_init__(self) -> None:
        _integer("", 0, 15, h3_resolution=self.h3_resolution)
        _between("", 1.0, 3.0, circuity=self.circuity)
        _integer("", 1, 16, candidate_hubs=self.candidate_hubs)
        _positive("", max_hub_km=self.max_hub_km)
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and 0 <= self.seed <= MAX_SEED):
            raise SettingsError(f"seed must be an integer in [0, 2**63 - 1], not {self.seed!r}")
        if self.backend not in ("auto", "cpu", "cuda"):
            raise SettingsError(f"backend must be one of auto, cpu, cuda, not {self.backend!r}")
        if self.network not in NETWORKS:
            raise SettingsError(f"network must be one of {', '.join(NETWORKS)}, not {self.network!r}")

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
        """Load settings from a TOML file; every error is one line naming the file (and the key)."""
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read settings ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: invalid TOML ({exc})") from None
        try:
            return cls.from_dict(data)
        except SettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None


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
