# perfpilot: `make run` sets up and runs the default benchmark; `make test` sets up and tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.perfpilot-installed

.PHONY: run test lint bench clean browser postgres

# `make run` needs only the core (LoadGen, onnxruntime, numpy, onnx, scikit-learn): a lean
# venv in about a minute. `make test` adds every extra so the contract suite runs every
# backend (torch pinned to a CPU build in pyproject.toml), plus Chromium for the dashboard.
CORE := $(VENV)/.perfpilot-core

$(CORE): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(CORE)

$(STAMP): $(CORE)
	$(BIN)/python -m pip install --quiet -e '.[dev,all]'
	$(MAKE) --no-print-directory browser
	touch $(STAMP)

# The dashboard's end-to-end test drives Debian's Chromium through its chromedriver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) \
	  || echo "note: could not install chromium (the dashboard browser test will be skipped)"

run: $(CORE)
	$(BIN)/perfpilot run

# The results database tests start a real PostgreSQL server from Debian's binaries.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql) \
	  || echo "note: could not install postgresql (the PostgreSQL tests will be skipped)"

test: $(STAMP) postgres
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/harness_efficiency.py

clean:
	rm -rf $(VENV) perfpilot-workspace .pytest_cache .mypy_cache .ruff_cache
