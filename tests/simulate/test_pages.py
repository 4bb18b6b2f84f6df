"""The simulation and comparison pages: their tables say what the documents say, their figures are embedded,
and a real browser (headless Chromium) renders the comparison with every image."""
from __future__ import annotations

import base64
import shutil
import subprocess

import numpy as np
import pytest

from planner.report.days import backlog_figure, on_time_figure, reach_map
from tests.report.test_report import PNG_MAGIC, _Page, num, parse, rows
from tests.simulate.conftest import read_json

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome",
                                                   "google-chrome-stable") if shutil.which(name)), None)
#: records, after the page has loaded, each image's decoded width and that the load event ran
PROBE = ('<script>addEventListener("load",()=>{for(const i of document.images){i.setAttribute('
         '"data-natural-width",i.naturalWidth)};document.body.setAttribute("data-loaded","1")})</script>')


def _pngs(page: _Page) -> list[bytes]:
    return [base64.b64decode(src.split(",", 1)[1]) for src in page.images]


def test_the_simulation_page_shows_its_days_and_curves(shared_dir):
    page = parse(shared_dir / "report.html")
    document = read_json(shared_dir / "simulation.json")
    assert {"days", "promise", "areas", "operators", "backlog_age", "settings"} <= set(page.tables)
    days = rows(page, "days")
    for d in document["days"]:
        cells = days[str(d["day"])]
        assert [num(x) for x in cells[:6]] == [d["parcels"][k] for k in ("new", "carried_in", "planned", "deferred",
                                                                          "unassigned", "rejected")]
    assert num(days["total"][3]) == document["totals"]["parcels"]["backlog"]
    areas = rows(page, "areas")
    assert num(areas["rural"][1]) == document["totals"]["areas"]["rural"]["planned"]
    images = _pngs(page)
    assert len(images) == 2 and all(png.startswith(PNG_MAGIC) for png in images)
    assert (shared_dir / "report-backlog.png").read_bytes() in images


def test_the_comparison_page_puts_the_networks_side_by_side(comparison):
    result, out = comparison
    page = parse(out / "report.html")
    assert {"compare", "compare_areas", "difference", "outcomes"} <= set(page.tables)
    table = rows(page, "compare")
    totals = result.document["networks"]
    for label, key in (("parcels planned", "planned"), ("in the backlog at the end", "backlog"),
                       ("unassigned", "unassigned")):
        shared, separate, diff = (num(x) for x in table[label])
        assert (shared, separate) == (totals["shared"]["parcels"][key], totals["separate"]["parcels"][key])
        assert diff == shared - separate
    for day in (1, 2, 3):
        assert [num(x) for x in table[f"backlog after day {day}"][:2]] == \
            [totals[n]["backlog_after_day"][day - 1] for n in ("shared", "separate")]
    difference = rows(page, "difference")
    assert num(difference["only a partner's hub is in reach (unassigned with separate networks)"][0]) == \
        result.document["difference"]["reach"]["parcels"]
    assert len(_pngs(page)) == 3
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert not [tag for tag, attrs in page.tags if tag in ("link", "iframe") or (tag == "script" and "src" in attrs)]


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian: apt-get install chromium)")
def test_headless_chromium_renders_the_comparison_with_every_figure(comparison, tmp_path):
    out = comparison[1]
    probe = tmp_path / "report.html"
    probe.write_text((out / "report.html").read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    rendered = _Page()
    rendered.feed(dom)
    body = dict(next(attrs for tag, attrs in rendered.tags if tag == "body"))
    assert body.get("data-loaded") == "1", "the page did not finish loading"
    widths = [int(attrs["data-natural-width"]) for tag, attrs in rendered.tags if tag == "img"]
    assert len(widths) == 3 and min(widths) > 0, "an image did not decode"
    assert rows(rendered, "compare") == rows(parse(out / "report.html"), "compare")


def test_the_figures_are_png_and_repeat():
    series = {"shared": [3, 5, 4], "separate": [6, 9, 12]}
    assert backlog_figure(series, "t", False, {}) == backlog_figure(series, "t", False, {})
    assert on_time_figure({"priority": [1.0, None, 0.5]}, "t", {}).startswith(PNG_MAGIC)
    png = reach_map(np.array([41.3]), np.array([-74.6]), ["amazon"], np.array([41.2]), np.array([-74.5]), ["usps"],
                    "t")
    assert png.startswith(PNG_MAGIC)
