# The two commands of the README: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean bench

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

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_otlp.py
	$(BIN)/python benchmarks/weekly_metrics.py
	$(BIN)/python benchmarks/report_size.py

clean:
	rm -rf $(VENV) out reports
