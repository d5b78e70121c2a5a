"""The one HTTP client of an export: headers, safety checks, bounded bodies, retries and the shared pause.

``ApiClient.get_json(path, params)`` is the only way extract talks to the API. It sends over one httpx
transport (keep-alive connections in ``lanes``, as many as runs in flight), reads the body while counting
it against ``max_body_bytes``, parses it with orjson once and retries what ``etl.extract.retry`` says is
worth retrying.

Requests go straight to the transport rather than through ``httpx.AsyncClient``: the client's per-request
work (merging the base URL and parameters: three URL parses; a cookie-jar round trip) was most of the CPU a
request costs, and with many requests in flight that CPU is what keeps an export from running at the speed
the API's latency allows (figures: README, Benchmarks, "Measurements behind the design"). What the client
would add is not wanted here anyway: no redirects are followed, no cookies kept; environment proxies are
chosen once for the one base URL (``etl.config.proxy_for``); timeouts travel with each request. A 429 or an
exhausted rate-limit budget pauses every request of the client, not just the one that was told. No message, log
line or record carries the API key.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from etl.config import DEFAULT_BASE_URL, Secret, Settings, mask_fragments, proxy_for
from etl.errors import (
    ApiError,
    AuthError,
    FatalApiError,
    InputError,
    RetriableApiError,
    UntrustedServerError,
    certificate_refusal,
)
from etl.extract.auth import TokenSource, with_credential
from etl.extract.lanes import LaneTransport
from etl.extract.limiter import SharedPause
from etl.extract.retry import RetryPolicy, is_retriable_status, parse_duration, server_wait
from etl.providers import AuthKind

log = logging.getLogger(__name__)

# Response headers worth keeping next to a raw body: who answered, and how much budget was left.
RECORDED_HEADERS = (
    "x-request-id",
    "openai-processing-ms",
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)
_KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_*.\-]+")


@dataclass(frozen=True)
class ResponseRecord:
    """One response as received, for a raw archive: where it came from and its undecoded body."""

    method: str
    path: str  # relative to the base URL, e.g. /threads/thread_x/runs/run_y/steps
    query: tuple[tuple[str, str], ...]  # the query parameters sent (never a secret)
    status: int
    headers: Mapping[str, str]  # only RECORDED_HEADERS
    fetched_at: datetime
    body: bytes


# When the latest response of the current asyncio task arrived. A context variable, so each of the many runs in
# flight (one task each) sees its own: a run's rows get the arrival time of its last page, the same moment the
# raw archive records for that page, so a replay of the archive rebuilds the same extracted_at.
_last_fetched_at: ContextVar[datetime | None] = ContextVar("last_fetched_at", default=None)


def last_fetched_at() -> datetime | None:
    """When the latest response received by the current task arrived (None before any)."""
    return _last_fetched_at.get()


@dataclass
class ClientStats:
    """What one client did: attempts sent, retries, responses by status, transport failures, bytes read."""

    requests: int = 0
    retries: int = 0
    transport_errors: int = 0
    bytes_received: int = 0
    rate_limit_pauses: int = 0
    by_status: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for the export summary."""
        return {
            "requests": self.requests,
            "retries": self.retries,
            "transport_errors": self.transport_errors,
            "bytes_received": self.bytes_received,
            "rate_limit_pauses": self.rate_limit_pauses,
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
        }


def request_headers(settings: Settings) -> dict[str, str]:
    """The headers every request carries: the provider's own and its auth header for a given secret, org/project."""
    provider = settings.provider_spec
    headers = {
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
        **provider.headers,
        "User-Agent": settings.user_agent,
    }
    key = settings.api_key.reveal()
    if key:
        headers[provider.auth.header] = provider.auth.header_value(key)
    if provider.sends_openai_account_headers:
        if settings.organization:
            headers["OpenAI-Organization"] = settings.organization
        if settings.project:
            headers["OpenAI-Project"] = settings.project
    return headers


