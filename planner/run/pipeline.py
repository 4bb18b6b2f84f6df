"""The planning pipeline: validate, index, assign on the client; then route, improve and
schedule per hub group, in-process or on a Dask cluster; then the contract tables.

``plan(parcels, hubs, settings)`` is the Python entry point and
``plan_files`` the one the command line uses; both produce a :class:`Plan`
whose tables follow shared/CONTRACT.md. Hub groups (planner.run.groups) do
not depend on where they run, so the runner (planner.run.runners) never
changes the plan.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from kernels import GREAT_CIRCLE
from planner.contract import load_inputs, validate
from planner.contract import schemas as S
from planner.contract.arrays import hubs_model, network_codes, parcels_model
from planner.contract.target import OutputTarget, open_target
from planner.contract.validate import Inputs
from planner.contract.write import ExtraFiles, write_into
from planner.device import Compute
from planner.run.clock import StageClock
from planner.run.groups import GROUP_STAGES, Merged, group_inputs, group_size, merge_groups, plan_group
from planner.run.roads import ROAD_STAGES, RoadRun, open_engine
from planner.run.runners import InProcess, Runner
from planner.run.tables import StopOutcome, Tables, route_ids, summary
from planner.settings import Settings
from planner.stages.assign import assign_stops
from planner.stages.improve import ImproveStats
from planner.stages.index import build_stops
from planner.stages.index import warm_up as warm_up_index

log = logging.getLogger("hexroute")

#: client-side stages; "compile" compiles (or loads from Numba's cache) every kernel before any other stage
#: starts, so that compilation never counts against one; "hubs" is route + improve + schedule of every hub group
STAGES = ("compile", "validate", "index", "assign", "hubs", "tables")


@dataclass
class Plan:
    """A finished plan: the contract's output tables and the summary document."""

    assignments: pa.Table
    routes: pa.Table
    hubs: pa.Table
    rejects: pa.Table
    summary: dict[str, Any]
    improve: ImproveStats | None = field(default=None, repr=False)
    #: int8 per row of ``assignments``: the area class of the parcel's stop (index into schemas.AREAS)
    area: np.ndarray | None = field(default=None, repr=False)
    #: with a road engine: routes on their road geometry (schemas.ROUTE_SHAPES_SCHEMA)
    route_shapes: pa.Table | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pa.Table]:
        """The output tables by file name."""
        out = {"assignments": self.assignments, "routes": self.routes, "hubs": self.hubs, "rejects": self.rejects}
        if self.route_shapes is not None:
            out["route_shapes"] = self.route_shapes
        return out

    def write(self, out_dir: str | Path | OutputTarget, extra: ExtraFiles | None = None) -> dict[str, Any]:
        """Write every output atomically (manifest.json last, listing what ``extra`` adds too); returns the
        manifest. ``out_dir`` must be new, empty or an earlier plan (planner.contract.target)."""
        with open_target(out_dir) as target:
            return write_into(target, self.tables(), {"summary": self.summary}, extra)


def plan(parcels: pa.Table, hubs: pa.Table, settings: Settings | None = None,
         progress: bool | None = None, runner: Runner | None = None) -> Plan:
    """Plan a day: parcels and hubs as contract input tables in, a :class:`Plan` out.

    ``runner`` decides where the hub groups run (default: in this process);
    ``settings.cluster.group_stops`` is the target size of a hub group in routable stops.
    """
    settings = settings or Settings()
    roads = _open_roads(settings)
    clock = StageClock(stages_for(settings), progress)
    try:
        compute = _compile(settings, clock)
        with clock.stage("validate"):
            inputs = validate(parcels, hubs)
        return _plan_inputs(inputs, settings, clock, runner or InProcess(), compute, roads)
    finally:
        clock.close()
        if roads is not None:
            roads.close()


def plan_files(parcels_path: str | Path, hubs_path: str | Path, out_dir: str | Path | OutputTarget,
               settings: Settings | None = None, progress: bool | None = None,
               runner: Runner | None = None, extra: ExtraFiles | None = None) -> Plan:
    """Read the input files, plan (see :func:`plan`), and write the outputs to ``out_dir``.

    The output location is checked and locked before any work (planner.contract.target: never the inputs'
    folder, never a directory that is not an earlier plan, never two runs at once); ``extra(directory)``
    writes more files (the report) into the new plan before its manifest.
    """
    settings = settings or Settings()
    roads = _open_roads(settings)  # an unreachable road engine ends the run before any input is read
    try:
        with open_target(out_dir, inputs=(parcels_path, hubs_path)) as target:
            clock = StageClock(stages_for(settings), progress)
            try:
                compute = _compile(settings, clock)
                with clock.stage("validate"):
                    inputs = load_inputs(parcels_path, hubs_path)
                result = _plan_inputs(inputs, settings, clock, runner or InProcess(), compute, roads)
            finally:
                clock.close()
            result.write(target, extra)
    finally:
        if roads is not None:
            roads.close()
    return result


