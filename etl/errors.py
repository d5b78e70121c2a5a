"""The one error tree of run-steps-etl.

    EtlError                        base; every error the tool raises on purpose
    ├── InputError                  bad option, id, file or query: the user must change the input (exit 2)
    ├── DestinationError            the destination cannot be used as asked (exit 2)
    │   └── DestinationBusyError    another export holds the destination (exit 2)
    ├── StorageFullError            a write was refused mid-job: disk full, quota, read-only filesystem (exit 1)
    ├── TransformError              an API object does not fit the tables (wrong JSON type, no id): fails its run
    ├── PartialExportError          some runs of an export failed, the rest were written (exit 3)
    ├── DiscoveryError              the runs of some threads could not be listed: a plan would be incomplete
    ├── DataCheckError              a data check of sql/checks found rows that break its rule
    ├── AuthError                   401/403 or insufficient_quota: stops the whole export (exit 4)
    └── ApiError                    an HTTP exchange with the API went wrong
        ├── RetriableApiError       408/409/429/5xx, transport failures, bodies cut short or not JSON
        ├── FatalApiError           400/404 and other 4xx: fails the one run, the others go on
        └── PagingError             a repeated cursor, or has_more with an empty page: fails the run

Whether an error is worth retrying is a property of its class (``retriable``), and so is the exit code it
means (``exit_code``): the CLI exits with it when an error stops a command, and an export that finishes with
failed runs exits 3 by its summary (``ExportSummary.exit_code``) without raising. No message may contain the
API key.
"""

from __future__ import annotations

import errno
import os
import re
import ssl
from typing import Any, ClassVar

import httpx


class EtlError(Exception):
    """Base of every error the tool raises on purpose."""

    exit_code: ClassVar[int] = 1
    retriable: ClassVar[bool] = False


class InputError(EtlError):
    """The user gave an input the tool cannot use; the message says what and how to fix it."""

    exit_code = 2


class DestinationError(EtlError):
    """The destination cannot be opened, read or written as asked."""

    exit_code = 2


class DestinationBusyError(DestinationError):
    """Another export is writing the same part of the destination right now."""


class StorageFullError(EtlError):
    """The storage refused a write during the job (no space, quota, read-only): finished batches are kept."""


class TransformError(EtlError):
    """An object from the API does not fit the tables; the message names the object and the field."""

    def __init__(self, message: str, *, object_id: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.object_id = object_id
        self.field = field


class PartialExportError(EtlError):
    """Some runs could not be exported (each is named in the summary); the rest were written."""

    exit_code = 3


class DiscoveryError(EtlError):
    """The runs of some threads could not be listed, so a plan of the interval would be incomplete."""


class DataCheckError(EtlError):
    """A data check of ``sql/checks`` found rows that break its rule."""


class ApiError(EtlError):
    """An HTTP exchange with the API failed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Build the right error class for a non-2xx response, reading the API's error body."""
        body_message, code, type_ = _error_fields(response)
        status = response.status_code
        request_id = response.headers.get("x-request-id")
        message = f"HTTP {status}"
        if code:
            message += f" {code}"
        if body_message:
            message += f": {body_message}"
        kind: type[ApiError]
        if status in (401, 403) or code == "insufficient_quota" or type_ == "insufficient_quota":
            kind = AuthError
        elif status in (408, 409, 429) or status >= 500:
            kind = RetriableApiError
        else:
            kind = FatalApiError
        return kind(message, status=status, code=code, request_id=request_id)


class AuthError(ApiError):
    """Authentication, permission or quota refused: retrying cannot help, the export stops."""

    exit_code = 4


class UntrustedServerError(AuthError):
    """The server's TLS certificate was refused: no request to it can succeed, the export stops (exit 4)."""


class RetriableApiError(ApiError):
    """A failure that may go away on a later attempt."""

    retriable = True


class FatalApiError(ApiError):
    """A failure of one request that retrying cannot fix; it fails the run it belongs to."""


class PagingError(ApiError):
    """The server's paging broke its contract (repeated cursor, has_more with no data)."""


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    """Read message, code and type from an OpenAI error body, tolerating any shape."""
    try:
        body: Any = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return None, None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None, None

    def text(key: str) -> str | None:
        value = error.get(key)
        return value if isinstance(value, str) else None

    return text("message"), text("code"), text("type")


# The storage's refusals that come mid-job, whatever the input: not an input error (exit 2) but exit 1.
_FULL = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only filesystem"}
_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def storage_full(context: str, exc: BaseException) -> StorageFullError | None:
    """A ``StorageFullError`` when ``exc`` says the disk is full, over quota or read-only; else None."""
    text = str(exc)
    reason = _FULL.get(getattr(exc, "errno", None) or 0)
    if reason is None:
        reason = next((t.lower() for t in _FULL_TEXT if t in text), None)
    if reason is None:
        return None
    return StorageFullError(
        f"{context}: {reason}: free space (or choose a writable destination) and run the same command again; "
        "every batch finished before this one is kept"
    )


_VERIFY_FAILED = re.compile(r"(?:certificate verify failed|OpenSSL verify result): ([^(\n]+)")


def certificate_refusal(exc: BaseException) -> str | None:
    """``(<OpenSSL's reason>): <what to do>`` when ``exc`` came from refusing a server's certificate; else None.

    The reason is found in the exception chain (httpx's error, httpcore's, then OpenSSL's), or in the text of a
    library that folds its causes into one message (azure-identity's credential chain, the AWS SDK's curl error).
    """
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short, and may loop
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return refusal_text(str(seen.verify_message or seen.reason or "certificate verify failed"))
        seen = seen.__cause__ or seen.__context__
    found = _VERIFY_FAILED.search(str(exc))
    return refusal_text(found.group(1).strip()) if found else None


def refusal_text(reason: str) -> str:
    """``(reason): what to do`` for one of OpenSSL's reasons for refusing a certificate."""
    reason = reason.strip().rstrip(".")
    words = reason.lower()
    if "expired" in words or "not yet valid" in words:
        advice = "check this machine's clock, or have the server's certificate renewed"
    elif "mismatch" in words:
        advice = "the certificate is another host's: check the URL, and that no proxy answers in its place"
    else:
        bundle = os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
        if bundle:
            advice = (
                f"the CAs in {bundle} do not include the one that signed it: give a bundle that does with --ca-bundle"
            )
        else:
            advice = (
                "if a proxy or a private CA signs it, give a bundle holding that CA with --ca-bundle (it replaces the"
                " default CAs: include those still needed)"
            )
    return f"({reason}): {advice}"
