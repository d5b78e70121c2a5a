"""A faithful stand-in for the OpenAI Assistants runs and run-steps API, served on loopback.

    with serve_in_thread(FakeConfig.small()) as fake:
        fake.base_url      # "http://127.0.0.1:PORT/v1"
        fake.truth         # exactly the runs and steps served
        fake.counters      # requests by endpoint kind
        fake.dataset       # change what is served (replace_step, add_run, ...)

``runsteps fake-api`` serves the same in the foreground (``run_server``); ``serve_in_process`` serves it
from a child process, for benchmarks that must not share the GIL with it. Known departures from the
OpenAPI schemas are listed in ``deviations``.

Serving needs aiohttp, the ``[fake]`` extra: the serving names are imported when first used, so the data half
(config, dataset) and ``runsteps --help`` work without it, and using a server without it is an ``InputError``
that says how to install it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from etl.errors import InputError
from etl.fakeapi.config import BOUNDARY_SIZES, FakeConfig, FaultKind
from etl.fakeapi.dataset import Dataset, NotFoundError, Truth

if TYPE_CHECKING:
    from etl.fakeapi.runner import FakeProcess, FakeServer, run_server, serve_in_process, serve_in_thread
    from etl.fakeapi.server import RequestLog, RequestRecord

NEEDS_AIOHTTP = "the fake API needs aiohttp, which is not installed: pip install 'run-steps-etl[fake]'"
_SERVING = {
    "FakeProcess": "runner",
    "FakeServer": "runner",
    "run_server": "runner",
    "serve_in_process": "runner",
    "serve_in_thread": "runner",
    "RequestLog": "server",
    "RequestRecord": "server",
}


def __getattr__(name: str) -> Any:
    """The serving names, imported on first use (they need aiohttp)."""
    module = _SERVING.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as exc:
        if exc.name == "aiohttp":
            raise InputError(NEEDS_AIOHTTP) from None
        raise


__all__ = [
    "BOUNDARY_SIZES",
    "Dataset",
    "FakeConfig",
    "FakeProcess",
    "FakeServer",
    "FaultKind",
    "NotFoundError",
    "RequestLog",
    "RequestRecord",
    "Truth",
    "run_server",
    "serve_in_process",
    "serve_in_thread",
]
