"""Every CUDA kernel compiles for the H200 (sm_90), assembles, never spills and stays within its register budget.

No GPU is involved: numba-cuda compiles each kernel to PTX for compute
capability 9.0 and ptxas assembles it (see :mod:`kernels.cuda.ptx`). This runs
in its own pytest process without NUMBA_ENABLE_CUDASIM (the Makefile's test
target), since the simulator compiles nothing. Without numba-cuda, libNVVM,
libNVRTC or ptxas every test skips with the reason; with HEXROUTE_REQUIRE_PTX=1
(set by CI, which installs them) a missing piece fails instead.
"""
from __future__ import annotations

import os
from typing import Any

import pytest

from kernels.cuda import ptx

#: Registers per thread each kernel variant may use on sm_90: the figure in bench/ptx_sm90.json (NVVM and
#: ptxas 13.0) rounded up to a multiple of 8, plus 8. Past a budget, occupancy drops or a change bloated a
#: kernel: look at it, then raise the budget here and rerun bench/ptx.py. These keys are also the expected
#: kernel list: a kernel added to kernels/cuda needs a signature in ptx.SIGNATURES and a budget here.
REGISTER_BUDGETS: dict[str, int] = {
    "arrays._copy": 40,
    "arrays._fill[b1]": 40,
    "arrays._fill[f8]": 40,
    "arrays._fill[i4]": 40,
    "arrays._rows_differ": 40,
    "distance._node_distances": 48,
    "distance._pair_distances": 56,
    "distance._route_lengths": 56,
    "distance._unit_vectors": 56,
    "hilbert._hilbert_keys": 40,
    "inter._apply_kernel": 56,
    "inter._candidates_kernel": 40,
    "inter._copy_kernel": 40,
    "inter._eval_kernel": 160,
    "inter._groups_kernel": 40,
    "inter._reset_kernel": 40,
    "inter._stats_kernel": 64,
    "inter._touch_kernel": 40,
    "intra._kernel(128)": 168,
    "nearest._nearest_hubs": 120,
    "savings._savings_kernel": 72,
    "split._counts_kernel": 104,
    "split._layers_kernel": 136,
    "split._next_fit_kernel": 112,
    "split._unlimited_kernel": 128,
}


def _base(variant: str) -> str:
    return variant.split("[")[0]


@pytest.fixture(scope="module")
def toolchain() -> dict[str, str]:
    """The versions in use, once per run; skips (or fails under HEXROUTE_REQUIRE_PTX=1) when a piece is missing."""
    try:
        return ptx.check_toolchain()
    except ptx.ToolchainMissing as exc:
        if os.environ.get("HEXROUTE_REQUIRE_PTX", "") not in ("", "0"):
            pytest.fail(f"HEXROUTE_REQUIRE_PTX is set but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def variants(toolchain: dict[str, str]) -> dict[str, tuple[Any, list[str]]]:
    """Every kernel variant found in kernels/cuda with its specs."""
    return ptx.variants()


def test_discovered_kernels_are_the_expected_ones(toolchain: dict[str, str]) -> None:
    found = ptx.discover()
    assert not found.unregistered, (
        f"kernel factories without ptx_kernels() or a ptx.FALLBACK_FACTORIES entry: {found.unregistered}")
    expected = {_base(v) for v in REGISTER_BUDGETS}
    assert sorted(found.kernels) == sorted(expected), (
        "kernels/cuda changed: give new kernels a signature in kernels.cuda.ptx.SIGNATURES and a budget in "
        f"REGISTER_BUDGETS; new: {sorted(set(found.kernels) - expected)}, "
        f"gone: {sorted(expected - set(found.kernels))}")


def test_every_signature_has_a_budget() -> None:
    table = ptx.signatures()
    assert sorted(table) == sorted(REGISTER_BUDGETS)
    for specs in table.values():
        for spec in specs:
            ptx.example(spec)  # a malformed spec raises here


@pytest.mark.parametrize("name", sorted(REGISTER_BUDGETS))
def test_kernel_assembles_for_sm90_without_spills(name: str, variants: dict[str, tuple[Any, list[str]]]) -> None:
    if name not in variants:
        pytest.fail(f"{name} has a budget but no kernel or no signature in kernels.cuda.ptx")
    report, _ = ptx.measure(name, *variants[name])
    assert report.spill_stores == 0 and report.spill_loads == 0, (
        f"{name} spills {report.spill_stores} bytes / reloads {report.spill_loads} bytes per thread on sm_90")
    assert report.registers <= REGISTER_BUDGETS[name], (
        f"{name} uses {report.registers} registers per thread on sm_90, over its budget of "
        f"{REGISTER_BUDGETS[name]} (tests/ptx/test_ptx.py)")
    assert report.registers > 0


def test_spec_of_matches_what_the_drivers_pass() -> None:
    np = pytest.importorskip("numpy")
    assert ptx.spec_of(np.zeros(3)) == "f8[:]"
    assert ptx.spec_of(np.zeros((2, 3), np.int32)) == "i4[:,:]"
    assert ptx.spec_of(np.zeros((3, 2), np.int32)[:, 0]) == "i4[:](A)"
    assert ptx.spec_of(np.zeros(3, np.int8)) == "i1[:]"
    assert ptx.spec_of(np.bool_(True)) == "b1"
    assert ptx.spec_of(3) == "int"
    assert ptx.spec_of(True) == "bool"
    assert ptx.spec_of(0.5) == "float"
    for spec in ("f8[:]", "i4[:,:]", "b1[:]", "i4", "f8", "int", "float", "bool"):
        assert ptx.spec_of(ptx.example(spec)) == spec


def test_unexpected_launches_flags_a_signature_the_table_lacks() -> None:
    pair = tuple(ptx.signatures()["distance._pair_distances"])
    assert ptx.unexpected_launches({"distance._pair_distances": {pair}}) == []
    as_numpy_scalars = tuple({"int": "i8", "float": "f8"}.get(s, s) for s in pair)
    assert ptx.unexpected_launches({"distance._pair_distances": {as_numpy_scalars}}) == []
    single = ("f4[:]",) * 4 + pair[4:]
    assert ptx.unexpected_launches({"distance._pair_distances": {single}})
    assert ptx.unexpected_launches({"distance._new_kernel": {pair}})


def test_launch_names_follow_the_table() -> None:
    def improve() -> None: ...

    improve.__module__ = "kernels.cuda.intra"
    improve.__qualname__ = "_kernel.<locals>.improve"
    assert ptx.launch_name(improve) == "intra._kernel"
    improve.__module__ = "tests.cuda.helpers"
    assert ptx.launch_name(improve) is None
