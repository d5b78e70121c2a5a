"""One archived response as one JSON line: the request, the response's status and headers, and the body as received.

    {"v": 1, "fetched_at": "2026-11-25T09:38:50.123456Z", "method": "GET",
     "path": "/threads/thread_a/runs/run_b/steps", "query": [["limit", "100"], ["order", "asc"]],
     "status": 200, "headers": {"x-request-id": "req_1"}, "body_encoding": "text", "body": "{\\"object\\": ..."}

The body keeps every byte: as a JSON string when it is valid UTF-8 (``body_encoding: "text"``; API bodies
always are, and decoding then re-encoding UTF-8 is lossless), else base64 (``"base64"``). It is not parsed
on the way in, so a body the client rejected (cut short, not JSON) is archived exactly as it came.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

FORMAT_VERSION = 1
# Query parameters that could carry a credential: never written, whatever a caller passes.
_SECRET_PARAMS = frozenset({"key", "api-key", "api_key", "apikey", "access_token", "token", "sig", "signature"})


class ArchiveFormatError(ValueError):
    """A line that is not an archived response; the message says what is wrong with it."""


@dataclass(frozen=True)
class ArchivedResponse:
    """One response read back from an archive."""

    fetched_at: datetime
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    status: int
    headers: Mapping[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        """The last value sent for a query parameter, or None."""
        value = None
        for key, sent in self.query:
            if key == name:
                value = sent
        return value


def encode_line(
    *,
    fetched_at: datetime,
    method: str,
    path: str,
    query: tuple[tuple[str, str], ...],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
) -> bytes:
    """One archive line (with its newline) for a response."""
    try:
        text: str = body.decode("utf-8")
        encoding = "text"
    except UnicodeDecodeError:
        text = base64.b64encode(body).decode("ascii")
        encoding = "base64"
    record = {
        "v": FORMAT_VERSION,
        "fetched_at": fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "method": method,
        "path": path,
        "query": [[k, v] for k, v in query if k.lower() not in _SECRET_PARAMS],
        "status": status,
        "headers": dict(headers),
        "body_encoding": encoding,
        "body": text,
    }
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def decode_line(line: bytes) -> ArchivedResponse:
    """Read one archive line back; raises ``ArchiveFormatError`` for anything else."""
    try:
        record: Any = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ArchiveFormatError(f"not JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("v") != FORMAT_VERSION:
        raise ArchiveFormatError(f"not an archived response of format version {FORMAT_VERSION}")
    try:
        body = _body(record["body"], record["body_encoding"])
        fetched_at = datetime.fromisoformat(record["fetched_at"])
        query = tuple((str(k), str(v)) for k, v in record["query"])
        headers = {str(k): str(v) for k, v in record["headers"].items()}
        return ArchivedResponse(
            fetched_at=fetched_at if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC),
            method=str(record["method"]),
            path=str(record["path"]),
            query=query,
            status=int(record["status"]),
            headers=headers,
            body=body,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArchiveFormatError(f"archived response with a missing or malformed field ({exc!r})") from None


def _body(text: Any, encoding: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("body is not a string")
    if encoding == "text":
        return text.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"body is not base64: {exc}") from None
    raise ValueError(f"unknown body_encoding {encoding!r}")
