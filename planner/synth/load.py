"""Synthetic parcel loads and hubs at population-weighted US addresses.

Addresses are drawn from the ZIP populations of :mod:`planner.geo_data` and
scattered around their ZIP centroid, reflected back into the region's
bounding box. Parcels are generated and written in record batches, so a
national day of 10-20 million parcels streams through bounded memory. Every
random draw comes from a generator keyed by (seed, stream, batch), so a seed
gives byte-identical files.

Hubs are placed where demand is (weighted k-means over sampled addresses) and
sized to the share of the expected parcels whose nearest hub they are:
``amazon`` delivery stations in metros (beside ``usps`` post offices),
``usps`` post offices elsewhere.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from planner.contract.schemas import DEFAULT_SHIFT_S, HUB_COLUMNS, PARCEL_COLUMNS, TIERS
from planner.errors import InputError
from planner.synth.geo import (
    EARTH_RADIUS_KM,
    REGIONS,
    Region,
    ZipTable,
    metro_centres,
    region_named,
    region_zips,
    unit_xyz,
)

__all__ = ["REGIONS", "BATCH_SIZE", "PARCEL_SCHEMA", "HUB_SCHEMA", "write_load", "make_hubs",
           "iter_parcel_batches"]

BATCH_SIZE = 1_000_000
#: shares of TIERS (priority, express, standard)
TIER_MIX = (0.05, 0.30, 0.65)
#: share of parcels that go to an address with another parcel of the load
SHARED_ADDRESS_SHARE = 0.20
#: parcels per shared address are 1 + Geometric(p): 2, 3, 4 ... with mean 1 + 1/p
SHARED_GROUP_P = 0.6
WEIGHT_MEDIAN_KG = 1.5
WEIGHT_SIGMA = 0.9
WEIGHT_RANGE_KG = (0.05, 30.0)
#: fee = (base of the tier + per kg x weight) x lognormal noise, rounded to cents
FEE_BASE_USD = (11.5, 8.0, 5.0)
FEE_PER_KG_USD = 0.85
FEE_SIGMA = 0.15
SHIPPERS = ("amazon", "usps", "small_business", "marketplace")
#: shipper mix by the operator of the parcel's nearest hub (None: no hubs known)
SHIPPER_MIX: dict[str | None, tuple[float, ...]] = {
    None: (0.40, 0.27, 0.20, 0.13),
    "amazon": (0.60, 0.15, 0.15, 0.10),
    "usps": (0.30, 0.33, 0.23, 0.14),
}

OPERATORS = ("amazon", "usps")
#: a hub within this distance of a place of METRO_POPULATION people is in a metro
METRO_KM = 40.0
METRO_POPULATION = 250_000
#: share of metro hubs that are amazon delivery stations (the rest: post offices)
AMAZON_METRO_SHARE = 0.5
#: expected parcels per route a hub plans its fleet for, and fleet slack over demand
PARCELS_PER_ROUTE = (120, 180)
FLEET_SLACK = 1.15
CAPACITY_KG = (1000, 1500)
CAPACITY_PARCELS = (200, 250)
#: what sizing a fleet by working time assumes (the planner's default speeds and service times):
#: km/h in dense and in sparse catchments (by mean distance to the hub), seconds per stop,
#: stops per parcel, usable shift share
ROUTE_SPEED_KMH = (28.0, 55.0)
SPARSE_KM = 30.0
SERVICE_S_PER_STOP = 78.0
STOPS_PER_PARCEL = 0.85
SHIFT_USE = 0.85
CIRCUITY = 1.3
#: Beardwood-Halton-Hammersley constant: a tour through n random points of area A is ~0.7124 sqrt(n A)
BHH = 0.7124
#: daily sorting capacity over expected demand
DAILY_SLACK = (1.15, 1.35)
#: parcels assumed per hub when make_hubs is not told the load size
DEFAULT_PARCELS_PER_HUB = 2000
#: addresses sampled per hub for placing and sizing hubs (at least HUB_SAMPLE_MIN)
HUB_SAMPLE_PER_HUB = 100
HUB_SAMPLE_MIN = 50_000
KMEANS_ROUNDS = 12
INT32_MAX = 2**31 - 1
ID_WIDTH = 10
HUB_ID_WIDTH = 5

# independent random streams
_ADDRESSES, _PARCELS, _HUB_SAMPLE, _HUB_ATTRS = 1, 2, 3, 4

PARCEL_SCHEMA = pa.schema([pa.field(c.name, c.type) for c in PARCEL_COLUMNS if c.name != "hub_id"])
HUB_SCHEMA = pa.schema([pa.field(c.name, c.type) for c in HUB_COLUMNS])


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, index]))


def _region(name: str) -> Region:
    try:
        region = region_named(name)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if region_zips(name).zip_code.size == 0:
        raise InputError(f"region {name!r} holds no populated ZIP code to place parcels around")
    return region


def _check_count(what: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InputError(f"{what} must be a positive integer, not {value!r}")


def _fold(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect values that overshoot [lo, hi] back inside (then clip what is still out)."""
    x = np.where(x < lo, 2 * lo - x, x)
    x = np.where(x > hi, 2 * hi - x, x)
    return np.clip(x, lo, hi)


