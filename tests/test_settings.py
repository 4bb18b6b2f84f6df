"""Settings files: every error one line naming the file and the key; booleans are not numbers; the seed range."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import SettingsError
from planner.settings import MAX_SEED, Settings


@pytest.mark.parametrize("toml, message", [
    ("h3_resolution = true\n", "h3_resolution must be an integer in [0, 15], not True"),
    ("candidate_hubs = 2.0\n", "candidate_hubs must be an integer in [1, 16], not 2.0"),
    ("circuity = true\n", "circuity must be a number in [1, 3], not True"),
    ("max_hub_km = false\n", "max_hub_km must be a positive number, not False"),
    ("seed = true\n", "seed must be an integer in [0, 2**63 - 1], not True"),
    ("seed = -1\n", "seed must be an integer in [0, 2**63 - 1], not -1"),
    ("[improve]\nneighbours = true\n", "improve.neighbours must be an integer in [1, 64], not True"),
    ("[improve]\ntime_cap_s = true\n", "improve.time_cap_s must be a number >= 0, not True"),
    ("[improve.sisr]\nchunk = false\n", "improve.sisr.chunk must be an integer >= 1, not False"),
    ("[revenue]\ndelivery_share = 'half'\n", "revenue.delivery_share must be a number in [0, 1], not 'half'"),
    ("[assign]\nfill_factor = true\n", "assign.fill_factor must be a number in (0, 1], not True"),
    ("[device]\nmemory_share = 0\n", "device.memory_share must be a number in (0, 1], not 0"),
    ("[cluster]\ngroup_stops = true\n", "cluster.group_stops must be an integer >= 1, not True"),
    ("[cluster]\nno_worker_timeout_s = 0\n", "cluster.no_worker_timeout_s must be a positive number, not 0"),
    ("[speeds]\nurban_kmh = 'fast'\n", "speeds.urban_kmh must be a positive number, not 'fast'"),
    ("speeds = 3\n", "speeds must be a table, not int"),
    ("[cost]\nusd_per_mile = 1.0\n", "unknown setting cost.usd_per_mile"),
])
def test_every_error_names_the_file_and_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(toml)
    with pytest.raises(SettingsError) as err:
        Settings.from_toml(path)
    assert str(err.value) == f"{path}: {message}"


def test_a_file_that_is_not_utf8_is_exit_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.toml"
    path.write_bytes(b"seed = 1\n# caf\xe9\n")
    assert main(["plan", "--parcels", "p.arrow", "--hubs", "h.arrow", "--out", str(tmp_path / "o"),
                 "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"hexroute: error: {path}: not a UTF-8 text file (byte 14: invalid continuation byte)"]
    assert not (tmp_path / "o").exists()


def test_the_seed_range() -> None:
    assert Settings(seed=MAX_SEED).seed == 2**63 - 1 == MAX_SEED
    with pytest.raises(SettingsError, match=r"seed must be an integer in \[0, 2\*\*63 - 1\]"):
        Settings(seed=MAX_SEED + 1)


def test_command_line_values_name_their_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--parcels", "p.arrow", "--hubs", "h.arrow", "--out", str(tmp_path / "o"),
                 "--time-cap", "nan"]) == 2
    assert re.fullmatch(r"hexroute: error: --time-cap nan: improve\.time_\w+ must be a number >= 0, not nan\n",
                        capsys.readouterr().err)
