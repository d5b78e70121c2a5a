# Two targets matter: `make demo` and `make test`. Both build .venv from this project's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# DuckDB 1.x with dbt-core and dbt-duckdb, apart from .venv (which has DuckDB 2.x): the tests open the exported
# files with the readers analysts have.
DBT_VENV := .venv-dbt

.PHONY: demo test lint install install-dev dbt-venv clean

$(BIN)/runsteps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[fake,report]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,airflow,fake,report,azure]'
	touch $@

$(DBT_VENV)/.installed: tests/dbt/requirements.txt
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/python -m pip install --quiet -r tests/dbt/requirements.txt
	touch $@

install: $(BIN)/runsteps
install-dev: $(VENV)/.dev-installed
dbt-venv: $(DBT_VENV)/.installed

demo: $(BIN)/runsteps
	$(BIN)/runsteps demo

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check etl tests airflow_dags
	$(BIN)/mypy

test: lint dbt-venv
	$(BIN)/pytest -n auto

clean:
	rm -rf $(VENV) $(DBT_VENV) build dist *.egg-info runsteps-demo.duckdb runsteps-demo.html test-artifacts
