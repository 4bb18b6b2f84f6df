"""Device memory: hub groups sized to fit the device, and the memory-pool figures for summary.json.

Fake figures stand in for a device: the simulator has no memory to ask about.
"""
from __future__ import annotations

from types import SimpleNamespace

from kernels import api
from kernels.cuda import _launch
from planner.groups import DEVICE_BYTES_PER_STOP, DEVICE_RESERVED_BYTES, device_group_stops, fit_group_stops
from planner.settings import Settings

GIB = 2**30


def test_group_size_without_device_figures_is_the_setting():
    assert fit_group_stops(25_000, None) == 25_000
    assert fit_group_stops(7, None, bytes_per_stop=10**9) == 7


def test_group_size_is_capped_by_free_device_memory():
    # 4 GiB free, half of it usable, less the reserve, at 1000 bytes a stop
    want = (2 * GIB - DEVICE_RESERVED_BYTES) // 1000
    assert fit_group_stops(10**8, 4 * GIB, bytes_per_stop=1000) == want
    assert fit_group_stops(1000, 4 * GIB, bytes_per_stop=1000) == 1000  # a group that fits keeps its size
    assert fit_group_stops(10**8, 80 * GIB, safety=0.25, reserved_bytes=0, bytes_per_stop=GIB) == 20
    assert fit_group_stops(25_000, DEVICE_RESERVED_BYTES, bytes_per_stop=1000) == 1  # never below one stop


def test_cuda_backend_reads_free_memory(monkeypatch):
    settings = Settings(backend="cuda")
    monkeypatch.setattr(api, "memory_info", lambda *, backend: (3 * GIB, 16 * GIB))
    per_stop = DEVICE_BYTES_PER_STOP + 4 * settings.improve.neighbours
    capped = device_group_stops(10**8, settings)
    assert capped == fit_group_stops(10**8, 3 * GIB, per_stop) < 10**8
    assert device_group_stops(25_000, settings) == 25_000
    monkeypatch.setattr(api, "memory_info", lambda *, backend: None)  # the simulator
    assert device_group_stops(10**8, settings) == 10**8


def test_memory_figures_come_from_cupy(monkeypatch):
    assert _launch.memory_pool() is None and _launch.memory_info() is None  # the simulator: no CuPy
    pool = SimpleNamespace(used_bytes=lambda: 100, total_bytes=lambda: 4096)
    fake = SimpleNamespace(get_default_memory_pool=lambda: pool,
                           cuda=SimpleNamespace(Device=lambda: SimpleNamespace(mem_info=(5 * GIB, 8 * GIB))))
    monkeypatch.setattr(_launch, "_cupy", lambda: fake)
    assert _launch.memory_pool() == {"used_bytes": 100, "peak_bytes": 4096}
    assert _launch.memory_info() == (5 * GIB, 8 * GIB)
    assert api.memory_pool(backend="cpu") is None and api.memory_info(backend="cpu") is None
