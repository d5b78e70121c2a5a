"""When to retry a request and how long to wait: pure functions over status, headers and attempt number.

The rules follow openai-python's client: retry 408, 409, 429 and 5xx (and every transport failure);
``x-should-retry`` overrides the status; the server's wait comes from ``retry-after-ms``, then
``retry-after`` (seconds or an HTTP date); otherwise exponential backoff with jitter,
``min(base * 2**n, cap) * (1 - 0.25 * random())``.

A server wait longer than ``max_retry_after`` (120 s, as openai-python) is not waited for: the request
gives up at once and its run is recorded as failed, so a later export picks it up. Waiting less than the
server asked would only earn more 429s, and waiting minutes per request would stall the whole export.
"""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRIABLE_STATUSES = frozenset({408, 409, 429})
MAX_RETRY_AFTER = 120.0

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def is_retriable_status(status: int, headers: Mapping[str, str]) -> bool:
    """True when a response with this status is worth another attempt (``x-should-retry`` wins)."""
    override = headers.get("x-should-retry", "").strip().lower()
    if override == "true":
        return True
    if override == "false":
        return False
    return status in RETRIABLE_STATUSES or status >= 500


OPENAI_RETRY_HEADERS: tuple[tuple[str, float], ...] = (("retry-after-ms", 0.001), ("retry-after", 1.0))


def server_wait(
    headers: Mapping[str, str],
    now: Callable[[], float] = time.time,
    names: tuple[tuple[str, float], ...] = OPENAI_RETRY_HEADERS,
) -> float | None:
    """The wait the server asked for, in seconds, from the first of ``names`` (header, seconds per unit) it sent.

    The default is OpenAI's ``retry-after-ms`` then ``retry-after``; the provider description names its own.
    ``retry-after`` may also be an HTTP date. None if no such header was sent.
    """
    for name, unit in names:
        value = headers.get(name)
        if value is None:
            continue
        number = _finite(value)
        if number is not None:
            return number * unit
        if unit == 1.0:  # seconds may also be given as an HTTP date
            try:
                return parsedate_to_datetime(value).timestamp() - now()
            except (TypeError, ValueError, IndexError):
                continue
    return None


def backoff(retries_taken: int, base: float = 0.5, cap: float = 8.0, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with up to 25% jitter taken off, as openai-python computes it."""
    return min(base * 2.0**retries_taken, cap) * (1 - 0.25 * rng())


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration as sent in ``x-ratelimit-reset-*`` ("1s", "6m0s", "20ms"); None if not one."""
    text = text.strip()
    if not text:
        return None
    total, pos = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        return _finite(text)  # a bare number: seconds
    return total


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries a request gets and how long it waits between them."""

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = MAX_RETRY_AFTER

    def delay(self, retries_taken: int, asked: float | None = None) -> float | None:
        """Seconds to wait before the next attempt: the server's wait ``asked`` when usable, else backoff.

        None when the server asked for more than ``max_retry_after``: give up (see the module docstring).
        """
        if asked is not None and asked > self.max_retry_after:
            return None
        if asked is not None and asked > 0:
            return asked
        return backoff(retries_taken, self.backoff_base, self.backoff_cap)


def _finite(value: str | None) -> float | None:
    """A finite float from text, or None."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
