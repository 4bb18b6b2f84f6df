"""The report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each public function takes plain NumPy arrays and returns PNG bytes, so the
HTML side never touches matplotlib and the figures can be tested on their
own. Coordinates are projected with the USGS Albers equal-area conic for the
contiguous US, so areas (and H3 cell densities) look right on the national
map. Large inputs are thinned by :func:`sample` before drawing: drawing 10
million points takes longer than planning them and shows nothing more.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import h3.api.basic_int as h3
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import LogNorm, hsv_to_rgb
from matplotlib.figure import Figure

from kernels._scalar import EARTH_RADIUS_KM

#: USGS Albers equal-area conic for the contiguous US: standard parallels, origin
ALBERS_PARALLELS = (29.5, 45.5)
ALBERS_ORIGIN = (23.0, -96.0)
#: points drawn per scatter at most; H3 cells counted from at most this many parcels
MAX_SCATTER = 60_000
MAX_DENSITY_POINTS = 100_000
#: the density map's cells: about this many across the map
CELLS_ACROSS = 100
DPI = 130
GOLDEN = 0.6180339887498949


def sample(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` items, the same for the same arguments."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def albers(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 degrees to Albers equal-area km (spherical earth)."""
    p1, p2 = np.radians(ALBERS_PARALLELS)
    p0, l0 = np.radians(ALBERS_ORIGIN)
    n = (np.sin(p1) + np.sin(p2)) / 2
    c = np.cos(p1) ** 2 + 2 * n * np.sin(p1)
    rho0 = EARTH_RADIUS_KM * np.sqrt(c - 2 * n * np.sin(p0)) / n
    rho = EARTH_RADIUS_KM * np.sqrt(c - 2 * n * np.sin(np.radians(lat))) / n
    theta = n * (np.radians(lon) - l0)
    return rho * np.sin(theta), rho0 - rho * np.cos(theta)


def distinct_colours(n: int) -> np.ndarray:
    """``n`` RGB colours whose hues step by the golden ratio, so neighbours in index differ."""
    hue = (np.arange(n) * GOLDEN) % 1.0
    sat = np.where(np.arange(n) % 2 == 0, 0.8, 0.55)
    val = np.where(np.arange(n) % 3 == 0, 0.75, 0.9)
    return hsv_to_rgb(np.stack([hue, sat, val], axis=1))


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _map_axes(ax, x: np.ndarray, y: np.ndarray, pad: float = 0.04) -> None:
    """Equal-aspect axes in km, framed on the points."""
    if x.size:
        dx, dy = np.ptp(x) or 1.0, np.ptp(y) or 1.0
        ax.set_xlim(x.min() - pad * dx, x.max() + pad * dx)
        ax.set_ylim(y.min() - pad * dy, y.max() + pad * dy)
    ax.set_aspect("equal")
    ax.set_xlabel("km east (Albers)")
    ax.set_ylabel("km north (Albers)")


def density_resolution(extent_km: float) -> int:
    """The finest H3 resolution with at most CELLS_ACROSS cells across ``extent_km``."""
    res = 0
    for r in range(1, 10):
        if extent_km / (2 * h3.average_hexagon_edge_length(r, "km")) > CELLS_ACROSS:
            break
        res = r
    return res


def _density_cells(lat: np.ndarray, lon: np.ndarray, res: int) -> tuple[list[list[tuple[float, float]]], np.ndarray]:
    """Projected outlines of the occupied cells and their parcels per km^2."""
    pick = sample(lat.size, MAX_DENSITY_POINTS, seed=1)
    cells = np.fromiter((h3.latlng_to_cell(a, b, res) for a, b in zip(lat[pick].tolist(), lon[pick].tolist())),
                        dtype=np.uint64, count=pick.size)
    unique, counts = np.unique(cells, return_counts=True)
    scale = lat.size / max(pick.size, 1)
    outlines = []
    for cell in unique.tolist():
        ring = np.asarray(h3.cell_to_boundary(cell))
        x, y = albers(ring[:, 0], ring[:, 1])
        outlines.append(list(zip(x.tolist(), y.tolist())))
    return outlines, counts * scale / h3.average_hexagon_area(res, "km^2")


