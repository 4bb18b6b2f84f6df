"""Data stays on the device between a hub group's kernels (Numba's simulator in CI).

Every host <-> device copy is counted by ``kernels.cuda._launch.TRANSFERS``.
A group's node arrays (six float64 per node) must cross to the device once,
not once per kernel call: the bytes uploaded while planning a group stay
within a small multiple of that group's input, however many rounds the local
search runs.
"""
from __future__ import annotations

import pytest

from kernels.cuda import _launch  # noqa: E402
from kernels.cuda import inter as cuda_inter  # noqa: E402
from planner.run.groups import GroupInput  # noqa: E402
from planner.run.pipeline import plan  # noqa: E402
from planner.settings import ClusterSettings, ImproveSettings, Settings  # noqa: E402
from tests.loads import make_load  # noqa: E402

#: small vehicles (25 kg), so each hub has several routes and the inter-route search moves stops
HUBS = [(40.75, -73.99, 8, 25.0), (40.70, -73.90, 8, 25.0), (40.80, -73.85, 8, 25.0)]
#: float64 node arrays the kernels read: a, b, demand_kg, demand_n, service_s, speed_kmh, circuity
NODE_ARRAYS = 7
SETTINGS = Settings(backend="cuda", cluster=ClusterSettings(cuda_group_stops=50),
                    improve=ImproveSettings(time_cap_s=600.0, max_rounds=6, effort_s=0.0))


class _SizedLog(_launch.TransferLog):
    """A transfer log that also keeps the size of every upload."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[int] = []

    def h2d(self, nbytes: int) -> None:
        super().h2d(nbytes)
        self.uploads.append(int(nbytes))


class _Measured:
    """Runs hub groups in-process and keeps, per group, the uploads' sizes and the transfer counters."""

    def __init__(self, log: _SizedLog) -> None:
        self.log = log
        self.groups: list[tuple[GroupInput, list[int], dict[str, int]]] = []

    def map(self, fn, items):  # type: ignore[no-untyped-def]
        out = []
        for group in items:
            self.log.reset()
            self.log.uploads.clear()
            out.append(fn(group))
            self.groups.append((group, list(self.log.uploads), self.log.snapshot()))
        return out

    def describe(self) -> dict[str, str]:
        return {"mode": "in-process"}


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Few threads per block: the simulator runs every thread as a Python thread."""
    monkeypatch.setattr(_launch, "THREADS", 8)
    monkeypatch.setattr(cuda_inter, "THREADS", 8)


def test_node_arrays_are_uploaded_once_per_group(small_blocks, monkeypatch):
    log = _SizedLog()
    monkeypatch.setattr(_launch, "TRANSFERS", log)
    runner = _Measured(log)
    result = plan(*make_load(120, HUBS, seed=4, spread=0.03), SETTINGS, progress=False, runner=runner)
    assert result.summary["backend"] == "cuda" and len(runner.groups) >= 2
    assert result.summary["improve"]["rounds"] >= 2 and result.summary["improve"]["inter_moves"] > 0
    for group, uploads, moved in runner.groups:
        n_nodes = group.size + group.hubs.size
        assert uploads.count(8 * n_nodes) == NODE_ARRAYS, (group.index, uploads)
        # everything else a group sends up is small next to its node arrays, its neighbour lists and the
        # route construction: the savings pairs (two int32 stops and a float64 distance each, at most k per
        # stop) and each of the four candidates' giant tour and cuts (int32 per stop each)
        resident = n_nodes * (8 * NODE_ARRAYS + 4 * SETTINGS.improve.neighbours)
        construction = n_nodes * (16 * SETTINGS.route.savings_neighbours + 4 * 8)
        assert moved["h2d_bytes"] <= 2 * resident + construction, (group.index, moved, resident)
        # what comes back: the routes of every construction candidate (the host keeps the shortest), then
        # the improved routes and the schedule
        assert moved["d2h_bytes"] <= resident + construction, (group.index, moved, resident)
    # summary.json keeps them per stage, summed over the groups; the simulator has no memory pool
    groups = result.summary["hub_groups"]
    assert set(groups["transfers"]) == {"route", "improve", "schedule"}
    for key in ("h2d_bytes", "d2h_bytes", "h2d_calls"):
        assert sum(s[key] for s in groups["transfers"].values()) == sum(m[key] for _, _, m in runner.groups)
    assert groups["device_memory"] is None
