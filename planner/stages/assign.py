"""Stage 3, assign: every stop to one hub, within the hubs' capacities, most urgent tiers first.

1. Candidates: the ``settings.candidate_hubs`` nearest hubs (with vehicles) of
   every occupied H3 cell, from the cell's stops' centroid (the
   ``nearest_hubs`` kernel). Each stop may use its cell's candidates that are
   within ``settings.max_hub_km`` road km (great circle x circuity) of the stop
   itself; a stop left with none is unassigned. With separate networks a stop
   only sees the hubs of its own network (``Stops.network``): the candidates
   are the nearest hubs of that operator.
2. Capacity: a hub plans at most ``min(daily_capacity, vehicles x
   capacity_parcels)`` parcels and ``vehicles x capacity_kg x fill_factor`` kg
   (``settings.assign``).
3. Tiers are served in order, priority, express, standard, each on the
   capacity the previous ones left: first the tier's forced stops on their
   hub (regardless of distance), then a transportation LP over (cell, hub)
   arcs, cost = parcels x km, that serves as many parcels as possible and then
   minimises distance (SciPy HiGHS). Solving tier by tier is what makes a
   standard parcel unable to take capacity an express or priority one could
   use; one weighted LP would need weights large enough to dominate every
   distance, which hurts its conditioning for no gain.
4. Rounding: the LP's fractional shares become whole stops by walking each
   cell's (stop, hub) arcs from the nearest, a stop taking a hub while the
   cell's share and the hub's capacity still hold it; then stops still open
   take their nearest candidate with capacity left. Capacity is checked stop by
   stop, so it is never exceeded.
5. What does not fit is deferred at its nearest candidate hub.

When all stops fit their nearest candidate the LP is skipped (nearest is then
optimal); otherwise it covers only the cells within ``lp_hops`` steps of an
overloaded hub, and the others keep their nearest hub. Past ``lp_max_cells``
occupied cells the LP runs on their parents at ``lp_resolution``, which
keeps it at tens of thousands of variables for a national day; the rounding
still works stop by stop. One hop is the default: the cells that can use an
overloaded hub share the LP, spilling onto their other candidates' room; two
would also let their neighbours make room, but on a national candidate graph
it covers most of the country (1M stops: 112k LP variables and 2.8 s against
26k and 0.2 s) for a marginal gain.
"""
from __future__ import annotations

from dataclasses import dataclass

import h3.api.basic_int as h3
import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from planner import grouping
from planner.contract.schemas import (
    DEFERRED,
    NO_REASON,
    PLANNED,
    R_FORCED_HUB_CAPACITY,
    R_FORCED_HUB_KG_FULL,
    R_FORCED_HUB_NO_VEHICLES,
    R_FORCED_HUB_PARCELS_FULL,
    R_HUB_CAPACITY,
    R_HUB_KG_FULL,
    R_HUB_PARCELS_FULL,
    R_NO_HUB_IN_REACH,
    R_NO_HUBS,
    R_NO_VEHICLES,
    UNASSIGNED,
)
from planner.device import Compute
from planner.model import Hubs, Stops
from planner.settings import AssignSettings, Settings
from planner.stages import h3cells


@dataclass(frozen=True)
class Assignment:
    """Where each stop goes: ``hub`` (-1 when unassigned), ``status`` (contract status codes: PLANNED means
    sent to routing) and ``reason`` (an index into contract.schemas.OUTCOME_REASONS) per stop."""

    hub: np.ndarray  # int32[S]
    status: np.ndarray  # int8[S]: PLANNED, DEFERRED or UNASSIGNED
    reason: np.ndarray  # int8[S]
    hub_parcels: np.ndarray  # int64[H]: parcels of the stops routed from each hub


