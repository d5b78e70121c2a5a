"""Shared fixtures: a fake Assistants API on a free loopback port, started and stopped per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

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