def _sample_addresses(region: Region, zips: ZipTable, n: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` address coordinates: a ZIP by population, Gaussian scatter around it; and each one's ZIP (row)."""
    cum = np.cumsum(zips.population)
    z = np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), len(cum) - 1)
    sigma_deg = zips.scatter_km[z] / (math.pi * EARTH_RADIUS_KM / 180.0)
    dy, dx = rng.standard_normal(n), rng.standard_normal(n)
    lat = _fold(zips.lat[z] + dy * sigma_deg, *region.lat)
    lon = _fold(zips.lon[z] + dx * sigma_deg / np.cos(np.radians(zips.lat[z])), *region.lon)
    return lat, lon, z


def _address_groups(n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Address index (0..A-1) of each of ``n`` parcels, about SHARED_ADDRESS_SHARE of
    them in groups of two or more, in random order; and A."""
    shared = int(rng.binomial(n, SHARED_ADDRESS_SHARE)) if n >= 2 else 0
    sizes = np.empty(0, dtype=np.int64)
    if shared >= 2:
        sizes = 1 + rng.geometric(SHARED_GROUP_P, size=shared // 2 + 1)
        ends = np.cumsum(sizes)
        k = int(np.searchsorted(ends, shared))
        sizes = sizes[: k + 1]
        sizes[-1] -= ends[k] - shared
        if sizes[-1] < 2:
            sizes[-2] += sizes[-1]
            sizes = sizes[:-1]
    else:
        shared = 0
    counts = np.concatenate((sizes, np.ones(n - shared, dtype=np.int64)))
    return rng.permutation(np.repeat(np.arange(len(counts)), counts)), len(counts)


def _id_array(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """Fixed-width ids ``prefix`` + zero-padded ``numbers``, built without Python strings."""
    head = prefix.encode()
    size = len(head) + width
    chars = np.empty((len(numbers), size), dtype=np.uint8)
    chars[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    rest = np.asarray(numbers, dtype=np.int64).copy()
    for col in range(size - 1, len(head) - 1, -1):
        chars[:, col] = 48 + rest % 10
        rest //= 10
    offsets = np.arange(len(numbers) + 1, dtype=np.int32) * size
    return pa.StringArray.from_buffers(len(numbers), pa.py_buffer(offsets), pa.py_buffer(chars))


def _pick(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(names, type=pa.string()).take(pa.array(codes))


def _choose(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row of ``probs`` (rows sum to 1), as int8 codes."""
    cum = np.cumsum(probs, axis=1)
    return (rng.random((len(probs), 1)) > cum[:, :-1]).sum(axis=1).astype(np.int8)


def _shipper_probs(hubs: pa.Table | None, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Shipper mix per address, from the operator of its nearest hub."""
    if hubs is None or hubs.num_rows == 0:
        return np.broadcast_to(np.array(SHIPPER_MIX[None]), (len(lat), len(SHIPPERS)))
    from scipy.spatial import cKDTree

    hub_xyz = unit_xyz(hubs.column("lat").to_numpy(), hubs.column("lon").to_numpy())
    _, nearest = cKDTree(hub_xyz).query(unit_xyz(lat, lon))
    operators = hubs.column("operator").to_pylist()
    table = np.array([SHIPPER_MIX.get(op, SHIPPER_MIX[None]) for op in operators])
    return table[nearest]


def _parcel_batch(region: Region, zips: ZipTable, hubs: pa.Table | None, seed: int, index: int,
                  first_parcel: int, first_address: int, n: int, id_prefix: str = "") -> tuple[pa.RecordBatch, int]:
    """Batch ``index`` of ``n`` parcels and the number of addresses it used."""
    rng_addr, rng = _rng(seed, _ADDRESSES, index), _rng(seed, _PARCELS, index)
    address, n_addresses = _address_groups(n, rng_addr)
    addr_lat, addr_lon, addr_zip = _sample_addresses(region, zips, n_addresses, rng_addr)
    shipper = _choose(rng_addr, _shipper_probs(hubs, addr_lat, addr_lon)[address])
    tier = rng.choice(len(TIERS), size=n, p=TIER_MIX).astype(np.int8)
    weight = np.exp(np.log(WEIGHT_MEDIAN_KG) + WEIGHT_SIGMA * rng.standard_normal(n))
    weight = np.round(np.clip(weight, *WEIGHT_RANGE_KG), 3)
    fee = (np.asarray(FEE_BASE_USD)[tier] + FEE_PER_KG_USD * weight) * np.exp(FEE_SIGMA * rng.standard_normal(n))
    columns = {
        "parcel_id": _id_array(id_prefix + "P", np.arange(first_parcel, first_parcel + n), ID_WIDTH),
        "lat": pa.array(addr_lat[address]),
        "lon": pa.array(addr_lon[address]),
        "weight_kg": pa.array(weight.astype(np.float32)),
        "tier": _pick(TIERS, tier),
        "address_id": _id_array(id_prefix + "A", first_address + address, ID_WIDTH),
        "shipper": _pick(SHIPPERS, shipper),
        "fee_usd": pa.array(np.round(fee, 2).astype(np.float32)),
        "zip": pa.array(zips.zip_code, pa.string()).take(pa.array(addr_zip[address])),
    }
    return pa.RecordBatch.from_arrays([columns[f.name] for f in PARCEL_SCHEMA], schema=PARCEL_SCHEMA), n_addresses


def iter_parcel_batches(n_parcels: int, hubs: pa.Table | None = None, seed: int = 0,
                        region: str = "national", batch_size: int = BATCH_SIZE,
                        id_prefix: str = "") -> Iterator[pa.RecordBatch]:
    """Yield ``n_parcels`` parcels in record batches of ``batch_size`` (the last may be
    shorter), with the PARCEL_SCHEMA columns. ``hubs`` (optional) skews each
    parcel's shipper toward the operator of its nearest hub. The output depends
    on ``batch_size`` as well as on the seed. ``id_prefix`` starts every parcel_id
    and address_id (``D03-`` for day 3 of a simulation keeps the days' ids apart)."""
    _check_count("parcels", n_parcels)
    _check_count("batch_size", batch_size)
    reg = _region(region)
    zips = region_zips(region)
    first_address = 0
    for index, start in enumerate(range(0, n_parcels, batch_size)):
        n = min(batch_size, n_parcels - start)
        batch, used = _parcel_batch(reg, zips, hubs, seed, index, start, first_address, n, id_prefix)
        first_address += used
        yield batch


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` points that serve as centres: Lloyd rounds from a random start,
    each final centre snapped to its nearest point so hubs stand at addresses."""
    from scipy.spatial import cKDTree

    centres = points[rng.choice(len(points), size=k, replace=False)]
    for _ in range(KMEANS_ROUNDS):
        _, label = cKDTree(centres).query(points)
        counts = np.bincount(label, minlength=k)
        sums = np.stack([np.bincount(label, points[:, d], k) for d in range(3)], axis=1)
        moved = counts > 0
        centres[moved] = sums[moved] / counts[moved, None]
    _, snapped = cKDTree(points).query(centres)
    return np.asarray(snapped, dtype=np.int64)


def _operators(hub_xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Operator code per hub: AMAZON_METRO_SHARE of metro hubs are amazon, the rest usps;
    with two or more hubs there is at least one of each when any hub is in a metro."""
    from scipy.spatial import cKDTree

    metros = metro_centres(METRO_POPULATION)
    dist, _ = cKDTree(metros).query(hub_xyz)
    metro = np.nonzero(dist <= METRO_KM)[0]
    n_amazon = round(AMAZON_METRO_SHARE * len(metro))
    if len(metro):
        n_amazon = max(n_amazon, 1)
    if n_amazon == len(hub_xyz) > 1:
        n_amazon -= 1
    code = np.full(len(hub_xyz), OPERATORS.index("usps"), dtype=np.int8)
    code[rng.permutation(metro)[:n_amazon]] = OPERATORS.index("amazon")
    return code


def make_hubs(n_hubs: int, seed: int = 0, region: str = "national", n_parcels: int | None = None) -> pa.Table:
    """``n_hubs`` hubs (HUB_SCHEMA) placed by demand and sized for ``n_parcels``
    parcels of the same seed and region (default DEFAULT_PARCELS_PER_HUB x n_hubs)."""
    from scipy.spatial import cKDTree

    _check_count("hubs", n_hubs)
    reg = _region(region)
    n_parcels = n_hubs * DEFAULT_PARCELS_PER_HUB if n_parcels is None else n_parcels
    _check_count("parcels", n_parcels)
    rng = _rng(seed, _HUB_SAMPLE)
    lat, lon, _ = _sample_addresses(reg, region_zips(region), max(HUB_SAMPLE_MIN, HUB_SAMPLE_PER_HUB * n_hubs), rng)
    points = unit_xyz(lat, lon)
    site = _kmeans(points, n_hubs, rng)
    _, label = cKDTree(points[site]).query(points)
    demand = n_parcels * np.bincount(label, minlength=n_hubs) / len(points)

    attrs = _rng(seed, _HUB_ATTRS)
    per_route = attrs.integers(PARCELS_PER_ROUTE[0], PARCELS_PER_ROUTE[1] + 1, n_hubs)
    vehicles = np.maximum(1, np.ceil(demand * FLEET_SLACK / per_route))
    vehicles = np.maximum(vehicles, np.ceil(FLEET_SLACK * _vehicles_for_time(points, site, label, demand)))
    daily = np.maximum(1, np.ceil(demand * attrs.uniform(*DAILY_SLACK, n_hubs)))
    capacity_kg = np.round(attrs.uniform(*CAPACITY_KG, n_hubs) / 50) * 50
    capacity_parcels = attrs.integers(CAPACITY_PARCELS[0], CAPACITY_PARCELS[1] + 1, n_hubs)
    columns = {
        "hub_id": _id_array("H", np.arange(n_hubs), max(HUB_ID_WIDTH, len(str(n_hubs - 1)))),
        "lat": pa.array(lat[site]),
        "lon": pa.array(lon[site]),
        "operator": _pick(OPERATORS, _operators(points[site], attrs)),
        "vehicles": pa.array(np.minimum(vehicles, INT32_MAX).astype(np.int32)),
        "capacity_kg": pa.array(capacity_kg.astype(np.float32)),
        "capacity_parcels": pa.array(capacity_parcels.astype(np.int32)),
        "shift_s": pa.array(np.full(n_hubs, DEFAULT_SHIFT_S, dtype=np.int32)),
        "daily_capacity": pa.array(np.minimum(daily, INT32_MAX).astype(np.int32)),
    }
    return pa.table([columns[f.name] for f in HUB_SCHEMA], schema=HUB_SCHEMA)


def _vehicles_for_time(points: np.ndarray, site: np.ndarray, label: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Vehicles each hub needs for its working time, not its parcels: sparse catchments are shift-bound.

    Driving within a catchment of area A with n stops is estimated by the
    BHH tour length, service by a fixed time per stop, and each vehicle loses
    the drive out to the catchment (twice its mean distance) from its shift.
    """
    n_hubs = site.size
    d_km = np.linalg.norm(points - points[site][label], axis=1)  # unit_xyz is in km
    count = np.maximum(np.bincount(label, minlength=n_hubs), 1)
    mean_d = np.bincount(label, weights=d_km, minlength=n_hubs) / count
    area = 2.0 * np.pi * np.bincount(label, weights=d_km**2, minlength=n_hubs) / count
    stops = demand * STOPS_PER_PARCEL
    lo, hi = ROUTE_SPEED_KMH
    speed = lo + (hi - lo) * np.minimum(1.0, mean_d / SPARSE_KM)
    work_h = CIRCUITY * BHH * np.sqrt(stops * area) / speed + stops * SERVICE_S_PER_STOP / 3600.0
    per_vehicle_h = DEFAULT_SHIFT_S / 3600.0 * SHIFT_USE - 2.0 * CIRCUITY * mean_d / speed
    return work_h / np.maximum(per_vehicle_h, 1.0)


@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it only when the block succeeds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_load(out_dir: str | os.PathLike[str], n_parcels: int, n_hubs: int, seed: int = 0,
               region: str = "national", progress: bool = False) -> dict[str, Path]:
    """Write ``parcels.arrow`` and ``hubs.arrow`` (Arrow IPC file format) into ``out_dir``;
    parcels stream batch by batch, each file appears only when complete."""
    _check_count("parcels", n_parcels)
    _check_count("hubs", n_hubs)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, not {seed!r}")
    _region(region)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {b"hexroute.synth": json.dumps({"region": region, "seed": int(seed), "parcels": int(n_parcels),
                                            "hubs": int(n_hubs)}, sort_keys=True).encode()}
    paths = {"parcels": out / "parcels.arrow", "hubs": out / "hubs.arrow"}

    hubs = make_hubs(n_hubs, seed, region, n_parcels=n_parcels)
    with _atomic(paths["hubs"]) as tmp, pa.ipc.new_file(str(tmp), HUB_SCHEMA.with_metadata(meta)) as writer:
        writer.write_table(hubs)

    from tqdm import tqdm

    with _atomic(paths["parcels"]) as tmp, \
            pa.ipc.new_file(str(tmp), PARCEL_SCHEMA.with_metadata(meta)) as writer, \
            tqdm(total=n_parcels, unit="parcel", unit_scale=True, disable=not progress, desc="synth") as bar:
        for batch in iter_parcel_batches(n_parcels, hubs, seed, region):
            writer.write_batch(batch)
            bar.update(batch.num_rows)
    return paths
