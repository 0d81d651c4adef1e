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

test: venv lint
	$(PY) -m pytest -q

demo: venv
	$(PY) -m kvdr.demo

bench: venv
	$(PY) bench/emulator_throughput.py
	$(PY) bench/engine_overhead.py

host: venv
	$(PY) -m engine host

emulator: venv
	$(PY) -m emulator serve --vault eastus=8443 --vault westus=8444 --admin-port 8440

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
