"""Hub groups: the unit of work after assignment, planned anywhere and merged on the client.

Once every stop has its hub, hubs are independent. The client cuts the hubs
into groups balanced by routable stops (:func:`partition_hubs`), packs each
group's share of the data into a :class:`GroupInput`, and :func:`plan_group`
turns one group into routes (route -> improve -> schedule) returned as two
Arrow tables. :func:`merge_groups` puts the groups back together in hub order.

The grouping depends only on the data and ``group_stops``, never on how many
workers there are or where a group runs, so a plan made in-process (groups
one after another) and one made on a cluster are the same computation and
give byte-identical outputs. On the CUDA backend the group size is also
capped so that one group's arrays fit the device (:func:`fit_group_stops`).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from kernels import GREAT_CIRCLE, api
from kernels.backend import resolve
from planner.compute import Compute
from planner.fleet import Fleet, Nodes
from planner.improve import ImproveStats, improve_routes
from planner.index import Stops
from planner.route import build_routes
from planner.schedule import Schedule, schedule_routes
from planner.schemas import table_from_columns
from planner.settings import Settings

ROUTES_SCHEMA = pa.schema([
    ("hub", pa.int32()), ("n_stops", pa.int32()), ("n_parcels", pa.int32()), ("load_kg", pa.float64()),
    ("distance_km", pa.float64()), ("duration_s", pa.int32()), ("cost_usd", pa.float64()), ("co2_kg", pa.float64()),
])
STOPS_SCHEMA = pa.schema([
    ("stop", pa.int64()), ("route", pa.int32()), ("seq", pa.int32()), ("eta_s", pa.int32()), ("reason", pa.string()),
])


@dataclass(frozen=True)
class GroupInput:
    """Everything one hub group needs, and nothing else: its hubs and their routable stops.

    Stops keep the client's numbering order (``stop`` is increasing) and hubs
    theirs, so every tie broken by index is broken the same way as in one
    call over all hubs.
    """

    index: int  # position of the group, for task keys and logs
    hubs: np.ndarray  # int32[g], global hub indices, increasing
    fleet: Fleet  # those hubs' rows
    stop: np.ndarray  # int64[n], global stop indices, increasing
    hub: np.ndarray  # int32[n], local hub index (into ``hubs``) of each stop
    lat: np.ndarray  # float64[n]
    lon: np.ndarray  # float64[n]
    weight_kg: np.ndarray  # float64[n]
    n_parcels: np.ndarray  # int32[n]
    tier: np.ndarray  # int8[n]
    speed_kmh: np.ndarray  # float64[n]
    service_s: np.ndarray  # float64[n]
    hilbert: np.ndarray  # int64[n], keys computed once over all stops of the run
    settings: Settings
    budget_s: float  # this group's share of the improve stage's time budget

    @property
    def size(self) -> int:
        """Number of stops in the group."""
        return int(self.stop.size)


#: device bytes one routable stop of a group may need at once on CUDA, neighbour lists (4 bytes per
#: neighbour) aside: six float64 node arrays (48); the padded routes, three copies in the local search at
#: 4 bytes a slot and up to 8 slots a stop (96); the inter-route scratch (124); Split's workspace and, for
#: fleet-limited tours, its layers (~265); leg, hub-distance and tour index arrays (~36)
DEVICE_BYTES_PER_STOP = 48 + 96 + 124 + 265 + 36
#: device memory held back from groups: the intra-route workspace (256 MiB) and headroom for the context
DEVICE_RESERVED_BYTES = 512 * 2**20
#: share of the free device memory a group may plan to use (fragmentation, estimates that run short)
DEVICE_SAFETY = 0.5


@dataclass(frozen=True)
class GroupResult:
    """One group's plan: routes (ROUTES_SCHEMA, hub order) and its stops' outcome (STOPS_SCHEMA)."""

    index: int
    routes: pa.Table
    stops: pa.Table
    improve: ImproveStats
    seconds: dict[str, float]  # route, improve, schedule
    backend: str
    transfers: dict[str, dict[str, int]] = field(default_factory=dict)  # per stage, see kernels.api.transfers
    device_memory: dict[str, int] | None = None  # kernels.api.memory_pool after the group (None: no CuPy)


def fit_group_stops(group_stops: int, free_bytes: int | None, bytes_per_stop: int = DEVICE_BYTES_PER_STOP,
                    reserved_bytes: int = DEVICE_RESERVED_BYTES, safety: float = DEVICE_SAFETY) -> int:
    """The group size to plan with: ``group_stops``, lowered until a group fits ``free_bytes`` of device memory.

    ``free_bytes`` None (the CPU, the simulator) keeps the setting. Never below 1.
    """
    if free_bytes is None:
        return group_stops
    fits = int((free_bytes * safety - reserved_bytes) // bytes_per_stop)
    return max(1, min(group_stops, fits))


def device_group_stops(group_stops: int, settings: Settings) -> int:
    """``group_stops`` capped by this machine's free device memory on the CUDA backend (see :func:`fit_group_stops`).

    Groups are cut on the client; on a cluster its device stands in for the workers' (dask-cuda nodes alike).
    """
    backend = resolve(settings.backend).name
    free = api.memory_info(backend=backend)
    per_stop = DEVICE_BYTES_PER_STOP + 4 * settings.improve.neighbours
    return fit_group_stops(group_stops, None if free is None else free[0], per_stop)


def partition_hubs(stop_hub: np.ndarray, n_hubs: int, group_stops: int) -> list[np.ndarray]:
    """Hubs with stops, in groups of about ``group_stops`` stops (largest hub first to the lightest group).

    ``stop_hub`` is the hub of every routable stop. Returns each group's hub
    indices, increasing; ties go to the lower hub and the lower group, so the
    grouping is a pure function of its arguments.
    """
    if group_stops < 1:
        raise ValueError(f"group_stops must be >= 1, not {group_stops}")
    count = np.bincount(stop_hub, minlength=n_hubs)
    hubs = np.flatnonzero(count)
    if hubs.size == 0:
        return []
    n_groups = int(min(hubs.size, -(-int(count.sum()) // group_stops)))
    order = hubs[np.lexsort((hubs, -count[hubs]))]
    load = np.zeros(n_groups, dtype=np.int64)
    owner = np.empty(n_hubs, dtype=np.int64)
    for h in order.tolist():
        g = int(np.argmin(load))
        owner[h] = g
        load[g] += count[h]
    return [hubs[owner[hubs] == g].astype(np.int32) for g in range(n_groups)]


def _take_fleet(fleet: Fleet, hubs: np.ndarray) -> Fleet:
    return Fleet(**{f.name: getattr(fleet, f.name)[hubs] for f in fields(Fleet)})


def group_inputs(stops: Stops, hub: np.ndarray, routable: np.ndarray, hilbert: np.ndarray, fleet: Fleet,
                 settings: Settings, group_stops: int) -> list[GroupInput]:
    """Cut a run into hub groups from its stops, each stop's ``hub`` and whether it is ``routable``.

    The improve stage's budget for the whole run is shared in proportion to routable stops.
    """
    idx = np.flatnonzero(routable)
    groups = partition_hubs(hub[idx], fleet.size, device_group_stops(group_stops, settings))
    budget = settings.improve.budget_for(stops.size)
    local = np.full(fleet.size, -1, dtype=np.int32)
    owner = np.full(fleet.size, -1, dtype=np.int64)
    for g, hubs in enumerate(groups):
        local[hubs] = np.arange(hubs.size, dtype=np.int32)
        owner[hubs] = g
    group_of = owner[hub[idx]]
    by_group = idx[np.argsort(group_of, kind="stable")]  # stop order kept within a group
    ptr = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(np.bincount(group_of, minlength=len(groups)), out=ptr[1:])
    out = []
    for g, hubs in enumerate(groups):
        s = by_group[ptr[g]:ptr[g + 1]]
        out.append(GroupInput(
            index=g, hubs=hubs, fleet=_take_fleet(fleet, hubs), stop=s.astype(np.int64), hub=local[hub[s]],
            lat=stops.lat[s], lon=stops.lon[s], weight_kg=stops.weight_kg[s], n_parcels=stops.n_parcels[s],
            tier=stops.tier[s], speed_kmh=stops.speed_kmh[s], service_s=stops.service_s[s], hilbert=hilbert[s],
            settings=settings, budget_s=budget * s.size / max(1, idx.size)))
    return out


def plan_group(group: GroupInput) -> GroupResult:
    """Route, improve and schedule one hub group; pure up to the improve stage's clock."""
    settings = group.settings
    compute = Compute(resolve(settings.backend), GREAT_CIRCLE, settings.circuity)
    nodes = Nodes.build(group, group.fleet, settings.speeds.suburban_kmh)
    meter = _StageMeter(compute.name)
    with meter.stage("route"):
        routes, reasons = build_routes(group.hub, np.ones(group.size, dtype=bool), group.tier, group.hilbert,
                                       nodes, group.fleet, compute)
    with meter.stage("improve"):
        routes, stats = improve_routes(routes, nodes, group.fleet, compute, settings.improve, group.budget_s,
                                       settings.seed, hub_key=group.hubs)
    with meter.stage("schedule"):
        schedule = schedule_routes(routes, nodes, compute, settings.cost)
    return GroupResult(group.index, _routes_table(group.hubs[routes.route_hub], schedule),
                       _stops_table(group.stop, schedule, reasons), stats, meter.seconds, compute.name,
                       meter.transfers, api.memory_pool(backend=compute.name))


