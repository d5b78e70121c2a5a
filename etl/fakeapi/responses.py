"""The API's error bodies and response headers, worded as the real service worded them."""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
import time

import orjson
from aiohttp import web

OPENAI_VERSION = "2020-10-01"
KEYS_URL = "https://platform.openai.com/account/api-keys"


def error_response(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in the OpenAI shape ``{"error": {message, type, param, code}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def mask_key(key: str) -> str:
    """A key as the API echoes it in a 401: the first 5 and last 2 characters, never the whole key."""
    return f"{key[:5]}***{key[-2:]}" if len(key) >= 10 else "***"


def missing_key() -> web.Response:
    """401 for a request without any key."""
    return error_response(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
        "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
        f"accessing the API from your browser and are prompted for a username and password. You can obtain an API "
        f"key from {KEYS_URL}.",
    )


def wrong_key(given: str) -> web.Response:
    """401 ``invalid_api_key``, echoing the key masked."""
    return error_response(
        401,
        f"Incorrect API key provided: {mask_key(given)}. You can find your API key at {KEYS_URL}.",
        code="invalid_api_key",
    )


def azure_error(status: int, message: str, *, code: str | None = None) -> web.Response:
    """An error in Azure's own shape (see deviations.AZURE_ERRORS); Foundry names a ``code``."""
    body = {"error": {"code": code or str(status), "message": message}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def bad_beta(header: str | None) -> web.Response:
    """400 ``invalid_beta`` for a missing or outdated ``OpenAI-Beta`` header."""
    if header and "assistants=v1" in header:
        message = "The v1 Assistants API has been deprecated. "
    else:
        message = "You must provide the 'OpenAI-Beta' header to access the Assistants API. "
    message += "Please try again by setting the header 'OpenAI-Beta: assistants=v2'."
    return error_response(400, message, code="invalid_beta")


def quota_exhausted() -> web.Response:
    """429 ``insufficient_quota``: retrying cannot help (no retry-after header)."""
    return error_response(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type_="insufficient_quota",
        code="insufficient_quota",
    )


def not_found(message: str) -> web.Response:
    """404 for an unknown thread, run or step."""
    return error_response(404, message)


def invalid_url(method: str, path: str) -> web.Response:
    """404 for a path the API does not have."""
    return error_response(404, f"Invalid URL ({method} {path})")


def invalid_value(param: str, value: str, supported: tuple[str, ...]) -> web.Response:
    """400 for an enum parameter given a value it does not take."""
    listed = " and ".join(f"'{item}'" for item in supported)
    return error_response(
        400, f"Invalid value: '{value}'. Supported values are: {listed}.", param=param, code="invalid_value"
    )


def invalid_limit(value: str) -> web.Response:
    """400 for a ``limit`` that is not an integer in 1..100."""
    try:
        number = int(value)
    except ValueError:
        return error_response(
            400, f"Invalid 'limit': expected an integer, but got '{value}' instead.", param="limit",
            code="invalid_type",
        )
    if number < 1:
        return error_response(
            400, f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {number} instead.",
            param="limit", code="integer_below_min_value",
        )
    return error_response(
        400, f"Invalid 'limit': integer above maximum value. Expected a value <= 100, but got {number} instead.",
        param="limit", code="integer_above_max_value",
    )


def format_duration(seconds: float) -> str:
    """A duration the way the rate-limit headers write it: ``6ms``, ``1s``, ``2.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(math.ceil(seconds * 1000), 0)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


class HeaderMaker:
    """Headers every response carries: request id, API version, and (informational) rate-limit state.

    The request budget refills continuously over a minute; it is reported, never enforced, so the fake is
    never what limits a benchmark.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._used = 0.0
        self._at = time.monotonic()

    def make(self, limit: int, started: float) -> dict[str, str]:
        """Headers for one response of a request that started at ``started`` (monotonic seconds)."""
        number = next(self._counter)
        request_id = "req_" + hashlib.blake2b(f"{self._seed}/{number}".encode(), digest_size=16).hexdigest()
        now = time.monotonic()
        with self._lock:
            refill = (now - self._at) * limit / 60
            self._used = max(self._used - refill, 0.0) + 1
            self._at = now
            used = self._used
        return {
            "x-request-id": request_id,
            "openai-version": OPENAI_VERSION,
            "openai-processing-ms": str(max(int((now - started) * 1000), 1)),
            "x-ratelimit-limit-requests": str(limit),
            "x-ratelimit-remaining-requests": str(max(limit - math.ceil(used), 0)),
            "x-ratelimit-reset-requests": format_duration(used * 60 / limit),
        }
