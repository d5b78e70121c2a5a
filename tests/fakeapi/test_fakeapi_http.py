"""The fake over real HTTP: keys and beta header, Azure mode, 404s, include[], headers, accounting, changes."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

import httpx
import pytest

from etl.config import FILE_SEARCH_CONTENT_INCLUDE
from etl.fakeapi import FakeServer

HEADERS = {"Authorization": "Bearer sk-fake", "OpenAI-Beta": "assistants=v2"}
INCLUDE = {"include[]": FILE_SEARCH_CONTENT_INCLUDE}


def client(fake: FakeServer, headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(base_url=fake.base_url, headers=HEADERS if headers is None else headers)


def first_run(fake: FakeServer) -> tuple[str, str]:
    thread_id = fake.thread_ids[0]
    return thread_id, fake.dataset.run_ids(thread_id)[0]


def test_wrong_key_is_a_401_that_masks_the_key(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(api_key="sk-right-key-123")
    thread_id, _ = first_run(fake)
    with client(fake, {"Authorization": "Bearer sk-wrong-key-456", "OpenAI-Beta": "assistants=v2"}) as c:
        wrong = c.get(f"/threads/{thread_id}/runs")
    with client(fake, {"OpenAI-Beta": "assistants=v2"}) as c:
        missing = c.get(f"/threads/{thread_id}/runs")
    with client(fake, {"Authorization": "Bearer sk-right-key-123", "OpenAI-Beta": "assistants=v2"}) as c:
        right = c.get(f"/threads/{thread_id}/runs")
    assert wrong.status_code == 401
    error = wrong.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, "invalid_api_key")
    assert "sk-wr***56" in error["message"] and "sk-wrong-key-456" not in wrong.text
    assert "sk-right-key-123" not in wrong.text
    assert missing.status_code == 401 and "didn't provide an API key" in missing.json()["error"]["message"]
    assert right.status_code == 200


@pytest.mark.parametrize("beta", [None, "assistants=v1", "assistants=v3"])
def test_missing_or_wrong_beta_header_is_a_400_invalid_beta(fake_api: FakeServer, beta: str | None) -> None:
    headers = {"Authorization": "Bearer sk-fake", **({"OpenAI-Beta": beta} if beta else {})}
    with client(fake_api, headers) as c:
        response = c.get(f"/threads/{fake_api.thread_ids[0]}/runs")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_beta")
    assert "assistants=v2" in error["message"]


def test_azure_mode_api_key_header_and_api_version(fake_api: FakeServer) -> None:
    thread_id, run_id = first_run(fake_api)
    version = {"api-version": "2024-08-01-preview"}
    with httpx.Client(base_url=fake_api.azure_endpoint + "/openai", headers={"api-key": "sk-fake"}) as c:
        ok = c.get(f"/threads/{thread_id}/runs/{run_id}/steps", params={**version, "limit": 100})
        no_version = c.get(f"/threads/{thread_id}/runs/{run_id}/steps")
        v1_path = c.get(f"/v1/threads/{thread_id}/runs/{run_id}")
        wrong = c.get(f"/threads/{thread_id}/runs", params=version, headers={"api-key": "nope"})
    with httpx.Client(base_url=fake_api.base_url, headers={"api-key": "sk-fake"}) as c:
        on_v1 = c.get(f"/threads/{thread_id}/runs/{run_id}", params=version)
    assert ok.status_code == 200
    newest_first = [step["id"] for step in reversed(fake_api.dataset.steps(thread_id, run_id))]
    assert [step["id"] for step in ok.json()["data"]] == newest_first
    assert no_version.status_code == 404
    assert v1_path.status_code == 200 and v1_path.json()["id"] == run_id
    assert on_v1.status_code == 200 and on_v1.json()["id"] == run_id
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "401"


def test_unknown_ids_are_404s_with_the_api_wording(fake_api: FakeServer) -> None:
    thread_id, run_id = first_run(fake_api)
    other_thread = fake_api.thread_ids[1]
    with client(fake_api) as c:
        answers = {
            "thread": c.get("/threads/thread_nope/runs"),
            "run": c.get(f"/threads/{thread_id}/runs/run_nope"),
            "run elsewhere": c.get(f"/threads/{other_thread}/runs/{run_id}"),
            "steps of unknown run": c.get(f"/threads/{thread_id}/runs/run_nope/steps"),
            "step": c.get(f"/threads/{thread_id}/runs/{run_id}/steps/step_nope"),
        }
    messages = {name: (r.status_code, r.json()["error"]["message"]) for name, r in answers.items()}
    assert messages == {
        "thread": (404, "No thread found with id 'thread_nope'."),
        "run": (404, "No run found with id 'run_nope'."),
        "run elsewhere": (404, f"No run found with id '{run_id}'."),
        "steps of unknown run": (404, "No run found with id 'run_nope'."),
        "step": (404, "No run step found with id 'step_nope'."),
    }


def test_empty_list_has_null_ids_and_no_more(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(steps_per_run="0")
    thread_id, run_id = first_run(fake)
    with client(fake) as c:
        page = c.get(f"/threads/{thread_id}/runs/{run_id}/steps").json()
    assert page == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


def file_search_step(fake: FakeServer) -> dict[str, object]:
    return next(
        step for step in fake.truth.steps_with_content
        for call in step["step_details"].get("tool_calls", [])
        if call["type"] == "file_search" and call["file_search"].get("results")
    )


def test_file_search_content_only_when_included(fake_api: FakeServer) -> None:
    step = file_search_step(fake_api)
    path = f"/threads/{step['thread_id']}/runs/{step['run_id']}/steps"
    with client(fake_api) as c:
        listed_plain = c.get(path, params={"limit": 100}).json()["data"]
        listed_full = c.get(path, params={"limit": 100, **INCLUDE}).json()["data"]
        got_plain = c.get(f"{path}/{step['id']}").json()
        got_full = c.get(f"{path}/{step['id']}", params=INCLUDE).json()
        bad = c.get(path, params={"include[]": "step_details.tool_calls[*].code_interpreter.outputs"})

    def results(obj: dict[str, object]) -> list[dict[str, object]]:
        details = obj["step_details"]
        assert isinstance(details, dict)
        return [r for call in details["tool_calls"] if call["type"] == "file_search"
                for r in call["file_search"].get("results", [])]

    assert got_full == step
    assert results(got_full) and all(r["content"][0]["type"] == "text" for r in results(got_full))
    assert results(got_plain) and all("content" not in r for r in results(got_plain))
    assert [r for s in listed_full for r in results(s)] and all("content" in r for s in listed_full for r in results(s))
    assert all("content" not in r for s in listed_plain for r in results(s))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "include[0]"


def test_responses_carry_realistic_headers(fake_api: FakeServer) -> None:
    thread_id, _ = first_run(fake_api)
    with client(fake_api) as c:
        first = c.get(f"/threads/{thread_id}/runs")
        second = c.get(f"/threads/{thread_id}/runs")
        error = c.get("/threads/nope/runs")
    for response in (first, second, error):
        assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
        assert response.headers["openai-version"] == "2020-10-01"
        assert int(response.headers["x-ratelimit-limit-requests"]) > 0
        assert re.fullmatch(r"\d+ms|\d+(\.\d+)?s|\d+m\d+s", response.headers["x-ratelimit-reset-requests"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    limit = int(first.headers["x-ratelimit-limit-requests"])
    assert 0 < int(second.headers["x-ratelimit-remaining-requests"]) < limit
    assert first.headers["content-type"] == "application/json"


def test_quota_exhausted_answers_429_insufficient_quota(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(quota_exhausted=True)
    with client(fake) as c:
        response = c.get(f"/threads/{fake.thread_ids[0]}/runs")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "insufficient_quota"
    assert "retry-after" not in response.headers and "retry-after-ms" not in response.headers


def test_counters_and_request_log_are_resettable(fake_api: FakeServer) -> None:
    thread_id, run_id = first_run(fake_api)
    step_id = fake_api.dataset.steps(thread_id, run_id)[0]["id"]
    with client(fake_api, {**HEADERS, "OpenAI-Organization": "org-1"}) as c:
        c.get(f"/threads/{thread_id}/runs", params={"limit": 5})
        c.get(f"/threads/{thread_id}/runs/{run_id}")
        c.get(f"/threads/{thread_id}/runs/{run_id}/steps")
        c.get(f"/threads/{thread_id}/runs/{run_id}/steps")
        c.get(f"/threads/{thread_id}/runs/{run_id}/steps/{step_id}")
        c.get("/threads/nope/runs")
    assert fake_api.counters == {"runs_list": 2, "run_get": 1, "steps_list": 2, "step_get": 1}
    assert fake_api.log.count("runs_list", status=404) == 1
    record = fake_api.requests[0]
    assert (record.method, record.path, record.query, record.status) == (
        "GET", f"/v1/threads/{thread_id}/runs", "limit=5", 200)
    assert record.headers["OpenAI-Organization"] == "org-1"
    assert all("Authorization" not in r.headers and "sk-fake" not in str(r) for r in fake_api.requests)
    fake_api.reset_counters()
    assert fake_api.counters == {} and fake_api.requests == []


def test_latency_delays_without_blocking_other_requests(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(latency_ms=200)
    thread_id, run_id = first_run(fake)

    async def fetch_many() -> list[int]:
        async with httpx.AsyncClient(base_url=fake.base_url, headers=HEADERS) as c:
            responses = await asyncio.gather(*(c.get(f"/threads/{thread_id}/runs/{run_id}") for _ in range(20)))
        return [r.status_code for r in responses]

    started = time.perf_counter()
    statuses = asyncio.run(fetch_many())
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 20
    assert 0.2 <= elapsed < 2.0  # 20 sequential delays would take 4 s


def test_replaced_step_is_served_and_stripped_without_include(fake_api: FakeServer) -> None:
    step = file_search_step(fake_api)
    changed = {**step, "status": "cancelled", "cancelled_at": step["created_at"] + 1, "completed_at": None}
    details = step["step_details"]
    assert isinstance(details, dict)
    changed["step_details"] = {**details, "tool_calls": details["tool_calls"][:1]}
    fake_api.dataset.replace_step(changed)
    path = f"/threads/{step['thread_id']}/runs/{step['run_id']}/steps"
    with client(fake_api) as c:
        full = c.get(f"{path}/{step['id']}", params=INCLUDE).json()
        listed = c.get(path, params={"limit": 100}).json()["data"]
    assert full == changed
    served = next(s for s in listed if s["id"] == step["id"])
    assert served["status"] == "cancelled" and len(served["step_details"]["tool_calls"]) == 1
    assert "content" not in str(served)
    assert next(s for s in fake_api.truth.steps_with_content if s["id"] == step["id"]) == changed


def test_added_runs_and_status_changes_are_served(fake_api: FakeServer) -> None:
    thread_id = fake_api.thread_ids[0]
    before = fake_api.dataset.run_ids(thread_id)
    added = fake_api.dataset.add_run(thread_id, n_steps=4)
    fresh = fake_api.dataset.add_run("thread_brand_new", n_steps=2, status="in_progress")
    with client(fake_api) as c:
        newest = c.get(f"/threads/{thread_id}/runs", params={"limit": 1}).json()["data"][0]
        steps = c.get(f"/threads/{thread_id}/runs/{added['id']}/steps", params={"order": "asc"}).json()["data"]
        new_thread = c.get("/threads/thread_brand_new/runs").json()["data"]
    assert newest == added and added["id"] not in before
    assert added["created_at"] > max(r["created_at"] for r in fake_api.truth.runs if r["id"] in before)
    assert len(steps) == 4 and steps[0]["created_at"] > added["created_at"]
    assert [r["id"] for r in new_thread] == [fresh["id"]] and fresh["usage"] is None
    completed = fake_api.dataset.set_run_status("thread_brand_new", fresh["id"], "completed")
    assert completed["status"] == "completed" and completed["usage"] is not None
    assert fake_api.dataset.steps("thread_brand_new", fresh["id"])[-1]["status"] == "completed"
    assert "thread_brand_new" in fake_api.thread_ids


def test_served_objects_equal_the_truth(fake_api: FakeServer) -> None:
    truth = fake_api.truth
    runs, steps = [], []
    with client(fake_api) as c:
        for thread_id in truth.thread_ids:
            listed = c.get(f"/threads/{thread_id}/runs", params={"order": "asc", "limit": 100}).json()["data"]
            runs += listed
            for run in listed:
                path = f"/threads/{thread_id}/runs/{run['id']}/steps"
                steps += c.get(path, params={"order": "asc", "limit": 100}).json()["data"]
    assert runs == list(truth.runs)
    assert steps == list(truth.steps)


def test_durations_and_key_masks_are_written_like_the_apis() -> None:
    from etl.fakeapi.responses import format_duration, mask_key

    assert [format_duration(s) for s in (0.006, 1, 2.5, 360)] == ["6ms", "1s", "2.5s", "6m0s"]
    assert mask_key("sk-wrong-key") == "sk-wr***ey"
    assert mask_key("short") == "***"


def test_serve_in_process_serves_the_same_data() -> None:
    from etl.fakeapi import FakeConfig, serve_in_process

    with serve_in_process(FakeConfig.small(seed=4)) as child:
        thread_id = child.thread_ids[0]
        with httpx.Client(base_url=child.base_url, headers=HEADERS) as c:
            runs = c.get(f"/threads/{thread_id}/runs", params={"order": "asc", "limit": 100}).json()["data"]
    assert runs == [r for r in child.truth.runs if r["thread_id"] == thread_id]


def test_a_run_that_finishes_keeps_its_step_ids(fake_api: FakeServer) -> None:
    active = [r for r in fake_api.truth.runs if r["status"] in ("in_progress", "requires_action", "cancelling")]
    assert active
    for run in active:
        before = fake_api.dataset.steps(run["thread_id"], run["id"])
        fake_api.dataset.set_run_status(run["thread_id"], run["id"], "completed")
        after = fake_api.dataset.steps(run["thread_id"], run["id"])
        assert [s["id"] for s in after] == [s["id"] for s in before]
        assert after[:-1] == before[:-1]
        assert (before[-1]["status"], after[-1]["status"]) == ("in_progress", "completed")


def test_stats_endpoint_reports_counts_and_server_times(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(latency_ms=30)
    thread_id, run_id = first_run(fake)
    with client(fake) as c:
        for _ in range(3):
            c.get(f"/threads/{thread_id}/runs/{run_id}")
        c.get("/threads/nope/runs")
        stats = httpx.get(fake.azure_endpoint + "/_fake/stats", params={"last": 3}).json()
    assert stats["requests"] == 3 and stats["by_kind"] == {"run_get": 2, "runs_list": 1}
    assert stats["by_status"] == {"200": 2, "404": 1}
    assert 30 <= stats["elapsed_ms"]["median"] <= stats["elapsed_ms"]["p95"] <= stats["elapsed_ms"]["max"]
    assert all(r.elapsed_ms is not None and r.elapsed_ms >= 30 for r in fake.requests)
    assert fake.counters["other"] == 0  # the stats endpoint itself is not logged
