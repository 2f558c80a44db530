# The two commands of the README: `make demo` and `make test`; `make check` is the development loop.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint check install clean bench

$(STAMP): pyproject.toml $(wildcard agentops_kit/_native/*.c agentops_kit/_native/*.h)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Runs the main job on the bundled sample data (files + embedded SQLite, no server).
demo: $(STAMP)
	$(BIN)/agentops-kit demo --out out/demo

## Sets up and runs the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

## The linter and the type checker (configured in pyproject.toml: [tool.ruff], [tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## What to run before a commit: lint, types, then the tests.
check: lint test

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_otlp.py
	$(BIN)/python benchmarks/weekly_metrics.py
	$(BIN)/python benchmarks/report_size.py
	$(BIN)/python benchmarks/receiver.py

clean:
	rm -rf $(VENV) out reports
