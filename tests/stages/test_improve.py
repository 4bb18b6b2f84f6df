"""The improve stage's order of work: SISR on every hub, then the local search on its plan."""
from __future__ import annotations

import numpy as np

from planner.settings import Budget, ImproveSettings
from planner.stages.improve import improve_routes
from tests.stages.test_sisr import COMPUTE, _assert_feasible, _group_km, _hubs, _instance


def test_final_local_search_shortens_sisrs_plan_within_every_limit() -> None:
    # SISR's short national runs leave relocate / swap / 2-opt* moves between routes: the final local search
    # starts from exactly SISR's plan (same seed), keeps every stop once and every limit, and only shortens it
    nodes, routes = _instance(8, per_hub=60)
    budget = Budget(60.0, 0, 5.0)
    plain, plain_stats = improve_routes(routes, nodes, _hubs(), COMPUTE, ImproveSettings(final_rounds=0), budget, 4)
    final, stats = improve_routes(routes, nodes, _hubs(), COMPUTE, ImproveSettings(), budget, 4)
    for out in (plain, final):
        _assert_feasible(nodes, routes, out)
    assert plain_stats.final_moves == 0 and stats.final_moves > 0
    assert stats.sisr_iterations == plain_stats.sisr_iterations and not stats.stopped_by_clock
    before, after = _group_km(nodes, plain), _group_km(nodes, final)
    assert np.all(after <= before + 1e-6) and after.sum() < before.sum()
    assert abs(stats.distance_after - after.sum()) < 1e-6


def test_no_final_local_search_for_a_race_or_a_short_sisr() -> None:
    # hexroute cvrp's race (no iterations a stop) has spent its seconds when SISR ends, and below
    # final_min_per_stop the plan is too far from its optimum for the search to pay: neither runs it
    nodes, routes = _instance(8, per_hub=20)
    settings = ImproveSettings()
    for per_stop in (None, settings.final_min_per_stop / 2):
        _, stats = improve_routes(routes, nodes, _hubs(), COMPUTE, settings, Budget(0.5, 0, per_stop), 4)
        assert stats.sisr_iterations > 0 and stats.final_moves == 0 and stats.final_s < 0.01
