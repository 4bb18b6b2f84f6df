"""Shared against separate networks on the same load: what the shared network is worth.

:func:`compare` plans the same days twice: ``shared`` (any parcel on any hub)
and ``separate`` (each parcel only on the hubs of the operator that sold its
shipping, schemas.SHIPPER_OPERATOR), and puts them side by side in
``comparison.json`` and ``report.html``. Because both runs number their
parcels alike (planner.simulate.ledger), the difference is taken parcel by
parcel:

- ``reach``: planned with the shared network, unassigned with separate ones:
  no hub of the parcel's own network within ``max_hub_km``, so only a
  partner's hub reaches it (``reach.arrow`` lists them; the report maps the
  rural ones);
- ``capacity``: planned with the shared network, still in the backlog with
  separate ones: its own network's hubs were full;
- ``promise``: promises kept with one network and not with the other;
- ``cross_network``: shared-network deliveries by the hubs of an operator
  other than the seller.

A parcel's area class is the shared run's (the density around its stop on
the day it came in). With one day, ``shared/`` and ``separate/`` are plan
directories; with several, simulation directories.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from planner import __version__
from planner.contract import schemas as S
from planner.contract import write_outputs
from planner.run.pipeline import Plan
from planner.run.runners import Runner
from planner.settings import NETWORKS, Settings
from planner.simulate.days import (
    Pages,
    Simulation,
    day_report,
    hubs_table,
    run_days,
    source_files,
    write_simulation,
)
from planner.simulate.ledger import OUTCOMES, PROMISE_DAYS, Ledger
from planner.simulate.sources import DaySource, Load, as_days
from planner.simulate.store import staged, write_json, write_table


@dataclass
class Comparison:
    """A finished comparison: comparison.json, the parcels only the shared network reaches, and both runs."""

    document: dict[str, Any]
    reach: pa.Table
    runs: dict[str, Simulation]
    directory: Path | None = None


def _count(mask: np.ndarray, codes: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    keep = mask & (codes >= 0)
    counts = np.bincount(codes[keep].astype(np.int64), minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts)}


def _breakdown(mask: np.ndarray, ledger: Ledger) -> dict[str, Any]:
    """Count of ``mask`` by seller, area class and tier."""
    return {"parcels": int(mask.sum()), "by_seller": _count(mask, ledger.seller, ledger.operators),
            "by_area": _count(mask, ledger.area, S.AREAS), "by_tier": _count(mask, ledger.tier, S.TIERS)}


def _check_aligned(shared: Ledger, separate: Ledger) -> None:
    """Both runs must have numbered the same parcels alike (they planned the same days)."""
    same = shared.size == separate.size and all(
        a.equals(b) for a, b in zip(shared.parcel_id, separate.parcel_id, strict=True))
    if not same or shared.operators != separate.operators:
        raise RuntimeError("internal error: the shared and separate runs did not plan the same parcels")


def difference(shared: Ledger, separate: Ledger) -> tuple[dict[str, Any], np.ndarray]:
    """Where the two networks differ, parcel by parcel (see the module docstring); and the ledger rows of
    ``reach``."""
    _check_aligned(shared, separate)
    a, b = shared.outcome, separate.outcome
    outcomes = {x: {y: int(((a == i) & (b == j)).sum()) for j, y in enumerate(OUTCOMES)}
                for i, x in enumerate(OUTCOMES)}
    reach = (a == S.PLANNED) & (b == S.UNASSIGNED)
    capacity = (a == S.PLANNED) & (b == S.DEFERRED)
    kept_a, kept_b = shared.kept(), separate.kept()
    planned = a == S.PLANNED
    cross = {op: _count(planned & (shared.seller == k), shared.deliverer, shared.operators)
             for k, op in enumerate(shared.operators)}
    document = {
        "outcomes": outcomes,
        "reach": {**_breakdown(reach, shared), "delivered_by": _count(reach, shared.deliverer, shared.operators)},
        "capacity": _breakdown(capacity, shared),
        "promise": {"kept_only_shared": int((kept_a & ~kept_b).sum()),
                    "kept_only_separate": int((kept_b & ~kept_a).sum()),
                    "by_tier": {t: {"kept_only_shared": int((kept_a & ~kept_b & (shared.tier == k)).sum()),
                                    "kept_only_separate": int((kept_b & ~kept_a & (shared.tier == k)).sum())}
                                for k, t in enumerate(S.TIERS) if t in PROMISE_DAYS}},
        "cross_network": cross,
    }
    return document, np.flatnonzero(reach)


def reach_table(ledger: Ledger, rows: np.ndarray) -> pa.Table:
    """reach.arrow (schemas.REACH_SCHEMA): the parcels of ``rows`` as the shared run saw them."""
    def names(codes: np.ndarray, universe: tuple[str, ...]) -> pa.Array:
        return pa.array(universe, pa.string()).take(pa.array(codes.astype(np.int32)))

    return S.table_from_columns(S.REACH_SCHEMA, {
        "parcel_id": ledger.ids(rows), "lat": ledger.lat[rows], "lon": ledger.lon[rows], "zip": ledger.zips(rows),
        "tier": names(ledger.tier[rows], S.TIERS), "area": names(ledger.area[rows], S.AREAS),
        "seller": names(ledger.seller[rows], ledger.operators),
        "delivered_by": names(ledger.deliverer[rows], ledger.operators),
        "first_day": ledger.first_day[rows], "day_planned": ledger.day[rows],
    })


def _per_day(sim: Simulation) -> list[dict[str, Any]]:
    """The day-by-day figures the comparison draws: backlog, planned, on-time shares, wall time."""
    out = []
    for d in sim.document["days"]:
        tiers = d["tiers"]
        out.append({"day": d["day"], "planned": d["parcels"]["planned"], "backlog": d["backlog"]["parcels"],
                    "backlog_by_seller": d["backlog"]["by_seller"], "unassigned": d["parcels"]["unassigned"],
                    "on_time_share": {t: (round(tiers[t]["on_time"] / (tiers[t]["on_time"] + tiers[t]["missed"]), 6)
                                          if tiers[t]["on_time"] + tiers[t]["missed"] else None)
                                      for t in PROMISE_DAYS},
                    "wall_s": d["wall_s"]})
    return out


def _cut(shared: float, separate: float) -> float | None:
    """How much smaller the shared backlog is, as a share of the separate one."""
    return round(1.0 - shared / separate, 6) if separate else None


def comparison_document(source: DaySource, runs: dict[str, Simulation], settings: Settings) -> tuple[dict, pa.Table]:
    """comparison.json and reach.arrow of two finished runs."""
    shared, separate = runs["shared"], runs["separate"]
    diff, rows = difference(shared.ledger, separate.ledger)
    totals = {net: runs[net].document["totals"] for net in NETWORKS}
    s, p = totals["shared"]["backlog"], totals["separate"]["backlog"]
    diff["backlog_cut"] = {"all": _cut(s["parcels"], p["parcels"]),
                           "by_seller": {op: _cut(s["by_seller"][op], p["by_seller"][op]) for op in s["by_seller"]}}
    diff["planned"] = totals["shared"]["parcels"]["planned"] - totals["separate"]["parcels"]["planned"]
    document = {
        "version": __version__, "schema_version": S.SCHEMA_VERSION, "days": source.days, "source": source.describe(),
        "networks": totals, "per_day": {net: _per_day(runs[net]) for net in NETWORKS}, "difference": diff,
        "directories": {net: net for net in NETWORKS},
        "settings": {k: v for k, v in settings.to_dict().items() if k != "network"},
    }
    return document, reach_table(shared.ledger, rows)


def compare(load: Load, hubs: pa.Table | str | os.PathLike[str], settings: Settings | None = None,
            out: str | os.PathLike[str] | None = None, *, days: int | None = None, runner: Runner | None = None,
            progress: bool | None = None, report: bool = True, day_reports: bool = False) -> Comparison:
    """Plan the same days with shared and with separate networks and compare them (see the module docstring).

    ``load``, ``hubs`` and ``days`` as for :func:`planner.simulate.days.simulate` (one day by default);
    ``settings.network`` is ignored. With ``out`` the comparison directory is written there atomically:
    ``shared/``, ``separate/``, ``comparison.json``, ``reach.arrow`` and ``report.html``; ``day_reports``
    as for :func:`~planner.simulate.days.simulate`.
    """
    settings = settings or Settings()
    source = as_days(load, days)
    table, hub_files = hubs_table(hubs)
    if out is None:
        runs = {net: run_days(source, table, settings.replace(network=net), None, runner, progress)
                for net in NETWORKS}
        document, reach = comparison_document(source, runs, settings)
        return Comparison(document, reach, runs)
    rows: dict[str, int | None] = {}
    with staged(out, "comparison", [*hub_files, *source_files(source)], rows) as tmp:
        runs = {}
        for net in NETWORKS:
            pages = Pages(f"{out}/{net}", report, day_reports, hub_files[0] if hub_files else None)
            runs[net] = _run_into(tmp / net, source, table, settings.replace(network=net), runner, progress, pages)
        document, reach = comparison_document(source, runs, settings)
        write_table(tmp, "reach", reach)
        rows["reach.arrow"] = reach.num_rows
        write_json(tmp, "comparison", document)
        if report:
            from planner.report.days import write_comparison_report

            write_comparison_report(tmp, document, reach, table, str(out))
    return Comparison(document, reach, runs, Path(out))


def _run_into(directory: Path, source: DaySource, hubs: pa.Table, settings: Settings, runner: Runner | None,
              progress: bool | None, pages: Pages) -> Simulation:
    """One network's run written to ``directory``: a plan directory for one day (with the day's input as
    ``parcels.arrow``, and its report when ``pages.day_reports``), else a simulation directory."""
    if source.days == 1:
        def write_day(day: int, result: Plan, day_input: pa.Table) -> None:
            write_outputs(directory, {**result.tables(), "parcels": day_input}, {"summary": result.summary},
                          day_report(pages, pages.where))

        return run_days(source, hubs, settings, write_day, runner, progress)
    rows: dict[str, int | None] = {}
    with staged(directory, "simulation", (), rows) as tmp:
        return write_simulation(tmp, source, hubs, settings, runner, progress, pages, rows)
