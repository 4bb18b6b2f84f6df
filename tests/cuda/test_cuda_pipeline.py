"""The whole pipeline on the CUDA backend (in Numba's simulator in CI), checked by the contract's rules."""
from __future__ import annotations

import numpy as np

from planner.run.pipeline import plan  # noqa: E402
from planner.settings import ImproveSettings, Settings  # noqa: E402
from tests.contract_checks import check_plan  # noqa: E402
from tests.loads import make_load  # noqa: E402

HUBS = [(40.75, -73.99, 3, 300.0), (40.70, -73.90, 2, 300.0)]


def test_cuda_pipeline_keeps_the_contract_and_matches_cpu():
    parcels, hubs = make_load(90, HUBS, seed=21, spread=0.03)
    improve = ImproveSettings(time_cap_s=600.0, max_rounds=3, effort_s=0.005)
    results = {}
    for backend in ("cpu", "cuda"):
        settings = Settings(backend=backend, improve=improve)
        result = plan(parcels, hubs, settings, progress=False)
        check_plan(parcels, hubs, result.assignments, result.routes, result.hubs, result.rejects, settings.circuity)
        assert result.summary["backend"] == backend
        results[backend] = result
    cpu, gpu = results["cpu"], results["cuda"]
    # the same hub assignment and route counts; distances within 0.5 %
    assert cpu.assignments.column("hub_id").equals(gpu.assignments.column("hub_id"))
    assert cpu.assignments.column("status").equals(gpu.assignments.column("status"))
    assert cpu.hubs.column("routes").equals(gpu.hubs.column("routes"))
    km = [r.routes.column("distance_km").to_numpy().sum() for r in (cpu, gpu)]
    assert np.isclose(km[0], km[1], rtol=5e-3)
