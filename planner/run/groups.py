"""Hub groups: the unit of work after assignment, planned anywhere and merged on the client.

Once every stop has its hub, hubs are independent. The client cuts the hubs
into groups balanced by routable stops (:func:`partition_hubs`), packs each
group's share of the data into a :class:`GroupInput`, and :func:`plan_group`
turns one group into routes (route -> improve -> schedule), returned as NumPy
arrays (a :class:`GroupResult`). :func:`merge_groups` puts the groups back
together in hub order.

The grouping depends only on the data and ``group_stops``, never on how many
workers there are or where a group runs, so a plan made in-process (groups
one after another) and one made on a cluster are the same computation and
give byte-identical outputs. On the CUDA backend the group size is also
capped so that one group's arrays fit the device (:meth:`planner.device.Compute.group_stops`).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels import GREAT_CIRCLE
from planner.contract.schemas import NO_REASON
from planner.device import Compute
from planner.model import Hubs, Nodes, Stops
from planner.settings import Budget, Settings
from planner.stages.improve import ImproveStats, improve_routes
from planner.stages.route import build_routes
from planner.stages.schedule import Schedule, schedule_routes

#: the stages inside a hub group
GROUP_STAGES = ("route", "improve", "schedule")


@dataclass(frozen=True)
class GroupInput:
    """Everything one hub group needs, and nothing else: its hubs and their routable stops.

    Stops keep the client's numbering order (``stop`` is increasing) and hubs
    theirs, so every tie broken by index is broken the same way as in one
    call over all hubs.
    """

    index: int  # position of the group, for task keys and logs
    hubs: np.ndarray  # int32[g], global hub indices, increasing
    fleet: Hubs  # those hubs' rows
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
    run_stops: int  # routable stops of the whole run: the improve effort is shared by them
    metric: int = GREAT_CIRCLE
    #: the improve budget as given (``hexroute cvrp``); None: from ``settings`` and ``run_stops``
    budget: Budget | None = None
    #: the circuity fitted to road legs (planner.run.roads); None: ``settings.circuity``
    circuity: float | None = None
    #: float64[n], each stop's circuity relative to ``circuity``, fitted to its own road legs
    #: (planner.roads.calibrate); None: 1.0 for every stop (the run-wide circuity alone)
    stop_circuity: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of stops in the group."""
        return int(self.stop.size)

    @property
    def scale(self) -> float:
        """Distance scale of the metric: the circuity for great circle, 1 for planar instances."""
        if self.metric != GREAT_CIRCLE:
            return 1.0
        return self.settings.circuity if self.circuity is None else self.circuity


@dataclass(frozen=True)
class GroupResult:
    """One group's plan: its routes (schedule, ``route_hub`` global, hub order) and its stops' outcome."""

    index: int
    route_hub: np.ndarray  # int32[R], global hub of each route
    schedule: Schedule  # per route, and per stop of the group (local stop order)
    stop: np.ndarray  # int64[n], global stop index of each of the group's stops
    reason: np.ndarray  # int8[n], why routing deferred the stop (NO_REASON otherwise)
    improve: ImproveStats
    seconds: dict[str, float]  # route, improve, schedule
    backend: str
    transfers: dict[str, dict[str, int]] = field(default_factory=dict)  # per stage, see Compute.transfers
    device_memory: dict[str, int] | None = None  # Compute.memory_pool after the group (None: no CuPy)


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


def group_size(settings: Settings, compute: Compute) -> int:
    """Target routable stops per group on this run's backend: ``cluster.group_stops`` on the CPU,
    ``cluster.cuda_group_stops`` on CUDA, capped so that one group's arrays fit the device. Plans do not
    depend on it (tests/run/test_determinism.py), only the work per task and per launch does."""
    cluster = settings.cluster
    requested = cluster.cuda_group_stops if compute.name == "cuda" else cluster.group_stops
    return compute.group_stops(requested, settings.improve.neighbours, settings.device)


def group_inputs(stops: Stops, hub: np.ndarray, routable: np.ndarray, hilbert: np.ndarray, hubs: Hubs,
                 settings: Settings, compute: Compute, circuity: float | None = None,
                 stop_circuity: np.ndarray | None = None) -> list[GroupInput]:
    """Cut a run into hub groups from its stops, each stop's ``hub`` and whether it is ``routable``
    (``circuity``: a fitted value for the groups' metric, see GroupInput.circuity; ``stop_circuity``: float64[S],
    every stop's multiplier of it, see GroupInput.stop_circuity).

    The improve stage's effort and cap are shared in proportion to routable stops (see ImproveSettings.budget).
    """
    idx = np.flatnonzero(routable)
    size = group_size(settings, compute)
    groups = partition_hubs(hub[idx], hubs.size, size)
    local = np.full(hubs.size, -1, dtype=np.int32)
    owner = np.full(hubs.size, -1, dtype=np.int64)
    for g, members in enumerate(groups):
        local[members] = np.arange(members.size, dtype=np.int32)
        owner[members] = g
    group_of = owner[hub[idx]]
    by_group = idx[np.argsort(group_of, kind="stable")]  # stop order kept within a group
    ptr = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(np.bincount(group_of, minlength=len(groups)), out=ptr[1:])
    out = []
    for g, members in enumerate(groups):
        s = by_group[ptr[g]:ptr[g + 1]]
        out.append(GroupInput(
            index=g, hubs=members, fleet=hubs.take(members), stop=s.astype(np.int64), hub=local[hub[s]],
            lat=stops.lat[s], lon=stops.lon[s], weight_kg=stops.weight_kg[s], n_parcels=stops.n_parcels[s],
            tier=stops.tier[s], speed_kmh=stops.speed_kmh[s], service_s=stops.service_s[s], hilbert=hilbert[s],
            settings=settings, run_stops=int(idx.size), circuity=circuity,
            stop_circuity=None if stop_circuity is None else stop_circuity[s]))
    return out


