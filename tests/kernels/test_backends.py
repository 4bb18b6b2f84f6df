"""One API body for two flavours (h3-py style): the CPU and CUDA drivers have the same entry points.

Every kernel family's public functions exist on both backends with the same parameter names in the same
order, and :mod:`kernels.api` dispatches each of them. Importing the CUDA drivers needs no GPU.
"""
from __future__ import annotations

import importlib
import inspect

import pytest

from kernels import api

FAMILIES = ("distance", "hilbert", "nearest", "split", "savings", "intra", "inter")
#: entry points one backend has on purpose: CPU diagnostics checked against the naive references
CPU_ONLY = {"inter": {"best_moves"}, "savings": {"savings_pairs"}}  # host steps every backend shares


def _entry_points(module: object) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in vars(module).items()
            if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == module.__name__}


@pytest.mark.parametrize("family", FAMILIES)
def test_cpu_and_cuda_have_the_same_entry_points(family: str) -> None:
    cpu = _entry_points(importlib.import_module(f"kernels.cpu.{family}"))
    cuda = _entry_points(importlib.import_module(f"kernels.cuda.{family}"))
    only_cpu = CPU_ONLY.get(family, set())
    assert set(cpu) - only_cpu == set(cuda)
    for name, signature in cuda.items():
        assert list(cpu[name].parameters) == list(signature.parameters), name


@pytest.mark.parametrize("family", FAMILIES)
def test_api_dispatches_every_shared_entry_point(family: str) -> None:
    cuda = _entry_points(importlib.import_module(f"kernels.cuda.{family}"))
    for name, signature in cuda.items():
        assert name in api.__all__, name
        dispatch = inspect.signature(getattr(api, name))
        assert list(dispatch.parameters)[: len(signature.parameters)] == list(signature.parameters), name
        assert "backend" in dispatch.parameters, name