def hub_capacity(hubs: Hubs, settings: AssignSettings) -> tuple[np.ndarray, np.ndarray]:
    """Parcels and kg each hub can take today (float64[H] each; see the module docstring)."""
    vehicles = hubs.vehicles.astype(np.float64)
    kg = vehicles * hubs.capacity_kg * settings.fill_factor
    return np.minimum(hubs.daily_capacity.astype(np.float64), vehicles * hubs.capacity_parcels), kg


@dataclass
class _Ledger:
    """Mutable state of one assignment: each stop's hub so far and each hub's capacity left."""

    stop_n: np.ndarray  # float64[S]
    stop_kg: np.ndarray  # float64[S]
    rem_n: np.ndarray  # float64[H]
    rem_kg: np.ndarray  # float64[H]
    stop_hub: np.ndarray  # int32[S], -1 while open
    compute: Compute  # runs the fill

    def fill(self, arc_stop: np.ndarray, arc_hub: np.ndarray, arc_share: np.ndarray | None = None,
             share: np.ndarray | None = None) -> None:
        """Walk arcs in the given order (:meth:`planner.device.Compute.fill_arcs`; no shares: only capacity limits)."""
        if arc_share is None or share is None:
            arc_share = np.zeros(arc_stop.size, np.int64)
            share = np.array([np.inf])
        self.compute.fill_arcs(arc_stop.astype(np.int64, copy=False), arc_hub.astype(np.int32, copy=False),
                               arc_share.astype(np.int64, copy=False), share.astype(np.float64), self.stop_n,
                               self.stop_kg, self.rem_n, self.rem_kg, self.stop_hub)


@dataclass(frozen=True)
class _Arcs:
    """(stop, candidate hub, road km) triples: each stop's together, nearest first, stops in the order given."""

    stop: np.ndarray  # int64
    hub: np.ndarray  # int32
    dist: np.ndarray  # float64

    def first(self) -> np.ndarray:
        """Mask of each stop's first (nearest) arc."""
        mask = np.ones(self.stop.size, dtype=bool)
        mask[1:] = self.stop[1:] != self.stop[:-1]
        return mask

    def subset(self, keep: np.ndarray) -> "_Arcs":
        """The arcs where ``keep`` is true (a mask or positions), in that order."""
        return _Arcs(self.stop[keep], self.hub[keep], self.dist[keep])

    def slice(self, lo: int, hi: int) -> "_Arcs":
        """Arcs ``lo:hi`` (views, no copy)."""
        return _Arcs(self.stop[lo:hi], self.hub[lo:hi], self.dist[lo:hi])