def plan_group(group: GroupInput) -> GroupResult:
    """Route, improve and schedule one hub group; pure up to the improve stage's clock."""
    settings = group.settings
    compute = Compute.open(settings.backend, group.metric, group.scale)
    compute.warm_up()  # a no-op where the process compiled already (in-process); on a Dask worker, not timed
    nodes = Nodes.build(group.lat, group.lon, group.weight_kg, group.n_parcels, group.service_s, group.speed_kmh,
                        group.fleet, settings.speeds.suburban_kmh, group.stop_circuity)
    meter = _StageMeter(compute)
    with meter.stage("route"):
        routes, reasons, neighbours = build_routes(group.hub, group.tier, group.hilbert, nodes, group.fleet,
                                                   compute, settings.route, settings.improve.neighbour_depth)
    with meter.stage("improve"):
        budget = group.budget or settings.improve.budget(group.run_stops)
        routes, stats = improve_routes(routes, nodes, group.fleet, compute, settings.improve, budget, settings.seed,
                                       hub_key=group.hubs, neighbours=neighbours)
    with meter.stage("schedule"):
        schedule = schedule_routes(routes, nodes, compute, settings.cost)
    return GroupResult(group.index, group.hubs[routes.route_hub].astype(np.int32), schedule, group.stop, reasons,
                       stats, meter.seconds, compute.name, meter.transfers, compute.memory_pool())


class _StageMeter:
    """Seconds and host <-> device transfers of each stage of one group."""

    def __init__(self, compute: Compute):
        self.compute = compute
        self.seconds: dict[str, float] = {}
        self.transfers: dict[str, dict[str, int]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Measure the block as stage ``name``."""
        t0 = time.perf_counter()
        before = self.compute.transfers()
        yield
        self.seconds[name] = time.perf_counter() - t0
        after = self.compute.transfers()
        self.transfers[name] = {k: after[k] - before[k] for k in after}


@dataclass(frozen=True)
class Merged:
    """The groups put back together: one schedule over all stops, routes in hub order."""

    schedule: Schedule
    route_hub: np.ndarray  # int32[R], non-decreasing
    route_reasons: np.ndarray  # int8[S], why routing deferred a routable stop (NO_REASON otherwise)
    improve: ImproveStats
    seconds: dict[str, float]
    backends: list[str]
    transfers: dict[str, dict[str, int]]  # per stage, summed over groups
    device_memory: dict[str, int] | None  # largest memory-pool figures of any group (None: no CuPy)


def merge_groups(results: list[GroupResult], n_stops: int) -> Merged:
    """Merge group results (any order) into run-wide arrays; routes go by hub, then by route in hub."""
    results = sorted(results, key=lambda r: r.index)
    offsets = np.cumsum([0] + [r.route_hub.size for r in results])
    route_hub = np.concatenate([r.route_hub for r in results] or [np.zeros(0, np.int32)]).astype(np.int32)
    order = np.argsort(route_hub, kind="stable")  # a hub lies in one group, ordered there already
    new_id = np.empty(order.size, dtype=np.int32)
    new_id[order] = np.arange(order.size, dtype=np.int32)

    stop_route = np.full(n_stops, -1, dtype=np.int32)
    stop_seq = np.zeros(n_stops, dtype=np.int32)
    stop_eta = np.full(n_stops, -1, dtype=np.int32)
    reasons = np.full(n_stops, NO_REASON, dtype=np.int8)
    for r, offset in zip(results, offsets):
        s, local = r.stop, r.schedule.stop_route
        on = local >= 0
        stop_route[s[on]] = new_id[local[on] + offset]
        stop_seq[s] = r.schedule.stop_seq
        stop_eta[s] = r.schedule.stop_eta_s
        reasons[s] = r.reason

    def col(name: str, dtype: Any) -> np.ndarray:
        parts = [getattr(r.schedule, name) for r in results]
        return (np.concatenate(parts) if parts else np.zeros(0)).astype(dtype)[order]

    schedule = Schedule(distance_km=col("distance_km", np.float64), duration_s=col("duration_s", np.int32),
                        load_kg=col("load_kg", np.float64), n_parcels=col("n_parcels", np.int32),
                        n_stops=col("n_stops", np.int32), cost_usd=col("cost_usd", np.float64),
                        co2_kg=col("co2_kg", np.float64), stop_route=stop_route, stop_seq=stop_seq,
                        stop_eta_s=stop_eta)
    seconds = {k: round(sum(r.seconds[k] for r in results), 4) for k in GROUP_STAGES}
    return Merged(schedule, route_hub[order], reasons, ImproveStats.total([r.improve for r in results]), seconds,
                  sorted({r.backend for r in results}), _sum_transfers(results), _max_memory(results))


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
