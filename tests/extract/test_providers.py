"""The provider description: which provider a base URL implies, what every request carries, and how it waits."""

from __future__ import annotations

import pytest

from etl.config import Secret, Settings
from etl.errors import InputError
from etl.extract.client import check_base_url, request_headers
from etl.extract.retry import server_wait
from etl.providers import AZURE, FOUNDRY, OPENAI, PROVIDERS, get_provider, infer_provider

PROJECT = "https://res-1.services.ai.azure.com/api/projects/proj-1"


def test_a_project_endpoint_implies_foundry_and_anything_else_openai() -> None:
    assert infer_provider(PROJECT) is FOUNDRY
    assert infer_provider(PROJECT + "/") is FOUNDRY
    assert infer_provider("https://api.openai.com/v1") is OPENAI
    assert infer_provider("https://res.openai.azure.com/openai", azure_api_version="2024-05-01-preview") is AZURE
    assert infer_provider("https://res-1.services.ai.azure.com/api/projects/proj-1/threads") is OPENAI
    with pytest.raises(InputError, match="unknown provider 'bedrock': use one of openai, azure, foundry"):
        get_provider("bedrock")


def test_api_version_defaults_and_requirements() -> None:
    assert Settings(base_url=PROJECT).api_version_value == "v1"
    assert Settings(base_url=PROJECT, api_version="2025-05-15-preview").api_version_value == "2025-05-15-preview"
    assert Settings(base_url="https://r.openai.azure.com/openai", azure_api_version="2024-05-01").api_version_value == (
        "2024-05-01"
    )
    assert Settings().api_version_value is None
    with pytest.raises(InputError, match="--api-version does not apply to provider openai"):
        _ = Settings(api_version="v1").api_version_value
    with pytest.raises(InputError, match="provider azure needs an api version"):
        _ = Settings(provider="azure", base_url="https://r.openai.azure.com/openai").api_version_value


def test_headers_follow_the_provider() -> None:
    openai = request_headers(Settings(api_key=Secret("sk-a"), organization="org-1"))
    assert (openai["Authorization"], openai["OpenAI-Beta"], openai["OpenAI-Organization"]) == (
        "Bearer sk-a", "assistants=v2", "org-1")  # fmt: skip
    azure = request_headers(Settings(api_key=Secret("k"), base_url="https://r/openai", azure_api_version="x"))
    assert (azure["api-key"], "Authorization" in azure) == ("k", False)
    # Foundry: a token given as is (--token-env) is a Bearer token; no OpenAI headers.
    foundry = request_headers(Settings(api_key=Secret("tok"), base_url=PROJECT, organization="org-1"))
    assert foundry["Authorization"] == "Bearer tok"
    assert not {"OpenAI-Beta", "OpenAI-Organization"} & set(foundry)


def test_foundry_needs_its_project_endpoint_and_https() -> None:
    with pytest.raises(InputError, match="provider foundry has no default base URL: pass --base-url"):
        check_base_url(Settings(provider="foundry"))
    with pytest.raises(InputError, match="refusing to send the API key over plain http"):
        check_base_url(Settings(provider="foundry", base_url="http://example.com/api/projects/p"))
    assert str(check_base_url(Settings(provider="foundry", base_url="http://127.0.0.1:9/api/projects/p"))).startswith(
        "http://127.0.0.1"
    )


def test_retry_headers_are_the_providers() -> None:
    assert server_wait({"x-ms-retry-after-ms": "300", "retry-after": "7"}, names=FOUNDRY.retry_after_headers) == 0.3
    assert server_wait({"x-ms-retry-after-ms": "300", "retry-after": "7"}, names=OPENAI.retry_after_headers) == 7.0
    assert server_wait({"retry-after-ms": "20", "x-ms-retry-after-ms": "300"}, names=FOUNDRY.retry_after_headers) == (
        0.02
    )


def test_only_foundry_lists_threads_and_knows_its_tool_types() -> None:
    assert [p.name for p in PROVIDERS.values() if p.can_list_threads] == ["foundry"]
    assert {"mcp", "connected_agent", "bing_grounding"} <= FOUNDRY.tool_call_types
    assert OPENAI.tool_call_types == {"code_interpreter", "file_search", "function"}
