"""``hexroute cvrp``: a CVRPLIB instance planned by the national engine, as a one-hub day.

The instance becomes a hub group of one hub at the depot with as many
vehicles as customers, capacity in kg only, no shift and no service time,
on CVRPLIB's rounded Euclidean metric, and goes through the same stages as
every hub of ``hexroute plan`` (:func:`planner.run.groups.plan_group`): Split
of the Hilbert and sweep tours, the local-search kernels, then SISR. The
only difference is the budget: the command is a race against peers at equal
time, so SISR runs until the seconds are spent (or for a given number of
iterations per stop, which repeats exactly).
"""
from __future__ import annotations

import numpy as np

from kernels import EUCLID_ROUND
from planner.contract.schemas import DEFAULT_TIER_CODE
from planner.cvrp.instance import Instance, Solution, solution_cost
from planner.device import Compute
from planner.model import Hubs
from planner.run.groups import GroupInput, plan_group
from planner.settings import Budget, Settings

#: local-search rounds before SISR on an instance unless the settings name some: on one hub of at most a
#: few thousand customers they take milliseconds and hand SISR a local optimum
RACE_ROUNDS = 3


def race_rounds(settings: Settings) -> int:
    """Local-search rounds on an instance: ``improve.max_rounds`` when set, else RACE_ROUNDS."""
    rounds = settings.improve.max_rounds
    return RACE_ROUNDS if rounds is None else int(rounds)


def depot_hub(instance: Instance) -> Hubs:
    """The instance's depot as a hub: a vehicle per customer, capacity in kg only, no shift."""
    return Hubs(hub_id=np.array(["depot"], dtype=object), operator=np.array(["depot"], dtype=object),
                lat=np.array([instance.depot_x]), lon=np.array([instance.depot_y]),
                vehicles=np.array([max(instance.n, 1)], np.int32), capacity_kg=np.array([instance.capacity]),
                capacity_parcels=np.array([np.inf]), shift_s=np.array([np.inf]),
                daily_capacity=np.array([np.iinfo(np.int64).max]))


def as_group(instance: Instance, settings: Settings, seconds: float, iterations_per_stop: float | None) -> GroupInput:
    """The instance as a hub group of :func:`planner.run.groups.plan_group`."""
    n = instance.n
    compute = Compute.open(settings.backend, EUCLID_ROUND, 1.0)
    return GroupInput(
        index=0, hubs=np.zeros(1, np.int32), fleet=depot_hub(instance), stop=np.arange(n, dtype=np.int64),
        hub=np.zeros(n, np.int32), lat=instance.x, lon=instance.y, weight_kg=instance.demand.astype(np.float64),
        n_parcels=np.zeros(n, np.int32), tier=np.full(n, DEFAULT_TIER_CODE, np.int8), speed_kmh=np.ones(n),
        service_s=np.zeros(n), hilbert=compute.hilbert_keys(instance.x, instance.y), settings=settings,
        run_stops=n, metric=EUCLID_ROUND,
        budget=Budget(float(seconds), race_rounds(settings), iterations_per_stop))


def solve(instance: Instance, seconds: float, seed: int = 0, backend: str = "cpu",
          iterations_per_stop: float | None = None, settings: Settings | None = None) -> Solution:
    """Best routes found within ``seconds`` (or after ``iterations_per_stop`` SISR iterations per customer,
    which repeats exactly for a seed) by the national engine; ``backend`` runs its kernels."""
    settings = (settings or Settings()).replace(seed=seed, backend=backend)
    result = plan_group(as_group(instance, settings, seconds, iterations_per_stop))
    schedule = result.schedule
    on = np.flatnonzero(schedule.stop_route >= 0)
    on = on[np.lexsort((schedule.stop_seq[on], schedule.stop_route[on]))]
    starts = np.flatnonzero(np.diff(schedule.stop_route[on], prepend=-1))
    routes = [[int(c) + 1 for c in part] for part in np.split(on, starts[1:])] if on.size else []
    return Solution(routes=routes, cost=solution_cost(instance, routes), iterations=result.improve.sisr_iterations)
