"""``report.html``: a plan's output directory as one self-contained page for planners.

The report reads only the contract files of an output directory
(shared/CONTRACT.md) and, when given, the run's input files: those carry what
the outputs do not (coordinates for the maps, each parcel's tier for the
rejected and on-time counts, hub shifts and daily capacities). Without them
the maps and those counts are left out with a note. Images are embedded as
``data:`` URIs and the style sheet is inline, so the page opens with no
network; the PNGs are also written beside it (``report-<figure>.png``).

On time, per tier, counts parcels that meet their tier's promise:
``priority`` (same day) when planned today with its ETA within its hub's
shift; ``express`` (within 24 h) when planned today or deferred to tomorrow
with a hub; ``standard`` has no promise. Unassigned parcels are never on
time; rejected parcels are not in the count (they are not in the plan).
"""
from __future__ import annotations

import base64
import dataclasses
import html
import json
import os
import platform
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.spatial import cKDTree

from planner.contract import read_table
from planner.contract import schemas as S
from planner.errors import InputError
from planner.run.clock import StageClock

REPORT_NAME = "report.html"
STAGES = ("read", "tables", "figures", "write")
FIGURES = ("national", "metro", "roads", "routes", "hubs", "stages")
SUMMARY_KEYS = ("totals", "tiers", "revenue", "timings_s", "settings", "version", "backend", "device")
PROMISES = {"priority": "same day, ETA within the hub's shift", "express": "within 24 h (today or tomorrow)",
            "standard": "none (may wait)"}
TOP_HUBS = 15
#: the regional view draws the routes of the hubs this close to its centre hub, at most MAX_METRO_ROUTES
METRO_KM = 25.0
MAX_METRO_ROUTES = 600
VERSIONED_PACKAGES = ("numpy", "pyarrow", "numba", "h3", "matplotlib")
NO_INPUTS_NOTE = ("Maps, rejected parcels per tier, on-time shares and daily-capacity use need the run's "
                  "input files: <code>hexroute report OUTDIR --parcels P --hubs H</code>.")


# --------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class Outputs:
    """The contract files of one output directory."""

    directory: Path
    summary: dict[str, Any]
    assignments: pa.Table
    routes: pa.Table
    hubs: pa.Table
    rejects: pa.Table
    #: routes on their road geometry (plans made with a road engine), else None
    route_shapes: pa.Table | None = None


@dataclass(frozen=True)
class InputView:
    """What the report takes from the input files, aligned with the outputs.

    Per row of assignments: ``lat``, ``lon``, ``tier`` (index into
    ``S.TIERS``). Per parcel reject: ``reject_tier`` (-1: not a known tier).
    Per row of hubs.arrow: ``hub_lat``, ``hub_lon``, ``shift_s``,
    ``daily_capacity``.
    """

    lat: np.ndarray
    lon: np.ndarray
    tier: np.ndarray
    reject_tier: np.ndarray
    hub_lat: np.ndarray
    hub_lon: np.ndarray
    shift_s: np.ndarray
    daily_capacity: np.ndarray


def _read_arrow(path: Path) -> pa.Table:
    """One output table; InputError (naming the file and the column) when absent, corrupt or incomplete."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as Arrow IPC: {str(exc).strip().splitlines()[0]}") from exc
    missing = [name for name in S.PLAN_TABLE_SCHEMAS[path.stem].names if name not in table.column_names]
    if missing:
        raise InputError(f"{path}: missing column '{missing[0]}'")
    return table


def read_outputs(out_dir: str | os.PathLike[str]) -> Outputs:
    """Read an output directory's tables and summary; InputError when one is missing or broken."""
    directory = Path(out_dir)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such output directory")
    path = directory / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as JSON: {exc}") from None
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if missing:
        raise InputError(f"{path}: missing key '{missing[0]}'")
    tables = {name: _read_arrow(directory / f"{name}.arrow") for name in S.OUTPUT_SCHEMAS}
    optional = {name: _read_arrow(directory / f"{name}.arrow") for name in S.OPTIONAL_OUTPUT_SCHEMAS
                if (directory / f"{name}.arrow").is_file()}
    return Outputs(directory, summary, **tables, **optional)