def stages_for(settings: Settings) -> tuple[str, ...]:
    """The client stages of a run: STAGES, with the road stages around the hub groups when a road engine is set."""
    if not settings.roads.enabled:
        return STAGES
    at = STAGES.index("hubs")
    return (*STAGES[:at], ROAD_STAGES[0], "hubs", ROAD_STAGES[1], *STAGES[at + 1:])


def _open_roads(settings: Settings) -> RoadRun | None:
    engine = open_engine(settings)
    return None if engine is None else RoadRun(engine, settings)


def _compile(settings: Settings, clock: StageClock) -> Compute:
    """The run's Compute, its kernels compiled (or loaded from the cache) as a stage of their own."""
    compute = Compute.open(settings.backend, GREAT_CIRCLE, settings.circuity)
    with clock.stage("compile"):
        compute.warm_up()
        warm_up_index()  # the host loops of validation and the index stage
    return compute


def _plan_inputs(inputs: Inputs, settings: Settings, clock: StageClock, runner: Runner, compute: Compute,
                 roads: RoadRun | None = None) -> Plan:
    hubs = hubs_model(inputs.hubs)
    with clock.stage("index"):
        stops = build_stops(parcels_model(inputs.parcels, network_codes(inputs.parcels, hubs, settings.network)),
                            settings)
    with clock.stage("assign"):
        assignment = assign_stops(stops, hubs, settings, compute)
    routable_mask = assignment.status == S.PLANNED
    planned_stops, circuity, stop_circuity, shapes = stops, None, None, None
    # Hilbert keys depend on the bounding box of all stops: computed once, in the first stage that needs them
    hilbert = None
    if roads is not None:
        with clock.stage("roads"):
            hilbert = compute.hilbert_keys(stops.lat, stops.lon)
            planned_stops, circuity, stop_circuity = roads.calibrate(stops, routable_mask, assignment.hub, hubs,
                                                                     hilbert, compute)
    with clock.stage("hubs"):
        if hilbert is None:
            hilbert = compute.hilbert_keys(stops.lat, stops.lon)
        groups = group_inputs(planned_stops, assignment.hub, routable_mask, hilbert, hubs, settings, compute,
                              circuity, stop_circuity)
        where = runner.describe()
        log.info("planning %d hub groups (%s)", len(groups), where["mode"])
        merged = merge_groups(runner.map(plan_group, groups), stops.size)
    if roads is not None:
        with clock.stage("road legs"):
            merged = roads.finish(merged, stops, hubs, compute)
            shapes = roads.shapes(route_ids(hubs, merged.route_hub))
    with clock.stage("tables"):
        outcome = StopOutcome.of(assignment, merged.route_reasons, merged.schedule)
        tables = Tables(inputs, hubs, merged, outcome, stops.parcel_stop, settings)
        document = summary(inputs, stops.size, hubs, tables, merged.schedule, settings, compute.backend,
                           merged.improve)
    routable = int((assignment.status == S.PLANNED).sum())
    document["improve"].update(effort_s=settings.improve.effort_for(routable),
                               time_cap_s=settings.improve.cap_for(routable))
    document["hub_groups"] = {"groups": len(groups), "group_stops": group_size(settings, compute),
                              "backends": merged.backends, "worker_seconds": merged.seconds, **where,
                              "device_memory": merged.device_memory, "transfers": merged.transfers}
    if roads is not None:
        document["roads"] = roads.summary()
    document["timings_s"] = _timings(clock.seconds, merged)
    log.info("planned %d of %d parcels on %d routes, %.0f km", document["totals"]["parcels_planned"],
             document["totals"]["parcels"], document["totals"]["routes"], document["totals"]["distance_km"])
    area = stops.area[stops.parcel_stop]
    return Plan(tables.assignments, tables.routes, tables.hubs, inputs.rejects, document, merged.improve, area,
                shapes)


def _timings(client: dict[str, float], merged: Merged) -> dict[str, float]:
    """Wall seconds per stage, adding up to the run's: the "hubs" stage is shared out to route,
    improve and schedule in proportion to the groups' seconds in each (worker seconds on a cluster)."""
    out: dict[str, float] = {}
    worker = sum(merged.seconds.values())
    for name, seconds in client.items():
        if name != "hubs":
            out[name] = seconds
            continue
        for stage in GROUP_STAGES:
            share = merged.seconds[stage] / worker if worker > 0 else float(stage == GROUP_STAGES[0])
            out[stage] = round(seconds * share, 4)
    return out
