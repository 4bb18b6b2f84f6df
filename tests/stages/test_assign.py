"""Stage 3 (planner.assign): stops to hubs within capacity, tiers first, forced hubs, reach limit."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest

from kernels import GREAT_CIRCLE
from kernels._scalar import reference
from planner.contract import schemas as S
from planner.contract.arrays import hubs_model
from planner.device import Compute
from planner.model import Stops
from planner.settings import Settings
from planner.stages.assign import Assignment, assign_stops, hub_capacity
from planner.stages.index import build_stops
from tests.tables import parcels

UNLIMITED = 2**31 - 1


def hubs_table(lat: Sequence[float], lon: Sequence[float], *, vehicles: Sequence[int] | None = None,
               capacity_kg: Sequence[float] | None = None, capacity_parcels: Sequence[int] | None = None,
               daily: Sequence[int] | None = None) -> pa.Table:
    """A normalised hubs table; by default 10 vehicles of 1000 kg and no parcel limits."""
    n = len(lat)
    return pa.table({
        "row": pa.array(np.arange(n), pa.int64()),
        "hub_id": pa.array([f"h{i}" for i in range(n)], pa.string()),
        "lat": pa.array(lat, pa.float64()),
        "lon": pa.array(lon, pa.float64()),
        "operator": pa.array(["usps"] * n, pa.string()),
        "vehicles": pa.array(np.full(n, 10) if vehicles is None else vehicles, pa.int32()),
        "capacity_kg": pa.array(np.full(n, 1000.0) if capacity_kg is None else capacity_kg, pa.float32()),
        "capacity_parcels": pa.array(np.full(n, UNLIMITED) if capacity_parcels is None else capacity_parcels,
                                     pa.int32()),
        "shift_s": pa.array(np.full(n, 28800), pa.int32()),
        "daily_capacity": pa.array(np.full(n, UNLIMITED) if daily is None else daily, pa.int32()),
    })


def assign(stops: Stops, hubs: pa.Table, settings: Settings) -> Assignment:
    """The assignment stage on the CPU, hubs given as a normalised table."""
    return assign_stops(stops, hubs_model(hubs), settings, Compute.open("cpu", GREAT_CIRCLE, settings.circuity))


def capacity(hubs: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    return hub_capacity(hubs_model(hubs), Settings().assign)


def texts(result: Assignment, settings: Settings = Settings()) -> list[str]:
    """Each stop's reason as text, "" for a stop sent to routing."""
    table = [t or "" for t in S.outcome_reasons(settings.max_hub_km)]
    return [table[code] for code in result.reason.tolist()]


def road_km(lat1: float, lon1: float, lat2: float, lon2: float, settings: Settings) -> float:
    return settings.circuity * reference.haversine_km(lat1, lon1, lat2, lon2)


def check_plan(stops: Stops, hubs: pa.Table, result: Assignment) -> None:
    """Rules every assignment keeps: one status per stop, hubs where they belong, capacities held."""
    n_hubs = hubs.num_rows
    assert result.hub.dtype == np.int32 and result.status.dtype == np.int8 and result.reason.dtype == np.int8
    assert result.hub.shape == result.status.shape == result.reason.shape == (stops.size,)
    assert set(np.unique(result.status)) <= {S.PLANNED, S.DEFERRED, S.UNASSIGNED}
    routed = result.status == S.PLANNED
    assert np.all((result.hub >= 0) == (result.status != S.UNASSIGNED))
    assert np.all((result.reason == S.NO_REASON) == routed)
    cap_n, cap_kg = capacity(hubs)
    load_n = np.bincount(result.hub[routed], weights=stops.n_parcels[routed], minlength=n_hubs)
    load_kg = np.bincount(result.hub[routed], weights=stops.weight_kg[routed], minlength=n_hubs)
    assert np.all(load_n <= cap_n) and np.all(load_kg <= cap_kg)
    assert result.hub_parcels.dtype == np.int64 and result.hub_parcels.tolist() == load_n.astype(np.int64).tolist()


