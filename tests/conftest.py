"""Shared fixtures: a fake Assistants API on a free loopback port, started and stopped per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from paths import REPO

from etl.fakeapi import FakeConfig, FakeServer


@pytest.fixture
def fake_api() -> Iterator[FakeServer]:
    """A fake API serving ``FakeConfig.small()``: every variant in a few dozen steps (~20 ms to start)."""
    with FakeServer(FakeConfig.small()) as server:
        yield server


@pytest.fixture
def fake_api_factory() -> Iterator[Callable[..., FakeServer]]:
    """Start fakes with ``FakeConfig.small(**overrides)``; each is stopped after the test."""
    started: list[FakeServer] = []

    def start(**overrides: Any) -> FakeServer:
        server = FakeServer(FakeConfig.small(**overrides)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


DBT_VENV = REPO / ".venv-dbt"


@pytest.fixture(scope="session")
def dbt_venv() -> Path:
    """The second venv (DuckDB 1.x, dbt-core, dbt-duckdb) that ``make test`` builds; CI must have it."""
    if not (DBT_VENV / "bin" / "python").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{DBT_VENV} is missing: `make test` builds it with `make dbt-venv`")
        pytest.skip(f"{DBT_VENV} is missing: build it with `make dbt-venv`")
    return DBT_VENV