def _numbers(table: pa.Table, column: str, default: float, dtype: type) -> np.ndarray:
    """A numeric input column as NumPy, nulls and an absent column as ``default``."""
    if column not in table.column_names:
        return np.full(table.num_rows, default, dtype=dtype)
    return table.column(column).fill_null(default).to_numpy().astype(dtype)


def _positions(values: pa.ChunkedArray, universe: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """int64 position of each value in ``universe`` (first occurrence); -1 for nulls and strangers."""
    if isinstance(universe, pa.ChunkedArray):
        universe = universe.combine_chunks()
    return pc.index_in(values, value_set=universe).fill_null(-1).to_numpy().astype(np.int64)


def _tier_codes(tier: pa.ChunkedArray | None, n: int) -> np.ndarray:
    """Index into S.TIERS of each tier value (null: the default tier; unknown: -1)."""
    if tier is None:
        return np.full(n, S.DEFAULT_TIER_CODE, dtype=np.int8)
    values = tier.cast(pa.string()).fill_null(S.TIERS[S.DEFAULT_TIER_CODE])
    return _positions(values, pa.array(S.TIERS)).astype(np.int8)


def _match(ids: pa.ChunkedArray, universe: pa.ChunkedArray, what: str, label: str) -> np.ndarray:
    """Row in ``universe`` of each id (its first occurrence, the one the plan kept); every id must be there."""
    where = pc.index_in(ids, value_set=universe.combine_chunks())
    if where.null_count:
        first = ids.filter(where.is_null())[0].as_py()
        raise InputError(f"{label}: does not match the plan: {what} {first!r} is not in it")
    return where.to_numpy().astype(np.int64)


def read_inputs(out: Outputs, parcels_path: str | os.PathLike[str],
                hubs_path: str | os.PathLike[str]) -> InputView:
    """Read the run's input files and align them with its outputs by parcel_id and hub_id."""
    parcels = read_table(parcels_path, "parcels")
    hubs = read_table(hubs_path, "hubs")
    row = _match(out.assignments.column("parcel_id"), parcels.column("parcel_id"), "parcel_id",
                 f"parcels file {parcels_path}")
    tier = _tier_codes(parcels.column("tier") if "tier" in parcels.column_names else None, parcels.num_rows)
    rejected = out.rejects.filter(pc.equal(out.rejects.column("file"), "parcels")).column("row").to_numpy()
    if rejected.size and rejected.max() >= parcels.num_rows:
        raise InputError(f"parcels file {parcels_path}: does not match the plan: reject row {rejected.max()} "
                         f"is past its {parcels.num_rows} rows")
    hub_row = _match(out.hubs.column("hub_id"), hubs.column("hub_id"), "hub_id", f"hubs file {hubs_path}")
    lat = parcels.column("lat").to_numpy()
    lon = parcels.column("lon").to_numpy()
    return InputView(
        lat=lat[row], lon=lon[row], tier=tier[row], reject_tier=tier[rejected],
        hub_lat=hubs.column("lat").to_numpy()[hub_row], hub_lon=hubs.column("lon").to_numpy()[hub_row],
        shift_s=_numbers(hubs, "shift_s", S.DEFAULT_SHIFT_S, np.int64)[hub_row],
        daily_capacity=_numbers(hubs, "daily_capacity", S.UNLIMITED, np.int64)[hub_row])


# --------------------------------------------------------------------------- figures and tables

@dataclass
class Table:
    """One HTML table: ``rows`` of already formatted cells; the last row is bold when ``total``."""

    id: str
    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]]
    note: str = ""
    total: bool = False


def _n(value: float) -> str:
    return f"{int(round(value)):,}"


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "\u2014"


