"""The fake's Foundry flavor: paths, api-version, expiring tokens, PermissionDenied, envelope, data, throttling."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.ai.agents import models

from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread
from etl.fakeapi.foundry import NO_ROLE_PRINCIPAL, TOOL_TYPES, FakeCredential, TokenIssuer

SCOPE = "https://ai.azure.com/.default"
V1 = {"api-version": "v1"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with serve_in_thread(FakeConfig(flavor="foundry", threads=3, runs_per_thread=10, boundary_sizes=())) as server:
        yield server


def auth(fake: FakeServer, principal: str = "agent-user") -> dict[str, str]:
    return {"Authorization": f"Bearer {FakeCredential(fake.root_url, principal).get_token(SCOPE).token}"}


def get(fake: FakeServer, path: str, params: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", None) or auth(fake)
    return httpx.get(fake.base_url + path, params=V1 | (params or {}), headers=headers, **kw)


def test_project_paths_need_an_api_version_and_a_good_token(fake: FakeServer) -> None:
    assert fake.base_url.endswith("/api/projects/fake-project")
    no_version = httpx.get(fake.base_url + "/threads", headers=auth(fake))
    assert (no_version.status_code, no_version.json()["error"]["code"]) == (400, "MissingApiVersionParameter")
    assert get(fake, "/threads", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(fake.base_url + "/threads", params=V1).status_code == 401
    issuer = TokenIssuer(60)  # another server's secret: refused
    assert get(fake, "/threads", headers={"Authorization": f"Bearer {issuer.issue().token}"}).status_code == 401
    wrong_scope = FakeCredential(fake.root_url).get_token("https://cognitiveservices.azure.com/.default").token
    assert get(fake, "/threads", headers={"Authorization": f"Bearer {wrong_scope}"}).status_code == 401
    denied = get(fake, "/threads", headers=auth(fake, NO_ROLE_PRINCIPAL))
    assert (denied.status_code, denied.json()["error"]["code"]) == (401, "PermissionDenied")
    assert "agents/read" in denied.json()["error"]["message"]
    openai_path = httpx.get(fake.root_url + "/v1/threads/x/runs", params=V1, headers=auth(fake))
    assert openai_path.status_code == 404  # OpenAI's paths are not served


def test_tokens_expire() -> None:
    clock = [1000.0]
    issuer = TokenIssuer(20, clock=lambda: clock[0])
    token = issuer.issue().token
    assert issuer.check(token) is None
    clock[0] += 19.5
    assert issuer.check(token) is None
    clock[0] += 1
    assert issuer.check(token) == "expired"
    assert issuer.check(issuer.issue(principal=NO_ROLE_PRINCIPAL).token) == "denied"
    assert issuer.check(token[:-1] + ("0" if token[-1] != "0" else "1")) == "invalid"


def test_an_expired_token_is_refused_over_http() -> None:
    with serve_in_thread(FakeConfig.small(flavor="foundry", token_lifetime=3)) as fake:
        token = FakeCredential(fake.root_url).get_token(SCOPE)  # good for 2 to 3 s (whole seconds)
        headers = {"Authorization": f"Bearer {token.token}"}
        assert get(fake, "/threads", headers=headers).status_code == 200
        time.sleep(max(token.expires_on - time.time(), 0) + 0.2)
        expired = get(fake, "/threads", headers=headers)
        assert (expired.status_code, expired.json()["error"]["message"]) == (401, "Access token has expired.")


def test_threads_and_assistants_are_listed_in_foundrys_envelope_and_page(fake: FakeServer) -> None:
    truth = fake.truth
    first = get(fake, "/threads", {"limit": 2, "order": "asc"}).json()
    assert set(first) == {"data", "last_id", "has_more"}  # no object, no first_id
    assert first["has_more"] is True and first["last_id"] == first["data"][-1]["id"]
    rest = get(fake, "/threads", {"limit": 2, "order": "asc", "after": first["last_id"]}).json()
    assert [t["id"] for t in first["data"] + rest["data"]] == [t["id"] for t in truth.threads]
    assert rest["has_more"] is False
    assert get(fake, f"/threads/{truth.threads[0]['id']}").json() == truth.threads[0]
    agents = get(fake, "/assistants", {"limit": 100}).json()["data"]
    assert sorted(a["id"] for a in agents) == sorted(a["id"] for a in truth.assistants)
    gone = truth.gone_assistant_ids[0]
    assert gone in {r["assistant_id"] for r in truth.runs}  # runs still name the deleted agent
    assert get(fake, f"/assistants/{gone}").status_code == 404
    runs = get(fake, f"/threads/{truth.threads[0]['id']}/runs", {"limit": 100}).json()
    assert set(runs) == {"data", "last_id", "has_more"}


def test_the_data_has_every_foundry_shape(fake: FakeServer) -> None:
    truth = fake.truth
    calls = [c for s in truth.steps if s["type"] == "tool_calls" for c in s["step_details"]["tool_calls"]]
    assert set(TOOL_TYPES) <= {c["type"] for c in calls}
    assert any(s["type"] == "activities" for s in truth.steps)
    assert any("usage" not in s for s in truth.steps)  # missing, not null
    functions = [c["function"] for c in calls if c["type"] == "function"]
    assert functions and all("output" not in f for f in functions)
    assert {r["model"] for r in truth.runs} <= {"gpt-4o-prod", "mini-eu", "gpt41-agents", "o3-mini-dz"}


def test_every_body_deserializes_into_the_azure_sdks_models(fake: FakeServer) -> None:
    truth = fake.truth
    classes: Counter[tuple[str, str]] = Counter()
    for step in truth.steps:
        parsed = models.RunStep(step)
        assert (parsed.id, parsed.agent_id, parsed.run_id) == (step["id"], step["assistant_id"], step["run_id"])
        details = parsed.step_details
        if isinstance(details, models.RunStepToolCallDetails):
            for call, sent in zip(details.tool_calls, step["step_details"]["tool_calls"], strict=True):
                assert call.id == sent["id"]
                classes[(sent["type"], type(call).__name__)] += 1
        else:
            classes[(step["type"], type(details).__name__)] += 1
    assert {kind: name for kind, name in classes} == {
        "message_creation": "RunStepMessageCreationDetails", "activities": "RunStepActivityDetails",
        "code_interpreter": "RunStepCodeInterpreterToolCall", "file_search": "RunStepFileSearchToolCall",
        "function": "RunStepFunctionToolCall", "bing_grounding": "RunStepBingGroundingToolCall",
        "bing_custom_search": "RunStepBingCustomSearchToolCall", "azure_ai_search": "RunStepAzureAISearchToolCall",
        "openapi": "RunStepOpenAPIToolCall", "sharepoint_grounding": "RunStepSharepointToolCall",
        "fabric_dataagent": "RunStepMicrosoftFabricToolCall", "azure_function": "RunStepAzureFunctionToolCall",
        "connected_agent": "RunStepConnectedAgentToolCall", "deep_research": "RunStepDeepResearchToolCall",
        "mcp": "RunStepMcpToolCall", "browser_automation": "RunStepBrowserAutomationToolCall",
        "computer_use_preview": "RunStepComputerUseToolCall",
    }  # fmt: skip
    mcp = next(c for s in truth.steps if s["type"] == "tool_calls"
               for c in models.RunStep(s).step_details.tool_calls if c.type == "mcp")  # fmt: skip
    assert mcp.server_label in ("docs", "github") and mcp.name == "search_docs"
    for run in truth.runs:
        assert models.ThreadRun(run).agent_id == run["assistant_id"]
    assert [models.AgentThread(t).id for t in truth.threads] == [t["id"] for t in truth.threads]
    assert all(models.Agent(a).name for a in truth.assistants)


def test_throttling_sends_azure_retry_headers() -> None:
    config = FakeConfig.small(flavor="foundry", fault_rate=1.0, fault_kinds=("429-ms",), fault_max_consecutive=1)
    with serve_in_thread(config) as fake:
        throttled = get(fake, "/threads")
        assert throttled.status_code == 429
        assert throttled.headers["x-ms-retry-after-ms"] == "50" and throttled.headers["retry-after"] == "1"
        assert "retry-after-ms" not in throttled.headers
        assert get(fake, "/threads").status_code == 200  # at most fault_max_consecutive in a row


def test_fake_api_command_serves_a_foundry_project() -> None:
    command = [sys.executable, "-m", "etl", "fake-api", "--port", "0", "--flavor", "foundry", "--threads", "2",
               "--runs-per-thread", "2", "--no-boundary", "--token-lifetime", "20"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/projects/fake-project")
        root = base_url.split("/api/")[0]
        token = FakeCredential(root).get_token(SCOPE)
        assert 15 <= token.expires_on - time.time() <= 21
        page = httpx.get(base_url + "/threads", params=V1, headers={"Authorization": f"Bearer {token.token}"})
        assert page.status_code == 200 and len(page.json()["data"]) == 2
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert "IDENTITY_ENDPOINT=" in stderr
