"""A faithful stand-in for the OpenAI Assistants runs and run-steps API, served on loopback.

    with serve_in_thread(FakeConfig.small()) as fake:
        fake.base_url      # "http://127.0.0.1:PORT/v1"
        fake.truth         # exactly the runs and steps served
        fake.counters      # requests by endpoint kind
        fake.dataset       # change what is served (replace_step, add_run, ...)

``runsteps fake-api`` serves the same in the foreground (``run_server``); ``serve_in_process`` serves it
from a child process, for benchmarks that must not share the GIL with it. Known departures from the
OpenAPI schemas are listed in ``deviations``.
"""

from etl.fakeapi.config import BOUNDARY_SIZES, FakeConfig, FaultKind
from etl.fakeapi.dataset import Dataset, NotFoundError, Truth
from etl.fakeapi.runner import FakeProcess, FakeServer, run_server, serve_in_process, serve_in_thread
from etl.fakeapi.server import RequestLog, RequestRecord

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
