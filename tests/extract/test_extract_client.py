"""The HTTP client: headers it sends, what it refuses to do (plain http, redirects, huge bodies), what it records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from etl import __version__
from etl.config import Secret, Settings
from etl.errors import FatalApiError, InputError
from etl.extract.client import ApiClient, ResponseRecord

pytestmark = pytest.mark.anyio

KEY = "sk-test-client-0123456789"
OK = {"object": "list", "data": [], "has_more": False}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def one_request(response: httpx.Response | None = None, **settings: Any) -> tuple[httpx.Request, Any]:
    """Send one GET through a client built from ``settings``; the request as the server saw it, and the result."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response if response is not None else httpx.Response(200, content=orjson.dumps(OK))

    values: dict[str, Any] = {"api_key": Secret(KEY), "base_url": "https://api.test/v1", "max_retries": 0, **settings}
    async with ApiClient(Settings(**values), transport=httpx.MockTransport(handler)) as client:
        result = await client.get_json("/threads/t/runs", [("limit", "100")])
    return seen[0], result


async def test_openai_headers() -> None:
    request, result = await one_request()
    assert result == OK
    assert request.url == "https://api.test/v1/threads/t/runs?limit=100"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["openai-beta"] == "assistants=v2"
    assert request.headers["user-agent"] == f"run-steps-etl/{__version__}"
    assert "openai-organization" not in request.headers and "openai-project" not in request.headers
    assert "api-key" not in request.headers


async def test_organization_and_project_when_set() -> None:
    request, _ = await one_request(organization="org_1", project="proj_2")
    assert request.headers["openai-organization"] == "org_1"
    assert request.headers["openai-project"] == "proj_2"


async def test_azure_mode_uses_api_key_header_and_api_version() -> None:
    azure = {"base_url": "https://res.openai.azure.com/openai", "azure_api_version": "2024-08-01-preview"}
    request, _ = await one_request(**azure)
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers
    assert request.url.path == "/openai/threads/t/runs"
    assert dict(request.url.params) == {"api-version": "2024-08-01-preview", "limit": "100"}


@pytest.mark.parametrize("base_url", ["http://api.example.com/v1", "http://10.0.0.5:8080/v1"])
def test_refuses_to_send_the_key_over_plain_http(base_url: str) -> None:
    with pytest.raises(InputError, match="refusing to send the API key over plain http") as caught:
        ApiClient(Settings(api_key=Secret(KEY), base_url=base_url))
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "extra"),
    [
        ("http://127.0.0.1:9/v1", {}),
        ("http://localhost:9/v1", {}),
        ("http://[::1]:9/v1", {}),
        ("http://api.example.com/v1", {"allow_insecure_http": True}),
        ("http://api.example.com/v1", {"api_key": Secret("")}),  # no key, nothing to leak
    ],
)
async def test_plain_http_allowed_to_loopback_or_when_asked(base_url: str, extra: dict[str, Any]) -> None:
    request, _ = await one_request(base_url=base_url, **extra)
    assert request.url.scheme == "http"


@pytest.mark.parametrize("base_url", ["ftp://api.example.com/v1", "api.example.com/v1"])
def test_base_url_must_be_http_or_https(base_url: str) -> None:
    with pytest.raises(InputError, match="base URL"):
        ApiClient(Settings(api_key=Secret(KEY), base_url=base_url))


async def test_redirects_are_not_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": "https://elsewhere.test/steal"})

    settings = Settings(api_key=Secret(KEY), base_url="https://api.test/v1", max_retries=3)
    async with ApiClient(settings, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(FatalApiError, match="redirects are not followed"):
            await client.get_json("/x")
    assert seen == ["https://api.test/v1/x"]


class Endless(httpx.AsyncByteStream):
    """A chunked body with no Content-Length that never ends: only counting can stop it."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 4096


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"[" + b"1," * 600 + b"1]"),  # Content-Length over the cap
        httpx.Response(200, stream=Endless()),  # no Content-Length at all
    ],
)
async def test_a_body_over_the_cap_is_an_error(response: httpx.Response) -> None:
    with pytest.raises(FatalApiError, match="larger than the 1000 byte cap"):
        await one_request(response, max_body_bytes=1000)


async def test_a_body_at_the_cap_is_fine() -> None:
    body = orjson.dumps({"data": "y" * 980})
    _, result = await one_request(httpx.Response(200, content=body), max_body_bytes=len(body))
    assert result == {"data": "y" * 980}


async def test_on_response_records_the_raw_exchange_without_secrets() -> None:
    records: list[ResponseRecord] = []
    body = orjson.dumps(OK)

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"x-request-id": "req_1", "x-ratelimit-remaining-requests": "99", "set-cookie": "a=b"}
        return httpx.Response(200, content=body, headers=headers)

    settings = Settings(api_key=Secret(KEY), base_url="https://api.test/v1")
    async with ApiClient(settings, transport=httpx.MockTransport(handler), on_response=records.append) as client:
        await client.get_json("/threads/t/runs", [("limit", "2"), ("order", "desc")])
    [record] = records
    assert (record.method, record.path, record.status, record.body) == ("GET", "/threads/t/runs", 200, body)
    assert record.query == (("limit", "2"), ("order", "desc"))
    assert dict(record.headers) == {"x-request-id": "req_1", "x-ratelimit-remaining-requests": "99"}
    assert record.fetched_at.tzinfo is not None
    assert KEY not in repr(record)
    assert client.stats.as_dict() == {
        "requests": 1,
        "retries": 0,
        "transport_errors": 0,
        "bytes_received": len(body),
        "rate_limit_pauses": 0,
        "by_status": {"200": 1},
    }


def test_the_client_repr_hides_the_key() -> None:
    client = ApiClient(Settings(api_key=Secret(KEY), base_url="https://api.test/v1"))
    assert KEY not in repr(client) and KEY not in repr(client.settings)
