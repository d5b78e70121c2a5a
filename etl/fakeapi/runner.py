"""Starting and stopping a fake API: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from aiohttp import web

from etl.fakeapi.config import FakeConfig
from etl.fakeapi.dataset import Dataset, Truth
from etl.fakeapi.foundry import PROJECT
from etl.fakeapi.responses_data import ResponsesData
from etl.fakeapi.server import RequestLog, RequestRecord, ServerState, create_app

# A slow fault's handler may still be sleeping at shutdown: stop waiting for it quickly.
_SHUTDOWN_TIMEOUT = 0.25


class FakeServer:
    """A fake API running in a background thread: its URLs, dataset, ground truth and request log."""

    def __init__(self, config: FakeConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._state = ServerState(config if config is not None else FakeConfig())
        self.host = host
        self._sock = _listen(host, port)
        self.port: int = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The base URL: ``http://127.0.0.1:PORT/v1``; foundry flavor: the project endpoint."""
        return _base_url(self.config, self.host, self.port)

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``: where ``/_fake/...`` (stats, the identity endpoint) is served."""
        return f"http://{self.host}:{self.port}"

    @property
    def tokens_issued(self) -> int:
        """Access tokens the identity endpoint has handed out (Foundry's and Azure OpenAI's)."""
        return self._state.tokens.issued

    @property
    def azure_endpoint(self) -> str:
        """The Azure-shaped endpoint (clients add ``/openai`` and send ``api-key`` and ``api-version``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def config(self) -> FakeConfig:
        """The options in force."""
        return self._state.config

    @property
    def dataset(self) -> Dataset:
        """The served dataset (mutable: see ``Dataset.replace_step``, ``add_run``...)."""
        return self._state.dataset

    @property
    def truth(self) -> Truth:
        """Exactly the objects served right now."""
        return self._state.dataset.truth()

    @property
    def responses(self) -> ResponsesData:
        """The Responses and Conversations data served (mutable: ``grow``, ``finish_pending``)."""
        return self._state.responses_data

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Every thread id served."""
        return self._state.dataset.thread_ids

    @property
    def log(self) -> RequestLog:
        """Every request received."""
        return self._state.log

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log."""
        return self._state.log.records

    @property
    def counters(self) -> Counter[str]:
        """Requests received by kind: runs_list, run_get, steps_list, step_get, other."""
        return self._state.log.counts()

    def reset_counters(self) -> None:
        """Forget the requests seen so far (the fault sequence starts afresh too)."""
        self._state.log.reset()
        self._state.faults.reset()

    def reconfigure(self, **changes: Any) -> FakeConfig:
        """Change latency, faults, quota or key while serving (dataset options cannot change)."""
        self._state.config = self._state.config.with_runtime(**changes)
        return self._state.config

    def start(self) -> FakeServer:
        """Serve in a background thread; returns when the server accepts connections."""
        ready = threading.Event()
        failures: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._runner = self._loop.run_until_complete(_start(self._state, self._sock))
            except BaseException as exc:  # handed to the caller's thread below
                failures.append(exc)
                ready.set()
                return
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name=f"fakeapi:{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failures:
            self._thread.join()
            self._thread = None
            self._sock.close()
            raise failures[0]
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is None:
            self._sock.close()  # never started (or already stopped): just release the port
            return
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            with suppress(Exception):
                future.result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._thread = None
        self._loop.close()
        self._sock.close()

    def __enter__(self) -> FakeServer:
        return self.start() if self._thread is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@contextmanager
def serve_in_thread(config: FakeConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
                    ) -> Iterator[FakeServer]:
    """Serve a fake API in a background thread for the ``with`` block (``port=0``: a free port)."""
    server = FakeServer(config, host=host, port=port).start()
    try:
        yield server
    finally:
        server.stop()


class FakeProcess:
    """A fake API served by a child process; ``dataset`` and ``truth`` are computed here from the same config.

    Changes to ``dataset`` are not seen by the child, and requests are not counted here: use ``FakeServer``
    for tests that need either. This one shares no GIL with the caller, for benchmarks.
    """

    def __init__(self, config: FakeConfig, host: str, port: int, pid: int) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.pid = pid
        self.dataset = Dataset(config)

    @property
    def base_url(self) -> str:
        """The base URL: ``http://127.0.0.1:PORT/v1``; foundry flavor: the project endpoint."""
        return _base_url(self.config, self.host, self.port)

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``: where ``/_fake/...`` (stats, the identity endpoint) is served."""
        return f"http://{self.host}:{self.port}"

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Every thread id served."""
        return self.dataset.thread_ids

    @property
    def truth(self) -> Truth:
        """Exactly the objects the child serves (the data is deterministic from the config)."""
        return self.dataset.truth()


@contextmanager
def serve_in_process(config: FakeConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                     start_timeout: float = 60.0) -> Iterator[FakeProcess]:
    """Serve a fake API in a child process for the ``with`` block (``port=0``: a free port)."""
    config = config if config is not None else FakeConfig()
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited threads or loops
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_serve_child, args=(config, host, port, sender), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(start_timeout):
            raise RuntimeError("the fake API process did not start")
        assert process.pid is not None
        yield FakeProcess(config, host, receiver.recv(), process.pid)
    finally:
        process.terminate()  # SIGTERM: run_server stops cleanly
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


def _serve_child(config: FakeConfig, host: str, port: int, sender: Connection) -> None:
    run_server(config, port=port, host=host, on_ready=lambda server: sender.send(server.port))


def run_server(config: FakeConfig, port: int = 8787, host: str = "127.0.0.1",
               on_ready: Callable[[FakeServer], None] | None = None) -> None:
    """Serve in the foreground until SIGINT or SIGTERM; ``on_ready`` gets the server once it listens."""
    server = FakeServer(config, host=host, port=port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with server:
            if on_ready is not None:
                on_ready(server)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _base_url(config: FakeConfig, host: str, port: int) -> str:
    if config.flavor == "foundry":
        return f"http://{host}:{port}/api/projects/{PROJECT}"
    return f"http://{host}:{port}/v1"


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)  # benchmarks open many connections at once
    except OSError:
        sock.close()
        raise
    return sock


async def _start(state: ServerState, sock: socket.socket) -> web.AppRunner:
    runner = web.AppRunner(create_app(state), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT,
                           handler_cancellation=True)
    await runner.setup()
    await web.SockSite(runner, sock, backlog=1024).start()
    return runner
