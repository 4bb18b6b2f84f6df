"""A real ``osrm-routed`` per test session on the Baltimore and Harrisburg extracts (graphs built once, in a tmp dir).

The servers listen on free loopback ports and are stopped by their process
ids at the end of the session. Without OSRM's executables (``python -m
planner.roads.fetch_osrm`` puts them in ``.venv/osrm``) these tests skip, or
fail where ``HEXROUTE_REQUIRE_OSRM`` is set (CI), so a missing install step
cannot hide behind a green run.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from planner.roads.osrm import OsrmEngine
from planner.roads.server import OsrmServer, OsrmTools, build_graph, find_tools

ROADS = Path(__file__).resolve().parents[2] / "data" / "roads"
#: (lat, lon) bounds of the extracts (data/README.md; from ../shared/roads/README.md)
BBOX = {"baltimore": (39.259, 39.307, -76.608, -76.529), "harrisburg": (40.21, 40.31, -76.846, -76.747)}


@pytest.fixture(scope="session")
def osrm_tools() -> OsrmTools:
    tools = find_tools()
    if tools is None and os.environ.get("HEXROUTE_REQUIRE_OSRM"):
        pytest.fail("OSRM executables not found and HEXROUTE_REQUIRE_OSRM is set: run "
                    "`.venv/bin/python -m planner.roads.fetch_osrm`")
    if tools is None:
        pytest.skip("OSRM executables not found: run `.venv/bin/python -m planner.roads.fetch_osrm` "
                    "(make install-test does)")
    return tools


@pytest.fixture(scope="session")
def graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("osrm-graphs")


def _serve(name: str, tools: OsrmTools, cache: Path) -> Iterator[OsrmServer]:
    pbf = ROADS / f"{name}.osm.pbf"
    if not pbf.is_file():
        pytest.skip(f"{pbf} not found")
    base = build_graph(pbf, cache, tools=tools)
    with OsrmServer(base, tools=tools, max_table_size=100) as server:
        yield server


@pytest.fixture(scope="session")
def baltimore_graph(osrm_tools: OsrmTools, graph_cache: Path) -> Path:
    return build_graph(ROADS / "baltimore.osm.pbf", graph_cache, tools=osrm_tools)


@pytest.fixture(scope="session")
def baltimore(osrm_tools: OsrmTools, graph_cache: Path) -> Iterator[OsrmServer]:
    yield from _serve("baltimore", osrm_tools, graph_cache)


@pytest.fixture(scope="session")
def harrisburg(osrm_tools: OsrmTools, graph_cache: Path) -> Iterator[OsrmServer]:
    yield from _serve("harrisburg", osrm_tools, graph_cache)


@pytest.fixture
def engine(baltimore: OsrmServer) -> Iterator[OsrmEngine]:
    with OsrmEngine(baltimore.settings()) as eng:
        yield eng


def _points(city: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    lat0, lat1, lon0, lon1 = BBOX[city]
    rng = np.random.default_rng(seed)
    return rng.uniform(lat0, lat1, n), rng.uniform(lon0, lon1, n)


@pytest.fixture(scope="session")
def city_points() -> Callable[[str, int, int], tuple[np.ndarray, np.ndarray]]:
    """``f(city, n, seed)``: ``n`` uniform points in the city's bbox (not yet on a road)."""
    return _points