def _cell_centroids(first: np.ndarray, cell_of: np.ndarray, lat: np.ndarray,
                    lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean position of each cell's points; longitudes averaged around the cell's first point (antimeridian)."""
    n_cells = first.size
    count = np.bincount(cell_of, minlength=n_cells)
    ref = lon[first]
    offset = np.mod(lon - ref[cell_of] + 180.0, 360.0) - 180.0
    c_lat = np.bincount(cell_of, weights=lat, minlength=n_cells) / count
    c_lon = ref + np.bincount(cell_of, weights=offset, minlength=n_cells) / count
    return c_lat, np.mod(c_lon + 180.0, 360.0) - 180.0


def _candidate_arcs(stops: Stops, free: np.ndarray, hubs: Hubs, usable: np.ndarray, settings: Settings,
                    compute: Compute) -> _Arcs:
    """Each free stop's arcs to its cell's candidate hubs within max_hub_km of the stop."""
    if free.size == 0 or usable.size == 0:
        return _Arcs(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64))
    cell_of, first = grouping.group_rows(stops.cell[free])  # by hashing: the cells' order never matters here
    c_lat, c_lon = _cell_centroids(first, cell_of, stops.lat[free], stops.lon[free])
    k = min(settings.candidate_hubs, usable.size)
    idx, _ = compute.nearest_hubs(c_lat, c_lon, hubs.lat[usable], hubs.lon[usable], k)
    cell_hub = np.where(idx >= 0, usable[idx], -1).astype(np.int32)
    return _Arcs(*compute.candidate_arcs(free, cell_of, cell_hub, stops.lat, stops.lon, hubs.lat, hubs.lon,
                                         settings.max_hub_km))


def _eligible_arcs(stops: Stops, free: np.ndarray, hubs: Hubs, usable: np.ndarray, settings: Settings,
                   compute: Compute) -> _Arcs:
    """:func:`_candidate_arcs` where each stop sees only its network's hubs (all of them at network -1),
    in the order of ``free`` as one call over all stops would give them."""
    networks = np.unique(stops.network[free])
    if networks.size == 0 or (networks.size == 1 and networks[0] == -1):
        return _candidate_arcs(stops, free, hubs, usable, settings, compute)
    _, hub_network = hubs.networks()
    parts = [_candidate_arcs(stops, free[stops.network[free] == net], hubs,
                             usable if net == -1 else usable[hub_network[usable] == net], settings, compute)
             for net in networks.tolist()]
    stop = np.concatenate([a.stop for a in parts])
    position = np.empty(stops.size, np.int64)
    position[free] = np.arange(free.size)
    order = np.argsort(position[stop], kind="stable")  # a stop's arcs all come from one part, nearest first
    return _Arcs(stop[order], np.concatenate([a.hub for a in parts])[order],
                 np.concatenate([a.dist for a in parts])[order])


def _lp_groups(stops: Stops, arcs: _Arcs, settings: AssignSettings) -> np.ndarray:
    """LP cell of every stop (int64 code; coarser cells when there are many; -1 for stops without arcs).

    With separate networks a cell's stops of each network are a group of their own: one group's supply
    must be able to use every hub its variables name.
    """
    group = np.full(stops.size, -1, np.int64)
    with_arcs = arcs.stop[arcs.first()]
    cells, cell_of = grouping.unique_inverse(stops.cell[with_arcs])
    if cells.size > settings.lp_max_cells:
        coarse = min(settings.lp_resolution, h3.get_resolution(int(cells[0])))
        parents = h3cells.cells_to_parents(cells, coarse)
        cells = np.unique(parents, return_inverse=True)[1]
    else:
        cells = np.arange(cells.size)
    networks, network_of = grouping.unique_inverse(stops.network[with_arcs])
    group[with_arcs] = cells[cell_of] * max(networks.size, 1) + network_of.reshape(-1)
    return group


def _overloaded(arcs: _Arcs, ledger: _Ledger) -> np.ndarray:
    """Hubs (bool[H]) whose capacity left is exceeded when every stop of ``arcs`` takes its nearest candidate."""
    first = arcs.first()
    s, h = arcs.stop[first], arcs.hub[first]
    h_size = ledger.rem_n.size
    load_n = np.bincount(h, weights=ledger.stop_n[s], minlength=h_size)
    load_kg = np.bincount(h, weights=ledger.stop_kg[s], minlength=h_size)
    return (load_n > ledger.rem_n) | (load_kg > ledger.rem_kg)


def _contested(arcs: _Arcs, group: np.ndarray, overloaded: np.ndarray, hops: int) -> np.ndarray:
    """Arcs (bool mask) of the cells within ``hops`` steps (hub -> cells using it -> their hubs) of an overloaded
    hub."""
    arc_group = group[arcs.stop]
    hubs = overloaded
    for _ in range(hops):
        cells = np.zeros(int(arc_group.max()) + 1, dtype=bool)
        cells[arc_group[hubs[arcs.hub]]] = True
        inside = cells[arc_group]
        hubs = np.zeros(overloaded.size, dtype=bool)
        hubs[arcs.hub[inside]] = True
    return inside


def _lp_shares(arcs: _Arcs, group: np.ndarray, ledger: _Ledger) -> tuple[np.ndarray, np.ndarray]:
    """Solve the tier's transportation LP; returns each arc's LP variable and each variable's share (parcels).

    Variables are (cell, hub) pairs, bounded by the parcels of the cell's stops
    that can reach the hub; a variable's km and kg per parcel are its stops'
    averages. Maximising parcels served comes first through a per-parcel bonus
    larger than any arc's km; hub rows are only added where they can bind.
    """
    n_hubs = ledger.rem_n.size
    arc_n = ledger.stop_n[arcs.stop]
    pair, arc_var = grouping.unique_inverse(group[arcs.stop] * n_hubs + arcs.hub)
    var_group, var_hub = pair // n_hubs, (pair % n_hubs).astype(np.int64)
    n_vars = pair.size
    reach = np.bincount(arc_var, weights=arc_n, minlength=n_vars)
    km = np.bincount(arc_var, weights=arc_n * arcs.dist, minlength=n_vars) / reach
    kg = np.bincount(arc_var, weights=ledger.stop_kg[arcs.stop], minlength=n_vars) / reach
    groups, var_row = np.unique(var_group, return_inverse=True)
    first = arcs.first()
    supply = np.bincount(np.searchsorted(groups, group[arcs.stop[first]]), weights=arc_n[first],
                         minlength=groups.size)
    rows, cols, vals, bounds = [var_row], [np.arange(n_vars)], [np.ones(n_vars)], [supply]
    next_row = groups.size
    for coef, cap in ((np.ones(n_vars), ledger.rem_n), (kg, ledger.rem_kg)):
        demand = np.bincount(var_hub, weights=coef * reach, minlength=n_hubs)
        binding = np.flatnonzero(demand > cap)
        row_of = np.full(n_hubs, -1, np.int64)
        row_of[binding] = next_row + np.arange(binding.size)
        on = row_of[var_hub] >= 0
        rows.append(row_of[var_hub][on])
        cols.append(np.flatnonzero(on))
        vals.append(coef[on])
        bounds.append(cap[binding])
        next_row += binding.size
    a_ub = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(next_row, n_vars))
    bonus = 1.0 + 2.0 * float(km.max())
    result = linprog(km - bonus, A_ub=a_ub, b_ub=np.concatenate(bounds),
                     bounds=np.column_stack([np.zeros(n_vars), reach]), method="highs")
    if result.status != 0:
        raise RuntimeError(f"assignment LP failed: {result.message}")
    return arc_var, np.asarray(result.x, dtype=np.float64)


def _assign_tier(arcs: _Arcs, group: np.ndarray, ledger: _Ledger, hops: int) -> None:
    """Place the open stops of one tier.

    Stops far from any overloaded hub take their nearest candidate (optimal
    for them); the LP shares the rest, walked nearest-first per cell; stops
    still open then take their nearest candidate with room.
    """
    still_open = ledger.stop_hub[arcs.stop] < 0
    if not still_open.all():
        arcs = arcs.subset(still_open)
    if arcs.stop.size == 0:
        return
    overloaded = _overloaded(arcs, ledger)
    if overloaded.any():
        contested = _contested(arcs, group, overloaded, hops)
        calm = ~contested & arcs.first()
        ledger.fill(arcs.stop[calm], arcs.hub[calm])
        lp = arcs.subset(contested)
        arc_var, share = _lp_shares(lp, group, ledger)
        order = np.lexsort((lp.dist, group[lp.stop]))  # stable: ties stay in stop order
        ledger.fill(lp.stop[order], lp.hub[order], arc_var[order], share)
    ledger.fill(arcs.stop, arcs.hub)


def _full_reason(stop: np.ndarray, hub: np.ndarray, ledger: _Ledger, hubs: Hubs, forced: bool) -> np.ndarray:
    """Why each deferred stop did not fit its hub (int8 reason codes): the parcels the hub may take today are
    used up (its daily sorting capacity, or its vehicles' parcel capacity when that is the smaller), else its
    vehicles' kg (capacities left at the end: a stop that did not fit when its tier was placed fits no better)."""
    daily_binds = hubs.daily_capacity[hub] <= hubs.vehicles[hub].astype(np.float64) * hubs.capacity_parcels[hub]
    no_room = ledger.rem_n[hub] < ledger.stop_n[stop]
    codes = np.where(no_room & daily_binds, R_FORCED_HUB_CAPACITY if forced else R_HUB_CAPACITY,
                     np.where(no_room, R_FORCED_HUB_PARCELS_FULL if forced else R_HUB_PARCELS_FULL,
                              R_FORCED_HUB_KG_FULL if forced else R_HUB_KG_FULL))
    return codes.astype(np.int8)


def assign_stops(stops: Stops, hubs: Hubs, settings: Settings, compute: Compute) -> Assignment:
    """Assign every stop to a hub, or defer it, or leave it unassigned (see the module docstring)."""
    n_hubs = hubs.size
    vehicles = hubs.vehicles
    rem_n, rem_kg = hub_capacity(hubs, settings.assign)
    ledger = _Ledger(stops.n_parcels.astype(np.float64), stops.weight_kg.astype(np.float64), rem_n, rem_kg,
                     np.full(stops.size, -1, np.int32), compute)
    status = np.full(stops.size, PLANNED, np.int8)
    reason = np.full(stops.size, NO_REASON, np.int8)
    hub = np.full(stops.size, -1, np.int32)

    forced = stops.forced_hub >= 0
    no_vehicles = forced & (vehicles[np.maximum(stops.forced_hub, 0)] <= 0) if n_hubs else forced
    status[no_vehicles], reason[no_vehicles] = UNASSIGNED, R_FORCED_HUB_NO_VEHICLES
    forced_ok = np.flatnonzero(forced & ~no_vehicles)

    usable = np.flatnonzero(vehicles > 0).astype(np.int32)
    free = np.flatnonzero(~forced)
    free = free[np.argsort(stops.tier[free], kind="stable")]  # tier-major: each tier's arcs are one slice
    arcs = _eligible_arcs(stops, free, hubs, usable, settings, compute)
    group = _lp_groups(stops, arcs, settings.assign)
    arc_tier = stops.tier[arcs.stop]
    tiers = np.unique(stops.tier)
    bounds = np.searchsorted(arc_tier, np.concatenate([tiers, tiers[-1:] + 1]))
    for t, tier in enumerate(tiers.tolist()):
        mine = forced_ok[stops.tier[forced_ok] == tier]
        ledger.fill(mine, stops.forced_hub[mine])
        _assign_tier(arcs.slice(int(bounds[t]), int(bounds[t + 1])), group, ledger, settings.assign.lp_hops)

    routed = ledger.stop_hub >= 0
    hub[routed] = ledger.stop_hub[routed]
    late_forced = forced_ok[~routed[forced_ok]]
    hub[late_forced] = stops.forced_hub[late_forced]
    status[late_forced] = DEFERRED
    reason[late_forced] = _full_reason(late_forced, hub[late_forced], ledger, hubs, forced=True)
    first = arcs.first()
    nearest = np.full(stops.size, -1, np.int32)
    nearest[arcs.stop[first]] = arcs.hub[first]
    late = np.flatnonzero(~forced & ~routed & (nearest >= 0))
    hub[late] = nearest[late]
    status[late], reason[late] = DEFERRED, _full_reason(late, hub[late], ledger, hubs, forced=False)
    far = ~forced & (nearest < 0)
    status[far] = UNASSIGNED
    reason[far] = R_NO_HUBS if n_hubs == 0 else R_NO_VEHICLES if usable.size == 0 else R_NO_HUB_IN_REACH
    hub_parcels = np.bincount(hub[routed], weights=stops.n_parcels[routed], minlength=n_hubs).astype(np.int64)
    return Assignment(hub, status, reason, hub_parcels)
