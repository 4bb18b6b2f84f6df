"""The report pages of a simulation (several days) and of a comparison (shared against separate networks).

Both read only the documents the runs wrote (simulation.json,
comparison.json) and, for the comparison's map, the parcels that only the
shared network reaches (reach.arrow) and the hubs; like the plan's report
(planner.report.page) each page is one self-contained ``report.html`` with
its figures embedded and also written beside it (``report-<figure>.png``).
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure

from planner.contract import schemas as S
from planner.report.page import REPORT_NAME, STYLE, Table, _f, _figure_html, _n, _pct, _table_html, settings_table
from planner.report.plots import _map_axes, _png, albers, sample

PROMISED = ("priority", "express")
NETWORK_NAMES = ("shared", "separate")
#: line colours: one per tier, one per network
TIER_COLOURS = {"priority": "#c03d3e", "express": "#e0a030", "standard": "#3b75af"}
NETWORK_COLOURS = {"shared": "#3b75af", "separate": "#c03d3e"}
OPERATOR_COLOURS = ("#ff9900", "#1f4e9c", "#5a9e4b", "#7f7f7f")
#: the reach map draws at most this many parcels
MAX_REACH_POINTS = 60_000
DASH = "\u2014"


def _share(value: float | None) -> str:
    return DASH if value is None else f"{100.0 * value:.1f} %"


def _money(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else _f(value, digits)


def _days_axis(ax: Any, days: int) -> None:
    ax.set_xlabel("day")
    ax.set_xticks(range(1, days + 1))
    ax.grid(alpha=0.3)


# --------------------------------------------------------------------------- figures

def backlog_figure(series: Mapping[str, Sequence[float]], title: str, stacked: bool,
                   colours: Mapping[str, str]) -> bytes:
    """Parcels in the backlog after each day, one line (or stacked band) per series."""
    fig = Figure(figsize=(9, 4))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.14, top=0.9)
    ax = fig.subplots()
    days = max((len(v) for v in series.values()), default=0)
    x = np.arange(1, days + 1)
    if stacked and series:
        ax.stackplot(x, *[np.asarray(v, float) for v in series.values()], labels=list(series),
                     colors=[colours.get(k, "0.5") for k in series], alpha=0.85)
    else:
        for name, values in series.items():
            ax.plot(x, values, marker="o", label=name, color=colours.get(name))
    ax.set_ylabel("parcels in the backlog after the day")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    _days_axis(ax, days)
    ax.legend(fontsize=8)
    return _png(fig)


def on_time_figure(series: Mapping[str, Sequence[float | None]], title: str,
                   styles: Mapping[str, tuple[str, str]]) -> bytes:
    """On-time share per day (%), one line per series; ``styles`` gives each a colour and a line style."""
    fig = Figure(figsize=(9, 4))
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.14, top=0.9)
    ax = fig.subplots()
    days = max((len(v) for v in series.values()), default=0)
    x = np.arange(1, days + 1)
    for name, values in series.items():
        y = np.array([np.nan if v is None else 100.0 * v for v in values], dtype=float)
        colour, style = styles.get(name, ("0.4", "-"))
        ax.plot(x, y, marker="o", linestyle=style, color=colour, label=name)
    ax.set_ylabel("on time, % of promises kept or lost that day")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    _days_axis(ax, days)
    ax.legend(fontsize=8)
    return _png(fig)


def reach_map(lat: np.ndarray, lon: np.ndarray, seller: Sequence[str], hub_lat: np.ndarray, hub_lon: np.ndarray,
              hub_operator: Sequence[str], title: str) -> bytes:
    """Parcels coloured by who sold them, over the hubs coloured by operator."""
    fig = Figure(figsize=(14, 8))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.08, top=0.94)
    ax = fig.subplots()
    hx, hy = albers(hub_lat, hub_lon)
    operators = sorted(set(hub_operator) | set(seller))
    colour = {op: OPERATOR_COLOURS[k % len(OPERATOR_COLOURS)] for k, op in enumerate(operators)}
    x, y = albers(lat, lon)
    pick = sample(x.size, MAX_REACH_POINTS, seed=3)
    sellers = np.asarray(list(seller), dtype=object)[pick]
    for op in operators:
        mine = sellers == op
        if mine.any():
            ax.scatter(x[pick][mine], y[pick][mine], s=5, c=colour[op], linewidths=0, alpha=0.6,
                       label=f"parcel sold by {op}", zorder=2)
    hub_ops = np.asarray(list(hub_operator), dtype=object)
    for op in operators:  # hubs on top, outlined, so the parcels of the same colour do not hide them
        mine = hub_ops == op
        if mine.any():
            ax.scatter(hx[mine], hy[mine], s=24, marker="^", c=colour[op], edgecolors="black", linewidths=0.6,
                       label=f"{op} hub", zorder=3)
    if x.size == 0:
        ax.text(0.5, 0.5, "no rural parcel needed a partner's hub", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title(title)
    _map_axes(ax, np.concatenate([x, hx]), np.concatenate([y, hy]))
    ax.legend(loc="lower left", fontsize=8, markerscale=1.5)
    return _png(fig)


# --------------------------------------------------------------------------- simulation page

def _day_rows(doc: dict[str, Any]) -> list[Sequence[str]]:
    rows: list[Sequence[str]] = []
    for d in doc["days"]:
        p, fleet = d["parcels"], d["fleet"]
        on_time = []
        for t in PROMISED:
            c = d["tiers"][t]
            on_time.append(_pct(c["on_time"], c["on_time"] + c["missed"]))
        rows.append([str(d["day"]), _n(p["new"]), _n(p["carried_in"]), _n(p["planned"]), _n(p["deferred"]),
                     _n(p["unassigned"]), _n(p["rejected"]), *on_time, _n(fleet["distance_km"]),
                     _money(fleet["cost_usd"]), _money(fleet["cost_per_parcel"], 3), _f(d["wall_s"], 1)])
    t = doc["totals"]
    p, fleet = t["parcels"], t["fleet"]
    rows.append(["total", _n(p["new"]), DASH, _n(p["planned"]), _n(p["backlog"]), _n(p["unassigned"]),
                 _n(p["rejected"]), *[_share(t["tiers"][x]["on_time_share"]) for x in PROMISED],
                 _n(fleet["distance_km"]), _money(fleet["cost_usd"]), _money(fleet["cost_per_parcel"], 3),
                 _f(t["wall_s"], 1)])
    return rows


def days_table(doc: dict[str, Any]) -> Table:
    """One row per day: parcels in and out, on-time shares, km, cost and the plan's wall time."""
    return Table("days", "Day by day", ["day", "new", "carried in", "planned", "deferred", "unassigned", "rejected",
                                        "priority on time", "express on time", "km", "cost USD", "USD per parcel",
                                        "plan s"], _day_rows(doc),
                 "deferred: carried to the next day (the total row: still in the backlog at the end). On time: "
                 "promises kept / promises kept or lost that day.", total=True)


