# The README's two commands: `make up` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: up install data test test-fast lint format bench clean

# Install, load every bundled file, then bring up what exists.
up: data
	$(BIN)/bordercast series | head -20

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Ingest every bundled file (a file already ingested is skipped by its checksum).
data: install
	$(BIN)/bordercast ingest data/ohss-*.xlsx data/cbp-*.csv data/transit/*.csv

# The whole suite: fast tests, then the slow, PostgreSQL, browser and external ones.
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -m '' -q

test-fast: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var
