"""Shared against separate networks: the separation rule holds, sharing never plans fewer parcels, and the
comparison's figures are the two runs' figures, parcel by parcel."""
from __future__ import annotations

import pyarrow.feather as feather

import planner
from planner.contract import schemas as S
from tests.simulate import loads
from tests.simulate.conftest import read_json
from tests.simulate.days import read_days

OPERATOR = dict(zip(loads.hubs().column("hub_id").to_pylist(), loads.hubs().column("operator").to_pylist()))


def _seller(shipper: str | None) -> str:
    return S.SHIPPER_OPERATOR.get(shipper, S.DEFAULT_SELLER)


def test_separate_networks_keep_every_parcel_on_its_sellers_hubs(separate_dir):
    seen = 0
    for day in read_days(separate_dir):
        shipper = dict(zip(day.parcels.column("parcel_id").to_pylist(), day.parcels.column("shipper").to_pylist()))
        for row in day.assignments.to_pylist():
            if row["hub_id"] is not None:
                assert OPERATOR[row["hub_id"]] == _seller(shipper[row["parcel_id"]]), (day.number, row)
                seen += 1
    assert seen


def test_the_shared_network_lends_hubs_across_operators(shared_dir):
    crossed = 0
    for day in read_days(shared_dir):
        shipper = dict(zip(day.parcels.column("parcel_id").to_pylist(), day.parcels.column("shipper").to_pylist()))
        crossed += sum(1 for r in day.assignments.to_pylist() if r["status"] == "planned"
                       and OPERATOR[r["hub_id"]] != _seller(shipper[r["parcel_id"]]))
    assert crossed > 0


def test_sharing_never_plans_fewer_parcels_on_the_same_load(comparison):
    document = comparison[0].document
    shared, separate = (document["per_day"][n] for n in ("shared", "separate"))
    assert shared[0]["planned"] >= separate[0]["planned"]  # day 1: the very same parcels
    totals = {n: document["networks"][n]["parcels"] for n in ("shared", "separate")}
    assert totals["shared"]["planned"] > totals["separate"]["planned"]
    assert totals["shared"]["backlog"] <= totals["separate"]["backlog"]
    assert totals["shared"]["unassigned"] <= totals["separate"]["unassigned"]


def test_the_comparison_holds_both_runs_and_their_difference(comparison, shared_dir, separate_dir):
    result, out = comparison
    document = read_json(out / "comparison.json")
    assert document == result.document
    assert read_json(out / "manifest.json")["kind"] == "comparison"
    for net, directory in (("shared", shared_dir), ("separate", separate_dir)):
        assert document["networks"][net] == read_json(directory / "simulation.json")["totals"]
    outcomes = document["difference"]["outcomes"]
    for net, axis in (("shared", 0), ("separate", 1)):
        parcels = document["networks"][net]["parcels"]
        for name in ("planned", "deferred", "unassigned", "rejected"):
            row = outcomes[name].values() if axis == 0 else [outcomes[x][name] for x in outcomes]
            assert sum(row) == parcels["backlog" if name == "deferred" else name], (net, name)
    cut = document["difference"]["backlog_cut"]["all"]
    s, p = (document["networks"][n]["parcels"]["backlog"] for n in ("shared", "separate"))
    assert cut == round(1 - s / p, 6)


def test_reach_lists_the_parcels_only_a_partners_hub_serves(comparison, shared_dir, separate_dir):
    result, out = comparison
    reach = feather.read_table(out / "reach.arrow")
    assert reach.schema.names == S.REACH_SCHEMA.names
    assert reach.num_rows == result.document["difference"]["reach"]["parcels"] > 0
    shared_planned = {p for d in read_days(shared_dir) for p, s in d.status().items() if s == "planned"}
    separate_unassigned = {p for d in read_days(separate_dir) for p, s in d.status().items() if s == "unassigned"}
    assert set(reach.column("parcel_id").to_pylist()) == shared_planned & separate_unassigned
    for row in reach.to_pylist():
        assert row["delivered_by"] != row["seller"], row  # its own operator has no hub in reach
        assert row["zip"] in ("12771", "08540"), row  # the two towns that only one operator serves
    assert set(reach.column("area").to_pylist()) <= set(S.AREAS)
    assert result.document["difference"]["reach"]["by_area"]["rural"] > 0


def test_one_day_compares_two_plan_directories(tmp_path):
    result = planner.compare(loads.day(1), loads.hubs(), loads.SETTINGS, out=tmp_path / "cmp", progress=False,
                             report=False)
    for net in ("shared", "separate"):
        names = {p.name for p in (tmp_path / "cmp" / net).iterdir()}
        assert {"assignments.arrow", "routes.arrow", "hubs.arrow", "rejects.arrow", "summary.json",
                "manifest.json"} <= names
    assert result.document["days"] == 1
    assert result.document["networks"]["shared"]["parcels"]["planned"] >= \
        result.document["networks"]["separate"]["parcels"]["planned"]
