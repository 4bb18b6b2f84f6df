"""CVRPLIB instances (EUC_2D, rounded edges) planned by the national engine: ``hexroute cvrp``."""
from planner.cvrp.instance import (
    Instance,
    InstanceError,
    Solution,
    check_solution,
    read_instance,
    solution_cost,
    write_solution,
)
from planner.cvrp.solve import solve

__all__ = ["Instance", "InstanceError", "Solution", "check_solution", "read_instance", "solution_cost", "solve",
           "write_solution"]
