"""A downstream service's view of an output directory: manifest first, then SQL over the Arrow files in DuckDB.

The consumer knows only CONTRACT.md: it waits for manifest.json, checks every
file against it, joins assignments to routes and recomputes the per-hub
totals and the summary's totals from the rows.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest

from tests.loads import write_run

duckdb = pytest.importorskip("duckdb")


def open_run(directory: Path) -> tuple["duckdb.DuckDBPyConnection", dict]:
    """Check the files against the manifest and expose each table as a DuckDB view."""
    manifest = json.loads((directory / "manifest.json").read_text())
    con = duckdb.connect()
    for entry in manifest["files"]:
        path = directory / entry["name"]
        data = path.read_bytes()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"], entry["name"]
        if path.suffix == ".arrow":
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            assert table.num_rows == entry["rows"]
            assert table.schema.metadata[b"hexroute.schema_version"].decode() == manifest["schema_version"]
            con.register(path.stem, table)
    return con, json.loads((directory / "summary.json").read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out, _, _ = write_run(tmp_path_factory.mktemp("consumer"), n=500, seed=31)
    return open_run(out)


def test_every_planned_parcel_joins_a_route_of_its_own_hub(run):
    con, _ = run
    orphans, wrong_hub = con.execute("""
        SELECT count(*) FILTER (WHERE r.route_id IS NULL),
               count(*) FILTER (WHERE r.route_id IS NOT NULL AND r.hub_id <> a.hub_id)
        FROM assignments a LEFT JOIN routes r USING (route_id)
        WHERE a.status = 'planned'""").fetchone()
    assert (orphans, wrong_hub) == (0, 0)
    assert con.execute("SELECT count(*) FROM assignments WHERE status <> 'planned' AND route_id IS NOT NULL"
                       ).fetchone()[0] == 0


def test_route_rows_agree_with_their_parcels(run):
    con, _ = run
    mismatched = con.execute("""
        WITH per_route AS (
            SELECT route_id, count(*) AS parcels, count(DISTINCT stop_seq) AS stops, max(stop_seq) AS last
            FROM assignments WHERE status = 'planned' GROUP BY route_id)
        SELECT count(*) FROM routes r LEFT JOIN per_route p USING (route_id)
        WHERE p.parcels IS DISTINCT FROM r.n_parcels OR p.stops IS DISTINCT FROM r.n_stops
           OR p.last IS DISTINCT FROM r.n_stops""").fetchone()[0]
    assert mismatched == 0


def test_per_hub_totals_recomputed_from_the_join(run):
    con, _ = run
    rows = con.execute("""
        WITH parcels AS (
            SELECT hub_id, count(*) FILTER (WHERE status = 'planned') AS planned,
                   count(*) FILTER (WHERE status = 'deferred') AS deferred
            FROM assignments WHERE hub_id IS NOT NULL GROUP BY hub_id),
        fleet AS (
            SELECT hub_id, count(*) AS routes, sum(distance_km) AS km, sum(cost_usd) AS cost
            FROM routes GROUP BY hub_id)
        SELECT h.hub_id, h.parcels_planned, coalesce(p.planned, 0), h.parcels_deferred, coalesce(p.deferred, 0),
               h.routes, coalesce(f.routes, 0), h.distance_km, coalesce(f.km, 0), h.cost_usd, coalesce(f.cost, 0),
               h.vehicles
        FROM hubs h LEFT JOIN parcels p USING (hub_id) LEFT JOIN fleet f USING (hub_id)
        ORDER BY h.hub_id""").fetchall()
    assert len(rows) == 3
    for hub, planned, planned2, deferred, deferred2, routes, routes2, km, km2, cost, cost2, vehicles in rows:
        assert (planned, deferred, routes) == (planned2, deferred2, routes2), hub
        assert km == pytest.approx(km2, rel=1e-12) and cost == pytest.approx(cost2, rel=1e-12), hub
        assert routes <= vehicles
    assert sum(r[4] for r in rows) > 0, "the load is meant to defer parcels"


def test_summary_totals_recomputed(run):
    con, summary = run
    t = summary["totals"]
    planned, deferred, unassigned, routes, km, cost, co2, hours = con.execute("""
        SELECT (SELECT count(*) FROM assignments WHERE status = 'planned'),
               (SELECT count(*) FROM assignments WHERE status = 'deferred'),
               (SELECT count(*) FROM assignments WHERE status = 'unassigned'),
               count(*), sum(distance_km), sum(cost_usd), sum(co2_kg), sum(duration_s) / 3600.0
        FROM routes""").fetchone()
    assert (planned, deferred, unassigned, routes) == (t["parcels_planned"], t["parcels_deferred"],
                                                        t["parcels_unassigned"], t["routes"])
    assert km == pytest.approx(t["distance_km"], abs=1e-3) and cost == pytest.approx(t["cost_usd"], abs=0.01)
    assert co2 == pytest.approx(t["co2_kg"], abs=1e-3) and hours == pytest.approx(t["duration_h"], abs=1e-3)
    rejected = con.execute("SELECT count(*) FROM rejects WHERE file = 'parcels'").fetchone()[0]
    assert rejected == t["parcels_rejected"]
    assert planned + deferred + unassigned + rejected == t["parcels"]