def test_capacity_goes_to_the_nearest_stops() -> None:
    # ten stops on the line from hub 0 (capacity 4) towards hub 1 (unlimited)
    lat, lon = [40.0] * 10, list(-100.0 + 0.05 * np.arange(1, 11))
    hubs = hubs_table([40.0, 40.0], [-100.0, -99.0], daily=[4, UNLIMITED])
    stops = build_stops(parcels(lat, lon), Settings())
    result = assign(stops, hubs, Settings())
    check_plan(stops, hubs, result)
    assert result.status.tolist() == [S.PLANNED] * 10
    assert result.hub.tolist() == [0] * 4 + [1] * 6
    assert result.hub_parcels.tolist() == [4, 6]


def test_priority_keeps_capacity_before_standard() -> None:
    # standard stops sit next to the only hub, priority ones farther away; room for 3
    lat = [40.0] * 6
    lon = [-100.01, -100.02, -100.03, -100.5, -100.6, -100.7]
    tier = [2, 2, 1, 0, 0, 1]
    hubs = hubs_table([40.0], [-100.0], daily=[3])
    stops = build_stops(parcels(lat, lon, tier=tier), Settings())
    result = assign(stops, hubs, Settings())
    check_plan(stops, hubs, result)
    assert result.status.tolist() == [S.DEFERRED, S.DEFERRED, S.PLANNED, S.PLANNED, S.PLANNED, S.DEFERRED]
    assert result.hub.tolist() == [0] * 6
    assert texts(result) == ["hub daily capacity exceeded"] * 2 + [""] * 3 + [
        "hub daily capacity exceeded"]


def test_kg_capacity_uses_the_fill_factor() -> None:
    # one vehicle plans FILL_FACTOR of its kg: 50 + 45 kg exceed 92 kg (of 100) but fit 95.68 (of 104)
    stops = build_stops(parcels([40.0, 40.1], [-100.0] * 2, weight=[50.0, 45.0]), Settings())
    small = hubs_table([40.0], [-100.0], vehicles=[1], capacity_kg=[100.0])
    result = assign(stops, small, Settings())
    check_plan(stops, small, result)
    assert result.status.tolist() == [S.PLANNED, S.DEFERRED]
    assert texts(result) == ["", "hub's vehicles are full today (kg)"]  # not the daily sorting capacity
    large = hubs_table([40.0], [-100.0], vehicles=[1], capacity_kg=[104.0])
    assert assign(stops, large, Settings()).status.tolist() == [S.PLANNED, S.PLANNED]
    assert Settings().assign.fill_factor == 0.92


def test_deferral_names_the_limit_that_binds() -> None:
    # three stops at one hub: the daily sorting capacity, the vehicles' parcels and their kg each bind once
    stops = build_stops(parcels([40.0, 40.01, 40.02], [-100.0] * 3, weight=[1.0, 1.0, 1.0]), Settings())
    daily = hubs_table([40.0], [-100.0], vehicles=[2], capacity_parcels=[5], daily=[2])
    assert texts(assign(stops, daily, Settings())) == ["", "", "hub daily capacity exceeded"]
    parcels_full = hubs_table([40.0], [-100.0], vehicles=[2], capacity_parcels=[1], daily=[10])
    assert texts(assign(stops, parcels_full, Settings())) == ["", "", "hub's vehicles are full today (parcels)"]
    forced = build_stops(parcels([40.0, 40.01, 40.02], [-100.0] * 3, hub=[0, 0, 0], weight=[40.0, 40.0, 40.0]),
                         Settings())
    kg_full = hubs_table([40.0], [-100.0], vehicles=[1], capacity_kg=[100.0])
    result = assign(forced, kg_full, Settings())
    assert result.status.tolist() == [S.PLANNED, S.PLANNED, S.DEFERRED]
    assert texts(result) == ["", "", "forced hub's vehicles are full today (kg)"]


