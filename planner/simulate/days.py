"""Several days with a carried backlog: each day's new parcels and the ones deferred before, planned day by day.

Day d plans the parcels carried from day d - 1 (each with its tier, first
day and age; planner.simulate.backlog) together with day d's new parcels,
as one ordinary plan (planner.run.pipeline) with its own seed, derived from
the simulation's (``derive_seed``), so a simulation repeats byte for byte.
What that plan defers is carried to day d + 1; what it plans, reports
unassigned (no hub can ever serve it) or rejects is settled. At the end every
parcel of every day has been planned on exactly one day, or is in the
backlog, or was unassigned or rejected on the day it came in (the ledger,
planner.simulate.ledger, checks this).

A parcel is on time when it is planned within its tier's promise: priority
on the day it came in, express by the next day (within 24 h); standard has
no promise, only an age. Per day, ``on_time`` and ``late`` count the
parcels planned that day within and past their promise, and ``missed`` the
promises that ran out that day (a parcel deferred on its last promised day,
or unassigned within its promise); the on-time share is on time / (on time +
missed), so every promised parcel counts once, on the day its promise is
kept or lost. Parcels still within their promise at the end are ``pending``.

The outputs follow shared/CONTRACT.md, "Several days": ``day-01/``,
``day-02/``, ... (each an ordinary plan directory, with the day's input as
``parcels.arrow``), ``backlog.arrow``, ``simulation.json`` and
``report.html``, written atomically (planner.simulate.store).
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planner import __version__
from planner.contract import read_table, write_outputs
from planner.contract import schemas as S
from planner.contract.arrays import seller_codes
from planner.contract.read import conform
from planner.run.pipeline import Plan, plan
from planner.run.runners import Runner
from planner.settings import Settings
from planner.simulate.backlog import Backlog, canonical, tier_codes
from planner.simulate.ledger import NO_PROMISE, OUTCOMES, PROMISE_DAYS, REJECTED, Ledger, deadline, operator_names
from planner.simulate.sources import PLAN_STREAM, DayFiles, DaySource, Load, as_days, derive_seed
from planner.simulate.store import staged, write_json, write_table

log = logging.getLogger("hexroute")

#: writes day ``d``'s plan (and the day's input parcels) somewhere; the plan is not kept in memory after it
DayWriter = Callable[[int, Plan, pa.Table], None]


@dataclass
class Simulation:
    """A finished simulation: simulation.json, backlog.arrow, every parcel's outcome, and the day plans when they
    were not written to a directory."""

    document: dict[str, Any]
    backlog: pa.Table
    ledger: Ledger = field(repr=False)
    plans: list[Plan] = field(default_factory=list, repr=False)
    directory: Path | None = None


def day_name(day: int, days: int) -> str:
    """``day-01``, ``day-02``, ... (more digits past 99 days)."""
    return f"day-{day:0{max(2, len(str(days)))}d}"


def hubs_table(hubs: pa.Table | str | os.PathLike[str]) -> tuple[pa.Table, list[Path]]:
    """The hubs as a table (read when given as a file, then checked for the required columns) and the input
    files named, for the output checks."""
    if isinstance(hubs, pa.Table):
        return conform(hubs, "hubs", "hubs table"), []
    return read_table(hubs, "hubs"), [Path(hubs)]


def source_files(source: DaySource) -> list[Path]:
    """The input files a day source reads (an output directory must not hold them)."""
    return list(source.paths) if isinstance(source, DayFiles) else []


def _codes(names: np.ndarray, universe: tuple[str, ...]) -> np.ndarray:
    """int8 index into ``universe`` of each name."""
    out = np.full(names.size, -1, np.int8)
    for k, name in enumerate(universe):
        out[names == name] = k
    return out


def _count(mask: np.ndarray, codes: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    """Rows of ``mask`` per code, keyed by name (codes below 0 are left out)."""
    keep = mask & (codes >= 0)
    counts = np.bincount(codes[keep].astype(np.int64), minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts)}


def _histogram(values: np.ndarray) -> dict[str, int]:
    """Counts per value, keyed by the value as text (JSON object keys), in increasing order."""
    keys, counts = np.unique(values, return_counts=True)
    return {str(int(k)): int(c) for k, c in zip(keys, counts)}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


@dataclass(frozen=True)
class _Rows:
    """One day's input rows (carried first, then new): what they are and how the day's plan left them."""

    ledger: np.ndarray  # int64
    tier: np.ndarray  # int8
    first_day: np.ndarray  # int32
    age: np.ndarray  # int32, days waited before today
    seller: np.ndarray  # int8
    status: np.ndarray  # int8, index into OUTCOMES
    deliverer: np.ndarray  # int8, operator of the planning (or deferring) hub, -1 none
    cost_usd: np.ndarray  # float64, share of the route's cost when planned
    area: np.ndarray  # int8, index into S.AREAS (-1: rejected)

    def promise(self) -> dict[str, np.ndarray]:
        """Masks of the parcels planned on time, planned late, and whose promise ran out today unkept."""
        due = deadline(self.tier)
        promised = due != NO_PROMISE
        planned = self.status == S.PLANNED
        return {"on_time": promised & planned & (self.age <= due), "late": promised & planned & (self.age > due),
                "missed": promised & (((self.status == S.DEFERRED) & (self.age == due))
                                      | ((self.status == S.UNASSIGNED) & (self.age <= due)))}


def _plan_outcomes(result: Plan, n: int, hub_ids: pa.Array, hub_operator: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per input row of the day: status (index into OUTCOMES), hub operator, cost share and area class."""
    rejects = result.rejects
    rejected = np.asarray(rejects.filter(pc.equal(rejects.column("file"), "parcels")).column("row").to_numpy(),
                          dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    valid[rejected] = False
    a = result.assignments
    if int(valid.sum()) != a.num_rows:
        raise RuntimeError(f"internal error: {a.num_rows} assignments for {int(valid.sum())} valid parcels")
    status = np.full(n, REJECTED, np.int8)
    status[valid] = pc.index_in(a.column("status"), value_set=pa.array(S.STATUSES)).to_numpy().astype(np.int8)
    hub = np.asarray(pc.index_in(a.column("hub_id"), value_set=hub_ids, skip_nulls=True).fill_null(-1).to_numpy(),
                     np.int64)
    deliverer = np.full(n, -1, np.int8)
    deliverer[valid] = np.where(hub >= 0, hub_operator[np.maximum(hub, 0)], -1)
    routes = result.routes
    per_parcel = (routes.column("cost_usd").to_numpy() / np.maximum(routes.column("n_parcels").to_numpy(), 1))
    route = np.asarray(pc.index_in(a.column("route_id"), value_set=routes.column("route_id").combine_chunks(),
                                   skip_nulls=True).fill_null(-1).to_numpy(), np.int64)
    cost = np.zeros(n)
    cost[valid] = np.where(route >= 0, per_parcel[np.maximum(route, 0)] if per_parcel.size else 0.0, 0.0)
    area = np.full(n, -1, np.int8)
    if result.area is not None:
        area[valid] = result.area
    return status, deliverer, cost, area


def _day_document(day: int, seed: int, wall_s: float, result: Plan, rows: _Rows, n_new: int,
                  operators: tuple[str, ...]) -> dict[str, Any]:
    """One day of simulation.json (see the module docstring for the promise counts)."""
    status, tier = rows.status, rows.tier
    carried = np.arange(status.size) < status.size - n_new
    by_status = {name: status == k for k, name in enumerate(OUTCOMES)}
    promise = rows.promise()
    tiers: dict[str, dict[str, int]] = {t: {} for t in S.TIERS}
    for name, mask in {"new": ~carried, "carried_in": carried, **by_status}.items():
        for t, c in _count(mask, tier, S.TIERS).items():
            tiers[t][name] = c
    for name, mask in promise.items():
        for t, c in _count(mask, tier, S.TIERS).items():
            if t in PROMISE_DAYS:
                tiers[t][name] = c
    deferred = by_status["deferred"]
    areas = {}
    for k, area in enumerate(S.AREAS):
        mine = rows.area == k
        planned = int((mine & by_status["planned"]).sum())
        cost = float(rows.cost_usd[mine & by_status["planned"]].sum())
        areas[area] = {"planned": planned, "deferred": int((mine & deferred).sum()),
                       "unassigned": int((mine & by_status["unassigned"]).sum()),
                       "on_time": int((mine & promise["on_time"]).sum()),
                       "missed": int((mine & promise["missed"]).sum()),
                       "cost_usd": round(cost, 2), "cost_per_parcel": round(cost / planned, 4) if planned else None}
    sellers = {}
    for k, op in enumerate(operators):
        mine = rows.seller == k
        sellers[op] = {"planned": int((mine & by_status["planned"]).sum()), "deferred": int((mine & deferred).sum()),
                       "unassigned": int((mine & by_status["unassigned"]).sum()),
                       "delivered_by": _count(mine & by_status["planned"], rows.deliverer, operators)}
    totals = result.summary["totals"]
    fleet = {key: totals[key] for key in ("routes", "distance_km", "duration_h", "cost_usd", "co2_kg")}
    planned = int(by_status["planned"].sum())
    fleet["cost_per_parcel"] = round(fleet["cost_usd"] / planned, 4) if planned else None
    return {
        "day": day, "seed": seed, "wall_s": round(wall_s, 3),
        "parcels": {"new": n_new, "carried_in": int(carried.sum()),
                    **{name: int(mask.sum()) for name, mask in by_status.items()}},
        "tiers": tiers,
        "planned_by_age": _histogram(rows.age[by_status["planned"]]),
        "backlog": {"parcels": int(deferred.sum()), "by_age": _histogram(rows.age[deferred] + 1),
                    "by_tier": _count(deferred, tier, S.TIERS), "by_seller": _count(deferred, rows.seller, operators)},
        "areas": areas, "operators": sellers, "fleet": fleet,
        "revenue": result.summary["revenue"]["by_operator"],
    }


def _totals(days: list[dict[str, Any]], ledger: Ledger, backlog: Backlog) -> dict[str, Any]:
    """The totals of simulation.json: settled parcels from the ledger, the promise counts summed over the days."""
    n_days = len(days)
    outcome = ledger.outcome
    by = {name: outcome == k for k, name in enumerate(OUTCOMES)}
    counted = ~by["rejected"]
    waiting = by["deferred"]
    pending = waiting & ledger.promised() & (n_days + 1 - ledger.first_day <= deadline(ledger.tier))
    age_planned = (ledger.day - ledger.first_day)[by["planned"]]
    tiers: dict[str, dict[str, Any]] = {}
    for code, t in enumerate(S.TIERS):
        mine = ledger.tier == code
        entry: dict[str, Any] = {"new": int(mine.sum()), "planned": int((mine & by["planned"]).sum()),
                                 "unassigned": int((mine & by["unassigned"]).sum()),
                                 "rejected": int((mine & by["rejected"]).sum()), "backlog": int((mine & waiting).sum())}
        ages = (ledger.day - ledger.first_day)[mine & by["planned"]]
        entry["mean_age_planned"] = round(float(ages.mean()), 4) if ages.size else None
        if t in PROMISE_DAYS:
            for key in ("on_time", "late", "missed"):
                entry[key] = sum(d["tiers"][t][key] for d in days)
            entry["pending"] = int((mine & pending).sum())
            entry["on_time_share"] = _share(entry["on_time"], entry["on_time"] + entry["missed"])
        tiers[t] = entry
    areas = {}
    for k, area in enumerate(S.AREAS):
        mine = ledger.area == k
        planned = int((mine & by["planned"]).sum())
        cost = float(ledger.cost_usd[mine & by["planned"]].sum())
        on_time = sum(d["areas"][area]["on_time"] for d in days)
        missed = sum(d["areas"][area]["missed"] for d in days)
        areas[area] = {"parcels": int((mine & counted).sum()), "planned": planned,
                       "unassigned": int((mine & by["unassigned"]).sum()), "backlog": int((mine & waiting).sum()),
                       "on_time": on_time, "missed": missed, "on_time_share": _share(on_time, on_time + missed),
                       "cost_usd": round(cost, 2), "cost_per_parcel": round(cost / planned, 4) if planned else None}
    operators = {}
    for k, op in enumerate(ledger.operators):
        mine = ledger.seller == k
        operators[op] = {"parcels": int(mine.sum()), "planned": int((mine & by["planned"]).sum()),
                         "unassigned": int((mine & by["unassigned"]).sum()), "backlog": int((mine & waiting).sum()),
                         "rejected": int((mine & by["rejected"]).sum()),
                         "delivered_by": _count(mine & by["planned"], ledger.deliverer, ledger.operators)}
    fleet = {key: round(sum(d["fleet"][key] for d in days), 3) for key in ("distance_km", "duration_h", "co2_kg")}
    fleet["routes"] = sum(d["fleet"]["routes"] for d in days)
    fleet["cost_usd"] = round(sum(d["fleet"]["cost_usd"] for d in days), 2)
    planned = int(by["planned"].sum())
    fleet["cost_per_parcel"] = round(fleet["cost_usd"] / planned, 4) if planned else None
    revenue: dict[str, float] = {}
    for d in days:
        for op, usd in d["revenue"].items():
            revenue[op] = round(revenue.get(op, 0.0) + usd, 2)
    parcels = {"new": ledger.size, **{name: int(mask.sum()) for name, mask in by.items()}}
    parcels["backlog"] = parcels.pop("deferred")
    if parcels["backlog"] != backlog.size or \
            parcels["new"] != parcels["planned"] + parcels["unassigned"] + parcels["rejected"] + parcels["backlog"]:
        raise RuntimeError(f"internal error: parcels not conserved over the days: {parcels}, backlog {backlog.size}")
    return {
        "days": n_days, "parcels": parcels, "tiers": tiers,
        "planned_by_age": _histogram(age_planned),
        "backlog_after_day": [d["backlog"]["parcels"] for d in days],
        "backlog_by_seller_after_day": {op: [d["backlog"]["by_seller"][op] for d in days] for op in ledger.operators},
        "backlog": {"parcels": backlog.size, "by_age": _histogram(backlog.age_days),
                    "by_tier": _count(np.ones(backlog.size, bool), backlog.tier, S.TIERS),
                    "by_seller": _count(waiting, ledger.seller, ledger.operators)},
        "areas": areas, "operators": operators, "fleet": fleet,
        "revenue": {"total_usd": round(sum(revenue.values()), 2), "by_operator": revenue},
        "wall_s": round(sum(d["wall_s"] for d in days), 3),
    }


def run_days(source: DaySource, hubs: pa.Table, settings: Settings, write_day: DayWriter | None = None,
             runner: Runner | None = None, progress: bool | None = None) -> Simulation:
    """Plan every day of ``source`` on ``hubs`` (see the module docstring); ``write_day`` takes each day's plan
    as it is made (else the plans are kept in :attr:`Simulation.plans`)."""
    source.check()
    hub_ops = [S.DEFAULT_OPERATOR if op is None else op for op in
               (hubs.column("operator").to_pylist() if "operator" in hubs.column_names else [None] * hubs.num_rows)]
    operators = operator_names(hub_ops)
    hub_operator = _codes(np.asarray(hub_ops, dtype=object), operators)
    hub_ids = hubs.column("hub_id").combine_chunks()
    ledger, backlog = Ledger(operators), Backlog.empty()
    days: list[dict[str, Any]] = []
    plans: list[Plan] = []
    for day in range(1, source.days + 1):
        new = canonical(source.day(day), f"parcels of day {day}")
        new_tier = tier_codes(new)
        names, seller = seller_codes(new.column("shipper"))
        new_seller = _codes(names, operators)[seller]
        new_rows = ledger.add(new, new_tier, day, new_seller)
        day_input = pa.concat_tables([backlog.parcels, new])
        n, m = day_input.num_rows, new.num_rows
        seed = derive_seed(settings.seed, PLAN_STREAM, day)
        t0 = time.perf_counter()
        result = plan(day_input, hubs, settings.replace(seed=seed), progress=progress, runner=runner)
        wall = time.perf_counter() - t0
        status, deliverer, cost, area = _plan_outcomes(result, n, hub_ids, hub_operator)
        rows = _Rows(np.concatenate([backlog.ledger, new_rows]), np.concatenate([backlog.tier, new_tier]),
                     np.concatenate([backlog.first_day, np.full(m, day, np.int32)]),
                     np.concatenate([backlog.age_days, np.zeros(m, np.int32)]),
                     np.concatenate([ledger.seller[backlog.ledger], new_seller]), status, deliverer, cost,
                     np.concatenate([ledger.area[backlog.ledger], area[n - m:]]))
        ledger.area[new_rows] = area[n - m:]
        settled = status != S.DEFERRED
        where = rows.ledger[settled]
        ledger.outcome[where] = status[settled]
        ledger.day[where] = day
        ledger.deliverer[where] = deliverer[settled]
        ledger.cost_usd[where] = cost[settled]
        days.append(_day_document(day, seed, wall, result, rows, m, operators))
        keep = ~settled
        backlog = Backlog(day_input.filter(pa.array(keep)), rows.tier[keep], rows.first_day[keep], rows.age[keep] + 1,
                          rows.ledger[keep])
        parcels = days[-1]["parcels"]
        log.info("day %d: %d new, %d carried in, %d planned, %d deferred, %d unassigned (plan %.1f s)", day, m,
                 n - m, parcels["planned"], parcels["deferred"], parcels["unassigned"], wall)
        if write_day is not None:
            write_day(day, result, day_input)
        else:
            plans.append(result)
    document = {"version": __version__, "schema_version": S.SCHEMA_VERSION, "network": settings.network,
                "promise_days": PROMISE_DAYS, "source": source.describe(), "days": days,
                "totals": _totals(days, ledger, backlog), "settings": settings.to_dict()}
    return Simulation(document, backlog.table(), ledger, plans)


@dataclass(frozen=True)
class Pages:
    """Which report pages a run writes, and what they name."""

    where: str  # the output directory as the pages name it (the run writes into a temporary one)
    report: bool = True  # the simulation's (or comparison's) report.html
    day_reports: bool = False  # each day's plan report in its day directory
    hubs_file: Path | None = None  # the hubs input file, for the day reports' maps (None: no maps)


def day_report(pages: Pages, label: str) -> Callable[[Path], None] | None:
    """What writes a day's plan report into its temporary directory (after its tables, before its manifest),
    from the day's ``parcels.arrow`` there and the hubs file; None unless ``pages.day_reports``."""
    if not pages.day_reports:
        return None
    from planner.report import write_report

    def write(directory: Path) -> None:
        parcels = directory / "parcels.arrow" if pages.hubs_file is not None else None
        write_report(directory, parcels, pages.hubs_file, progress=False, label=label)

    return write


def write_simulation(directory: Path, source: DaySource, hubs: pa.Table, settings: Settings,
                     runner: Runner | None, progress: bool | None, pages: Pages,
                     rows: dict[str, int | None]) -> Simulation:
    """Run the simulation into ``directory`` (a staging directory): the day plans, backlog.arrow,
    simulation.json and the ``pages``; ``rows`` gets the manifest's row counts."""
    def write_day(day: int, result: Plan, day_input: pa.Table) -> None:
        name = day_name(day, source.days)
        write_outputs(directory / name, {**result.tables(), "parcels": day_input}, {"summary": result.summary},
                      day_report(pages, f"{pages.where}/{name}"))

    sim = run_days(source, hubs, settings, write_day, runner, progress)
    write_table(directory, "backlog", sim.backlog)
    rows["backlog.arrow"] = sim.backlog.num_rows
    write_json(directory, "simulation", sim.document)
    if pages.report:
        from planner.report.days import write_simulation_report

        write_simulation_report(directory, sim.document, pages.where)
    return sim


def simulate(load: Load, hubs: pa.Table | str | os.PathLike[str], settings: Settings | None = None,
             out: str | os.PathLike[str] | None = None, *, days: int | None = None, runner: Runner | None = None,
             progress: bool | None = None, report: bool = True, day_reports: bool = False) -> Simulation:
    """Plan several days with a carried backlog (see the module docstring).

    ``load`` gives the days' new parcels (planner.simulate.sources.as_days: a
    parcels table or file repeated ``days`` times, a directory with one parcels
    file a day, a sequence of tables or files, or a source such as
    :class:`~planner.simulate.sources.Synthetic`); ``hubs`` is a hubs table or
    file; ``settings.network`` chooses shared or separate networks. With ``out``
    the simulation directory is written there atomically (and the plans are not
    kept in memory); without it the day plans come back in the result.
    ``day_reports`` also writes each day's plan report (with its maps when
    ``hubs`` is a file).
    """
    settings = settings or Settings()
    source = as_days(load, days)
    table, hub_files = hubs_table(hubs)
    if out is None:
        return run_days(source, table, settings, None, runner, progress)
    rows: dict[str, int | None] = {}
    pages = Pages(str(out), report, day_reports, hub_files[0] if hub_files else None)
    with staged(out, "simulation", [*hub_files, *source_files(source)], rows) as tmp:
        sim = write_simulation(tmp, source, table, settings, runner, progress, pages, rows)
    sim.directory = Path(out)
    return sim