def promise_table(totals: dict[str, Any]) -> Table:
    """Per tier over all days: planned on time, late, promises missed, still pending, and the on-time share."""
    rows: list[Sequence[str]] = []
    for t in S.TIERS:
        c = totals["tiers"][t]
        promised = t in PROMISED
        rows.append([t, _n(c["new"]), _n(c["planned"]), _n(c["on_time"]) if promised else DASH,
                     _n(c["late"]) if promised else DASH, _n(c["missed"]) if promised else DASH,
                     _n(c["pending"]) if promised else DASH, _n(c["backlog"]), _n(c["unassigned"]),
                     _share(c["on_time_share"]) if promised else DASH,
                     DASH if c["mean_age_planned"] is None else _f(c["mean_age_planned"], 2)])
    return Table("promise", "Promises per tier", ["tier", "new", "planned", "on time", "late", "missed", "pending",
                                                   "backlog", "unassigned", "on-time share", "mean age planned, days"],
                 rows, "priority: planned the day it came in; express: by the next day; standard: no promise. "
                       "missed: the promise ran out unkept; pending: still within it at the end.")


def area_table(totals: dict[str, Any], table_id: str = "areas", title: str = "Urban, suburban and rural") -> Table:
    """Per area class: parcels, planned, unassigned, backlog, on-time share and cost per parcel."""
    rows: list[Sequence[str]] = []
    for area in S.AREAS:
        c = totals["areas"][area]
        rows.append([area, _n(c["parcels"]), _n(c["planned"]), _n(c["unassigned"]), _n(c["backlog"]),
                     _share(c["on_time_share"]), _money(c["cost_per_parcel"], 3)])
    return Table(table_id, title, ["area", "parcels", "planned", "unassigned", "backlog", "on-time share",
                                   "USD per parcel"], rows,
                 "Area class of the parcel's stop on the day it came in, by the parcel density around it "
                 "(settings speeds.urban_density and speeds.suburban_density).")


