"""The plain values every stage shares: ``Json`` (a parsed JSON object) and ``iso`` (a moment as ISO-8601 text)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]  # a JSON object as parsed (orjson/json): what the API sends, what files hold


def iso(moment: datetime | float | None = None, timespec: str = "seconds") -> str:
    """``moment`` (a datetime, or unix seconds; default now) in UTC as ISO-8601 text: ``2026-01-01T00:00:00+00:00``."""
    if moment is None:
        moment = datetime.now(UTC)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec=timespec)
