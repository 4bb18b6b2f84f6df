"""Running a plan: the pipeline, hub groups and where they run, the output tables and the stage clock.

:func:`planner.run.pipeline.plan` validates, indexes and assigns on the
client, cuts the hubs into groups (:mod:`~planner.run.groups`) that a runner
(:mod:`~planner.run.runners`: in-process or Dask) plans, and builds the
contract's tables (:mod:`~planner.run.tables`).
"""