def operator_table(totals: dict[str, Any]) -> Table:
    """Per operator that sold the shipping: parcels, planned, unassigned, backlog, and who delivered them."""
    rows: list[Sequence[str]] = []
    for op, c in totals["operators"].items():
        own = c["delivered_by"].get(op, 0)
        rows.append([op, _n(c["parcels"]), _n(c["planned"]), _n(c["unassigned"]), _n(c["backlog"]), _n(own),
                     _n(c["planned"] - own)])
    return Table("operators", "Parcels by the operator that sold them",
                 ["sold by", "parcels", "planned", "unassigned", "backlog", "delivered by its hubs",
                  "delivered by a partner's hubs"], rows)


def backlog_age_table(totals: dict[str, Any]) -> Table:
    """The backlog at the end by age."""
    rows: list[Sequence[str]] = [[age, _n(n)] for age, n in totals["backlog"]["by_age"].items()]
    rows.append(["total", _n(totals["backlog"]["parcels"])])
    return Table("backlog_age", "Backlog at the end by age", ["days waited", "parcels"], rows, total=True)


def simulation_figures(doc: dict[str, Any]) -> dict[str, tuple[bytes, str]]:
    """The backlog and on-time curves of a simulation."""
    days = doc["days"]
    backlog = {t: [d["backlog"]["by_tier"][t] for d in days] for t in S.TIERS}
    on_time = {t: [_ratio(d["tiers"][t]["on_time"], d["tiers"][t]["on_time"] + d["tiers"][t]["missed"])
                   for d in days] for t in PROMISED}
    styles = {t: (TIER_COLOURS[t], "-") for t in PROMISED}
    return {"backlog": (backlog_figure(backlog, "Backlog after each day, by tier", True, TIER_COLOURS),
                        "Parcels deferred to the next day, after each day's plan, stacked by tier."),
            "on-time": (on_time_figure(on_time, "On time per day", styles),
                        "Share of the promises that ran out each day that were kept, per promised tier.")}


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _page(title: str, sections: Sequence[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(x for x in sections if x) + "\n</body></html>\n")


def _kpis(cards: Sequence[tuple[str, str]]) -> str:
    return '<div class="kpis">' + "".join(f'<div class="kpi"><b>{html.escape(v)}</b>{html.escape(k)}</div>'
                                          for k, v in cards) + "</div>"


def simulation_html(doc: dict[str, Any], figs: Mapping[str, tuple[bytes, str]], where: str) -> str:
    """The simulation page: headline, KPIs, the day-by-day table, curves, promises, areas, operators, settings."""
    t = doc["totals"]
    p = t["parcels"]
    fig = {name: _figure_html(name, *value) for name, value in figs.items()}
    headline = (f"<b>{_n(p['planned'])}</b> of {_n(p['new'])} parcels planned over {t['days']} days "
                f"({_pct(p['planned'], p['new'])}) \u00b7 {_n(p['backlog'])} in the backlog at the end \u00b7 "
                f"{_n(p['unassigned'])} unassigned \u00b7 {_n(p['rejected'])} rejected")
    cards = [("days", str(t["days"])), ("network", doc["network"]), ("planned", _n(p["planned"])),
             ("backlog at the end", _n(p["backlog"])),
             *[(f"{x} on time", _share(t["tiers"][x]["on_time_share"])) for x in PROMISED],
             ("USD per parcel", _money(t["fleet"]["cost_per_parcel"])), ("km", _n(t["fleet"]["distance_km"]))]
    tables = [promise_table(t), area_table(t), operator_table(t), backlog_age_table(t)]
    return _page("hexroute simulation report", [
        f"<h1>hexroute simulation report</h1><p class=\"note\">{html.escape(where)} \u00b7 hexroute "
        f"{html.escape(str(doc['version']))} \u00b7 {html.escape(doc['network'])} network \u00b7 each day's plan in "
        "<code>day-NN/</code>, the parcels still waiting in <code>backlog.arrow</code></p>",
        f'<p class="headline">{headline}</p>', _kpis(cards),
        "<h2>Days</h2>" + _table_html(days_table(doc)) + fig.get("backlog", "") + fig.get("on-time", ""),
        "<h2>Promises, areas and operators</h2><div class=\"grid\">"
        + "".join(_table_html(x) for x in tables) + "</div>",
        "<h2>Settings</h2>" + _table_html(settings_table(doc)),
    ])


def _write(directory: Path, page: str, figs: Mapping[str, tuple[bytes, str]]) -> Path:
    for name, (png, _) in figs.items():
        (directory / f"report-{name}.png").write_bytes(png)
    path = directory / REPORT_NAME
    path.write_text(page, encoding="utf-8")
    return path


def write_simulation_report(directory: str | Path, document: dict[str, Any], where: str | None = None) -> Path:
    """Write report.html and its PNGs for a simulation into ``directory`` (its staging directory: the
    simulation's manifest lists them); ``where`` names the output in the page (default: the directory)."""
    directory = Path(directory)
    figs = simulation_figures(document)
    return _write(directory, simulation_html(document, figs, where or str(directory)), figs)


# --------------------------------------------------------------------------- comparison page

def _delta(a: float | None, b: float | None, digits: int = 0) -> str:
    if a is None or b is None:
        return DASH
    d = a - b
    return f"{d:+,.{digits}f}"


def comparison_table(doc: dict[str, Any]) -> Table:
    """The two networks side by side: parcels per tier, backlog after each day, on-time shares, fleet, revenue."""
    s, p = (doc["networks"][n] for n in NETWORK_NAMES)
    rows: list[Sequence[str]] = []

    def count(label: str, a: float, b: float) -> None:
        rows.append([label, _n(a), _n(b), _delta(a, b)])

    for key, label in (("planned", "parcels planned"), ("backlog", "in the backlog at the end"),
                       ("unassigned", "unassigned"), ("rejected", "rejected")):
        count(label, s["parcels"][key], p["parcels"][key])
    for t in S.TIERS:
        for key in ("planned", "backlog", "unassigned"):
            count(f"{t}: {key}", s["tiers"][t][key], p["tiers"][t][key])
    for op in s["operators"]:
        for key in ("planned", "backlog", "unassigned"):
            count(f"sold by {op}: {key}", s["operators"][op][key], p["operators"].get(op, {}).get(key, 0))
    for k, (a, b) in enumerate(zip(s["backlog_after_day"], p["backlog_after_day"]), start=1):
        count(f"backlog after day {k}", a, b)
    for t in PROMISED:
        a, b = s["tiers"][t]["on_time_share"], p["tiers"][t]["on_time_share"]
        rows.append([f"{t} on time", _share(a), _share(b),
                     DASH if a is None or b is None else f"{100 * (a - b):+.1f} pts"])
    for key, label, digits in (("routes", "routes", 0), ("distance_km", "km", 0), ("duration_h", "hours", 0),
                               ("cost_usd", "cost USD", 0), ("co2_kg", "CO2 kg", 0)):
        rows.append([label, _f(s["fleet"][key], digits), _f(p["fleet"][key], digits),
                     _delta(s["fleet"][key], p["fleet"][key], digits)])
    a, b = s["fleet"]["cost_per_parcel"], p["fleet"]["cost_per_parcel"]
    rows.append(["USD per planned parcel", _money(a, 3), _money(b, 3), _delta(a, b, 3)])
    for op in sorted(set(s["revenue"]["by_operator"]) | set(p["revenue"]["by_operator"])):
        a, b = s["revenue"]["by_operator"].get(op, 0.0), p["revenue"]["by_operator"].get(op, 0.0)
        rows.append([f"revenue of {op}, USD", _f(a, 2), _f(b, 2), _delta(a, b, 2)])
    return Table("compare", "Shared against separate networks", ["measure", "shared", "separate", "difference"],
                 rows, "separate: parcels sold by the retailer only on the retailer's hubs, the others only on the "
                       "postal carrier's; shared: any parcel on any hub.")


def compare_areas_table(doc: dict[str, Any]) -> Table:
    """Per area class, both networks: planned, unassigned, on-time share, cost per parcel."""
    s, p = (doc["networks"][n]["areas"] for n in NETWORK_NAMES)
    rows: list[Sequence[str]] = []
    for area in S.AREAS:
        a, b = s[area], p[area]
        rows.append([area, _n(a["parcels"]), _n(a["planned"]), _n(b["planned"]), _n(a["unassigned"]),
                     _n(b["unassigned"]), _share(a["on_time_share"]), _share(b["on_time_share"]),
                     _money(a["cost_per_parcel"], 3), _money(b["cost_per_parcel"], 3)])
    return Table("compare_areas", "Rural reach: per area class",
                 ["area", "parcels", "planned shared", "planned separate", "unassigned shared",
                  "unassigned separate", "on time shared", "on time separate", "USD/parcel shared",
                  "USD/parcel separate"], rows,
                 "Each network classes a parcel by the density around its stop on the day it came in.")


def difference_table(doc: dict[str, Any]) -> Table:
    """Where the difference comes from: reach, capacity, promises and cross-network deliveries."""
    d = doc["difference"]
    rows: list[Sequence[str]] = [["only a partner's hub is in reach (unassigned with separate networks)",
                                  _n(d["reach"]["parcels"])]]
    rows += [[f"\u2003sold by {op}", _n(n)] for op, n in d["reach"]["by_seller"].items() if n]
    rows += [[f"\u2003{area}", _n(n)] for area, n in d["reach"]["by_area"].items() if n]
    rows.append(["the own network's hubs were full (in the backlog with separate networks)",
                 _n(d["capacity"]["parcels"])])
    rows += [[f"\u2003sold by {op}", _n(n)] for op, n in d["capacity"]["by_seller"].items() if n]
    rows.append(["promises kept only with the shared network", _n(d["promise"]["kept_only_shared"])])
    rows.append(["promises kept only with separate networks", _n(d["promise"]["kept_only_separate"])])
    for seller, by in d["cross_network"].items():
        for deliverer, n in by.items():
            if deliverer != seller and n:
                rows.append([f"shared: sold by {seller}, delivered by {deliverer}'s hubs", _n(n)])
    return Table("difference", "Where the difference comes from", ["parcels", "count"], rows,
                 "Parcel by parcel over all days: what the shared network planned that separate networks could "
                 "not, and why.")


def outcomes_table(doc: dict[str, Any]) -> Table:
    """Each parcel's final outcome with the shared network (rows) against separate networks (columns)."""
    matrix = doc["difference"]["outcomes"]
    names = list(matrix)
    rows: list[Sequence[str]] = [[f"shared: {a}", *[_n(matrix[a][b]) for b in names]] for a in names]
    return Table("outcomes", "Outcome of every parcel, shared (rows) against separate (columns)",
                 ["", *[f"separate: {b}" for b in names]], rows,
                 "deferred: still in the backlog at the end.")


def comparison_figures(doc: dict[str, Any], reach: pa.Table, hubs: pa.Table | None) -> dict[str, tuple[bytes, str]]:
    """Backlog and on-time curves of both networks, and the map of the rural parcels only the shared one reaches."""
    per_day = doc["per_day"]
    backlog: dict[str, list[float]] = {}
    styles: dict[str, tuple[str, str]] = {}
    colours: dict[str, str] = {}
    for net in NETWORK_NAMES:
        backlog[f"{net}: all"] = [d["backlog"] for d in per_day[net]]
        colours[f"{net}: all"] = NETWORK_COLOURS[net]
    on_time: dict[str, list[float | None]] = {}
    for net in NETWORK_NAMES:
        for t, style in zip(PROMISED, ("-", "--")):
            on_time[f"{net}: {t}"] = [d["on_time_share"][t] for d in per_day[net]]
            styles[f"{net}: {t}"] = (NETWORK_COLOURS[net], style)
    figs = {"backlog": (backlog_figure(backlog, "Backlog after each day", False, colours),
                        "Parcels in the backlog after each day's plan, both networks."),
            "on-time": (on_time_figure(on_time, "On time per day", styles),
                        "On-time share per day, priority (solid) and express (dashed), both networks.")}
    rural = reach.filter(pc.equal(reach.column("area"), "rural")) if reach.num_rows else reach
    hub_lat = hub_lon = np.zeros(0)
    hub_ops: list[str] = []
    if hubs is not None:
        hub_lat = np.asarray(hubs.column("lat").to_numpy(), float)
        hub_lon = np.asarray(hubs.column("lon").to_numpy(), float)
        hub_ops = [S.DEFAULT_OPERATOR if o is None else o for o in
                   (hubs.column("operator").to_pylist() if "operator" in hubs.column_names else [None] * hubs.num_rows)]
    title = f"Rural parcels only the shared network reaches ({rural.num_rows:,})"
    figs["reach"] = (reach_map(np.asarray(rural.column("lat").to_numpy(), float),
                               np.asarray(rural.column("lon").to_numpy(), float), rural.column("seller").to_pylist(),
                               hub_lat, hub_lon, hub_ops, title),
                     title + ": planned with the shared network, unassigned with separate ones (no hub of their "
                             "own network in reach); coloured by the operator that sold them.")
    return figs


def comparison_html(doc: dict[str, Any], figs: Mapping[str, tuple[bytes, str]], where: str) -> str:
    """The comparison page: headline, KPIs, the side-by-side table, curves, rural reach and its map, differences."""
    s, p = (doc["networks"][n] for n in NETWORK_NAMES)
    d = doc["difference"]
    more = s["parcels"]["planned"] - p["parcels"]["planned"]
    cut = d["backlog_cut"]
    headline = (f"The shared network plans <b>{more:+,}</b> parcels against separate networks "
                f"({_n(s['parcels']['planned'])} against {_n(p['parcels']['planned'])} over {doc['days']} "
                f"day{'s' if doc['days'] != 1 else ''}); the backlog at the end is {_n(s['parcels']['backlog'])} "
                f"against {_n(p['parcels']['backlog'])} (cut {_share(cut['all'])}); "
                f"{_n(d['reach']['parcels'])} parcels only a partner's hub could reach.")
    cards = [("more parcels planned", f"{more:+,}"), ("backlog cut", _share(cut["all"])),
             *[(f"backlog cut, sold by {op}", _share(v)) for op, v in cut["by_seller"].items()],
             ("only a partner reaches", _n(d["reach"]["parcels"])),
             ("rural among them", _n(d["reach"]["by_area"].get("rural", 0)))]
    fig = {name: _figure_html(name, *value) for name, value in figs.items()}
    return _page("hexroute comparison report", [
        "<h1>hexroute comparison: shared against separate networks</h1>"
        f"<p class=\"note\">{html.escape(where)} \u00b7 hexroute {html.escape(str(doc['version']))} \u00b7 the plans "
        "in <code>shared/</code> and <code>separate/</code></p>",
        f'<p class="headline">{headline}</p>', _kpis(cards),
        "<h2>Side by side</h2>" + _table_html(comparison_table(doc)) + fig.get("backlog", "") + fig.get("on-time", ""),
        "<h2>Rural reach</h2>" + _table_html(compare_areas_table(doc)) + fig.get("reach", ""),
        "<h2>Where the difference comes from</h2><div class=\"grid\">" + _table_html(difference_table(doc))
        + _table_html(outcomes_table(doc)) + "</div>",
        "<h2>Settings</h2>" + _table_html(settings_table(doc)),
    ])


def write_comparison_report(directory: str | Path, document: dict[str, Any], reach: pa.Table,
                            hubs: pa.Table | None = None, where: str | None = None) -> Path:
    """Write report.html and its PNGs for a comparison into ``directory`` (its staging directory); ``where``
    names the output in the page (default: the directory)."""
    directory = Path(directory)
    figs = comparison_figures(document, reach, hubs)
    return _write(directory, comparison_html(document, figs, where or str(directory)), figs)