def check_base_url(settings: Settings) -> httpx.URL:
    """The base URL, refused (``InputError``) when it is not http(s) or would carry the key in clear text."""
    try:
        url = httpx.URL(settings.base_url)
    except httpx.InvalidURL as exc:
        raise InputError(f"base URL is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InputError(f"base URL must start with https:// (or http:// for a local server), not {url.scheme!r}")
    if url.query or url.fragment:
        raise InputError("base URL must not have a query or fragment: give the path only (Azure: --azure-api-version)")
    provider = settings.provider_spec
    if provider.default_base_url is None and settings.base_url == DEFAULT_BASE_URL:
        hint = provider.base_url_hint
        raise InputError(f"provider {provider.name} has no default base URL: pass --base-url ({hint})")
    sends_secret = bool(settings.api_key) or provider.auth.kind is AuthKind.ENTRA
    if url.scheme == "http" and sends_secret and not settings.allow_insecure_http and not _is_loopback(url.host):
        raise InputError(
            f"refusing to send the API key over plain http to {url.host}: use https, "
            "or pass --allow-insecure-http if this network is trusted"
        )
    return url


class ApiClient:
    """An async client for the API's GET endpoints; use as ``async with ApiClient(settings) as client``."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_response: Callable[[ResponseRecord], None] | None = None,
        backoff_base: float = 0.5,
        max_connections: int | None = None,
    ) -> None:
        provider = settings.provider_spec
        if provider.auth.kind is AuthKind.ENTRA and not settings.api_key:
            settings = with_credential(settings)
        self.settings = settings
        self.provider = provider
        # Entra ID: a token per request, refreshed before it expires; otherwise the secret sits in the headers.
        self.tokens = (
            TokenSource(settings.credential, provider.auth.token_scope or "")
            if settings.credential is not None and not settings.api_key
            else None
        )
        self._token_headers: tuple[Secret, httpx.Headers] | None = None
        self.policy = RetryPolicy(max_retries=settings.max_retries, backoff_base=backoff_base)
        self.stats = ClientStats()
        self._pause = SharedPause()
        self._on_response = on_response
        base = str(check_base_url(settings)).rstrip("/")
        # Where the API family lives under the given URL (Foundry's /openai/v1), unless the URL says so already.
        self._base_url = base if base.endswith(provider.base_path) else base + provider.base_path
        self._fixed_params = provider.fixed_params(settings.api_version_value)
        self._headers = httpx.Headers(request_headers(settings))
        # No pool timeout: waiting for a free connection is our own queueing, not a fault of the server.
        timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout, pool=None)
        # total_timeout: --timeout bounds the whole exchange, connect to last byte (etl.extract.lanes).
        self._extensions = {"timeout": timeout.as_dict(), "total_timeout": settings.timeout}
        # HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured (etl.config.proxy_for): one base URL, one route.
        lanes = max_connections or settings.concurrency
        self._transport = transport if transport is not None else LaneTransport(lanes, proxy=proxy_for(self._base_url))

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._transport.aclose()

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self.settings.base_url!r})"

    async def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        """GET ``path`` (relative to the base URL) and return the parsed JSON body, retrying as the policy says.

        Raises ``AuthError`` at once for 401/403/insufficient_quota, ``FatalApiError`` for other 4xx, and the
        last ``RetriableApiError`` once ``max_retries`` retries are spent.
        """
        retries = 0
        renewed = False
        while True:
            await self._pause.wait()
            try:
                return await self._attempt(path, params)
            except _StaleToken as stale:
                # The server found the token expired (clocks differ): one new token, one more try.
                if renewed or self.tokens is None:
                    raise stale.error from None
                self.tokens.invalidate(stale.token)
                renewed = True
            except RetriableApiError as exc:
                wait = self.policy.delay(retries, exc.retry_after)
                if wait is None or retries >= self.policy.max_retries:
                    raise self._gave_up(exc, retries, wait is None) from exc.__cause__
                if exc.status == 429:
                    self._pause.pause_for(wait)
                    self.stats.rate_limit_pauses = self._pause.pauses
                retries += 1
                self.stats.retries += 1
                log.info("retry %d of %d in %.2f s: %s", retries, self.policy.max_retries, wait, exc)
                await asyncio.sleep(wait)

    async def _attempt(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        """One HTTP exchange: the parsed body of a 2xx, or the matching ``ApiError``."""
        self.stats.requests += 1
        query = urlencode((*self._fixed_params, *params))
        url = f"{self._base_url}{path}?{query}" if query else self._base_url + path
        token = await self.tokens.token() if self.tokens is not None else None
        headers = self._headers if token is None else self._with_token(token)
        request = httpx.Request("GET", url, headers=headers, extensions=self._extensions)
        try:
            response = await self._transport.handle_async_request(request)
            response.request = request
            try:
                body = await self._read_body(response, path)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            self.stats.transport_errors += 1
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise RetriableApiError(self._where(f"timed out ({why})", path)) from exc
        except httpx.RequestError as exc:
            # Connection refused or dropped, body cut short (RemoteProtocolError), broken compression...
            self.stats.transport_errors += 1
            refused = certificate_refusal(exc)
            if refused is not None:  # the same for every request: retrying, or going on with other runs, is no use
                host = httpx.URL(self._base_url).netloc.decode()
                raise UntrustedServerError(self.scrub(f"the TLS certificate of {host} was refused {refused}")) from exc
            raise RetriableApiError(self._where(f"{type(exc).__name__}: {exc}", path)) from exc
        fetched_at = datetime.now(UTC)
        _last_fetched_at.set(fetched_at)
        status = response.status_code
        headers = response.headers
        self.stats.by_status[status] += 1
        request_id = headers.get("x-request-id")
        self._note_rate_limit(headers)
        if 200 <= status < 300:
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise RetriableApiError(
                    self._where(f"HTTP {status} with a body that is not valid JSON", path, request_id),
                    status=status,
                    request_id=request_id,
                ) from None
            self._record(response, path, body, fetched_at)
            return data
        self._record(response, path, body, fetched_at)
        error = self._status_error(response, body, path)
        if token is not None and status == 401 and not self._permission_denied(error):
            raise _StaleToken(token, error)
        raise error

    def _with_token(self, token: Secret) -> httpx.Headers:
        """The request headers with ``token`` as the auth header (built once per token, not per request)."""
        if self._token_headers is None or self._token_headers[0] != token:
            headers = self._headers.copy()
            auth = self.provider.auth
            headers[auth.header] = auth.header_value(token.reveal())
            self._token_headers = (token, headers)
        return self._token_headers[1]

    def _permission_denied(self, error: ApiError) -> bool:
        code = self.provider.permission_code
        return code is not None and error.code == code

    async def _read_body(self, response: httpx.Response, path: str) -> bytes:
        """The whole (decoded) body, refused as soon as it grows past ``max_body_bytes``."""
        cap = self.settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._too_large(response, path)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise self._too_large(response, path)
        self.stats.bytes_received += len(body)
        return bytes(body)

    def _too_large(self, response: httpx.Response, path: str) -> FatalApiError:
        message = f"HTTP {response.status_code} body larger than the {self.settings.max_body_bytes} byte cap"
        request_id = response.headers.get("x-request-id")
        return FatalApiError(self._where(message, path, request_id), status=response.status_code, request_id=request_id)

    def _status_error(self, response: httpx.Response, body: bytes, path: str) -> ApiError:
        """The error for a non-2xx response: the API's own message, where it happened, retriable or not."""
        parsed = ApiError.from_response(httpx.Response(response.status_code, headers=response.headers, content=body))
        status = response.status_code
        kind: type[ApiError]
        if self._permission_denied(parsed) and status in (401, 403):
            kind = AuthError
            parsed.message += f": {self.provider.permission_hint}"
        elif isinstance(parsed, AuthError):
            kind = AuthError
        elif 300 <= status < 400:
            kind = FatalApiError
            parsed.message += " (redirects are not followed: check the base URL)"
        elif is_retriable_status(status, response.headers):
            kind = RetriableApiError
        else:
            kind = FatalApiError
        return kind(
            self._where(parsed.message, path, parsed.request_id),
            status=status,
            code=parsed.code,
            request_id=parsed.request_id,
            retry_after=server_wait(response.headers, names=self.provider.retry_after_headers),
        )

    def _gave_up(self, exc: RetriableApiError, retries: int, wait_too_long: bool) -> RetriableApiError:
        """The final error of a request that will not be tried again, saying why."""
        if wait_too_long:
            cap = self.policy.max_retry_after
            reason = f"server asked to retry after {exc.retry_after:.0f} s (over the {cap:.0f} s cap)"
        else:
            reason = f"gave up after {retries} retries"
        return RetriableApiError(
            f"{exc.message}; {reason}",
            status=exc.status,
            code=exc.code,
            request_id=exc.request_id,
            retry_after=exc.retry_after,
        )

    def _note_rate_limit(self, headers: httpx.Headers) -> None:
        """Pause every request until the request budget resets when a response says none is left."""
        if headers.get("x-ratelimit-remaining-requests", "").strip() != "0":
            return
        reset = parse_duration(headers.get("x-ratelimit-reset-requests", ""))
        if reset is not None and reset > 0:
            self._pause.pause_for(min(reset, self.policy.max_retry_after))
            self.stats.rate_limit_pauses = self._pause.pauses

    def _record(self, response: httpx.Response, path: str, body: bytes, fetched_at: datetime) -> None:
        if self._on_response is None:
            return
        self._on_response(
            ResponseRecord(
                method=response.request.method,
                path=path,
                query=tuple(response.request.url.params.multi_items()),
                status=response.status_code,
                headers={name: response.headers[name] for name in RECORDED_HEADERS if name in response.headers},
                fetched_at=fetched_at,
                body=body,
            )
        )

    def _where(self, message: str, path: str, request_id: str | None = None) -> str:
        """``message (GET path) [request id]`` with anything that looks like the key masked."""
        text = f"{message} (GET {path})"
        if request_id:
            text += f" [request id {request_id}]"
        return self.scrub(text)

    def scrub(self, text: str) -> str:
        """``text`` with the API key, anything shaped like an OpenAI key, and what a server shows of a key or token
        it refuses (``sk-ab***yz``) replaced by ``***``."""
        secrets = [self.settings.api_key.reveal()]
        if self._token_headers is not None:
            secrets.append(self._token_headers[0].reveal())
        for secret in secrets:
            if secret:
                text = text.replace(secret, "***")
        return mask_fragments(_KEY_LIKE.sub("sk-***", text))


class _StaleToken(Exception):
    """A 401 to a request that carried an Entra ID token: renew the token once before giving up."""

    def __init__(self, token: Secret, error: ApiError) -> None:
        super().__init__("stale token")
        self.token = token
        self.error = error


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
