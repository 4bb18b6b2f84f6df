"""The planning stages, arrays in and arrays out (no Arrow): index, assign, route, improve, schedule.

``index`` turns parcels into stops, ``assign`` gives every stop a hub,
``route`` cuts each hub's stops into feasible routes, ``improve`` runs the
local search (:mod:`~planner.stages.local_search` over
:mod:`~planner.stages.neighbours`) and SISR (:mod:`~planner.stages.sisr`),
and ``schedule`` times and costs the routes. Every kernel call goes through
:class:`planner.device.Compute`.
"""
