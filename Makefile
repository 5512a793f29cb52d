# brug: `make run` starts everything, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench fuzz chaos lint typecheck unit clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "brug needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: install, find or start Redis, start the four services (Ctrl-C stops them)
run: $(STAMP)
	$(BIN)/brug up

## test: lint, types and the whole suite against real Redis, SQLite and PostgreSQL
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadfile

## bench: figures and ratios: the pipeline against a bare one, scale out, the sweep, signals
bench: $(STAMP)
	$(BIN)/brug bench

## chaos: SIGKILL every service and Redis under load; nothing acknowledged is lost or doubled
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.run

## fuzz: schemathesis against every service's OpenAPI, with a token of each role
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
