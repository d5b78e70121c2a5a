"""Extract against the fake API on 127.0.0.1: every step exactly once, the minimum of requests, clear failures."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from etl.config import Secret, Settings
from etl.errors import AuthError, FatalApiError, InputError, RetriableApiError
from etl.extract import (
    ApiClient,
    FetchedRun,
    RunRef,
    discover_thread,
    iter_discovered_runs,
    iter_fetched_runs,
    read_runs_file,
)
from etl.fakeapi import BOUNDARY_SIZES, FakeServer, FaultKind

pytestmark = pytest.mark.anyio

StartFake = Callable[..., FakeServer]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings_for(fake: FakeServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"api_key": Secret(fake.config.api_key), "base_url": fake.base_url, **overrides}
    return Settings(**values)


def all_refs(fake: FakeServer) -> list[RunRef]:
    return [RunRef(run["thread_id"], run["id"]) for run in fake.truth.runs]


async def fetch(settings: Settings, refs: Any, **client_options: Any) -> tuple[dict[str, FetchedRun], ApiClient]:
    async with (
        ApiClient(settings, backoff_base=0.01, **client_options) as client,
        aclosing(iter_fetched_runs(client, refs)) as runs,
    ):
        got = {fetched.ref.run_id: fetched async for fetched in runs}
    return got, client


def assert_exactly_the_truth(fake: FakeServer, got: dict[str, FetchedRun]) -> None:
    """Every run fetched whole: the same run objects and the same steps, in order, each exactly once."""
    truth = fake.truth
    assert {run_id: f.error for run_id, f in got.items() if f.error} == {}
    assert {run["id"]: run for run in truth.runs} == {run_id: f.run for run_id, f in got.items()}
    for run_id, fetched in got.items():
        assert fetched.steps == truth.steps_of(run_id), run_id
    step_ids = Counter(step["id"] for f in got.values() for step in f.steps)
    assert step_ids == Counter(step["id"] for step in truth.steps)
    assert set(step_ids.values()) == {1}


@pytest.mark.parametrize("page_size", [100, 20])
async def test_boundary_sizes_whole_and_in_the_minimum_of_requests(fake_api_factory: StartFake, page_size: int) -> None:
    fake = fake_api_factory(boundary_sizes=BOUNDARY_SIZES)
    got, client = await fetch(settings_for(fake, page_size=page_size), all_refs(fake))
    assert_exactly_the_truth(fake, got)
    sizes = Counter(len(f.steps) for f in got.values())
    assert all(sizes[n] >= 1 for n in BOUNDARY_SIZES)
    pages = sum(max(1, math.ceil(len(f.steps) / page_size)) for f in got.values())
    assert fake.counters["steps_list"] == pages
    assert fake.counters["run_get"] == len(got)
    assert client.stats.requests == pages + len(got) and client.stats.retries == 0
    assert all(f.requests == 1 + max(1, math.ceil(len(f.steps) / page_size)) for f in got.values())


async def test_faults_at_rate_0_2_lose_and_repeat_no_step(
    fake_api_factory: StartFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fake_api_factory(
        threads=20,
        runs_per_thread=16,
        steps_per_run="0-12",
        boundary_sizes=(101,),
        fault_rate=0.2,
        retry_after_seconds=0,
        slow_seconds=3.0,
    )
    assert len(fake.truth.runs) >= 300
    settings = settings_for(fake, page_size=10, max_retries=5, timeout=1.0, concurrency=16)
    async with ApiClient(settings, backoff_base=0.01) as client:
        # Discovered runs carry their run object: the faults fall on run lists and step pages.
        refs = iter_discovered_runs(client, fake.thread_ids)
        async with aclosing(iter_fetched_runs(client, refs)) as runs:
            got = {fetched.ref.run_id: fetched async for fetched in runs}
    assert_exactly_the_truth(fake, got)
    faults = Counter(record.fault for record in fake.requests if record.fault)
    assert set(faults) == {kind.value for kind in FaultKind}  # every kind of fault was met and survived
    assert client.stats.retries >= sum(faults.values())  # more only if a loaded machine timed a request out
    assert fake.config.api_key not in caplog.text


async def test_a_429_with_retry_after_in_seconds_is_waited_for(fake_api_factory: StartFake) -> None:
    fake = fake_api_factory(
        threads=1,
        runs_per_thread=3,
        fault_rate=1.0,
        fault_kinds=(FaultKind.RATE_LIMIT_S,),
        fault_max_consecutive=1,
        retry_after_seconds=1,
    )
    got, client = await fetch(settings_for(fake), all_refs(fake))
    assert_exactly_the_truth(fake, got)
    assert client.stats.by_status[429] >= 3 and client.stats.rate_limit_pauses >= 1


async def test_quota_exhausted_stops_everything_without_retrying(fake_api_factory: StartFake) -> None:
    fake = fake_api_factory(quota_exhausted=True)
    with pytest.raises(AuthError, match="HTTP 429 insufficient_quota") as caught:
        await fetch(settings_for(fake, max_retries=5), all_refs(fake))
    assert caught.value.exit_code == 4
    assert all(record.status == 429 for record in fake.requests)
    assert len(fake.requests) <= Settings().concurrency  # only what was already in flight


async def test_a_wrong_key_stops_everything_and_is_never_shown(
    fake_api_factory: StartFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fake_api_factory()
    wrong = "sk-wrong-0123456789abcdefghij"
    with pytest.raises(AuthError, match="HTTP 401 invalid_api_key") as caught:
        await fetch(settings_for(fake, api_key=Secret(wrong)), all_refs(fake))
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert wrong not in text and "0123456789" not in text and "ghij" not in text


async def test_an_unknown_run_fails_alone(fake_api: FakeServer) -> None:
    known = all_refs(fake_api)[0]
    got, _ = await fetch(settings_for(fake_api), [RunRef(known.thread_id, "run_doesnotexist"), known])
    error = got["run_doesnotexist"].error
    assert isinstance(error, FatalApiError) and error.status == 404
    assert f"(GET /threads/{known.thread_id}/runs/run_doesnotexist)" in str(error)
    assert got[known.run_id].ok and got[known.run_id].steps == fake_api.truth.steps_of(known.run_id)


async def test_id_injection_is_refused_before_any_request(fake_api: FakeServer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"run id '\.\./\.\./admin'"):
        RunRef.parse("thread_x/../../admin")
    runs_file = tmp_path / "runs.csv"
    runs_file.write_text("thread_id,run_id\nthread_x,run%2F..%2Fsecret\n")
    with pytest.raises(InputError, match="line 2"):
        await fetch(settings_for(fake_api), read_runs_file(str(runs_file)))
    assert fake_api.requests == []


async def test_an_oversized_body_fails_its_run_only(fake_api: FakeServer) -> None:
    big = {step["run_id"] for step in fake_api.truth.steps if len(str(step)) > 200_000}
    assert len(big) == 1  # FakeConfig.small() has one long function output of 1 MiB
    got, _ = await fetch(settings_for(fake_api, max_body_bytes=200_000), all_refs(fake_api))
    failed = {run_id: str(f.error) for run_id, f in got.items() if f.error}
    assert list(failed) == list(big)
    assert "body larger than the 200000 byte cap" in next(iter(failed.values()))
    assert sum(f.ok for f in got.values()) == len(got) - 1


async def test_retries_exhausted_fail_the_run_with_the_reason(fake_api_factory: StartFake) -> None:
    fake = fake_api_factory(
        threads=1, runs_per_thread=2, fault_rate=1.0, fault_kinds=(FaultKind.UNAVAILABLE_503,), fault_max_consecutive=9
    )
    got, _ = await fetch(settings_for(fake, max_retries=2), all_refs(fake))
    for fetched in got.values():
        assert isinstance(fetched.error, RetriableApiError)
        assert str(fetched.error).startswith("HTTP 503: The server is overloaded")
        assert str(fetched.error).endswith("gave up after 2 retries")
    assert len(fake.requests) == 3 * len(got)


async def test_discovery_stops_at_the_page_that_crosses_since(fake_api_factory: StartFake) -> None:
    fake = fake_api_factory(threads=1, runs_per_thread=350)
    thread_id = fake.thread_ids[0]
    newest_first = sorted(fake.truth.runs, key=lambda run: (run["created_at"], run["id"]), reverse=True)
    since = newest_first[150]["created_at"]
    until = newest_first[20]["created_at"]
    crossing = next(i for i, run in enumerate(newest_first) if run["created_at"] < since)
    async with ApiClient(settings_for(fake)) as client:
        found = await discover_thread(client, thread_id, since=since, until=until)
    expected = {run["id"] for run in newest_first if since <= run["created_at"] < until}
    assert {ref.run_id for ref in found.runs} == expected
    assert fake.counters["runs_list"] == found.requests == crossing // 100 + 1
    assert all(ref.run == next(r for r in newest_first if r["id"] == ref.run_id) for ref in found.runs[:5])


async def test_azure_mode_against_the_fake(fake_api: FakeServer) -> None:
    azure = {"base_url": fake_api.azure_endpoint + "/openai", "azure_api_version": "2024-08-01-preview"}
    settings = settings_for(fake_api, **azure)
    refs = all_refs(fake_api)[:3]
    got, _ = await fetch(settings, refs)
    assert all(f.ok and f.steps == fake_api.truth.steps_of(f.ref.run_id) for f in got.values())
    assert all("api-version=2024-08-01-preview" in record.query for record in fake_api.requests)


async def test_azure_mode_with_an_entra_id_credential(fake_api: FakeServer) -> None:
    from etl.fakeapi.foundry import FakeCredential

    # The Assistants path of Azure OpenAI takes the same Entra ID tokens (cognitiveservices scope) as its v1 API.
    credential = FakeCredential(fake_api.root_url)
    azure = {"base_url": fake_api.azure_endpoint + "/openai", "azure_api_version": "2024-08-01-preview"}
    settings = settings_for(fake_api, **azure, entra=True, credential=credential, api_key=Secret(""))
    refs = all_refs(fake_api)[:3]
    got, _ = await fetch(settings, refs)
    assert all(f.ok and f.steps == fake_api.truth.steps_of(f.ref.run_id) for f in got.values())
    assert credential.calls == 1  # one token, for every request
