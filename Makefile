# Everything bootstraps itself: a fresh clone needs only python3.11 on PATH.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo bench clean host emulator

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -e '.[dev]'
	@touch $(STAMP)

lint: venv
	$(VENV)/bin/ruff check .

# Azurite (the Azure Blob state store's tests) comes from npm, pinned by package-lock.json.
node_modules: package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "need node/npm on PATH (Azurite for the tests)"; exit 1; }
	npm ci --no-audit --no-fund
	@touch node_modules

test: venv lint node_modules
	$(PY) -m pytest -q

# KEEP=1 keeps the demo's working directory (reports, checkpoints, demo.log)
demo: venv
	$(PY) -m kvdr_cli.demo $(if $(KEEP),--keep)

bench: venv
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) bench/emulator_throughput.py
	$(PY) bench/engine_overhead.py
	$(PY) bench/event_lag.py
	$(PY) bench/faults_copy_rate.py
	$(PY) bench/full_sync_no_change.py
	$(PY) bench/initial_load.py
	$(PY) bench/scale_no_change.py

host: venv
	$(PY) -m engine host

emulator: venv
	$(PY) -m emulator serve --vault eastus=8443 --vault westus=8444 --admin-port 8440

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
