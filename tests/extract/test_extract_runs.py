"""Fetching many runs at once: whole runs in order, failures kept to their run, auth stops all, memory bounded."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import httpx
import orjson
import pytest

from etl.config import FILE_SEARCH_CONTENT_INCLUDE, Secret, Settings
from etl.errors import AuthError, FatalApiError, PagingError
from etl.extract.client import ApiClient
from etl.extract.ids import RunRef
from etl.extract.runs import FetchedRun, iter_fetched_runs

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class StepsServer:
    """Runs ``run_<n>`` with n steps each (any thread); a few special runs misbehave."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.requests: list[httpx.Request] = []
        self.cancelled = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        _, _, _, thread_id, _, run_id, *rest = request.url.path.split("/")
        try:
            slow = run_id.startswith("run_slow")
            if slow or self.delay:
                await asyncio.sleep(5 if slow else self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if run_id == "run_gone":
            return httpx.Response(404, json={"error": {"message": "No run found", "type": "x", "code": None}})
        if run_id == "run_badkey":
            return httpx.Response(401, json={"error": {"message": "bad key", "type": "x", "code": "invalid_api_key"}})
        if run_id == "run_loop":
            return _json({"object": "list", "data": [{"id": "s"}], "has_more": True})
        if not rest:
            return _json({"id": run_id, "object": "thread.run", "thread_id": thread_id, "created_at": 1})
        steps = [{"id": f"step_{i:03d}", "run_id": run_id} for i in range(int(run_id.split("_")[1]))]
        params = request.url.params
        if "after" in params:
            steps = steps[int(params["after"].split("_")[1]) + 1 :]
        limit = int(params["limit"])
        return _json({"object": "list", "data": steps[:limit], "has_more": len(steps) > limit})

    def paths(self) -> list[str]:
        return [request.url.path.removeprefix("/v1") for request in self.requests]


def _json(body: Any) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(body))


def client_for(server: StepsServer, **settings: Any) -> ApiClient:
    values: dict[str, Any] = {"api_key": Secret("sk-test-runs"), "base_url": "https://api.test/v1", "max_retries": 0}
    return ApiClient(Settings(**(values | settings)), transport=httpx.MockTransport(server))


async def fetch_all(client: ApiClient, refs: Any, **kwargs: Any) -> dict[str, FetchedRun]:
    async with aclosing(iter_fetched_runs(client, refs, **kwargs)) as runs:
        return {fetched.ref.run_id: fetched async for fetched in runs}


async def test_explicit_runs_fetch_the_run_object_then_every_step_in_order() -> None:
    server = StepsServer()
    async with client_for(server, page_size=2) as client:
        got = await fetch_all(client, [RunRef("t", "run_5"), RunRef("t", "run_0")])
    five = got["run_5"]
    assert five.ok and five.run == {"id": "run_5", "object": "thread.run", "thread_id": "t", "created_at": 1}
    assert [step["id"] for step in five.steps] == [f"step_{i:03d}" for i in range(5)]
    assert five.requests == 4  # the run, then pages of 2, 2, 1
    assert got["run_0"].ok and got["run_0"].steps == [] and got["run_0"].requests == 2
    five_paths = ["/threads/t/runs/run_5", *["/threads/t/runs/run_5/steps"] * 3]
    assert sorted(server.paths()) == sorted([*five_paths, "/threads/t/runs/run_0", "/threads/t/runs/run_0/steps"])


async def test_discovered_runs_reuse_their_run_object() -> None:
    server = StepsServer()
    run = {"id": "run_3", "thread_id": "t", "created_at": 7}
    async with client_for(server) as client:
        got = await fetch_all(client, [RunRef("t", "run_3", run)])
    assert got["run_3"].run is run and len(got["run_3"].steps) == 3
    assert server.paths() == ["/threads/t/runs/run_3/steps"]


async def test_duplicate_run_ids_are_fetched_once() -> None:
    server = StepsServer()
    async with client_for(server) as client:
        got = await fetch_all(client, [RunRef("t", "run_2"), RunRef("t", "run_2"), RunRef("t", "run_1")])
    assert sorted(got) == ["run_1", "run_2"]
    assert len(server.requests) == 4


