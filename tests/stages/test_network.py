"""Separate networks in the index and assign stages: a parcel only sees the hubs of the operator that sold it,
and parcels of one address bound to different networks are different stops."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from planner.contract import schemas as S
from planner.contract.arrays import hubs_model, network_codes, parcels_model, seller_operators
from planner.errors import SettingsError
from planner.settings import Settings
from planner.stages.index import area_class, build_stops, speed_class
from tests.stages.test_assign import assign, hubs_table
from tests.tables import parcels_table


def _with_shippers(table: pa.Table, shippers: list[str | None]) -> pa.Table:
    return table.set_column(table.column_names.index("shipper"), "shipper", pa.array(shippers, pa.string()))


def _operators(hubs: pa.Table, operators: list[str]) -> pa.Table:
    return hubs.set_column(hubs.column_names.index("operator"), "operator", pa.array(operators, pa.string()))


def test_sellers_follow_the_shipper_mapping():
    sellers = seller_operators(pa.chunked_array([["amazon", "usps", "small_business", None, "Amazon"]]))
    assert sellers.tolist() == ["amazon", "usps", "usps", "usps", "usps"]
    assert S.SHIPPER_OPERATOR == {"amazon": "amazon"} and S.DEFAULT_SELLER == "usps"


def test_network_codes_are_the_sellers_hub_operator_or_none():
    hubs = hubs_model(_operators(hubs_table([40.0, 40.1], [-74.0, -74.1]), ["usps", "usps"]))
    table = _with_shippers(parcels_table([40.0, 40.0], [-74.0, -74.0]), ["usps", "amazon"])
    assert network_codes(table, hubs, "shared").tolist() == [-1, -1]
    names, _ = hubs.networks()
    assert names.tolist() == ["usps"]
    assert network_codes(table, hubs, "separate").tolist() == [0, -2]  # no amazon hub at all


def test_one_address_with_two_networks_is_two_stops():
    table = _with_shippers(parcels_table([40.0] * 3, [-74.0] * 3, address=["a", "a", "a"]),
                           ["amazon", "usps", "amazon"])
    hubs = hubs_model(_operators(hubs_table([40.0, 40.1], [-74.0, -74.1]), ["amazon", "usps"]))
    shared = build_stops(parcels_model(table, network_codes(table, hubs, "shared")), Settings())
    assert shared.size == 1
    separate = build_stops(parcels_model(table, network_codes(table, hubs, "separate")), Settings())
    assert separate.parcel_stop.tolist() == [0, 1, 0]
    assert separate.network.tolist() == [0, 1] and separate.n_parcels.tolist() == [2, 1]


def test_a_stop_sees_only_its_networks_hubs():
    # the amazon hub is next door, the usps hub 30 km away, another usps hub 200 km away
    hubs = _operators(hubs_table([40.0, 40.27, 41.8], [-74.0, -74.0, -74.0]), ["amazon", "usps", "usps"])
    table = _with_shippers(parcels_table([40.001, 40.002, 40.003], [-74.0, -74.0, -74.0]),
                           ["usps", "amazon", "small_business"])
    settings = Settings(network="separate")
    model = hubs_model(hubs)
    stops = build_stops(parcels_model(table, network_codes(table, model, "separate")), settings)
    result = assign(stops, hubs, settings)
    assert result.hub.tolist() == [1, 0, 1]
    assert result.status.tolist() == [S.PLANNED] * 3
    shared = build_stops(parcels_model(table), settings)
    assert assign(shared, hubs, Settings()).hub.tolist() == [0, 0, 0]


def test_a_stop_with_no_hub_of_its_network_in_reach_is_unassigned():
    hubs = _operators(hubs_table([40.0, 42.0], [-74.0, -74.0]), ["amazon", "usps"])
    table = _with_shippers(parcels_table([40.001, 40.002], [-74.0, -74.0]), ["usps", "amazon"])
    model = hubs_model(hubs)
    stops = build_stops(parcels_model(table, network_codes(table, model, "separate")), Settings())
    result = assign(stops, hubs, Settings(network="separate"))
    assert result.status.tolist() == [S.UNASSIGNED, S.PLANNED]
    assert result.hub.tolist() == [-1, 0]


def test_capacity_is_shared_only_within_a_network():
    # two hubs side by side, one vehicle of 2 parcels each; three usps parcels: the usps hub takes two
    hubs = _operators(hubs_table([40.0, 40.0005], [-74.0, -74.0], vehicles=[1, 1], capacity_parcels=[2, 2]),
                      ["amazon", "usps"])
    table = _with_shippers(parcels_table([40.01, 40.02, 40.03], [-74.0, -74.0, -74.0]), ["usps"] * 3)
    model = hubs_model(hubs)
    stops = build_stops(parcels_model(table, network_codes(table, model, "separate")), Settings())
    result = assign(stops, hubs, Settings(network="separate"))
    assert sorted(result.status.tolist()) == [S.PLANNED, S.PLANNED, S.DEFERRED]
    assert set(result.hub.tolist()) == {1}
    shared = assign(build_stops(parcels_model(table), Settings()), hubs, Settings())
    assert shared.status.tolist() == [S.PLANNED] * 3


def test_area_classes_follow_the_speed_thresholds():
    speeds = Settings().speeds
    density = np.array([0.0, speeds.suburban_density - 1e-9, speeds.suburban_density, speeds.urban_density, 1e6])
    assert [S.AREAS[k] for k in area_class(density, speeds)] == ["rural", "rural", "suburban", "urban", "urban"]
    assert speed_class(density, speeds).tolist() == [speeds.rural_kmh, speeds.rural_kmh, speeds.suburban_kmh,
                                                     speeds.urban_kmh, speeds.urban_kmh]


def test_the_network_setting_is_checked():
    assert Settings.from_dict({"network": "separate"}).network == "separate"
    with pytest.raises(SettingsError, match="network must be one of shared, separate"):
        Settings(network="pooled")