class PlanFacts:
    """Arrays derived once from the outputs (and inputs) that several tables and figures use."""

    def __init__(self, out: Outputs, view: InputView | None):
        a = out.assignments
        self.out, self.view = out, view
        hub_ids = out.hubs.column("hub_id")
        self.status = _positions(a.column("status"), pa.array(S.STATUSES))
        self.hub = _positions(a.column("hub_id"), hub_ids)
        self.eta_s = a.column("eta_s").fill_null(-1).to_numpy().astype(np.int64)
        self.seq = a.column("stop_seq").fill_null(-1).to_numpy().astype(np.int64)
        self.route = _positions(a.column("route_id"), out.routes.column("route_id"))
        self.route_hub = _positions(out.routes.column("hub_id"), hub_ids)
        self.hub_planned = out.hubs.column("parcels_planned").to_numpy().astype(np.int64)

    def on_time(self) -> dict[str, tuple[int, int]]:
        """Per promised tier: (parcels in the plan, parcels on time), as the module docstring defines."""
        if self.view is None:
            return {}
        planned, deferred = self.status == 0, (self.status == 1) & (self.hub >= 0)
        shift = self.view.shift_s[np.maximum(self.hub, 0)] if self.view.shift_s.size else np.zeros(self.hub.size)
        met = {"priority": planned & (self.eta_s >= 0) & (self.eta_s <= shift), "express": planned | deferred}
        result = {}
        for tier, ok in met.items():
            mine = self.view.tier == S.TIERS.index(tier)
            result[tier] = (int(mine.sum()), int((ok & mine).sum()))
        return result


def tier_table(facts: PlanFacts) -> Table:
    """Parcels planned / deferred / unassigned / rejected per tier (rejected per tier needs the inputs)."""
    s = facts.out.summary
    rejected = None if facts.view is None else facts.view.reject_tier
    rows: list[Sequence[str]] = []
    for code, tier in enumerate(S.TIERS):
        c = s["tiers"][tier]
        rej = None if rejected is None else int((rejected == code).sum())
        counts = [c["planned"], c["deferred"], c["unassigned"]]
        rows.append([tier, _n(sum(counts) + (rej or 0)), *map(_n, counts), "\u2014" if rej is None else _n(rej)])
    if rejected is not None and (rejected < 0).any():
        unknown = int((rejected < 0).sum())
        rows.append(["unknown tier", _n(unknown), "0", "0", "0", _n(unknown)])
    t = s["totals"]
    rows.append(["total", _n(t["parcels"]), _n(t["parcels_planned"]), _n(t["parcels_deferred"]),
                 _n(t["parcels_unassigned"]), _n(t["parcels_rejected"])])
    note = "" if rejected is not None else "Rejected parcels per tier need the parcels input."
    return Table("tiers", "Parcels per tier", ["tier", "parcels", "planned", "deferred", "unassigned", "rejected"],
                 rows, note, total=True)


def fleet_table(summary: dict[str, Any]) -> Table:
    """Routes, distance, hours, cost and CO2, and the per-parcel and per-route ratios."""
    t = summary["totals"]
    planned, routes = t["parcels_planned"], t["routes"]
    rows = [["routes", _n(routes)], ["stops", _n(t["stops"])], ["distance, km", _f(t["distance_km"])],
            ["driving + service, h", _f(t["duration_h"])], ["cost, USD", _f(t["cost_usd"], 2)],
            ["CO2, kg", _f(t["co2_kg"])],
            ["cost per planned parcel, USD", _f(t["cost_usd"] / planned, 3) if planned else "\u2014"],
            ["km per route", _f(t["distance_km"] / routes) if routes else "\u2014"],
            ["parcels per route", _f(planned / routes) if routes else "\u2014"]]
    return Table("fleet", "Routes and cost", ["measure", "value"], rows)


