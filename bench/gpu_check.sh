#!/usr/bin/env bash
# One prepared run on a GPU node (one H200 and 16 cores): everything the CUDA path must show, in one folder.
#
#   bench/gpu_wheels.sh                  # here, once: the wheels the node lacks, into .whl/
#   OUT=/some/dir bench/gpu_check.sh     # on the node (the device tool sets OUT; carry .whl)
#
# Uses the node's own python3 (its CuPy and numba-cuda) plus the wheels in .whl/, never a venv. Stops at the
# first broken step (set -e) and leaves what it had under $OUT: nvidia-smi and versions, every kernel family
# once (compile seconds, run ms, parity with the CPU: bench/gpu_parity.py), a 1M national plan on CUDA, the
# same plan on the node's CPU cores, then pytest tests/cuda -x on the device. About 5-7 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/gpu}
PY=${PY:-python3}
PARCELS=${PARCELS:-1000000}
HUBS=${HUBS:-1000}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD"
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/hexroute-site .whl/*.whl
  export PYTHONPATH="/tmp/hexroute-site:$PWD"
fi
# a cache per tree: the CPU njit cache and numba-cuda's go stale only when a kernel's own file changes
export NUMBA_CACHE_DIR="/tmp/hexroute-numba-$(git rev-parse --short HEAD 2>/dev/null || echo tree)"
step() { echo "== $(date +%T) $*" | tee -a "$OUT/steps.log"; }

step "machine and versions"
nvidia-smi > "$OUT/nvidia-smi.txt"
$PY - > "$OUT/versions.json" <<'PYEOF'
import json, os
from bench._env import environment
from kernels.backend import resolve
env = environment("cuda")
env["cores"] = os.cpu_count()
print(json.dumps(env, indent=2))
PYEOF
$PY -c "from kernels.backend import resolve; b = resolve('cuda'); assert b.name == 'cuda', b; print(b)"

step "every kernel family once, parity with the CPU"
$PY bench/gpu_parity.py --n 1000000 --json "$OUT/kernels.json" | tee "$OUT/kernels.md"

step "synthesize $PARCELS parcels / $HUBS hubs"
$PY -m planner.cli synth /tmp/hexroute-load --parcels "$PARCELS" --hubs "$HUBS" --seed 1 --quiet

for backend in cuda cpu; do
  step "plan on $backend"
  $PY - "$backend" "$OUT" <<'PYEOF'
import json, resource, subprocess, sys, time
backend, out = sys.argv[1], sys.argv[2]
cmd = [sys.executable, "-m", "planner.cli", "plan", "--parcels", "/tmp/hexroute-load/parcels.arrow",
       "--hubs", "/tmp/hexroute-load/hubs.arrow", "--out", f"/tmp/hexroute-plan-{backend}", "--backend", backend,
       "--seed", "1", "--no-report", "--quiet"]
t = time.perf_counter()
subprocess.run(cmd, check=True)
wall = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
summary = json.load(open(f"/tmp/hexroute-plan-{backend}/summary.json"))
summary["wall_s"], summary["peak_rss_gb"] = wall, rss
json.dump(summary, open(f"{out}/plan-{backend}.json", "w"), indent=2)
t = summary["totals"]
print(f"{backend}: {wall:.1f} s wall, {t['parcels_planned']:,} planned, {t['routes']:,} routes, "
      f"{t['distance_km']:,.0f} km; stages {summary['timings_s']}")
PYEOF
done

step "pytest tests/cuda on the device"
$PY -m pytest tests/cuda -x -p no:cacheprovider -o addopts=-q 2>&1 | tee "$OUT/pytest-cuda.txt"
step "done"
