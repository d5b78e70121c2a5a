"""Deterministic fault injection: which attempt of which request fails, and how.

A decision depends only on the seed, the request (method, path, sorted query) and how many times that
same request was seen before, never on timing or on other requests: the same client behaviour meets the
same faults, whatever the concurrency. After ``fault_max_consecutive`` faults in a row the same request
is answered normally, so a client that retries always gets through.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import defaultdict

import orjson
from aiohttp import web

from etl.fakeapi.config import FakeConfig, FaultKind
from etl.fakeapi.responses import error_response

_BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>"
    b"\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


def request_key(method: str, path: str, query: list[tuple[str, str]]) -> str:
    """The identity of a request for fault decisions: retries of it share the key."""
    return f"{method} {path}?" + "&".join(f"{k}={v}" for k, v in sorted(query))


def _unit(*parts: object) -> float:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FaultPlan:
    """Decides, per attempt, whether a request meets a fault and which one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: defaultdict[str, int] = defaultdict(int)
        self._streak: defaultdict[str, int] = defaultdict(int)

    def decide(self, config: FakeConfig, key: str) -> FaultKind | None:
        """The fault for this attempt of the request ``key``, or None to answer normally."""
        if config.fault_rate <= 0:
            return None
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
            if self._streak[key] >= config.fault_max_consecutive:
                self._streak[key] = 0
                return None
            if _unit(config.seed, key, attempt, "rate") >= config.fault_rate:
                self._streak[key] = 0
                return None
            self._streak[key] += 1
        kinds = config.fault_kinds
        return kinds[int(_unit(config.seed, key, attempt, "kind") * len(kinds))]

    def reset(self) -> None:
        """Forget every attempt seen (the next request starts a fresh sequence)."""
        with self._lock:
            self._attempts.clear()
            self._streak.clear()


def status_fault(kind: FaultKind, config: FakeConfig, headers: dict[str, str]) -> web.Response | None:
    """The response of a fault that answers with an HTTP status, or None for transport-level faults."""
    match kind:
        case FaultKind.RATE_LIMIT_MS:
            ms = config.retry_after_ms
            # Azure spells the milliseconds x-ms-retry-after-ms (azure-core reads both), with Retry-After beside it.
            if config.flavor == "foundry":
                waits = {"x-ms-retry-after-ms": str(ms), "retry-after": str(max(1, round(ms / 1000)))}
            else:
                waits = {"retry-after-ms": str(ms)}
            return _rate_limited(config, f"{ms}ms", {**headers, **waits})
        case FaultKind.RATE_LIMIT_S:
            seconds = config.retry_after_seconds
            return _rate_limited(config, f"{seconds}s", {**headers, "retry-after": str(seconds)})
        case FaultKind.SERVER_500:
            return error_response(
                500, "The server had an error while processing your request. Sorry about that!",
                type_="server_error", headers=headers,
            )
        case FaultKind.BAD_GATEWAY_502:
            return web.Response(status=502, body=_BAD_GATEWAY_HTML, content_type="text/html", headers=headers)
        case FaultKind.UNAVAILABLE_503:
            return error_response(
                503, "The server is overloaded or not ready yet.", type_="server_error", headers=headers
            )
    return None


def _rate_limited(config: FakeConfig, wait: str, headers: dict[str, str]) -> web.Response:
    message = f"Rate limit reached for requests. Limit: {config.rate_limit_requests} / min. Please try again in {wait}."
    return error_response(429, message, type_="requests", code="rate_limit_exceeded", headers=headers)


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection before any byte of a response is sent."""
    if request.transport is not None:
        request.transport.close()
    return web.Response()  # written to a closed transport: nothing leaves


async def cut_body(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send the headers with the full Content-Length, half of the body, then close the connection."""
    body = response.body if isinstance(response.body, bytes) else orjson.dumps(None)
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return cut


async def slow_down(config: FakeConfig) -> None:
    """Wait longer than a client's timeout before the normal answer."""
    await asyncio.sleep(config.slow_seconds)