async def test_settings_choose_page_size_and_include() -> None:
    server = StepsServer()
    async with client_for(server, page_size=7, include_file_search_content=True) as client:
        await fetch_all(client, [RunRef("t", "run_1", {"id": "run_1"})])
    params = server.requests[0].url.params
    assert params["limit"] == "7" and params["order"] == "asc"
    assert params.get_list("include[]") == [FILE_SEARCH_CONTENT_INCLUDE]


async def test_a_failing_run_is_reported_and_the_others_go_on() -> None:
    server = StepsServer()
    refs = [RunRef("t", "run_gone"), RunRef("t", "run_loop", {"id": "run_loop"}), RunRef("t", "run_4")]
    async with client_for(server) as client:
        got = await fetch_all(client, refs)
    assert isinstance(got["run_gone"].error, FatalApiError) and got["run_gone"].run is None
    assert "HTTP 404: No run found (GET /threads/t/runs/run_gone)" in str(got["run_gone"].error)
    assert isinstance(got["run_loop"].error, PagingError)
    assert got["run_4"].ok and len(got["run_4"].steps) == 4


async def test_an_auth_error_cancels_everything_in_flight() -> None:
    server = StepsServer()
    refs = [RunRef("t", "run_slow"), RunRef("t", "run_slow2"), RunRef("t", "run_badkey"), RunRef("t", "run_3")]
    started = time.monotonic()
    async with client_for(server) as client:
        with pytest.raises(AuthError, match="HTTP 401"):
            await fetch_all(client, refs, concurrency=4)
    assert time.monotonic() - started < 2  # not waiting out the 5 s of the slow runs
    assert server.cancelled >= 1


async def test_memory_stays_bounded_however_many_runs_are_asked_for() -> None:
    pulled = 0

    def endless() -> Iterator[RunRef]:
        nonlocal pulled
        for n in itertools.count():
            pulled += 1
            yield RunRef("t", f"run_1_{n}", {"id": f"run_1_{n}"})

    server = StepsServer(delay=0.001)
    async with (
        client_for(server, concurrency=4) as client,
        aclosing(iter_fetched_runs(client, endless(), buffer=2)) as runs,
    ):
        async for _ in runs:
            break
        await asyncio.sleep(0.2)  # a stalled consumer: fetching must stop, not run ahead
        pulled_while_stalled = pulled
        await asyncio.sleep(0.1)
        assert pulled == pulled_while_stalled
    # taken: 1; queued: 2; workers blocked on the full queue: 4; one more pulled and waiting for a slot
    assert pulled <= 1 + 2 + 4 + 1


async def test_leaving_early_closes_an_async_source() -> None:
    closed = False

    async def source() -> AsyncIterator[RunRef]:
        nonlocal closed
        try:
            for n in itertools.count():
                yield RunRef("t", f"run_1_{n}", {"id": f"run_1_{n}"})
        finally:
            closed = True

    async with client_for(StepsServer()) as client, aclosing(iter_fetched_runs(client, source())) as runs:
        async for _ in runs:
            break
    assert closed


async def test_a_run_is_stamped_with_the_arrival_of_its_last_page() -> None:
    # Many runs in flight at once, each with pages arriving at different moments: each run's fetched_at must be
    # exactly the arrival its raw-archive record of the last steps page carries (replay depends on it).
    server = StepsServer(delay=0.003)
    records: list[Any] = []
    async with ApiClient(
        Settings(api_key=Secret("sk-test-runs"), base_url="https://api.test/v1", max_retries=0, page_size=2),
        transport=httpx.MockTransport(server),
        on_response=records.append,
    ) as client:
        got = await fetch_all(client, [RunRef("t", f"run_{n}") for n in (5, 3, 7, 1, 4, 6)], concurrency=4)
    for run_id, fetched in got.items():
        last = [r for r in records if r.path == f"/threads/t/runs/{run_id}/steps"][-1]
        assert fetched.fetched_at == last.fetched_at, run_id
