"""The CVRP command: reading, solving, feasibility, independent cost, .sol round trip, determinism."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import vrplib

from planner import cvrp
from planner.cli import main
from tests import naive
from tests.conftest import DATA

# a copy of CVRPLIB's X-n101-k25 (Uchoa et al. 2017) and its best known solution ships in data/
BENCH_DATA = DATA / "cvrplib"
X101 = BENCH_DATA / "X-n101-k25.vrp"


def _write_vrp(path: Path, n: int, seed: int, capacity: int = 30) -> Path:
    """A small random EUC_2D instance in VRPLIB format (depot is node 1)."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 100, size=(n + 1, 2))
    demand = np.concatenate([[0], rng.integers(1, 10, size=n)])
    lines = [f"NAME : tiny{n}", "TYPE : CVRP", f"DIMENSION : {n + 1}", "EDGE_WEIGHT_TYPE : EUC_2D",
             f"CAPACITY : {capacity}", "NODE_COORD_SECTION"]
    lines += [f"{i + 1} {x} {y}" for i, (x, y) in enumerate(xy)]
    lines += ["DEMAND_SECTION"] + [f"{i + 1} {d}" for i, d in enumerate(demand)]
    lines += ["DEPOT_SECTION", "1", "-1", "EOF"]
    path.write_text("\n".join(lines) + "\n")
    return path




@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return _write_vrp(tmp_path / "tiny.vrp", 40, seed=3)


def test_read_instance_numbers_customers_without_the_depot(tiny: Path) -> None:
    inst = cvrp.read_instance(tiny)
    data = vrplib.read_instance(str(tiny), compute_edge_weights=False)
    assert inst.n == 40
    assert inst.capacity == 30
    np.testing.assert_array_equal(inst.x, data["node_coord"][1:, 0])
    np.testing.assert_array_equal(inst.demand, data["demand"][1:])
    assert (inst.depot_x, inst.depot_y) == tuple(data["node_coord"][0])


def test_solve_is_feasible_and_cost_is_recomputed(tiny: Path) -> None:
    inst = cvrp.read_instance(tiny)
    sol = cvrp.solve(inst, seconds=60.0, seed=1, iterations_per_stop=75)
    cvrp.check_solution(inst, sol.routes)
    assert sol.cost == cvrp.solution_cost(inst, sol.routes) == naive.cvrp_cost(tiny, sol.routes)
    assert sol.iterations == 3000


def test_x101_reaches_a_small_gap() -> None:
    inst = cvrp.read_instance(X101)
    sol = cvrp.solve(inst, seconds=60.0, seed=0, iterations_per_stop=200)
    cvrp.check_solution(inst, sol.routes)
    assert sol.cost == naive.cvrp_cost(X101, sol.routes)
    assert sol.cost <= 27591 * 1.03  # BKS 27591
    bks = vrplib.read_solution(str(BENCH_DATA / "X-n101-k25.sol"))
    assert cvrp.solution_cost(inst, bks["routes"]) == bks["cost"] == 27591


def test_same_seed_same_routes_and_longer_never_worse(tiny: Path) -> None:
    inst = cvrp.read_instance(tiny)
    a = cvrp.solve(inst, 60.0, seed=7, iterations_per_stop=37.5)
    b = cvrp.solve(inst, 60.0, seed=7, iterations_per_stop=37.5)
    assert a.routes == b.routes
    costs = [cvrp.solve(inst, 60.0, seed=7, iterations_per_stop=k / 40).cost for k in (10, 100, 700, 1500, 4000)]
    assert costs == sorted(costs, reverse=True)
    assert costs[-1] <= a.cost


def test_time_budget_is_respected(tiny: Path) -> None:
    inst = cvrp.read_instance(tiny)
    cvrp.solve(inst, 0.0, seed=0, iterations_per_stop=0.025)  # compile outside the timed call
    import time

    t = time.perf_counter()
    sol = cvrp.solve(inst, 0.3, seed=0)
    assert time.perf_counter() - t < 1.5
    cvrp.check_solution(inst, sol.routes)


def test_check_solution_names_the_fault(tiny: Path) -> None:
    inst = cvrp.read_instance(tiny)
    sol = cvrp.solve(inst, 60.0, seed=0, iterations_per_stop=5)
    with pytest.raises(ValueError, match="is not visited"):
        cvrp.check_solution(inst, [r[1:] if i == 0 else r for i, r in enumerate(sol.routes)])
    with pytest.raises(ValueError, match="visited more than once"):
        cvrp.check_solution(inst, sol.routes + [[sol.routes[0][0]]])
    with pytest.raises(ValueError, match=r"route #1 carries \d+ > capacity 30"):
        cvrp.check_solution(inst, [[c for r in sol.routes for c in r]])


def test_sol_round_trip_through_vrplib(tiny: Path, tmp_path: Path) -> None:
    inst = cvrp.read_instance(tiny)
    sol = cvrp.solve(inst, 60.0, seed=2, iterations_per_stop=12.5)
    out = tmp_path / "tiny.sol"
    cvrp.write_solution(out, sol)
    back = vrplib.read_solution(str(out))
    assert back["routes"] == sol.routes
    assert back["cost"] == sol.cost
    assert out.read_text().splitlines()[0].startswith("Route #1: ")


def test_cli_writes_the_solution(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.sol"
    assert main(["cvrp", str(tiny), "--seconds", "0.2", "--seed", "3", "--out", str(out)]) == 0
    back = vrplib.read_solution(str(out))
    cvrp.check_solution(cvrp.read_instance(tiny), back["routes"])
    assert f"cost {back['cost']} " in capsys.readouterr().out


def test_cli_bad_instance_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.vrp"
    assert main(["cvrp", str(missing), "--seconds", "0.1"]) == 2
    assert capsys.readouterr().err.startswith(f"hexroute: error: {missing}: cannot read the instance")
