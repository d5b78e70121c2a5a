# Two targets matter: `make demo` and `make test`. Both build .venv from this project's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint install install-dev clean

$(BIN)/runsteps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[report]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,airflow,report]'
	touch $@

install: $(BIN)/runsteps
install-dev: $(VENV)/.dev-installed

demo: $(BIN)/runsteps
	$(BIN)/runsteps demo

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check etl tests airflow_dags
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n auto

clean:
	rm -rf $(VENV) build dist *.egg-info runsteps-demo.duckdb runsteps-demo.html test-artifacts
