"""report.html: every table with figures recomputed from the outputs and inputs, images embedded, no network."""
from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow.feather as feather
import pytest

from planner.errors import InputError
from planner.report import FIGURES, METRO_KM, read_outputs, write_report
from planner.report import plots as report_plots
from tests.loads import write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Tables by id (rows of cell texts), img sources, and every tag name and attribute."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def rows(page: _Page, table: str) -> dict[str, list[str]]:
    """Body rows of a table keyed by their first cell."""
    return {r[0]: r[1:] for r in page.tables[table][1:]}


def num(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").strip())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out, parcels, hubs = write_run(tmp_path_factory.mktemp("report"))
    write_report(out, parcels, hubs, progress=False)
    return out, feather.read_table(parcels), feather.read_table(hubs), parse(out / "report.html")


def test_every_table_is_present(run):
    page = run[3]
    assert set(page.tables) == {"tiers", "on_time", "fleet", "revenue", "hubs", "rejects", "timings", "settings",
                                "versions"}


def test_tier_table_counts_match_the_outputs_and_the_inputs(run):
    out, parcels, _, page = run
    a = feather.read_table(out / "assignments.arrow").to_pydict()
    tier_of = dict(zip(parcels.column("parcel_id").to_pylist()[::-1], parcels.column("tier").to_pylist()[::-1]))
    rejects = feather.read_table(out / "rejects.arrow").to_pydict()
    input_tiers = parcels.column("tier").to_pylist()
    table = rows(page, "tiers")
    for tier in ("priority", "express", "standard"):
        mine = [s for p, s in zip(a["parcel_id"], a["status"]) if tier_of[p] == tier]
        rejected = sum(1 for r, f in zip(rejects["row"], rejects["file"]) if f == "parcels" and input_tiers[r] == tier)
        expected = [len(mine) + rejected, mine.count("planned"), mine.count("deferred"), mine.count("unassigned"),
                    rejected]
        assert [num(x) for x in table[tier]] == expected, tier
    assert [num(x) for x in table["unknown tier"]] == [1, 0, 0, 0, 1]  # the 'gold' row
    total = table["total"]
    assert num(total[0]) == parcels.num_rows and num(total[4]) == 3
    assert num(total[2]) > 0, "the short hub should defer parcels"


def test_on_time_shares_follow_the_promises(run):
    out, parcels, hubs, page = run
    a = feather.read_table(out / "assignments.arrow").to_pydict()
    tier_of = dict(zip(parcels.column("parcel_id").to_pylist()[::-1], parcels.column("tier").to_pylist()[::-1]))
    table = rows(page, "on_time")
    shift = 28800  # the hubs file has no shift_s column: the contract default
    priority = [(s, e) for p, s, e in zip(a["parcel_id"], a["status"], a["eta_s"]) if tier_of[p] == "priority"]
    ok = sum(1 for s, e in priority if s == "planned" and e <= shift)
    assert [num(x) for x in table["priority"][1:3]] == [len(priority), ok]
    express = [(s, h) for p, s, h in zip(a["parcel_id"], a["status"], a["hub_id"]) if tier_of[p] == "express"]
    ok = sum(1 for s, h in express if s == "planned" or (s == "deferred" and h is not None))
    assert [num(x) for x in table["express"][1:3]] == [len(express), ok]
    assert table["express"][3] == f"{100 * ok / len(express):.1f} %"
    assert "standard" not in table


def test_fleet_revenue_and_timings_match_the_summary(run):
    out, _, _, page = run
    s = json.loads((out / "summary.json").read_text())
    t = s["totals"]
    routes = feather.read_table(out / "routes.arrow")
    fleet = rows(page, "fleet")
    assert num(fleet["routes"][0]) == routes.num_rows == t["routes"]
    assert num(fleet["distance, km"][0]) == pytest.approx(sum(routes.column("distance_km").to_pylist()), abs=0.05)
    assert num(fleet["driving + service, h"][0]) == pytest.approx(t["duration_h"], abs=0.05)
    assert num(fleet["cost, USD"][0]) == pytest.approx(t["cost_usd"], abs=0.005)
    assert num(fleet["CO2, kg"][0]) == pytest.approx(t["co2_kg"], abs=0.05)
    assert num(fleet["cost per planned parcel, USD"][0]) == pytest.approx(t["cost_usd"] / t["parcels_planned"],
                                                                          abs=5e-4)
    revenue = rows(page, "revenue")
    for op, usd in s["revenue"]["by_operator"].items():
        assert num(revenue[op][0]) == pytest.approx(usd, abs=0.005)
    assert num(revenue["total"][0]) == pytest.approx(s["revenue"]["total_usd"], abs=0.005)
    timings = rows(page, "timings")
    assert set(timings) == set(s["timings_s"]) | {"total"}
    settings = rows(page, "settings")
    assert json.loads(settings["improve.time_cap_s"][0]) == 2.0 and json.loads(settings["seed"][0]) == 0
    assert rows(page, "versions")["hexroute (plan)"][0] == s["version"]


def test_hub_and_reject_tables(run):
    out, _, _, page = run
    hubs = feather.read_table(out / "hubs.arrow").to_pydict()
    table = rows(page, "hubs")
    for i, hub in enumerate(hubs["hub_id"]):
        row = table[hub]
        assert num(row[0]) == hubs["parcels_planned"][i] and num(row[2]) == hubs["routes"][i]
        assert row[4] == f"{100 * hubs['routes'][i] / hubs['vehicles'][i]:.1f} %"
    assert table["H1"][5] == f"{100 * hubs['parcels_planned'][1] / 150:.1f} %"
    assert table["H0"][5] == "\u2014"  # unlimited daily capacity
    rejects = {(r[0], r[1]): num(r[2]) for r in page.tables["rejects"][1:]}
    assert rejects == {("parcels", "duplicate parcel_id"): 1, ("parcels", "unknown tier 'gold'"): 1,
                       ("parcels", "weight_kg must be > 0"): 1}


def test_images_are_embedded_and_written_beside(run):
    out, _, _, page = run
    drawn = [name for name in FIGURES if name != "roads"]  # the road geometry needs a road engine
    assert len(page.images) == len(drawn)
    for src, name in zip(page.images, drawn):
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png.startswith(PNG_MAGIC)
        assert (out / f"report-{name}.png").read_bytes() == png


def test_nothing_is_loaded_from_elsewhere(run):
    out, _, _, page = run
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", (out / "report.html").read_text(encoding="utf-8"))
    # a URL may appear as text (the settings table shows roads.url); none may be fetched
    assert not re.search(r"(src|href|action)\s*=\s*[\"']?(https?:)?//", text, re.IGNORECASE)
    assert not re.search(r"url\(|@import", text)
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "iframe", "object", "embed"}
    for _, attrs in page.tags:
        for key in ("src", "href"):
            assert attrs.get(key) is None or attrs[key].startswith(("data:", "#")), attrs


