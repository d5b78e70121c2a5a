"""Every body the fake serves validates against the official OpenAPI schemas, with only the listed deviations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from paths import REPO

from etl.config import FILE_SEARCH_CONTENT_INCLUDE
from etl.fakeapi import FakeServer
from etl.fakeapi.validation import SpecValidator

HEADERS = {"Authorization": "Bearer sk-fake", "OpenAI-Beta": "assistants=v2"}
INCLUDE = {"include[]": FILE_SEARCH_CONTENT_INCLUDE}


def walk(client: httpx.Client, fake: FakeServer) -> Iterator[tuple[str, Any]]:
    """(schema name, body) for every endpoint: lists in both orders, with and without include[], gets."""
    for thread_id in fake.thread_ids:
        for order in ("asc", "desc"):
            runs = client.get(f"/threads/{thread_id}/runs", params={"order": order, "limit": 100}).json()
            yield "ListRunsResponse", runs
        for run_id in fake.dataset.run_ids(thread_id):
            yield "RunObject", client.get(f"/threads/{thread_id}/runs/{run_id}").json()
            for order in ("asc", "desc"):
                for extra in ({}, INCLUDE):
                    params = {"order": order, "limit": 100, **extra}
                    steps = client.get(f"/threads/{thread_id}/runs/{run_id}/steps", params=params).json()
                    yield "ListRunStepsResponse", steps
            for step in steps["data"]:
                for extra in ({}, INCLUDE):
                    path = f"/threads/{thread_id}/runs/{run_id}/steps/{step['id']}"
                    yield "RunStepObject", client.get(path, params=extra).json()


@pytest.mark.parametrize(
    "overrides",
    [{"seed": 1}, {"seed": 7, "future_variants": True}, {"seed": 3, "threads": 3, "steps_per_run": "0,1,20,21"}],
    ids=["seed1", "seed7-future", "seed3"],
)
def test_every_served_body_validates(fake_api_factory: Callable[..., FakeServer], overrides: dict[str, Any]) -> None:
    fake = fake_api_factory(**overrides)
    validator = SpecValidator(future_variants=fake.config.future_variants)
    seen: dict[str, int] = {}
    with httpx.Client(base_url=fake.base_url, headers=HEADERS) as client:
        for schema, body in walk(client, fake):
            assert validator.errors(body, schema) == [], (schema, body.get("id"))
            seen[schema] = seen.get(schema, 0) + 1
    assert set(seen) == {"ListRunsResponse", "RunObject", "ListRunStepsResponse", "RunStepObject"}
    assert seen["RunStepObject"] == 2 * len(fake.truth.steps)


def test_deviations_are_needed_and_nothing_else_is_relaxed(fake_api: FakeServer) -> None:
    """The strict spec rejects exactly the deviating objects; the relaxed one still rejects real mistakes."""
    strict, relaxed = SpecValidator(deviations=False), SpecValidator()
    truth = fake_api.truth
    legacy = [step for step in truth.steps if "expires_at" in step]
    assert legacy and all("expired_at" not in step and "metadata" not in step for step in legacy)
    for step in legacy:
        assert any("expired_at" in error for error in strict.errors(step, "RunStepObject"))
    modern = [step for step in truth.steps if "expired_at" in step]
    assert modern and all(strict.errors(step, "RunStepObject") == [] for step in modern)

    step = dict(modern[0])
    for broken in ({**step, "status": "done"}, {k: v for k, v in step.items() if k != "usage"},
                   {**step, "expires_at": 1}, {**step, "created_at": "yesterday"}):
        assert relaxed.errors(broken, "RunStepObject"), broken
    run = truth.runs[0]
    assert relaxed.errors({**run, "status": "paused"}, "RunObject")
    assert relaxed.errors({**run, "usage": {"prompt_tokens": 1}}, "RunObject")


def test_future_variants_are_outside_the_spec(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory(future_variants=True)
    plain = SpecValidator()
    future = [step for step in fake.truth.steps if plain.errors(step, "RunStepObject")]
    types = {step["type"] for step in future} | {
        call["type"] for step in future for call in step["step_details"].get("tool_calls", [])
    }
    assert {"reasoning", "web_search"} <= types


def test_error_bodies_validate_as_error_response(fake_api_factory: Callable[..., FakeServer]) -> None:
    fake = fake_api_factory()
    validator = SpecValidator()
    thread_id = fake.thread_ids[0]
    run_id = fake.dataset.run_ids(thread_id)[0]
    requests: list[tuple[dict[str, str], str, dict[str, Any]]] = [
        ({}, f"/threads/{thread_id}/runs", {}),
        ({"Authorization": "Bearer sk-wrong-key"}, f"/threads/{thread_id}/runs", {}),
        ({"Authorization": "Bearer sk-fake"}, f"/threads/{thread_id}/runs", {}),
        (HEADERS, f"/threads/{thread_id}/runs", {"limit": 101}),
        (HEADERS, f"/threads/{thread_id}/runs", {"order": "newest"}),
        (HEADERS, f"/threads/{thread_id}/runs", {"after": "run_missing"}),
        (HEADERS, f"/threads/{thread_id}/runs/{run_id}/steps", {"include[]": "step_details"}),
        (HEADERS, "/threads/thread_missing/runs", {}),
        (HEADERS, f"/threads/{thread_id}/runs/run_missing", {}),
        (HEADERS, f"/threads/{thread_id}/runs/{run_id}/steps/step_missing", {}),
        (HEADERS, "/assistants", {}),
    ]
    statuses = []
    with httpx.Client(base_url=fake.base_url) as client:
        for headers, path, params in requests:
            response = client.get(path, headers=headers, params=params)
            statuses.append(response.status_code)
            assert validator.errors(response.json(), "ErrorResponse") == [], response.text
        fake.reconfigure(quota_exhausted=True)
        response = client.get(f"/threads/{thread_id}/runs", headers=HEADERS)
        assert response.status_code == 429
        assert validator.errors(response.json(), "ErrorResponse") == []
        fake.reconfigure(quota_exhausted=False, fault_rate=1.0, fault_kinds=("429-ms", "429-s", "500", "503"))
        for _ in range(2):
            response = client.get(f"/threads/{thread_id}/runs", headers=HEADERS)
            assert response.status_code in (429, 500, 503)
            assert validator.errors(response.json(), "ErrorResponse") == []
    assert statuses == [401, 401, 400, 400, 400, 400, 400, 404, 404, 404, 404]


def test_readme_documents_every_deviation() -> None:

    from etl.fakeapi.deviations import DEVIATIONS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Fake API", 1)[1].split("\n## ", 1)[0]
    assert [d.name for d in DEVIATIONS if f"`{d.name}`" not in section] == []
