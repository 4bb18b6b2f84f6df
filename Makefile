# hexroute: `make run` plans a synthetic national load; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PARCELS ?= 200000
HUBS ?= 200
REGION ?= national
RUN_DIR ?= runs/demo

.PHONY: run test install install-test synth plan clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[report]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[report,dist]' pytest hypothesis duckdb
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

synth: install
	$(VENV)/bin/hexroute synth $(RUN_DIR)/input --parcels $(PARCELS) --hubs $(HUBS) --region $(REGION) --seed 1

plan: synth
	$(VENV)/bin/hexroute plan --parcels $(RUN_DIR)/input/parcels.arrow --hubs $(RUN_DIR)/input/hubs.arrow --out $(RUN_DIR)/plan --seed 1

run: plan

# CPU tests in one process; CUDA kernels in Numba's simulator in another
# (NUMBA_ENABLE_CUDASIM must be set before numba is first imported).
test: install-test
	$(PY) -m pytest tests
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest tests/cuda -p no:cacheprovider -o addopts=-q

clean:
	rm -rf $(VENV) runs .pytest_cache