def test_forced_hub_is_respected_even_when_far() -> None:
    # hub 1 is 1500 km away; hub 2 has no vehicles; hub 3 has no capacity left today
    hubs = hubs_table([40.0, 30.0, 40.0, 40.0], [-100.0, -90.0, -100.1, -100.2],
                      vehicles=[10, 10, 0, 10], daily=[UNLIMITED, UNLIMITED, UNLIMITED, 0])
    table = parcels([40.0, 40.01, 40.02, 40.03], [-100.0] * 4, hub=[1, 2, 3, -1], tier=[2, 0, 0, 2])
    stops = build_stops(table, Settings())
    result = assign(stops, hubs, Settings())
    check_plan(stops, hubs, result)
    assert result.hub.tolist() == [1, -1, 3, 0]
    assert result.status.tolist() == [S.PLANNED, S.UNASSIGNED, S.DEFERRED, S.PLANNED]
    assert texts(result) == ["", "forced hub has no vehicles", "forced hub daily capacity exceeded",
                                             ""]


def test_forced_stops_consume_capacity_in_tier_order() -> None:
    # capacity 2: the forced priority stop and the free priority stop come before the forced standard one
    hubs = hubs_table([40.0], [-100.0], daily=[2])
    table = parcels([40.0, 40.01, 40.02], [-100.0] * 3, hub=[0, -1, 0], tier=[2, 0, 0])
    stops = build_stops(table, Settings())
    result = assign(stops, hubs, Settings())
    check_plan(stops, hubs, result)
    assert result.status.tolist() == [S.DEFERRED, S.PLANNED, S.PLANNED]
    assert texts(result)[0] == "forced hub daily capacity exceeded"


def test_stops_beyond_max_hub_km_are_unassigned() -> None:
    hubs = hubs_table([40.0], [-100.0])
    near = 40.0 + 0.5  # ~56 km straight, ~72 km by road
    far = 41.5  # ~167 km straight, ~217 km by road
    stops = build_stops(parcels([near, far], [-100.0, -100.0]), Settings())
    assert road_km(far, -100.0, 40.0, -100.0, Settings()) > 120.0
    result = assign(stops, hubs, Settings())
    check_plan(stops, hubs, result)
    assert result.status.tolist() == [S.PLANNED, S.UNASSIGNED]
    assert result.hub.tolist() == [0, -1]
    assert texts(result) == ["", "no hub with vehicles within 120 km"]
    wider = Settings(max_hub_km=250.0)
    result = assign(stops, hubs, wider)
    assert result.status.tolist() == [S.PLANNED, S.PLANNED]
    assert S.outcome_reasons(wider.max_hub_km)[S.R_NO_HUB_IN_REACH] == "no hub with vehicles within 250 km"


def test_hubs_without_vehicles_are_no_candidates() -> None:
    hubs = hubs_table([40.0, 40.5], [-100.0, -100.0], vehicles=[0, 5])
    stops = build_stops(parcels([40.0], [-100.0]), Settings())
    result = assign(stops, hubs, Settings())
    assert result.hub.tolist() == [1] and result.status.tolist() == [S.PLANNED]
    none = assign(stops, hubs_table([40.0], [-100.0], vehicles=[0]), Settings())
    assert none.status.tolist() == [S.UNASSIGNED] and texts(none) == ["no hub has vehicles today"]
    # a hub with vehicles beyond reach and one without vehicles next door: the reason says both
    mixed = assign(stops, hubs_table([40.0, 45.0], [-100.0, -100.0], vehicles=[0, 5]), Settings())
    assert mixed.status.tolist() == [S.UNASSIGNED] and texts(mixed) == ["no hub with vehicles within 120 km"]


