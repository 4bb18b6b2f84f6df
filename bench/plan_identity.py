"""Do the plans stay the same? A refactoring check on three fixed loads.

    python bench/plan_identity.py --record bench/results/identity.json   # before a change
    python bench/plan_identity.py --check bench/results/identity.json    # after it

The loads are the sample in ``data/`` (3,000 parcels, nyc), a 20,000-parcel
Chicago load (40 hubs) and a 100,000-parcel national load (100 hubs), each
synthesized with a fixed seed under ``bench/results/identity-data/``. Each is
planned by ``hexroute plan`` in a fresh process with seed 1, the default
settings and a large improve time budget, so the clock never cuts the search.
What is recorded and compared is the SHA-256 of every Arrow output file
(``summary.json`` holds timings, which differ from run to run) and the
plan's totals. ``--check`` exits 1 when any file differs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "results" / "identity-data"
HEXROUTE = [sys.executable, "-m", "planner.cli"]
#: name -> (synth arguments, or None for the sample in data/)
LOADS: dict[str, list[str] | None] = {
    "sample": None,
    "chicago-20k": ["--parcels", "20000", "--hubs", "40", "--region", "chicago", "--seed", "3"],
    "national-100k": ["--parcels", "100000", "--hubs", "100", "--region", "national", "--seed", "1"],
}
TIME_BUDGET_S = "100000"
TABLES = ("assignments", "routes", "hubs", "rejects")


def _inputs(name: str) -> tuple[Path, Path]:
    args = LOADS[name]
    if args is None:
        return ROOT / "data" / "sample_parcels.arrow", ROOT / "data" / "sample_hubs.arrow"
    where = DATA / name
    if not (where / "parcels.arrow").exists():
        subprocess.run([*HEXROUTE, "synth", str(where), *args, "--quiet"], check=True, cwd=ROOT)
    return where / "parcels.arrow", where / "hubs.arrow"


def fingerprint(name: str) -> dict[str, object]:
    """Plan one load in a fresh process; the SHA-256 of its Arrow outputs and its totals."""
    parcels, hubs = _inputs(name)
    out = DATA / f"{name}-plan"
    subprocess.run([*HEXROUTE, "plan", "--parcels", str(parcels), "--hubs", str(hubs), "--out", str(out),
                    "--seed", "1", "--time-cap", TIME_BUDGET_S, "--no-report", "--quiet"], check=True, cwd=ROOT)
    summary = json.loads((out / "summary.json").read_text())
    files = {t: hashlib.sha256((out / f"{t}.arrow").read_bytes()).hexdigest() for t in TABLES}
    totals = {k: summary["totals"][k] for k in ("parcels_planned", "routes", "distance_km")}
    return {"files": files, "totals": totals, "stopped_by_clock": summary["improve"]["stopped_by_clock"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--record", type=Path, help="write the fingerprints here")
    what.add_argument("--check", type=Path, help="compare with the fingerprints recorded here")
    parser.add_argument("--loads", default=",".join(LOADS), help="comma-separated load names")
    args = parser.parse_args()
    names = args.loads.split(",")
    now = {name: fingerprint(name) for name in names}
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
        print(f"recorded {', '.join(names)} in {args.record}")
        return 0
    before = json.loads(args.check.read_text())
    print("| load | planned | routes | km | files |\n|---|---:|---:|---:|---|")
    failed = False
    for name in names:
        same = before[name]["files"] == now[name]["files"]
        failed |= not same
        t = now[name]["totals"]
        print(f"| {name} | {t['parcels_planned']:,} | {t['routes']:,} | {t['distance_km']:,.1f} | "
              f"{'identical' if same else 'DIFFER: ' + str(before[name]['totals'])} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
