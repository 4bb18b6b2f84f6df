# hexroute: `make run` plans a synthetic national load; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PARCELS ?= 200000
HUBS ?= 500
REGION ?= national
RUN_DIR ?= runs/demo

.PHONY: run test test-cpu test-cuda install install-test synth plan clean bench bench-gpu

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# numba-cuda and the CUDA 13.0 NVVM / NVRTC / ptxas wheels compile every CUDA kernel for the H200's sm_90 in
# tests/ptx (no GPU needed); one CUDA release for all of them, or ptxas rejects the PTX NVVM writes.
PTX_DEPS := 'numba-cuda==0.30.*' 'cuda-bindings==13.*' 'nvidia-nvvm==13.0.*' 'nvidia-cuda-nvrtc==13.0.*' \
	'nvidia-cuda-nvcc==13.0.*'

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dist]' pytest hypothesis duckdb ruff mypy $(PTX_DEPS)
	$(PY) -m planner.roads.fetch_osrm
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

synth: install
	$(VENV)/bin/hexroute synth $(RUN_DIR)/input --parcels $(PARCELS) --hubs $(HUBS) --region $(REGION) --seed 1

plan: synth
	$(VENV)/bin/hexroute plan --parcels $(RUN_DIR)/input/parcels.arrow --hubs $(RUN_DIR)/input/hubs.arrow --out $(RUN_DIR)/plan --seed 1

run: plan

# CPU tests in one process (the road tests start a real osrm-routed); beside it, CUDA kernels in Numba's
# simulator in another (NUMBA_ENABLE_CUDASIM must be set before numba is first imported), then every CUDA
# kernel compiled to PTX and assembled by ptxas for sm_90. The two run at once (each suite's output is
# printed whole when it ends): the simulator is single-threaded Python, and the CPU suite spends much of
# its time in Python and waiting on servers, so on two cores they overlap.
test: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(MAKE) --no-print-directory -j2 --output-sync=target test-cpu test-cuda

test-cpu: install-test
	HEXROUTE_REQUIRE_OSRM=1 $(PY) -m pytest tests

test-cuda: install-test
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest tests/cuda -p no:cacheprovider -o addopts=-q
	HEXROUTE_REQUIRE_PTX=1 $(PY) -m pytest tests/ptx -p no:cacheprovider -o addopts=-q

# Benchmarks (never part of `make test`): CPU figures on any machine ...
bench: install
	$(PY) -m pip install -q -e '.[peers]'
	$(PY) bench/kernels.py --sizes 1000000 --repeats 5
	$(PY) bench/national.py --sizes 10000,100000,1000000 --repeats 3 --pyvrp-hubs 5
	$(PY) bench/cvrplib.py --seconds 10

# ... and on a GPU node: the CUDA tests on the device, then the GPU benchmarks
# (CUDA 12 wheels; use CUPY=cupy-cuda13x on CUDA 13).
CUPY ?= cupy-cuda12x
bench-gpu: install-test
	$(PY) -m pip install -q $(CUPY)
	$(PY) -m pytest tests/cuda -p no:cacheprovider -o addopts=-q
	$(PY) bench/kernels.py --backend cuda --sizes 1000000,10000000 --repeats 5 --json bench/results/kernels-cuda.json
	$(PY) bench/national.py --backend cuda --sizes 1000000,10000000 --parcels-per-hub 5000 --repeats 3 \
		--json bench/results/national-cuda.json

clean:
	rm -rf $(VENV) runs .pytest_cache
