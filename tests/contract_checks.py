"""Independent checks of CONTRACT.md's rules, recomputed from a plan's output tables.

Nothing here trusts the planner's own numbers: loads, parcel counts and
distances are recomputed from the input parcels and hubs.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from planner.contract.schemas import TIERS
from tests import naive

CAPACITY_REASONS_KEYWORDS = ("capacity", "full")




def _tier_codes(parcels: pa.Table) -> np.ndarray:
    if "tier" not in parcels.column_names:
        return np.full(parcels.num_rows, 2)
    names = parcels.column("tier").cast(pa.string()).to_pylist()
    return np.array([TIERS.index(t) if t in TIERS else 2 for t in (n or "standard" for n in names)])


def check_plan(parcels: pa.Table, hubs: pa.Table, assignments: pa.Table, routes: pa.Table,
               hub_report: pa.Table, rejects: pa.Table, circuity: float) -> None:
    """Assert every rule at the end of CONTRACT.md."""
    a = assignments.to_pydict()
    n_in = parcels.num_rows
    rej_rows = [r for r, f in zip(rejects.column("row").to_pylist(), rejects.column("file").to_pylist())
                if f == "parcels"]
    # every parcel in exactly one of assignments or rejects
    assert len(set(rej_rows)) == len(rej_rows), "a parcel row is rejected twice"
    assert len(a["parcel_id"]) + len(rej_rows) == n_in, "parcels lost or duplicated"
    assert len(set(a["parcel_id"])) == len(a["parcel_id"]), "a parcel is assigned twice"
    ids = parcels.column("parcel_id").to_pylist()
    kept = sorted(set(range(n_in)) - set(rej_rows))
    assert sorted(a["parcel_id"]) == sorted(ids[i] for i in kept), "assignments do not match non-rejected parcels"

    row_of = {ids[i]: i for i in kept}
    rows = np.array([row_of[p] for p in a["parcel_id"]], dtype=np.int64)
    lat = parcels.column("lat").to_numpy()[rows]
    lon = parcels.column("lon").to_numpy()[rows]
    weight = (parcels.column("weight_kg").to_numpy(zero_copy_only=False).astype(np.float64)[rows]
              if "weight_kg" in parcels.column_names else np.ones(rows.size))
    tier = _tier_codes(parcels)[rows]
    status = np.array(a["status"], dtype=object)
    assert set(status) <= {"planned", "deferred", "unassigned"}
    planned = status == "planned"
    for col in ("route_id", "stop_seq", "eta_s"):
        vals = np.array(a[col], dtype=object)
        assert all(v is not None for v in vals[planned]), f"{col} missing on a planned parcel"
        assert all(v is None for v in vals[~planned]), f"{col} set on a parcel that is not planned"
    hub_col = np.array(a["hub_id"], dtype=object)
    assert all(h is not None for h in hub_col[status != "unassigned"])
    assert all(h is None for h in hub_col[status == "unassigned"])
    reason = np.array(a["reason"], dtype=object)
    assert all(r is None for r in reason[planned]) and all(r for r in reason[~planned])

    h = hubs.to_pydict()
    hub_index = {hid: i for i, hid in enumerate(h["hub_id"])}
    cap_kg = np.array(h["capacity_kg"], dtype=np.float64)
    n_h = len(h["hub_id"])
    cap_n = np.array(h["capacity_parcels"] if "capacity_parcels" in h else [2**31 - 1] * n_h, dtype=np.float64)
    shift = np.array(h["shift_s"] if "shift_s" in h else [28800] * n_h, dtype=np.float64)
    daily = np.array(h["daily_capacity"] if "daily_capacity" in h else [2**31 - 1] * n_h, dtype=np.float64)
    vehicles = np.array(h["vehicles"], dtype=np.int64)
    hub_lat, hub_lon = np.array(h["lat"]), np.array(h["lon"])

    r = routes.to_pydict()
    assert len(set(r["route_id"])) == len(r["route_id"]), "route ids are not unique"
    route_ids = np.array(a["route_id"], dtype=object)
    seq = np.array([s if s is not None else 0 for s in a["stop_seq"]])
    eta = np.array([e if e is not None else -1 for e in a["eta_s"]])
    routes_per_hub = np.zeros(n_h, dtype=np.int64)
    for k, rid in enumerate(r["route_id"]):
        hub = hub_index[r["hub_id"][k]]
        routes_per_hub[hub] += 1
        on = np.flatnonzero(planned & (route_ids == rid))
        assert on.size > 0, f"route {rid} carries no parcel"
        assert (hub_col[on] == r["hub_id"][k]).all(), f"route {rid} carries parcels of another hub"
        load = weight[on].sum()
        assert abs(load - r["load_kg"][k]) <= 1e-6 * max(1.0, load), f"route {rid}: load_kg {r['load_kg'][k]} != {load}"
        assert on.size == r["n_parcels"][k], f"route {rid}: n_parcels"
        assert load <= cap_kg[hub] * (1 + 1e-9), f"route {rid} over capacity_kg"
        assert on.size <= cap_n[hub], f"route {rid} over capacity_parcels"
        assert r["duration_s"][k] <= shift[hub], f"route {rid} over shift_s"
        seqs = np.unique(seq[on])
        assert seqs.tolist() == list(range(1, r["n_stops"][k] + 1)), f"route {rid}: stop_seq not 1..n_stops"
        # one ETA per stop, strictly increasing along the route
        etas = [np.unique(eta[on[seq[on] == s_]]) for s_ in seqs]
        assert all(e.size == 1 for e in etas), f"route {rid}: parcels of one stop with different ETAs"
        etas = np.array([e[0] for e in etas])
        assert np.all(np.diff(etas) > 0) and etas[0] >= 0, f"route {rid}: eta_s does not increase"
        # distance: hub -> stops in order -> hub, each stop at its first parcel's coordinates
        first = [on[seq[on] == s_][np.argmin(rows[on[seq[on] == s_]])] for s_ in seqs]
        pts_lat = np.concatenate([[hub_lat[hub]], lat[first], [hub_lat[hub]]])
        pts_lon = np.concatenate([[hub_lon[hub]], lon[first], [hub_lon[hub]]])
        dist = circuity * naive.haversine_km(pts_lat[:-1], pts_lon[:-1], pts_lat[1:], pts_lon[1:]).sum()
        assert abs(dist - r["distance_km"][k]) <= 1e-3 * max(dist, 1e-6) + 1e-9, \
            f"route {rid}: distance_km {r['distance_km'][k]} vs recomputed {dist}"
    assert (routes_per_hub <= vehicles).all(), "a hub runs more routes than it has vehicles"
    planned_per_hub = np.zeros(n_h, dtype=np.int64)
    for hid in hub_col[planned]:
        planned_per_hub[hub_index[hid]] += 1
    assert (planned_per_hub <= daily).all(), "a hub plans more parcels than its daily_capacity"

    # tier order: at a hub that deferred parcels of tier t for lack of capacity, no stop
    # is planned unless it carries a parcel of tier <= t
    capacity_deferred = (status == "deferred") & np.array(
        [any(k in (x or "") for k in CAPACITY_REASONS_KEYWORDS) for x in reason])
    for hid in set(hub_col[capacity_deferred]):
        worst = tier[capacity_deferred & (hub_col == hid)].min()
        stops: dict[tuple, int] = {}
        for i in np.flatnonzero(planned & (hub_col == hid)):
            key = (route_ids[i], seq[i])
            stops[key] = min(stops.get(key, 9), tier[i])
        bad = [k for k, t in stops.items() if t > worst]
        assert not bad, f"hub {hid} deferred {TIERS[worst]} parcels but planned less urgent stops {bad[:3]}"

    # hub report agrees with the assignments
    hr = hub_report.to_pydict()
    for k, hid in enumerate(hr["hub_id"]):
        assert hr["parcels_planned"][k] == int((planned & (hub_col == hid)).sum())
        assert hr["parcels_deferred"][k] == int(((status == "deferred") & (hub_col == hid)).sum())
        assert hr["routes"][k] == int(sum(1 for x in r["hub_id"] if x == hid))