def test_without_inputs_the_maps_are_left_out_with_a_note(run, tmp_path):
    out = run[0]
    copy = tmp_path / "plan"
    copy.mkdir()
    for f in out.iterdir():
        if not f.name.startswith("report"):
            (copy / f.name).write_bytes(f.read_bytes())
    result = write_report(copy, progress=False)
    page = parse(result.html)
    assert "on_time" not in page.tables
    assert all(r[-1] == "\u2014" for r in page.tables["tiers"][1:-1])
    assert len(page.images) == 3 and not (copy / "report-national.png").exists()
    assert "need the run's input files" in result.html.read_text()


def test_metro_map_centres_on_a_chosen_hub(run):
    out, parcels, hubs, _ = run
    result = write_report(out, out.parent / "parcels.arrow", out.parent / "hubs.arrow", metro_hub="H2",
                          progress=False)
    caption = re.search(r'<figure id="fig-metro"><img alt="([^"]*)"', result.html.read_text()).group(1)
    assert f"within {METRO_KM:.0f} km of hub H2" in caption
    with pytest.raises(InputError, match="hub 'nope' is not in"):
        write_report(out, out.parent / "parcels.arrow", out.parent / "hubs.arrow", metro_hub="nope", progress=False)


def test_broken_or_mismatched_directories_are_input_errors(run, tmp_path):
    out, parcels, hubs, _ = run
    with pytest.raises(InputError, match="no such output directory"):
        read_outputs(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in out.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    routes = feather.read_table(out / "routes.arrow").drop(["distance_km"])
    feather.write_feather(routes, broken / "routes.arrow")
    with pytest.raises(InputError, match=r"routes.arrow: missing column 'distance_km'"):
        read_outputs(broken)
    (broken / "summary.json").unlink()
    with pytest.raises(InputError, match=r"summary.json: no such file"):
        read_outputs(broken)
    other = tmp_path / "other.arrow"
    feather.write_feather(parcels.slice(0, 10), other)
    with pytest.raises(InputError, match=r"does not match the plan: parcel_id 'P00010' is not in it"):
        write_report(out, other, out.parent / "hubs.arrow", progress=False)
    with pytest.raises(InputError, match="give both --parcels and --hubs"):
        write_report(out, other, None, progress=False)


def test_route_paths_follow_stop_seq_from_and_back_to_the_hub():
    # two routes; parcels out of order; two parcels share stop 2 of route 0
    route = np.array([0, 1, 0, 0, 1, 0])
    seq = np.array([3, 1, 1, 2, 2, 2])
    lat = np.array([3.0, 10.0, 1.0, 2.0, 20.0, 2.0])
    lon = lat + 100
    paths = report_plots.route_paths(route, seq, lat, lon, np.array([1, 0]), np.array([-1.0, -2.0]),
                                     np.array([-11.0, -12.0]))
    assert paths[0][:, 0].tolist() == [-2.0, 1.0, 2.0, 3.0, -2.0]
    assert paths[1][:, 0].tolist() == [-1.0, 10.0, 20.0, -1.0]
    assert paths[1][:, 1].tolist() == [-11.0, 110.0, 120.0, -11.0]


def test_sampling_is_deterministic_and_albers_preserves_area():
    a, b = report_plots.sample(10_000, 100, seed=3), report_plots.sample(10_000, 100, seed=3)
    assert np.array_equal(a, b) and np.all(np.diff(a) > 0) and a.size == 100
    assert np.array_equal(report_plots.sample(50, 100), np.arange(50))
    # a 1 x 1 degree box at 40N covers ~9,480 km^2 on the sphere
    x, y = report_plots.albers(np.array([40.0, 40.0, 41.0, 41.0]), np.array([-100.0, -99.0, -99.0, -100.0]))
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    sphere = (np.pi / 180) * 6371.0088**2 * (np.sin(np.radians(41)) - np.sin(np.radians(40)))
    assert area == pytest.approx(sphere, rel=2e-3)
