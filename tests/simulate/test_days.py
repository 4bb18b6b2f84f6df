"""Several days with a carried backlog: every parcel ends in one place, tiers keep their order across days,
parcels age by the days they wait, every day's plan keeps the contract, runs repeat, and a run that stops
midway leaves nothing behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.feather as feather
import pytest

import planner
import planner.simulate.days as days_module
from planner.contract.target import manifest
from planner.errors import InputError
from tests.conftest import ROOT
from tests.contract_checks import check_plan
from tests.simulate import loads
from tests.simulate.conftest import read_json
from tests.simulate.days import read_days

NETWORKS = ("shared", "separate")


def _dirs(shared_dir: Path, separate_dir: Path) -> dict[str, Path]:
    return {"shared": shared_dir, "separate": separate_dir}


def test_the_directory_holds_the_days_the_backlog_and_the_document(shared_dir):
    names = sorted(p.name for p in shared_dir.iterdir())
    assert names == ["backlog.arrow", "day-01", "day-02", "day-03", "manifest.json", "report-backlog.png",
                     "report-on-time.png", "report.html", "simulation.json"]
    listed = {f["name"] for f in manifest(shared_dir)["files"]}
    on_disk = {str(p.relative_to(shared_dir)) for p in shared_dir.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk, "the manifest lists every file of the tree, the days' included"
    assert read_json(shared_dir / "manifest.json")["kind"] == "simulation"
    assert feather.read_table(shared_dir / "backlog.arrow").schema.names == ["parcel_id", "tier", "first_day",
                                                                             "age_days"]


@pytest.mark.parametrize("network", NETWORKS)
def test_every_parcel_is_planned_on_one_day_or_left_in_the_backlog(network, shared_dir, separate_dir):
    directory = _dirs(shared_dir, separate_dir)[network]
    new = [set(loads.day(d).column("parcel_id").to_pylist()) for d in (1, 2, 3)]
    everything = set().union(*new)
    planned: Counter[str] = Counter()
    unassigned: dict[str, int] = {}
    rejected: dict[str, int] = {}
    for day in read_days(directory):
        for pid, status in day.status().items():
            if status == "planned":
                planned[pid] += 1
            elif status == "unassigned":
                unassigned[pid] = day.number
        rows = day.rejects.filter(pc.equal(day.rejects.column("file"), "parcels"))
        for row in rows.column("row").to_pylist():
            rejected[day.parcels.column("parcel_id")[row].as_py()] = day.number
    backlog = set(feather.read_table(directory / "backlog.arrow").column("parcel_id").to_pylist())
    assert max(planned.values()) == 1, "a parcel was planned on two days"
    assert not set(planned) & backlog, "a parcel is planned and in the backlog"
    ends = [set(planned), backlog, set(unassigned), set(rejected)]
    assert sum(len(e) for e in ends) == len(everything) and set().union(*ends) == everything
    for pid, day in unassigned.items():  # unassigned parcels are settled the day they come in
        assert pid in new[day - 1]
    totals = read_json(directory / "simulation.json")["totals"]["parcels"]
    assert totals == {"new": len(everything), "planned": len(planned), "unassigned": len(unassigned),
                      "rejected": len(rejected), "backlog": len(backlog)}


@pytest.mark.parametrize("network", NETWORKS)
def test_each_day_plans_the_carried_parcels_first_then_the_new_ones(network, shared_dir, separate_dir):
    days = read_days(_dirs(shared_dir, separate_dir)[network])
    document = read_json(_dirs(shared_dir, separate_dir)[network] / "simulation.json")
    for before, after in zip(days, days[1:]):
        deferred = [pid for pid, s in before.status().items() if s == "deferred"]
        carried = after.parcels.slice(0, len(deferred))
        assert carried.column("parcel_id").to_pylist() == deferred
        rows = {r["parcel_id"]: r for r in before.parcels.to_pylist()}
        assert carried.to_pylist() == [rows[p] for p in deferred], "a carried parcel changed"
        assert after.parcels.slice(len(deferred)).column("parcel_id").to_pylist() == \
            loads.day(after.number).column("parcel_id").to_pylist()
        assert document["days"][after.number - 1]["parcels"]["carried_in"] == len(deferred)
    assert any(document["days"][k]["parcels"]["carried_in"] for k in (1, 2)), "the load carries nothing"


@pytest.mark.parametrize("network", NETWORKS)
def test_no_priority_parcel_is_carried_while_a_standard_one_of_its_hub_is_planned(network, shared_dir,
                                                                                   separate_dir):
    for day in read_days(_dirs(shared_dir, separate_dir)[network]):
        tier = dict(zip(day.parcels.column("parcel_id").to_pylist(), day.parcels.column("tier").to_pylist()))
        a = day.assignments.to_pylist()
        carried_priority = {r["hub_id"] for r in a if r["status"] == "deferred" and tier[r["parcel_id"]] == "priority"}
        stop_tiers: dict[tuple, set[str]] = {}
        for r in a:
            if r["status"] == "planned":
                stop_tiers.setdefault((r["route_id"], r["stop_seq"]), set()).add(tier[r["parcel_id"]])
        for r in a:  # a standard parcel planned at a stop of its own (not riding with a more urgent parcel)
            if r["status"] == "planned" and stop_tiers[(r["route_id"], r["stop_seq"])] == {"standard"}:
                assert r["hub_id"] not in carried_priority, (day.number, r)


def test_a_parcel_carried_twice_is_two_days_old(shared_dir, separate_dir):
    seen_twice = 0
    for directory in (shared_dir, separate_dir):
        days = read_days(directory)
        deferrals: Counter[str] = Counter()
        for day in days:
            deferrals.update(p for p, s in day.status().items() if s == "deferred")
        backlog = feather.read_table(directory / "backlog.arrow").to_pylist()
        for row in backlog:
            assert row["age_days"] == deferrals[row["parcel_id"]] == len(days) + 1 - row["first_day"]
            assert row["parcel_id"].startswith(f"d{row['first_day']}-")
        seen_twice += sum(1 for row in backlog if row["age_days"] == 2)
        by_age = read_json(directory / "simulation.json")["totals"]["backlog"]["by_age"]
        assert by_age == dict(sorted(Counter(str(r["age_days"]) for r in backlog).items()))
    assert seen_twice, "no parcel was carried twice: the load does not test ageing"


@pytest.mark.parametrize("network", NETWORKS)
def test_every_days_plan_keeps_the_contract(network, shared_dir, separate_dir):
    for day in read_days(_dirs(shared_dir, separate_dir)[network]):
        check_plan(day.parcels, loads.hubs(), day.assignments, day.routes, day.hubs, day.rejects,
                   loads.SETTINGS.circuity)


def test_on_time_counts_follow_the_promises(shared_dir):
    document = read_json(shared_dir / "simulation.json")
    days = read_days(shared_dir)
    first_day = {}
    for day in days:
        for pid in day.parcels.column("parcel_id").to_pylist():
            first_day.setdefault(pid, day.number)
    for day, doc in zip(days, document["days"]):
        tier = dict(zip(day.parcels.column("parcel_id").to_pylist(), day.parcels.column("tier").to_pylist()))
        for name, promise in (("priority", 0), ("express", 1)):
            planned = [p for p, s in day.status().items() if s == "planned" and tier[p] == name]
            on_time = sum(1 for p in planned if day.number - first_day[p] <= promise)
            assert doc["tiers"][name]["on_time"] == on_time
            assert doc["tiers"][name]["late"] == len(planned) - on_time
    total = document["totals"]["tiers"]["express"]
    assert total["on_time_share"] == pytest.approx(total["on_time"] / (total["on_time"] + total["missed"]), abs=1e-6)


def test_a_simulation_repeats_byte_for_byte(shared_dir, tmp_path):
    again = planner.simulate(loads.days(3), loads.hubs(), loads.SETTINGS, out=tmp_path / "again", progress=False,
                             report=False)
    assert again.directory == tmp_path / "again"
    for path in shared_dir.rglob("*.arrow"):
        assert (tmp_path / "again" / path.relative_to(shared_dir)).read_bytes() == path.read_bytes(), path


def test_a_simulation_stopped_midway_leaves_the_target_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "sim"
    planner.simulate(loads.days(1), loads.hubs(), loads.SETTINGS, out=out, progress=False, report=False)
    before = manifest(out)
    real, calls = days_module.plan, []

    def stop_on_day_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(days_module, "plan", stop_on_day_two)
    with pytest.raises(KeyboardInterrupt):
        planner.simulate(loads.days(3), loads.hubs(), loads.SETTINGS, out=out, progress=False)
    assert manifest(out) == before, "the earlier simulation was touched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"], "the run left something beside the target"
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        planner.simulate(loads.days(3), loads.hubs(), loads.SETTINGS, out=tmp_path / "new", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim"]


def test_a_simulation_killed_by_sigterm_midway_leaves_no_directory(tmp_path):
    days = tmp_path / "days"
    days.mkdir()
    for d in range(1, 9):
        feather.write_feather(loads.day(d), days / f"day-{d}.arrow")
    feather.write_feather(loads.hubs(), tmp_path / "hubs.arrow")
    config = tmp_path / "plan.toml"
    config.write_text("max_hub_km = 40.0\n[improve]\ntime_cap_s = 20.0\nmax_rounds = 5\n")
    out = tmp_path / "sim"
    proc = subprocess.Popen([sys.executable, "-m", "planner.cli", "simulate", "--days-dir", str(days), "--hubs",
                             str(tmp_path / "hubs.arrow"), "--out", str(out), "--config", str(config), "--quiet"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not list(tmp_path.glob(".sim.tmp-*/day-01/manifest.json")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "day 1 never finished"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143, proc.stderr.read()
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["days", "hubs.arrow", "plan.toml"]


def test_the_python_api_keeps_the_plans_without_an_output(tmp_path):
    sim = planner.simulate(loads.days(2), loads.hubs(), loads.SETTINGS, progress=False)
    assert len(sim.plans) == 2 and sim.directory is None
    assert sim.backlog.num_rows == sim.document["totals"]["parcels"]["backlog"]
    assert os.listdir(tmp_path) == []


def test_a_bad_day_stops_the_run_before_any_output(tmp_path):
    bad = loads.day(2).drop_columns(["lat"])
    with pytest.raises(InputError, match="lat"):
        planner.simulate([loads.day(1), bad], loads.hubs(), loads.SETTINGS, out=tmp_path / "sim", progress=False)
    assert list(tmp_path.iterdir()) == []
