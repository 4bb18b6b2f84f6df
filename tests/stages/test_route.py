"""Stage 4 (planner.stages.route): the starts each hub chooses from, and where the Split DPs run."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kernels import GREAT_CIRCLE
from planner.contract.schemas import NO_REASON
from planner.device import Compute
from planner.model import Hubs, Nodes
from planner.settings import RouteSettings
from planner.stages import route

#: hub 0 has vehicles to spare; hub 1 exactly as many as its stops' parcels need (10 per vehicle), which the
#: greedy savings merges rarely reach but next-fit along the Hilbert tour and the fleet-limited Split do
VEHICLES = (12, 3)
STOPS_PER_HUB = (60, 30)


def _load(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, Nodes, Hubs]:
    rng = np.random.default_rng(seed)
    hub_lat, hub_lon = np.array([40.70, 40.80]), np.array([-74.00, -73.90])
    hub = np.repeat(np.arange(2), STOPS_PER_HUB).astype(np.int32)
    lat = hub_lat[hub] + rng.normal(0, 0.03, hub.size)
    lon = hub_lon[hub] + rng.normal(0, 0.03, hub.size)
    n = hub.size
    hubs = Hubs(hub_id=np.array(["A", "B"], object), operator=np.array(["usps", "usps"], object), lat=hub_lat,
                lon=hub_lon, vehicles=np.array(VEHICLES, np.int32), capacity_kg=np.full(2, 1000.0),
                capacity_parcels=np.full(2, 10.0), shift_s=np.full(2, 8 * 3600.0), daily_capacity=np.full(2, 10**6))
    nodes = Nodes.build(lat, lon, np.ones(n), np.ones(n, np.int32), np.full(n, 60.0), np.full(n, 30.0), hubs, 30.0)
    compute = Compute.open("cpu", GREAT_CIRCLE, 1.3)
    hilbert = compute.hilbert_keys(lat, lon)
    return hub, np.zeros(n, np.int8), hilbert, nodes, hubs


def _plan(split_everywhere: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[route.RouteSet, np.ndarray, list]:
    """build_routes on the load, recording the hubs each Split call was given."""
    seen: list[np.ndarray] = []
    split = route._split

    def recording(builder, selected, *args):  # type: ignore[no-untyped-def]
        seen.append(np.unique(builder.hub[selected]))
        return split(builder, selected, *args)

    monkeypatch.setattr(route, "_split", recording)
    hub, tier, hilbert, nodes, hubs = _load()
    settings = replace(RouteSettings(), split_everywhere=split_everywhere)
    routes, reasons, _ = route.build_routes(hub, tier, hilbert, nodes, hubs, Compute.open("cpu", GREAT_CIRCLE, 1.3),
                                            settings)
    return routes, reasons, seen


def test_split_runs_only_at_the_hub_whose_savings_routes_miss_the_fleet(monkeypatch: pytest.MonkeyPatch) -> None:
    routes, reasons, seen = _plan(False, monkeypatch)
    assert [s.tolist() for s in seen] == [[1], [1]]  # the Hilbert and the sweep cut, at the tight hub only
    assert (reasons == NO_REASON).all()
    stops = np.sort(np.concatenate([routes.routes[r, :routes.route_len[r]] for r in range(routes.size)]))
    assert np.array_equal(stops, np.arange(sum(STOPS_PER_HUB)))  # every stop on exactly one route
    per_hub = np.bincount(routes.route_hub, minlength=2)
    assert per_hub[1] == VEHICLES[1] and per_hub[0] <= VEHICLES[0]
    assert routes.route_len.max() <= 10


def test_split_everywhere_only_adds_starts_that_lose(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where savings fits the fleet it is shorter than both Split cuts here, so running Split at every hub
    changes nothing but the work."""
    gated, _, _ = _plan(False, monkeypatch)
    everywhere, _, seen = _plan(True, monkeypatch)
    assert [s.tolist() for s in seen][-2:] == [[0, 1], [0, 1]]
    assert np.array_equal(gated.routes, everywhere.routes) and np.array_equal(gated.route_hub, everywhere.route_hub)