def random_instance(rng: np.random.Generator, n_stops: int, n_hubs: int, *, tiers: bool,
                    parcels_per_stop: int = 1) -> tuple[Stops, pa.Table]:
    lat = rng.uniform(39.0, 41.0, n_stops)
    lon = rng.uniform(-101.0, -99.0, n_stops)
    weight = rng.uniform(0.5, 8.0, n_stops)
    tier = rng.integers(0, 3, n_stops) if tiers else np.full(n_stops, 2)
    rep = np.repeat(np.arange(n_stops), parcels_per_stop)
    stops = build_stops(parcels(lat[rep], lon[rep], tier=tier[rep], weight=weight[rep]), Settings())
    hubs = hubs_table(rng.uniform(39.2, 40.8, n_hubs), rng.uniform(-100.8, -99.2, n_hubs),
                      vehicles=rng.integers(0, 4, n_hubs), capacity_kg=rng.uniform(20.0, 60.0, n_hubs),
                      capacity_parcels=rng.integers(3, 12, n_hubs), daily=rng.integers(5, 40, n_hubs))
    return stops, hubs


@pytest.mark.parametrize("seed", range(4))
def test_random_plans_keep_every_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stops, hubs = random_instance(rng, 400, 12, tiers=True, parcels_per_stop=2)
    result = assign(stops, hubs, Settings())
    check_plan(stops, hubs, result)
    assert np.array_equal(result.hub, assign(stops, hubs, Settings()).hub)  # deterministic
    # the coarse-cell LP used for national volumes keeps the same rules
    coarse = assign(stops, hubs, Settings.from_dict({"assign": {"lp_max_cells": 1}}))
    check_plan(stops, hubs, coarse)
    assert np.array_equal(coarse.status == S.UNASSIGNED, result.status == S.UNASSIGNED)


def greedy_nearest(stops: Stops, hubs: pa.Table, settings: Settings) -> tuple[int, float]:
    """Parcels served and parcel-km of 'each stop in turn to its nearest hub with room'."""
    cap_n, cap_kg = capacity(hubs)
    lat, lon = hubs.column("lat").to_numpy(), hubs.column("lon").to_numpy()
    vehicles = hubs.column("vehicles").to_numpy()
    served, cost = 0, 0.0
    for s in range(stops.size):
        d = [road_km(stops.lat[s], stops.lon[s], lat[h], lon[h], settings) for h in range(hubs.num_rows)]
        for h in np.argsort(d, kind="stable"):
            n, kg = stops.n_parcels[s], stops.weight_kg[s]
            if vehicles[h] > 0 and d[h] <= settings.max_hub_km and n <= cap_n[h] and kg <= cap_kg[h]:
                cap_n[h] -= n
                cap_kg[h] -= kg
                served += int(n)
                cost += n * d[h]
                break
    return served, cost


@pytest.mark.parametrize("seed", range(5))
def test_lp_is_not_worse_than_greedy_nearest(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    stops, hubs = random_instance(rng, 150, 6, tiers=False)
    settings = Settings(candidate_hubs=6)  # every hub is a candidate, as in the greedy reference
    result = assign(stops, hubs, settings)
    check_plan(stops, hubs, result)
    routed = np.flatnonzero(result.status == S.PLANNED)
    lat, lon = hubs.column("lat").to_numpy(), hubs.column("lon").to_numpy()
    cost = sum(stops.n_parcels[s] * road_km(stops.lat[s], stops.lon[s], lat[h], lon[h], settings)
               for s, h in zip(routed, result.hub[routed]))
    served = int(stops.n_parcels[routed].sum())
    greedy_served, greedy_cost = greedy_nearest(stops, hubs, settings)
    assert served >= greedy_served
    if served == greedy_served:
        assert cost <= greedy_cost * (1 + 1e-9)


def test_no_stops_or_no_hubs() -> None:
    hubs = hubs_table([40.0], [-100.0])
    empty = assign(build_stops(parcels([], []), Settings()), hubs, Settings())
    assert empty.hub.size == 0 and empty.hub_parcels.tolist() == [0]
    stops = build_stops(parcels([40.0], [-100.0]), Settings())
    alone = assign(stops, hubs_table([], []), Settings())
    assert alone.status.tolist() == [S.UNASSIGNED] and alone.hub_parcels.size == 0
    assert texts(alone) == ["no valid hub in the hubs file"]
