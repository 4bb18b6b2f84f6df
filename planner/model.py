"""The run-wide arrays every stage works on: parcels, hubs, stops, kernel nodes and routes.

The contract tables become these once (:mod:`planner.contract.arrays`) and
the stages pass them on as NumPy arrays; they become Arrow again only in the
output tables. Row ``i`` of every array of one object belongs together.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Parcels:
    """The valid parcels of a run, column by column (row = row of the normalised parcels table)."""

    lat: np.ndarray  # float64[P]
    lon: np.ndarray  # float64[P]
    weight_kg: np.ndarray  # float64[P]
    tier: np.ndarray  # int8[P], index into contract.schemas.TIERS
    address: np.ndarray  # int64[P], equal codes for equal address_id, -1 without one
    forced_hub: np.ndarray  # int32[P], hub row it is forced onto, -1 when free
    #: int16[P], the only hubs that may serve it: those whose Hubs.networks code is this; -1 any hub (shared
    #: network), -2 none (its operator runs no hub)
    network: np.ndarray

    @property
    def size(self) -> int:
        """Number of parcels."""
        return int(self.lat.size)


@dataclass(frozen=True)
class Hubs:
    """The valid hubs of a run, column by column (row = row of the normalised hubs table)."""

    hub_id: np.ndarray  # object[H]
    operator: np.ndarray  # object[H]
    lat: np.ndarray  # float64[H]
    lon: np.ndarray  # float64[H]
    vehicles: np.ndarray  # int32[H]
    capacity_kg: np.ndarray  # float64[H]
    capacity_parcels: np.ndarray  # float64[H]
    shift_s: np.ndarray  # float64[H]
    daily_capacity: np.ndarray  # int64[H]

    @property
    def size(self) -> int:
        """Number of hubs."""
        return int(self.lat.size)

    def take(self, rows: np.ndarray) -> "Hubs":
        """The hubs ``rows``, in that order."""
        return Hubs(**{f.name: getattr(self, f.name)[rows] for f in fields(Hubs)})

    def networks(self) -> tuple[np.ndarray, np.ndarray]:
        """The operators (sorted names) and each hub's code into them: the codes of Parcels.network."""
        names, code = np.unique(self.operator.astype(str), return_inverse=True)
        return names.astype(object), code.astype(np.int16).reshape(-1)


@dataclass(frozen=True)
class Stops:
    """The stops of a run, column by column; stop ``s`` is row ``s`` of every array.

    ``parcel_stop`` maps each parcel to its stop. Stops are numbered in the
    order of their first parcel, so the numbering is deterministic for a
    given input.
    """

    parcel_stop: np.ndarray  # int32[P]
    lat: np.ndarray  # float64[S], the stop's first parcel
    lon: np.ndarray  # float64[S]
    weight_kg: np.ndarray  # float64[S], sum over its parcels
    n_parcels: np.ndarray  # int32[S]
    tier: np.ndarray  # int8[S], most urgent (smallest) tier code of its parcels
    forced_hub: np.ndarray  # int32[S], -1 when not forced
    network: np.ndarray  # int16[S], as Parcels.network (parcels of one stop share it)
    cell: np.ndarray  # int64[S], H3 cell at settings.h3_resolution
    area: np.ndarray  # int8[S], area class (schemas.AREAS) by the parcels per km^2 in the cell and its ring-1 disk
    speed_kmh: np.ndarray  # float64[S], from the area class
    service_s: np.ndarray  # float64[S], time spent at the stop

    @property
    def size(self) -> int:
        """Number of stops."""
        return int(self.lat.size)


@dataclass(frozen=True)
class Nodes:
    """Kernel node arrays: stops ``0..n_stops-1`` followed by hubs (node ``n_stops + h``)."""

    a: np.ndarray
    b: np.ndarray
    demand_kg: np.ndarray
    demand_n: np.ndarray
    service_s: np.ndarray
    speed_kmh: np.ndarray
    #: float64[N], each node's circuity relative to the run's: a leg is great circle x circuity x the mean of its
    #: ends' multipliers (kernels._scalar.node_distance); 1.0 without a road engine, for hubs, and for stops
    #: with too few road legs to fit one (planner.roads.calibrate)
    circuity: np.ndarray
    n_stops: int

    @classmethod
    def build(cls, lat: np.ndarray, lon: np.ndarray, weight_kg: np.ndarray, n_parcels: np.ndarray,
              service_s: np.ndarray, speed_kmh: np.ndarray, hubs: Hubs, hub_speed_kmh: float,
              circuity: np.ndarray | None = None) -> "Nodes":
        """Stack per-stop arrays and the hubs into node arrays (hubs carry no demand and no service, and the
        run's circuity); ``circuity`` is each stop's multiplier (None: 1.0, the run's circuity everywhere)."""
        h = hubs.size
        stop_circuity = np.ones(lat.size) if circuity is None else circuity
        return cls(
            a=np.concatenate([lat, hubs.lat]).astype(np.float64),
            b=np.concatenate([lon, hubs.lon]).astype(np.float64),
            demand_kg=np.concatenate([weight_kg, np.zeros(h)]).astype(np.float64),
            demand_n=np.concatenate([n_parcels, np.zeros(h)]).astype(np.float64),
            service_s=np.concatenate([service_s, np.zeros(h)]).astype(np.float64),
            speed_kmh=np.concatenate([speed_kmh, np.full(h, hub_speed_kmh)]).astype(np.float64),
            circuity=np.concatenate([stop_circuity, np.ones(h)]).astype(np.float64),
            n_stops=int(lat.size),
        )

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """(a, b, demand_kg, demand_n, service_s, speed_kmh, circuity): the fields of planner.device.KernelNodes."""
        return self.a, self.b, self.demand_kg, self.demand_n, self.service_s, self.speed_kmh, self.circuity


@dataclass
class RouteSet:
    """Routes in the kernels' padded layout: row r holds route r's stop nodes, -1 padded."""

    routes: np.ndarray  # int32[R, L]
    route_len: np.ndarray  # int32[R]
    route_hub: np.ndarray  # int32[R]

    @property
    def size(self) -> int:
        """Number of routes (empty ones included until :meth:`compact`)."""
        return int(self.route_len.size)

    @classmethod
    def empty(cls) -> "RouteSet":
        """No routes."""
        return cls(np.full((0, 1), -1, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32))

    def depots(self, n_stops: int) -> np.ndarray:
        """Node id of each route's hub."""
        return (n_stops + self.route_hub).astype(np.int32)

    def compact(self) -> "RouteSet":
        """Drop empty routes and trim the padding to the longest route."""
        keep = self.route_len > 0
        width = max(1, int(self.route_len.max(initial=0)))
        return RouteSet(np.ascontiguousarray(self.routes[keep, :width]), self.route_len[keep].copy(),
                        self.route_hub[keep].copy())

    def widen(self, width: int) -> "RouteSet":
        """A copy with room for routes of up to ``width`` stops (for moves between routes)."""
        out = np.full((self.size, max(width, self.routes.shape[1])), -1, dtype=np.int32)
        out[:, : self.routes.shape[1]] = self.routes
        return RouteSet(out, self.route_len.copy(), self.route_hub.copy())

    @classmethod
    def from_lists(cls, routes: list[np.ndarray], hubs: list[int]) -> "RouteSet":
        """Padded routes from one stop-node array per route."""
        width = max((r.size for r in routes), default=1)
        padded = np.full((len(routes), max(width, 1)), -1, np.int32)
        for i, r in enumerate(routes):
            padded[i, : r.size] = r
        return cls(padded, np.array([r.size for r in routes], np.int32), np.array(hubs, np.int32))
