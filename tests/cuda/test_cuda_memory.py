"""Device memory: hub groups sized to fit the device, and the memory-pool figures for summary.json.

Fake figures stand in for a device: the simulator has no memory to ask about.
"""
from __future__ import annotations

from types import SimpleNamespace

from kernels import GREAT_CIRCLE, api
from kernels.api import DEVICE_BYTES_PER_NEIGHBOUR, DEVICE_BYTES_PER_STOP, fit_group_stops
from kernels.cuda import _launch
from planner.device import Compute
from planner.settings import DeviceSettings
from tests.cuda.conftest import SIMULATOR

GIB = 2**30
RESERVED = DeviceSettings().reserved_mib * 2**20
SHARE = DeviceSettings().memory_share


def per_stop(neighbours: int) -> int:
    return DEVICE_BYTES_PER_STOP + DEVICE_BYTES_PER_NEIGHBOUR * neighbours


def test_group_size_without_device_figures_is_the_setting():
    assert fit_group_stops(25_000, None, 12, RESERVED, SHARE) == 25_000
    assert fit_group_stops(7, None, 10**9, RESERVED, SHARE) == 7


def test_group_size_is_capped_by_free_device_memory():
    # 4 GiB free, half of it usable, less the reserve, at the kernels' bytes per stop
    want = (2 * GIB - RESERVED) // per_stop(12)
    assert fit_group_stops(10**8, 4 * GIB, 12, RESERVED, SHARE) == want
    assert fit_group_stops(1000, 4 * GIB, 12, RESERVED, SHARE) == 1000  # a group that fits keeps its size
    assert fit_group_stops(10**8, 80 * GIB, 0, 0, 0.25) == 20 * GIB // per_stop(0)
    assert fit_group_stops(25_000, RESERVED, 12, RESERVED, SHARE) == 1  # never below one stop


def test_cuda_backend_reads_free_memory(monkeypatch):
    compute = Compute.open("cuda", GREAT_CIRCLE, 1.3)
    settings = DeviceSettings()
    monkeypatch.setattr(api, "memory_info", lambda *, backend: (3 * GIB, 16 * GIB))
    capped = compute.group_stops(10**8, 12, settings)
    assert capped == fit_group_stops(10**8, 3 * GIB, 12, RESERVED, SHARE) < 10**8
    assert compute.group_stops(25_000, 12, settings) == 25_000
    monkeypatch.setattr(api, "memory_info", lambda *, backend: None)  # the simulator
    assert compute.group_stops(10**8, 12, settings) == 10**8


def test_memory_figures_come_from_cupy(monkeypatch):
    if SIMULATOR:
        assert _launch.memory_pool() is None and _launch.memory_info() is None  # the simulator: no CuPy
    else:  # a device with CuPy: real figures
        free, total = _launch.memory_info()
        assert 0 < free <= total and set(_launch.memory_pool()) == {"used_bytes", "peak_bytes"}
    pool = SimpleNamespace(used_bytes=lambda: 100, total_bytes=lambda: 4096)
    fake = SimpleNamespace(get_default_memory_pool=lambda: pool,
                           cuda=SimpleNamespace(Device=lambda: SimpleNamespace(mem_info=(5 * GIB, 8 * GIB))))
    monkeypatch.setattr(_launch, "_cupy", lambda: fake)
    assert _launch.memory_pool() == {"used_bytes": 100, "peak_bytes": 4096}
    assert _launch.memory_info() == (5 * GIB, 8 * GIB)
    assert api.memory_pool(backend="cpu") is None and api.memory_info(backend="cpu") is None