def national_map(lat: np.ndarray, lon: np.ndarray, hub_of: np.ndarray, hub_lat: np.ndarray,
                 hub_lon: np.ndarray, hub_planned: np.ndarray) -> bytes:
    """Two panels: parcel density by H3 cell, and hub catchments (parcels coloured by hub).

    ``hub_of`` is each parcel's hub index (-1: unassigned, drawn grey).
    """
    x, y = albers(lat, lon)
    hx, hy = albers(hub_lat, hub_lon)
    extent = max(float(np.ptp(x)) if x.size else 0.0, float(np.ptp(y)) if y.size else 0.0, 1.0)
    res = density_resolution(extent)
    aspect = (float(np.ptp(y)) if y.size else 1.0) / extent
    height = float(np.clip(7.0 * max(aspect, 0.3) + 1.4, 4.0, 9.0))
    fig = Figure(figsize=(16, height))
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.8 / height, top=1 - 0.45 / height, wspace=0.12)
    left, right = fig.subplots(1, 2)
    if lat.size:
        outlines, density = _density_cells(lat, lon, res)
        cells = PolyCollection(outlines, array=density, cmap="viridis", linewidths=0,
                               norm=LogNorm(vmin=max(density.min(), 1e-3), vmax=max(density.max(), 1e-3 * 1.01)))
        left.add_collection(cells)
        fig.colorbar(cells, ax=left, shrink=0.8, label="parcels per km\u00b2")
    left.set_title(f"Parcel density by H3 cell (resolution {res})")
    _map_axes(left, x, y)
    pick = sample(lat.size, MAX_SCATTER, seed=2)
    colours = distinct_colours(max(hub_lat.size, 1))
    served = hub_of[pick] >= 0
    right.scatter(x[pick][~served], y[pick][~served], s=1, c="0.6", linewidths=0, label="unassigned")
    right.scatter(x[pick][served], y[pick][served], s=1, c=colours[hub_of[pick][served]], linewidths=0)
    size = 8 + 60 * np.sqrt(hub_planned / max(hub_planned.max(initial=0), 1))
    right.scatter(hx, hy, s=size, marker="^", c="black", edgecolors="white", linewidths=0.5, label="hub")
    right.set_title(f"Hub catchments: parcels coloured by hub ({hub_lat.size:,} hubs, marker size = planned)")
    right.legend(loc="lower left", markerscale=3, fontsize=8)
    _map_axes(right, x, y)
    return _png(fig)


