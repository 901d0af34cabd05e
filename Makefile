# smartpark — the two commands on a fresh machine are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit services clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make run: the whole system on the embedded default (no services needed)
run: $(STAMP)
	$(BIN)/smartpark run --registry examples/registry.yaml

## make services: TimescaleDB and Mosquitto for the test suite (idempotent)
services:
	bash deploy/install-services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

## make test: services, lint, types, then the whole suite against real TimescaleDB and Mosquitto
test: $(STAMP) services lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .smartpark .pytest_cache .mypy_cache .ruff_cache
