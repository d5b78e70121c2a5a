"""Retry rules: which failures are retried, how long each wait is, and the pause shared by the whole client."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import orjson
import pytest

from etl.config import Secret, Settings
from etl.errors import AuthError, FatalApiError, RetriableApiError
from etl.extract.client import ApiClient
from etl.extract.retry import RetryPolicy, backoff, is_retriable_status, parse_duration, server_wait

pytestmark = pytest.mark.anyio

KEY = "sk-test-Secret0123456789abcdef"
OK = {"object": "list", "data": [], "has_more": False}
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(handler: Handler, max_retries: int = 3) -> ApiClient:
    settings = Settings(api_key=Secret(KEY), base_url="https://api.test/v1", max_retries=max_retries)
    return ApiClient(settings, transport=httpx.MockTransport(handler), backoff_base=0.001)


def reply(status: int, body: object = OK, **headers: str) -> httpx.Response:
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return httpx.Response(status, content=orjson.dumps(body), headers=named)


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[float]]:
    """A handler answering with ``responses`` in turn (the last one forever), and the arrival time of each request."""
    arrivals: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        answer = responses[min(len(arrivals), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, arrivals


def error_body(message: str, code: str | None = None, type_: str = "invalid_request_error") -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


# --- pure timing rules -------------------------------------------------------------------------------------------


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert server_wait({"retry-after-ms": "250", "retry-after": "7"}) == 0.25


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert server_wait({"retry-after": "1.5"}) == 1.5
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert server_wait({"retry-after": date}, now=now.timestamp) == 30.0
    assert server_wait({"retry-after": "soon"}) is None
    assert server_wait({}) is None


@pytest.mark.parametrize("retries", range(7))
def test_backoff_is_exponential_capped_with_at_most_a_quarter_of_jitter(retries: int) -> None:
    full = min(0.5 * 2**retries, 8.0)
    assert backoff(retries, rng=lambda: 0.0) == full
    assert backoff(retries, rng=lambda: 1.0) == 0.75 * full
    assert 0.75 * full <= backoff(retries) <= full


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3.5s", 3723.5),
        ("0.5", 0.5),
        ("", None),
        ("soon", None),
        ("1s2x", None),
    ],
)
def test_rate_limit_reset_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(
    ("status", "retriable"),
    [(408, True), (409, True), (429, True), (500, True), (503, True), (400, False), (404, False), (422, False)],
)
def test_retriable_statuses(status: int, retriable: bool) -> None:
    assert is_retriable_status(status, {}) is retriable
    assert is_retriable_status(status, {"x-should-retry": "true"}) is True
    assert is_retriable_status(status, {"x-should-retry": "false"}) is False


def test_policy_uses_the_servers_wait_and_refuses_one_over_the_cap() -> None:
    policy = RetryPolicy(max_retries=2, backoff_base=0.5)
    assert policy.delay(0, 2.0) == 2.0
    assert policy.delay(0, 120.0) == 120.0
    assert policy.delay(0, 121.0) is None
    assert 0.375 <= (policy.delay(0, 0.0) or 0) <= 0.5  # a zero or past wait falls back to backoff
    assert 0.75 <= (policy.delay(1, None) or 0) <= 1.0


# --- the client retrying -----------------------------------------------------------------------------------------


async def test_5xx_then_success_is_retried_and_counted() -> None:
    handler, arrivals = scripted(reply(503), reply(502), reply(200))
    async with client_for(handler) as client:
        assert await client.get_json("/x") == OK
    assert len(arrivals) == 3
    assert client.stats.retries == 2
    assert client.stats.by_status == {503: 1, 502: 1, 200: 1}


async def test_gives_up_after_max_retries_naming_the_request() -> None:
    handler, arrivals = scripted(reply(500, error_body("boom", type_="server_error"), x_request_id="req_123"))
    async with client_for(handler, max_retries=2) as client:
        with pytest.raises(RetriableApiError) as caught:
            await client.get_json("/threads/thread_x/runs/run_y/steps")
    assert len(arrivals) == 3
    assert str(caught.value) == (
        "HTTP 500: boom (GET /threads/thread_x/runs/run_y/steps) [request id req_123]; gave up after 2 retries"
    )
    assert caught.value.status == 500


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadError("reset"),
    ],
)
async def test_transport_failures_are_retried(failure: Exception) -> None:
    handler, arrivals = scripted(failure, reply(200))
    async with client_for(handler) as client:
        assert await client.get_json("/x") == OK
    assert len(arrivals) == 2
    assert client.stats.transport_errors == 1


class CutShort(httpx.AsyncByteStream):
    """A body that stops half way, as when the server drops the connection mid-response."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"object": "list", "da'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


async def test_a_body_cut_short_and_invalid_json_are_retried() -> None:
    handler, arrivals = scripted(
        httpx.Response(200, stream=CutShort()), httpx.Response(200, content=b'{"object": "li'), reply(200)
    )
    async with client_for(handler) as client:
        assert await client.get_json("/x") == OK
    assert len(arrivals) == 3