def route_paths(route: np.ndarray, seq: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                route_hub: np.ndarray, hub_lat: np.ndarray, hub_lon: np.ndarray) -> list[np.ndarray]:
    """Each route's path hub -> stops in stop_seq order -> hub as a (k, 2) array of (lat, lon).

    ``route``/``seq``/``lat``/``lon`` describe planned parcels (route index,
    stop_seq); parcels of one stop share a stop_seq and count once.
    ``route_hub`` maps a route index to its hub index.
    """
    order = np.lexsort((seq, route))
    r, s = route[order], seq[order]
    first = np.ones(r.size, dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (s[1:] != s[:-1])
    keep = order[first]
    r = route[keep]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if r.size else np.zeros(0, dtype=np.int64)
    paths = []
    for a, b in zip(starts.tolist(), np.r_[starts[1:], r.size].tolist()):
        h = route_hub[r[a]]
        home = [[hub_lat[h], hub_lon[h]]]
        paths.append(np.vstack([home, np.column_stack([lat[keep[a:b]], lon[keep[a:b]]]), home]))
    return paths


def metro_map(paths: Sequence[np.ndarray], hub_lat: np.ndarray, hub_lon: np.ndarray,
              hub_labels: Sequence[str], title: str, stops: bool = True) -> bytes:
    """Routes of one area, each in its own colour, hubs marked and labelled; ``stops``: the paths' inner
    points are stops (dotted), else road geometry (lines only)."""
    fig = Figure(figsize=(12, 12))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.96)
    ax = fig.subplots()
    points = np.vstack(paths) if paths else np.zeros((0, 2))
    ends = np.cumsum([len(p) for p in paths])[:-1]
    lines = np.split(np.column_stack(albers(points[:, 0], points[:, 1])), ends)
    colours = distinct_colours(max(len(lines), 1))[: len(lines)]
    ax.add_collection(LineCollection(lines, colors=colours, linewidths=0.9))
    if stops:
        dots = np.concatenate([line[1:-1] for line in lines]) if lines else np.zeros((0, 2))
        ax.scatter(dots[:, 0], dots[:, 1], s=2, linewidths=0,
                   c=np.repeat(colours, [len(line) - 2 for line in lines], axis=0) if lines else "k")
    hx, hy = albers(hub_lat, hub_lon)
    ax.scatter(hx, hy, s=70, marker="s", c="black", edgecolors="white", linewidths=0.8, zorder=3)
    for x0, y0, label in zip(hx.tolist(), hy.tolist(), hub_labels):
        ax.annotate(label, (x0, y0), xytext=(4, 4), textcoords="offset points", fontsize=8, zorder=4)
    pts = np.vstack([*lines, np.column_stack([hx, hy])])
    _map_axes(ax, pts[:, 0], pts[:, 1])
    ax.set_title(title)
    return _png(fig)


def distributions(distance_km: np.ndarray, duration_h: np.ndarray) -> bytes:
    """Histograms of route length and route duration, medians marked."""
    fig = Figure(figsize=(12, 4))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.95, wspace=0.18)
    labels = ("route length, km", "route duration, h")
    for ax, values, label in zip(fig.subplots(1, 2), (distance_km, duration_h), labels):
        if values.size:
            ax.hist(values, bins=40, color="#3b75af")
            med = float(np.median(values))
            ax.axvline(med, color="#c03d3e", linestyle="--", label=f"median {med:,.1f}")
            ax.legend()
        ax.set_xlabel(label)
        ax.set_ylabel("routes")
    return _png(fig)


def utilisation(vehicle_share: np.ndarray, capacity_share: np.ndarray | None) -> bytes:
    """Histograms over hubs of the share of vehicles used and of daily capacity used (%)."""
    fig = Figure(figsize=(12, 4))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.14, top=0.95, wspace=0.18)
    left, right = fig.subplots(1, 2)
    bins = np.linspace(0, 100, 21)
    left.hist(np.clip(100 * vehicle_share, 0, 100), bins=bins, color="#3b75af")
    left.set_xlabel("vehicles used, % of the hub's vehicles")
    left.set_ylabel("hubs")
    if capacity_share is not None and capacity_share.size:
        right.hist(np.clip(100 * capacity_share, 0, 100), bins=bins, color="#5a9e4b")
    else:
        right.text(0.5, 0.5, "no hub has a finite daily_capacity\n(or the hubs input was not given)",
                   ha="center", va="center", transform=right.transAxes)
    right.set_xlabel("daily capacity used, % of daily_capacity")
    right.set_ylabel("hubs")
    return _png(fig)


def stage_timings(seconds: Mapping[str, float]) -> bytes:
    """Horizontal bars of the seconds spent in each stage, in stage order."""
    fig = Figure(figsize=(8, 0.45 * max(len(seconds), 1) + 1.0))
    fig.subplots_adjust(left=0.16, right=0.97, bottom=0.75 / (0.45 * max(len(seconds), 1) + 1.0), top=0.97)
    ax = fig.subplots()
    names, values = list(seconds), [float(v) for v in seconds.values()]
    bars = ax.barh(names[::-1], values[::-1], color="#3b75af")
    ax.bar_label(bars, labels=[f"{v:.2f} s" for v in values[::-1]], padding=3, fontsize=8)
    ax.set_xlabel("seconds")
    ax.margins(x=0.15)
    return _png(fig)
