"""Damaged input files (seeded byte flips in valid Arrow IPC and Parquet files): one line naming the file and
exit 2, or a plan with every parcel accounted for; never a signal, never a traceback.

Before full validation of the buffers, about half of such parcels files crashed the process (SIGSEGV inside
pyarrow.compute on out-of-range string offsets). Every damaged file is read by the planner's reader in a
forked child of one helper process (tests/contract/fuzz_reader.py: milliseconds per file); a sample, chosen
to hold both files that read and files that do not, goes through ``python -m planner.cli plan`` as a
batch job would run it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from planner.contract import read_table
from tests.conftest import ROOT
from tests.loads import make_load

SEED = 13
HUBS = [(40.75, -73.99, 6, 400.0), (40.70, -74.02, 4, 300.0)]
#: damaged copies per (input, format)
COPIES = {("parcels", ".arrow"): 24, ("parcels", ".parquet"): 12, ("hubs", ".arrow"): 12, ("hubs", ".parquet"): 6}


def _sound_inputs() -> tuple[pa.Table, pa.Table]:
    """A tiny load with every column kind the reader handles: strings, a dictionary tier, address ids."""
    parcels, hubs = make_load(40, HUBS, seed=SEED)
    parcels = parcels.append_column("address_id", pa.array([f"A{i // 2}" for i in range(parcels.num_rows)]))
    tier = parcels.schema.get_field_index("tier")
    parcels = parcels.set_column(tier, "tier", parcels.column("tier").dictionary_encode())
    return parcels, hubs


def _write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        feather.write_feather(table, path, compression="uncompressed")
    return path


def _damage(data: bytes, rng: np.random.Generator) -> bytes:
    """1 to 8 bytes changed at random places."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        out[int(rng.integers(len(out)))] ^= int(rng.integers(1, 256))
    return bytes(out)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The sound inputs and the damaged copies, by (input, format)."""
    root = tmp_path_factory.mktemp("fuzz")
    parcels, hubs = _sound_inputs()
    sound = {"parcels": _write(parcels, root / "parcels.arrow"), "hubs": _write(hubs, root / "hubs.arrow")}
    rng = np.random.default_rng(SEED)
    damaged: dict[tuple[str, str], list[Path]] = {}
    for (name, suffix), copies in COPIES.items():
        data = _write(parcels if name == "parcels" else hubs, root / f"sound-{name}{suffix}").read_bytes()
        folder = root / f"{name}{suffix.replace('.', '-')}"
        folder.mkdir()
        damaged[name, suffix] = [folder / f"{name}-{i:02d}{suffix}" for i in range(copies)]
        for path in damaged[name, suffix]:
            path.write_bytes(_damage(data, rng))
    return {"sound": sound, "damaged": damaged}


@pytest.fixture(scope="module")
def verdicts(corpus: dict) -> dict[Path, dict]:
    """How reading each damaged file ended, each in a forked child of one helper process."""
    out: dict[Path, dict] = {}
    for name in ("parcels", "hubs"):
        files = [p for (n, _), paths in corpus["damaged"].items() if n == name for p in paths]
        other = corpus["sound"]["hubs" if name == "parcels" else "parcels"]
        done = subprocess.run([sys.executable, "-m", "tests.contract.fuzz_reader", name, str(other),
                               *map(str, files)], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr
        for line in done.stdout.splitlines():
            result = json.loads(line)
            out[Path(result["file"])] = result
    assert len(out) == sum(COPIES.values())
    return out


def test_no_damaged_file_crashes_the_reader(verdicts: dict[Path, dict]) -> None:
    crashed = {p.name: v for p, v in verdicts.items() if "signal" in v or v.get("exit") not in (0, 2) or "error" in v}
    assert not crashed, crashed
    for kind in ("parcels-arrow", "parcels-parquet", "hubs-arrow", "hubs-parquet"):
        refused = [v for p, v in verdicts.items() if p.parent.name == kind and v["exit"] == 2]
        assert refused, f"no damaged {kind} file was refused: the damage did not reach the reader"


def _sample(verdicts: dict[Path, dict]) -> list[Path]:
    """Damaged files for the command: an Arrow parcels file that does not read and one (Parquet if there is
    one) that reads and is planned."""
    def first(kind: str, code: int) -> list[Path]:
        return [p for p, v in sorted(verdicts.items()) if p.parent.name == kind and v["exit"] == code][:1]

    return first("parcels-arrow", 2) + (first("parcels-parquet", 0) or first("parcels-arrow", 0))


def test_damaged_files_through_the_command(corpus: dict, verdicts: dict[Path, dict], tmp_path: Path) -> None:
    sample = _sample(verdicts)
    assert len(sample) == 2
    runs = []
    for i, damaged in enumerate(sample):
        parcels = damaged if damaged.name.startswith("parcels") else corpus["sound"]["parcels"]
        hubs = damaged if damaged.name.startswith("hubs") else corpus["sound"]["hubs"]
        out = tmp_path / f"plan-{i}"
        command = [sys.executable, "-m", "planner.cli", "plan", "--parcels", str(parcels), "--hubs", str(hubs),
                   "--out", str(out), "--no-report", "--quiet", "--time-cap", "1"]
        runs.append((damaged, parcels, out, subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                                             stderr=subprocess.PIPE, text=True)))
    for damaged, parcels, out, proc in runs:
        stdout, stderr = proc.communicate(timeout=300)
        where = f"{damaged.name}: exit {proc.returncode}, stderr {stderr!r}"
        assert proc.returncode in (0, 2), where  # a signal shows as a negative code
        assert "Traceback" not in stderr and stdout == "", where
        if proc.returncode == 2:
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("hexroute: error: ") and str(damaged) in lines[0], where
            assert not out.exists(), where
            continue
        table = read_table(parcels, "parcels")
        assignments = feather.read_table(out / "assignments.arrow")
        rejects = feather.read_table(out / "rejects.arrow").to_pydict()
        rejected = [r for r, f in zip(rejects["row"], rejects["file"]) if f == "parcels"]
        assert assignments.num_rows + len(rejected) == table.num_rows, where
        assert len(set(rejected)) == len(rejected) and all(0 <= r < table.num_rows for r in rejected), where
    assert {proc.returncode for *_, proc in runs} == {0, 2}