def revenue_table(summary: dict[str, Any]) -> Table:
    """The revenue of planned parcels split per operator."""
    r = summary["revenue"]
    total = r["total_usd"]
    rows = [[op, _f(usd, 2), _pct(usd, total)] for op, usd in sorted(r["by_operator"].items())]
    rows.append(["total", _f(total, 2), _pct(total, total) if total else "\u2014"])
    note = (f"The delivering hub's operator keeps {r['delivery_share']:.0%} of each planned parcel's fee; "
            "the rest goes to the operator that sold the shipping.")
    return Table("revenue", "Revenue split per operator", ["operator", "USD", "share"], rows, note, total=True)


def on_time_table(facts: PlanFacts) -> Table | None:
    """On-time share per tier against its promise; None without the inputs."""
    counts = facts.on_time()
    if not counts:
        return None
    rows = [[tier, PROMISES[tier], _n(n), _n(ok), _pct(ok, n)] for tier, (n, ok) in counts.items()]
    note = ("priority: planned today with its ETA within its hub's shift; express: planned today or deferred "
            "to tomorrow with a hub (both within 24 h); unassigned parcels are late; rejected parcels are not "
            "counted. standard parcels carry no promise.")
    return Table("on_time", "On time against the promise", ["tier", "promise", "parcels", "on time", "share"],
                 rows, note)


def hubs_table(facts: PlanFacts) -> Table:
    """The busiest hubs by planned parcels, with vehicle and daily-capacity use."""
    h = facts.out.hubs
    cols = {c: h.column(c).to_numpy() for c in ("parcels_planned", "parcels_deferred", "routes", "vehicles",
                                                   "distance_km", "cost_usd")}
    ids = h.column("hub_id").to_pylist()
    rows = []
    for i in np.argsort(-cols["parcels_planned"], kind="stable")[:TOP_HUBS].tolist():
        cap = None if facts.view is None else int(facts.view.daily_capacity[i])
        rows.append([ids[i], _n(cols["parcels_planned"][i]), _n(cols["parcels_deferred"][i]), _n(cols["routes"][i]),
                     _n(cols["vehicles"][i]), _pct(cols["routes"][i], cols["vehicles"][i]),
                     "\u2014" if cap is None or cap >= S.UNLIMITED else _pct(cols["parcels_planned"][i], cap),
                     _f(cols["distance_km"][i]), _f(cols["cost_usd"][i], 2)])
    return Table("hubs", f"Busiest hubs (top {min(TOP_HUBS, len(ids))} of {len(ids):,})",
                 ["hub", "planned", "deferred", "routes", "vehicles", "vehicles used", "daily capacity used",
                  "km", "cost USD"], rows)


def rejects_table(rejects: pa.Table) -> Table:
    """Rejected input rows by file and reason."""
    grouped = rejects.group_by(["file", "reason"]).aggregate([("row", "count")]).sort_by(
        [("row_count", "descending"), ("file", "ascending"), ("reason", "ascending")])
    rows = [[f, r, _n(c)] for f, r, c in zip(*(grouped.column(k).to_pylist() for k in ("file", "reason", "row_count")))]
    return Table("rejects", "Rejected input rows", ["file", "reason", "rows"], rows,
                 "" if rows else "No input row was rejected.")


def timings_table(summary: dict[str, Any]) -> Table:
    """Seconds per pipeline stage and their sum."""
    seconds = summary["timings_s"]
    rows = [[stage, _f(v, 2)] for stage, v in seconds.items()]
    rows.append(["total", _f(sum(seconds.values()), 2)])
    return Table("timings", "Stage timings", ["stage", "seconds"], rows, total=True)


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _flatten(f"{prefix}.{key}" if prefix else key, value[key])
    else:
        yield prefix, value