class _StageMeter:
    """Seconds and host <-> device transfers of each stage of one group."""

    def __init__(self, backend: str):
        self.backend = backend
        self.seconds: dict[str, float] = {}
        self.transfers: dict[str, dict[str, int]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Measure the block as stage ``name``."""
        t0 = time.perf_counter()
        before = api.transfers(backend=self.backend)
        yield
        self.seconds[name] = time.perf_counter() - t0
        after = api.transfers(backend=self.backend)
        self.transfers[name] = {k: after[k] - before[k] for k in after}


def _routes_table(route_hub: np.ndarray, s: Schedule) -> pa.Table:
    return table_from_columns(ROUTES_SCHEMA, {
        "hub": route_hub, "n_stops": s.n_stops, "n_parcels": s.n_parcels, "load_kg": s.load_kg,
        "distance_km": s.distance_km, "duration_s": s.duration_s, "cost_usd": s.cost_usd, "co2_kg": s.co2_kg})


def _stops_table(stop: np.ndarray, s: Schedule, reasons: np.ndarray) -> pa.Table:
    return table_from_columns(STOPS_SCHEMA, {"stop": stop, "route": s.stop_route, "seq": s.stop_seq,
                                             "eta_s": s.stop_eta_s, "reason": pa.array(reasons, type=pa.string())})


@dataclass(frozen=True)
class Merged:
    """The groups put back together: one schedule over all stops, routes in hub order."""

    schedule: Schedule
    route_hub: np.ndarray  # int32[R], non-decreasing
    route_reasons: np.ndarray  # object[S], why a routable stop was deferred by routing (None otherwise)
    improve: ImproveStats
    seconds: dict[str, float]
    backends: list[str]
    transfers: dict[str, dict[str, int]]  # per stage, summed over groups
    device_memory: dict[str, int] | None  # largest memory-pool figures of any group (None: no CuPy)


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy()


def merge_groups(results: list[GroupResult], n_stops: int) -> Merged:
    """Merge group results (any order) into run-wide arrays; routes go by hub, then by route in hub."""
    results = sorted(results, key=lambda r: r.index)
    routes = pa.concat_tables([r.routes for r in results]) if results else ROUTES_SCHEMA.empty_table()
    offsets = np.cumsum([0] + [r.routes.num_rows for r in results])
    route_hub = _column(routes, "hub").astype(np.int32)
    order = np.argsort(route_hub, kind="stable")  # a hub lies in one group, ordered there already
    new_id = np.empty(order.size, dtype=np.int32)
    new_id[order] = np.arange(order.size, dtype=np.int32)

    stop_route = np.full(n_stops, -1, dtype=np.int32)
    stop_seq = np.zeros(n_stops, dtype=np.int32)
    stop_eta = np.full(n_stops, -1, dtype=np.int32)
    reasons = np.full(n_stops, None, dtype=object)
    for r, offset in zip(results, offsets):
        s = _column(r.stops, "stop")
        local = _column(r.stops, "route")
        on = local >= 0
        stop_route[s[on]] = new_id[local[on] + offset]
        stop_seq[s] = _column(r.stops, "seq")
        stop_eta[s] = _column(r.stops, "eta_s")
        reasons[s] = np.asarray(r.stops.column("reason").to_pylist(), dtype=object)

    def col(name: str) -> np.ndarray:
        return _column(routes, name)[order]

    schedule = Schedule(distance_km=col("distance_km"), duration_s=col("duration_s"), load_kg=col("load_kg"),
                        n_parcels=col("n_parcels"), n_stops=col("n_stops"), cost_usd=col("cost_usd"),
                        co2_kg=col("co2_kg"), stop_route=stop_route, stop_seq=stop_seq, stop_eta_s=stop_eta)
    stats = [r.improve for r in results]
    improve = ImproveStats(
        distance_before=float(sum(s.distance_before for s in stats)),
        distance_after=float(sum(s.distance_after for s in stats)),
        rounds=max((s.rounds for s in stats), default=0), inter_moves=sum(s.inter_moves for s in stats),
        seconds=float(sum(s.seconds for s in stats)), stopped_by_clock=any(s.stopped_by_clock for s in stats))
    seconds = {k: round(sum(r.seconds[k] for r in results), 4) for k in ("route", "improve", "schedule")}
    return Merged(schedule, route_hub[order], reasons, improve, seconds, sorted({r.backend for r in results}),
                  _sum_transfers(results), _max_memory(results))


def _sum_transfers(results: list[GroupResult]) -> dict[str, dict[str, int]]:
    """Each stage's transfer counters added over the groups."""
    out: dict[str, dict[str, int]] = {}
    for r in results:
        for stage, counts in r.transfers.items():
            total = out.setdefault(stage, dict.fromkeys(counts, 0))
            for k, v in counts.items():
                total[k] += v
    return out


def _max_memory(results: list[GroupResult]) -> dict[str, Any] | None:
    """The largest memory-pool figures any group reported, or None when none had CuPy."""
    figures = [r.device_memory for r in results if r.device_memory is not None]
    if not figures:
        return None
    return {k: max(f[k] for f in figures) for k in figures[0]}
