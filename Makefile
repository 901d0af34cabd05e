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
DEMO := simulator/scenarios/demo-park.yaml
run: $(STAMP)
	mkdir -p .smartpark
	$(BIN)/smartpark-sim registry $(DEMO) > .smartpark/demo-registry.yaml
	$(BIN)/smartpark run --registry .smartpark/demo-registry.yaml --simulate $(DEMO) \
		--checks-config examples/checks-demo-park.yaml

## make services: TimescaleDB and Mosquitto for the test suite (idempotent)
services:
	bash deploy/install-services.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests simulator bench
	$(BIN)/ruff format --check src tests simulator bench

typecheck: $(STAMP)
	$(BIN)/mypy

## make test: services, lint, types, then the whole suite against real TimescaleDB and Mosquitto
test: $(STAMP) services lint typecheck
	$(BIN)/pytest

## make bench: the benchmark harness (docs/benchmarks.md), about 20 minutes on 2 cores
BENCH_SECONDS ?= 30
BENCH_SHORT ?= 20
BENCH_RATE ?= 20000
bench: $(STAMP) services
	$(BIN)/python -m bench.ingest --seconds $(BENCH_SECONDS) --short $(BENCH_SHORT) --rate $(BENCH_RATE) --out bench/results/ingest.json
	$(BIN)/python -m bench.checks --days 7 --out bench/results/checks.json
	$(BIN)/python -m bench.api --seconds 15 --concurrency 8 --out bench/results/api.json
	$(BIN)/python -m bench.report

clean:
	rm -rf $(VENV) .smartpark .pytest_cache .mypy_cache .ruff_cache