def settings_table(summary: dict[str, Any]) -> Table:
    """Every setting the plan used, as dotted TOML keys."""
    rows = [[key, json.dumps(value)] for key, value in _flatten("", summary["settings"])]
    return Table("settings", "Settings", ["key", "value"], rows)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions_table(summary: dict[str, Any]) -> Table:
    """The planner's version and backend from the summary; this report's Python and libraries."""
    rows = [["hexroute (plan)", summary["version"]], ["schema", str(summary.get("schema_version", ""))],
            ["backend", f"{summary['backend']} ({summary['device']})"], ["python (report)", platform.python_version()]]
    rows += [[f"{p} (report)", _version(p)] for p in VERSIONED_PACKAGES]
    return Table("versions", "Versions", ["component", "version"], rows)


def _metro(facts: PlanFacts, metro_hub: str | None) -> tuple[bytes, str] | None:
    """The routes around one hub (``metro_hub``, default the busiest) and the figure's caption."""
    from planner.report import plots

    view, out = facts.view, facts.out
    ids = out.hubs.column("hub_id").to_pylist()
    if metro_hub is not None and metro_hub not in ids:
        raise InputError(f"--metro: hub {metro_hub!r} is not in {out.directory / 'hubs.arrow'}")
    x, y = plots.albers(view.hub_lat, view.hub_lon)
    if metro_hub is not None:
        centre = ids.index(metro_hub)
    else:  # the busiest metro: the hub whose METRO_KM neighbourhood plans the most parcels
        neighbours = cKDTree(np.column_stack([x, y])).query_ball_point(np.column_stack([x, y]), METRO_KM)
        centre = int(np.argmax([facts.hub_planned[n].sum() for n in neighbours]))
    km = np.hypot(x - x[centre], y - y[centre])
    near = np.flatnonzero(km <= METRO_KM)
    near = near[np.argsort(km[near], kind="stable")]
    routes_per_hub = np.bincount(facts.route_hub[facts.route_hub >= 0], minlength=len(ids))[near]
    near = near[: max(1, int(np.searchsorted(np.cumsum(routes_per_hub), MAX_METRO_ROUTES, side="right")))]
    drawn = (facts.status == 0) & np.isin(facts.hub, near) & (facts.route >= 0)
    paths = plots.route_paths(facts.route[drawn], facts.seq[drawn], view.lat[drawn], view.lon[drawn],
                              facts.route_hub, view.hub_lat, view.hub_lon)
    hubs = f"{near.size} hub{'s' if near.size != 1 else ''}"
    title = f"Routes of the {hubs} within {METRO_KM:.0f} km of hub {ids[centre]} ({len(paths):,} routes)"
    png = plots.metro_map(paths, view.hub_lat[near], view.hub_lon[near], [ids[i] for i in near.tolist()], title)
    return png, title + ", each route in its own colour; hubs are black squares."


def _roads(out: Outputs) -> tuple[bytes, str] | None:
    """The routes drawn on their road geometry (route_shapes.arrow), hubs where their routes start."""
    from planner.report import plots

    shapes = out.route_shapes
    if shapes is None or shapes.num_rows == 0:
        return None
    rid = shapes.column("route_id").to_numpy(zero_copy_only=False)
    lat, lon = shapes.column("lat").to_numpy(), shapes.column("lon").to_numpy()
    starts = np.flatnonzero(np.r_[True, rid[1:] != rid[:-1]])
    paths = np.split(np.column_stack([lat, lon]), starts[1:])
    hub_of = dict(zip(out.routes.column("route_id").to_pylist(), out.routes.column("hub_id").to_pylist(), strict=True))
    first: dict[str, np.ndarray] = {}
    for r, path in zip(rid[starts].tolist(), paths, strict=True):
        first.setdefault(hub_of[r], path[0])
    labels = sorted(first)
    where = np.array([first[h] for h in labels])
    total = out.routes.num_rows
    title = f"{len(paths):,} of {total:,} routes on their road geometry ({out.summary['roads']['engine']})"
    png = plots.metro_map(paths, where[:, 0], where[:, 1], labels, title, stops=False)
    return png, title + ", each route in its own colour; hubs are black squares."


