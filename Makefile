# The README's two commands: `make up` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: up install system data train test test-fast lint format bench clean

# Install, load every bundled file, then start the Prefect server and UI (:4200),
# the scheduled deployment's runner and the API (:8000). Ctrl-C stops all.
up: data var/.trained
	HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) scripts/dev-up.sh

install: $(STAMP) system

$(STAMP): pyproject.toml constraints.txt tools/package-lock.json
	@echo "installing the pinned Python packages into $(VENV) (about 2 minutes from an empty cache) ..."
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --progress-bar on -c constraints.txt -e '.[dev]'
	@echo "installing maildev into tools/ (npm) ..."
	npm ci --prefix tools --no-audit --no-fund --silent
	touch $(STAMP)

# Debian packages the browser and compose tests need (as root, where missing).
system:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
	    || ! command -v docker-compose >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium, chromium-driver, docker-compose (Debian)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver docker-compose >/dev/null; \
	  else echo "note: chromium, chromium-driver and docker-compose are missing;" \
	    "browser and compose tests will be skipped (they fail in CI)"; fi; fi

# Ingest every bundled file (a file already ingested is skipped by its checksum).
data: install
	@echo "loading every bundled file into the store (a file already loaded is skipped) ..."
	$(BIN)/bordercast ingest data/ohss-*.xlsx data/cbp-*.csv data/transit/*.csv

# Train every series once the data is in; again only when data/ changes (or `make train`).
var/.trained: $(wildcard data/*.csv data/*.xlsx data/transit/*.csv data/policy_events.yaml)
	$(MAKE) train
	@touch $@

train: install
	$(BIN)/bordercast train --workers 2

# The whole suite: fast tests, then the slow, PostgreSQL, browser and external ones.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -m '' -q

test-fast: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The quick benchmarks; the long ones (train, accuracy, detection, indicators)
# are run one by one as bench/README.md says. wrk is the API load tool.
bench: install
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; } \
	  || echo "note: wrk is missing; bench/api.py falls back to an httpx load loop"
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) var
