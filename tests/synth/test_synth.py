"""Synthetic loads: determinism, contract types, mixes, geography and hub sizing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy.spatial import cKDTree

from planner import cli
from planner.errors import InputError
from planner.synth import load as synth
from planner.synth.geo import REGIONS, unit_xyz, us_zips
from tests.conftest import DATA  # noqa: E402

PARCEL_TYPES = {"parcel_id": pa.string(), "lat": pa.float64(), "lon": pa.float64(), "weight_kg": pa.float32(),
                "tier": pa.string(), "address_id": pa.string(), "shipper": pa.string(), "fee_usd": pa.float32(),
                "zip": pa.string()}
HUB_TYPES = {"hub_id": pa.string(), "lat": pa.float64(), "lon": pa.float64(), "operator": pa.string(),
             "vehicles": pa.int32(), "capacity_kg": pa.float32(), "capacity_parcels": pa.int32(),
             "shift_s": pa.int32(), "daily_capacity": pa.int32()}
#: 2020 census resident population of the largest states (census.gov, April 2020)
CENSUS_2020 = {"CA": 39_538_223, "TX": 29_145_505, "FL": 21_538_187, "NY": 20_201_249,
               "PA": 13_002_700, "IL": 12_812_508}
CONTIGUOUS_2020 = 331_449_281 - 733_391 - 1_455_271  # less Alaska and Hawaii


def _read(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


@pytest.fixture(scope="module")
def nyc_load(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, pa.Table]:
    out = tmp_path_factory.mktemp("nyc")
    paths = synth.write_load(out, n_parcels=20_000, n_hubs=12, seed=3, region="nyc")
    return _read(paths["parcels"]), _read(paths["hubs"])


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    runs = {name: synth.write_load(tmp_path / name, 3000, 8, seed=seed, region="nyc")
            for name, seed in (("a", 5), ("b", 5), ("c", 6))}
    for kind in ("parcels", "hubs"):
        assert runs["a"][kind].read_bytes() == runs["b"][kind].read_bytes()
        assert runs["a"][kind].read_bytes() != runs["c"][kind].read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["hubs.arrow", "parcels.arrow"]


def test_files_follow_the_contract_types(nyc_load: tuple[pa.Table, pa.Table]) -> None:
    parcels, hubs = nyc_load
    assert {f.name: f.type for f in parcels.schema} == PARCEL_TYPES
    assert {f.name: f.type for f in hubs.schema} == HUB_TYPES
    assert parcels.num_rows == 20_000 and hubs.num_rows == 12
    for table, key in ((parcels, "parcel_id"), (hubs, "hub_id")):
        assert all(col.null_count == 0 for col in table.columns)
        assert len(set(table.column(key).to_pylist())) == table.num_rows


def test_tier_mix_weights_and_fees(nyc_load: tuple[pa.Table, pa.Table]) -> None:
    parcels, _ = nyc_load
    tiers = np.array(parcels.column("tier").to_pylist())
    for tier, share in zip(synth.TIERS, synth.TIER_MIX):
        assert abs(np.mean(tiers == tier) - share) < 0.012, tier
    w = parcels.column("weight_kg").to_numpy()
    assert w.min() >= np.float32(0.05) and w.max() <= 30.0
    assert 1.3 < np.median(w) < 1.7
    fee = parcels.column("fee_usd").to_numpy()
    assert np.all(np.isfinite(fee)) and fee.min() > 0
    by_tier = {t: np.median(fee[tiers == t]) for t in synth.TIERS}
    assert by_tier["priority"] > by_tier["express"] > by_tier["standard"]
    assert set(parcels.column("shipper").to_pylist()) == set(synth.SHIPPERS)


def test_about_a_fifth_of_parcels_share_an_address_with_identical_coordinates(
        nyc_load: tuple[pa.Table, pa.Table]) -> None:
    parcels, _ = nyc_load
    address = np.array(parcels.column("address_id").to_pylist())
    _, inverse, counts = np.unique(address, return_inverse=True, return_counts=True)
    assert abs(np.mean(counts[inverse] > 1) - synth.SHARED_ADDRESS_SHARE) < 0.02
    coords = np.column_stack((parcels.column("lat").to_numpy(), parcels.column("lon").to_numpy()))
    first = np.zeros((len(counts), 2))
    first[inverse] = coords
    assert np.array_equal(first[inverse], coords)  # every parcel of an address at the same point
    assert len(np.unique(coords, axis=0)) == len(counts)  # distinct addresses at distinct points


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_coordinates_stay_inside_the_region(region: str) -> None:
    batch = next(synth.iter_parcel_batches(5000, None, seed=1, region=region))
    lat, lon = batch.column("lat").to_numpy(), batch.column("lon").to_numpy()
    box = REGIONS[region]
    assert box.lat[0] <= lat.min() and lat.max() <= box.lat[1]
    assert box.lon[0] <= lon.min() and lon.max() <= box.lon[1]
    hubs = synth.make_hubs(6, seed=1, region=region)
    assert REGIONS[region].contains(hubs.column("lat").to_numpy(), hubs.column("lon").to_numpy()).all()


def test_parcels_per_state_follow_population() -> None:
    lat, lon = [], []
    for batch in synth.iter_parcel_batches(60_000, None, seed=2, region="national", batch_size=25_000):
        lat.append(batch.column("lat").to_numpy())
        lon.append(batch.column("lon").to_numpy())
    zips = us_zips()
    _, nearest = cKDTree(unit_xyz(zips.lat, zips.lon)).query(unit_xyz(np.concatenate(lat), np.concatenate(lon)))
    state = zips.state[nearest]
    assert not np.isin(state, ["AK", "HI"]).any()
    for code, people in CENSUS_2020.items():
        expected = people / CONTIGUOUS_2020
        assert abs(np.mean(state == code) / expected - 1) < 0.3, code


def test_batches_stream_with_running_ids() -> None:
    batches = list(synth.iter_parcel_batches(2500, None, seed=4, region="chicago", batch_size=1000))
    assert [b.num_rows for b in batches] == [1000, 1000, 500]
    ids = [i for b in batches for i in b.column("parcel_id").to_pylist()]
    assert ids == [f"P{i:010d}" for i in range(2500)]
    addresses = [set(b.column("address_id").to_pylist()) for b in batches]
    assert not (addresses[0] & addresses[1]) and not (addresses[1] & addresses[2])


def test_every_parcel_has_the_zip_code_it_was_drawn_from_and_days_get_their_own_ids() -> None:
    batch = next(synth.iter_parcel_batches(3000, None, seed=4, region="nyc", id_prefix="D03-"))
    zips = us_zips()
    code = np.asarray(batch.column("zip").to_pylist())
    assert np.isin(code, zips.zip_code).all()
    row = {z: k for k, z in enumerate(zips.zip_code.tolist())}
    centre = unit_xyz(zips.lat[[row[z] for z in code]], zips.lon[[row[z] for z in code]])
    km = np.linalg.norm(unit_xyz(batch.column("lat").to_numpy(), batch.column("lon").to_numpy()) - centre, axis=1)
    assert np.median(km) < 5.0  # scattered around their own ZIP's centroid (sigma 0.3-8 km)
    assert batch.column("parcel_id")[0].as_py() == "D03-P0000000000"
    assert all(a.startswith("D03-A") for a in batch.column("address_id").to_pylist())


def test_hubs_of_both_operators_sized_to_nearby_demand(nyc_load: tuple[pa.Table, pa.Table]) -> None:
    parcels, hubs = nyc_load
    assert set(hubs.column("operator").to_pylist()) == {"amazon", "usps"}
    hub_xyz = unit_xyz(hubs.column("lat").to_numpy(), hubs.column("lon").to_numpy())
    _, nearest = cKDTree(hub_xyz).query(unit_xyz(parcels.column("lat").to_numpy(), parcels.column("lon").to_numpy()))
    demand = np.bincount(nearest, minlength=hubs.num_rows)
    vehicles = hubs.column("vehicles").to_numpy()
    lo, hi = synth.PARCELS_PER_ROUTE
    assert np.all(vehicles * hi >= 0.9 * demand)  # enough routes at most hi parcels each
    assert np.all((vehicles - 1) * lo <= 1.3 * demand)  # not far more than needed
    assert np.corrcoef(vehicles, demand)[0, 1] > 0.9
    daily = hubs.column("daily_capacity").to_numpy()
    assert daily.sum() > 1.1 * parcels.num_rows and np.all(daily >= 0.9 * demand)
    assert np.all(np.isin(hubs.column("shift_s").to_numpy(), [28800]))
    kg, n = hubs.column("capacity_kg").to_numpy(), hubs.column("capacity_parcels").to_numpy()
    assert kg.min() >= 1000 and kg.max() <= 1500 and n.min() >= 200 and n.max() <= 250


def test_amazon_parcels_lean_toward_amazon_hubs(nyc_load: tuple[pa.Table, pa.Table]) -> None:
    parcels, hubs = nyc_load
    hub_xyz = unit_xyz(hubs.column("lat").to_numpy(), hubs.column("lon").to_numpy())
    _, nearest = cKDTree(hub_xyz).query(unit_xyz(parcels.column("lat").to_numpy(), parcels.column("lon").to_numpy()))
    at_amazon = np.array(hubs.column("operator").to_pylist())[nearest] == "amazon"
    is_amazon = np.array(parcels.column("shipper").to_pylist()) == "amazon"
    assert is_amazon[at_amazon].mean() > is_amazon[~at_amazon].mean() + 0.2


VALID = "valid regions: nyc, la, chicago, baltimore, harrisburg, national, or bbox:LAT0,LON0,LAT1,LON1"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"region": "paris"}, f"unknown region 'paris'; {VALID}"),
    ({"region": "bbox:39,-76"}, "a bounding box is LAT0,LON0,LAT1,LON1 (four numbers), not '39,-76'"),
    ({"region": "bbox:40,-76,39,-75"},
     "a bounding box needs -90 <= LAT0 < LAT1 <= 90 and -180 <= LON0 < LON1 <= 180, not '40,-76,39,-75'"),
    ({"region": "bbox:0.1,-30.2,0.2,-30.1"}, "region 'bbox:0.1,-30.2,0.2,-30.1' holds no populated ZIP code to "
                                            "place parcels around"),
    ({"n_parcels": 0}, "parcels must be a positive integer, not 0"),
    ({"n_hubs": -3}, "hubs must be a positive integer, not -3"),
    ({"seed": -1}, "seed must be an integer >= 0, not -1"),
])
def test_bad_arguments_raise_input_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"n_parcels": 10, "n_hubs": 2, "region": "nyc", **kwargs}
    with pytest.raises(InputError) as err:
        synth.write_load(tmp_path / "out", **args)
    assert str(err.value) == message
    assert not (tmp_path / "out").exists()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["synth", str(tmp_path / "x"), "--parcels", "500", "--hubs", "3", "--region", "la",
                     "--quiet"]) == 0
    assert _read(tmp_path / "x" / "parcels.arrow").num_rows == 500
    assert cli.main(["synth", str(tmp_path / "y"), "--region", "mars", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"hexroute: error: unknown region 'mars'; {VALID}")
    assert cli.main(["synth", str(tmp_path / "z"), "--parcels", "300", "--hubs", "2", "--bbox",
                     "39.259,-76.608,39.307,-76.529", "--quiet"]) == 0
    lat = _read(tmp_path / "z" / "parcels.arrow").column("lat").to_numpy()
    assert lat.size == 300 and lat.min() >= 39.259 and lat.max() <= 39.307


def test_sample_files_are_what_the_documented_command_writes(tmp_path: Path) -> None:
    paths = synth.write_load(tmp_path, n_parcels=3000, n_hubs=12, seed=7, region="nyc")
    assert (DATA / "sample_parcels.arrow").read_bytes() == paths["parcels"].read_bytes()
    assert (DATA / "sample_hubs.arrow").read_bytes() == paths["hubs"].read_bytes()