def figures(facts: PlanFacts, metro_hub: str | None) -> dict[str, tuple[bytes, str]]:
    """PNG bytes and caption of each figure that the available data allow."""
    from planner.report import plots

    out, view = facts.out, facts.view
    r = out.routes
    result: dict[str, tuple[bytes, str]] = {}
    if view is not None:
        result["national"] = (plots.national_map(view.lat, view.lon, facts.hub, view.hub_lat, view.hub_lon,
                                                 facts.hub_planned),
                              "National picture: parcel density by H3 cell, and hub catchments.")
        if r.num_rows:
            result["metro"] = _metro(facts, metro_hub)
    roads = _roads(out)
    if roads is not None:
        result["roads"] = roads
    hours = r.column("duration_s").to_numpy() / 3600.0
    result["routes"] = (plots.distributions(r.column("distance_km").to_numpy(), hours),
                        "Route length and duration over all routes.")
    vehicles = out.hubs.column("vehicles").to_numpy()
    used = vehicles > 0
    vehicle_share = out.hubs.column("routes").to_numpy()[used] / vehicles[used]
    capacity_share = None
    if view is not None:
        finite = (view.daily_capacity < S.UNLIMITED) & (view.daily_capacity > 0)
        capacity_share = facts.hub_planned[finite] / view.daily_capacity[finite]
    result["hubs"] = (plots.utilisation(vehicle_share, capacity_share),
                      "Hub utilisation: share of each hub's vehicles on the road, and of its daily capacity planned.")
    result["stages"] = (plots.stage_timings(out.summary["timings_s"]), "Seconds spent in each pipeline stage.")
    return result