async def test_x_should_retry_overrides_the_status() -> None:
    handler, arrivals = scripted(reply(500, x_should_retry="false"))
    async with client_for(handler) as client:
        with pytest.raises(FatalApiError):
            await client.get_json("/x")
    assert len(arrivals) == 1

    handler, arrivals = scripted(reply(400, x_should_retry="true"), reply(200))
    async with client_for(handler) as client:
        assert await client.get_json("/x") == OK
    assert len(arrivals) == 2


async def test_retry_after_ms_is_waited_for() -> None:
    handler, arrivals = scripted(reply(429, retry_after_ms="150"), reply(200))
    async with client_for(handler) as client:
        await client.get_json("/x")
    assert arrivals[1] - arrivals[0] >= 0.15


async def test_a_retry_after_over_the_cap_gives_up_at_once() -> None:
    handler, arrivals = scripted(reply(503, retry_after="300"), reply(200))
    async with client_for(handler) as client:
        with pytest.raises(RetriableApiError, match="asked to retry after 300 s"):
            await client.get_json("/x")
    assert len(arrivals) == 1


async def test_a_429_pauses_every_request_of_the_client() -> None:
    first_429 = asyncio.Event()
    arrivals: dict[str, list[float]] = {"/v1/a": [], "/v1/b": []}

    async def handler(request: httpx.Request) -> httpx.Response:
        arrivals[request.url.path].append(time.monotonic())
        if request.url.path == "/v1/a" and len(arrivals["/v1/a"]) == 1:
            first_429.set()
            return reply(429, error_body("Rate limit reached", "rate_limit_exceeded", "requests"), retry_after_ms="300")
        return reply(200)

    async with client_for(handler) as client:
        task_a = asyncio.create_task(client.get_json("/a"))
        await first_429.wait()
        await client.get_json("/b")  # asked after the 429: must wait for the same moment as /a's retry
        await task_a
    paused_at = arrivals["/v1/a"][0]
    assert arrivals["/v1/b"][0] - paused_at >= 0.29
    assert arrivals["/v1/a"][1] - paused_at >= 0.29
    assert client.stats.rate_limit_pauses == 1


async def test_an_exhausted_request_budget_pauses_until_reset() -> None:
    handler, arrivals = scripted(
        reply(200, x_ratelimit_remaining_requests="0", x_ratelimit_reset_requests="200ms"), reply(200)
    )
    async with client_for(handler) as client:
        await client.get_json("/x")
        await client.get_json("/y")
    assert arrivals[1] - arrivals[0] >= 0.19


# --- errors that are not retried -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        reply(401, error_body(f"Incorrect API key provided: {KEY}. Find your key at ...", "invalid_api_key")),
        reply(401, error_body("Incorrect API key provided: sk-abc*****************wxyz.", "invalid_api_key")),
        reply(403, error_body("You are not allowed to access this resource.")),
        reply(429, error_body("You exceeded your current quota.", "insufficient_quota", "insufficient_quota")),
    ],
)
async def test_auth_and_quota_errors_stop_at_once_without_the_key(
    response: httpx.Response, caplog: pytest.LogCaptureFixture
) -> None:
    handler, arrivals = scripted(response, reply(200))
    caplog.set_level(logging.DEBUG)
    async with client_for(handler) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_json("/threads/t/runs")
    assert len(arrivals) == 1
    text = str(caught.value)
    assert text.startswith(f"HTTP {response.status_code}") and "(GET /threads/t/runs)" in text
    assert KEY not in text and "Secret0123" not in text and "wxyz" not in text
    assert KEY not in caplog.text


async def test_what_a_server_shows_of_a_refused_key_or_token_is_masked_whole() -> None:
    """Servers quote a refused secret by its ends around asterisks: an Azure key ``AbCdE***yZ``, an Entra ID token
    ``eyJhb***ig``. Not a fragment of either reaches the error."""
    body = error_body("Incorrect API key provided: AbCdE***yZ (token eyJhb***ig).", "invalid_api_key")
    handler, _ = scripted(reply(401, body))
    async with client_for(handler) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_json("/threads/t/runs")
    text = str(caught.value)
    assert "Incorrect API key provided: *** (token ***)." in text
    assert not any(fragment in text for fragment in ("AbCdE", "yZ", "eyJhb", "ig)"))


@pytest.mark.parametrize("status", [400, 404])
async def test_400_and_404_fail_without_retrying(status: int) -> None:
    body = error_body("No run found with id 'run_y'.")
    handler, arrivals = scripted(reply(status, body, x_request_id="req_9"), reply(200))
    async with client_for(handler) as client:
        with pytest.raises(FatalApiError) as caught:
            await client.get_json("/threads/thread_x/runs/run_y/steps")
    assert len(arrivals) == 1
    assert str(caught.value) == (
        f"HTTP {status}: No run found with id 'run_y'. (GET /threads/thread_x/runs/run_y/steps) [request id req_9]"
    )


async def test_retry_logs_never_carry_the_key(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = scripted(reply(500, error_body(f"echo {KEY}")), reply(200))
    caplog.set_level(logging.DEBUG)
    async with client_for(handler) as client:
        await client.get_json("/x")
    assert "retry 1 of 3" in caplog.text
    assert KEY not in caplog.text