# --------------------------------------------------------------------------- HTML

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1320px;
color:#1d2433;padding:0 16px}
h1{margin:0 0 4px}h2{margin-top:32px;border-bottom:2px solid #dfe3eb;padding-bottom:4px}
.headline{font-size:1.15em;margin:8px 0 16px}.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.kpi{background:#f3f5f9;border-radius:8px;padding:10px 16px;min-width:130px}.kpi b{display:block;font-size:1.5em}
table{border-collapse:collapse;margin:8px 0 4px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e3e6ec;padding:4px 10px;text-align:right}th{background:#f3f5f9}
td:first-child,th:first-child{text-align:left}tr.total td{font-weight:bold;border-top:2px solid #9aa3b5}
.note{color:#5b6477;font-size:.9em;max-width:1000px}.grid{display:flex;flex-wrap:wrap;gap:32px;align-items:flex-start}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid #e3e6ec}figcaption{color:#5b6477;font-size:.9em}
"""


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    for i, row in enumerate(t.rows):
        cls = ' class="total"' if t.total and i == len(t.rows) - 1 else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    note = f'<p class="note">{html.escape(t.note)}</p>' if t.note else ""
    return (f'<section><h3>{html.escape(t.title)}</h3><table id="{t.id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>{note}</section>")


def _figure_html(name: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)} (also <code>report-{name}.png</code>)</figcaption></figure>")


def _headline(summary: dict[str, Any]) -> str:
    t = summary["totals"]
    n = t["parcels"]
    parts = [f"<b>{_n(t['parcels_planned'])}</b> of {_n(n)} parcels planned ({_pct(t['parcels_planned'], n)})",
             f"{_n(t['parcels_deferred'])} deferred", f"{_n(t['parcels_unassigned'])} unassigned",
             f"{_n(t['parcels_rejected'])} rejected"]
    return '<p class="headline">' + " \u00b7 ".join(parts) + "</p>"


def _kpis(summary: dict[str, Any], facts: PlanFacts) -> str:
    t = summary["totals"]
    cards = [("routes", _n(t["routes"])), ("km", _n(t["distance_km"])), ("hours", _n(t["duration_h"])),
             ("cost USD", _n(t["cost_usd"])),
             ("USD per parcel", _f(t["cost_usd"] / t["parcels_planned"], 2) if t["parcels_planned"] else "\u2014"),
             ("CO2 kg", _n(t["co2_kg"]))]
    cards += [(f"{tier} on time", _pct(ok, n)) for tier, (n, ok) in facts.on_time().items()]
    return '<div class="kpis">' + "".join(f'<div class="kpi"><b>{html.escape(v)}</b>{html.escape(k)}</div>'
                                          for k, v in cards) + "</div>"


def render_html(out: Outputs, facts: PlanFacts, figs: dict[str, tuple[bytes, str]], notes: Sequence[str]) -> str:
    """The whole page: headline and KPI cards first, then tables, maps, plots, settings and versions."""
    s = out.summary
    tables = [tier_table(facts), on_time_table(facts), fleet_table(s), revenue_table(s)]
    fig = {name: _figure_html(name, *figs[name]) for name in FIGURES if name in figs}
    sections = [
        f"<h1>hexroute plan report</h1><p class=\"note\">{html.escape(str(out.directory))} \u00b7 hexroute "
        f"{html.escape(str(s['version']))} \u00b7 backend {html.escape(str(s['backend']))}</p>",
        _headline(s), _kpis(s, facts),
        *(f'<p class="note">{n}</p>' for n in notes),
        "<h2>Parcels, routes and revenue</h2><div class=\"grid\">"
        + "".join(_table_html(t) for t in tables if t is not None) + "</div>",
        "<h2>Maps</h2>" + fig.get("national", "") + fig.get("metro", "") + fig.get("roads", "")
        if "national" in fig or "roads" in fig else "",
        "<h2>Routes and hubs</h2>" + fig.get("routes", "") + fig.get("hubs", "") + _table_html(hubs_table(facts)),
        "<h2>Rejected rows</h2>" + _table_html(rejects_table(out.rejects)),
        "<h2>Run</h2>" + fig.get("stages", "") + "<div class=\"grid\">"
        + "".join(_table_html(t) for t in (timings_table(s), settings_table(s), versions_table(s))) + "</div>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hexroute plan report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(x for x in sections if x) + "\n</body></html>\n")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class ReportResult:
    """Where the report went and how long its stages took."""

    html: Path
    images: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def is_report_file(name: str) -> bool:
    """Whether a plan directory's file ``name`` is the report's (the page or one of its images)."""
    return name == REPORT_NAME or (name.startswith("report-") and name.endswith(".png"))


def write_report(out_dir: str | os.PathLike[str], parcels: str | os.PathLike[str] | None = None,
                 hubs: str | os.PathLike[str] | None = None, metro_hub: str | None = None,
                 progress: bool | None = None, label: str | os.PathLike[str] | None = None) -> ReportResult:
    """Write ``report.html`` and ``report-<figure>.png`` into ``out_dir`` (each file atomically).

    ``parcels`` and ``hubs`` are the run's input files, given together or
    not at all. ``label`` is the directory the page names (default ``out_dir``): a plan writes its report
    into its temporary directory before the manifest (planner.contract.write), under the target's name.
    """
    if (parcels is None) != (hubs is None):
        raise InputError("report: give both --parcels and --hubs, or neither")
    clock = StageClock(STAGES, progress)
    notes: list[str] = []
    try:
        with clock.stage("read"):
            out = read_outputs(out_dir)
            where = out.directory  # written here; named on the page and in messages as ``label``
            if label is not None:
                out = dataclasses.replace(out, directory=Path(label))
            view = read_inputs(out, parcels, hubs) if parcels is not None else None
        if view is None:
            notes.append(NO_INPUTS_NOTE)
        with clock.stage("tables"):
            facts = PlanFacts(out, view)
        with clock.stage("figures"):
            figs = figures(facts, metro_hub)
        with clock.stage("write"):
            result = ReportResult(where / REPORT_NAME)
            for name, (png, _) in figs.items():
                path = where / f"report-{name}.png"
                _write_atomic(path, png)
                result.images.append(path)
            page = render_html(out, facts, figs, notes)
            _write_atomic(result.html, page.encode("utf-8"))
    finally:
        clock.close()
    result.seconds = dict(clock.seconds)
    return result
