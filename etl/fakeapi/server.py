"""The aiohttp application: routes, header checks, parameters, latency, faults and request accounting.

Every request goes through, in order: accounting (counted on arrival), fault injection, the key and
beta-header checks, the quota switch, the endpoint, and then the latency (the answer waits, ready).
Paths are served under ``/v1`` (OpenAI), ``/openai`` and ``/openai/v1`` (Azure-shaped base URLs).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from etl.config import FILE_SEARCH_CONTENT_INCLUDE
from etl.fakeapi import faults, foundry, responses
from etl.fakeapi.config import FakeConfig, FaultKind
from etl.fakeapi.dataset import Dataset, NotFoundError
from etl.fakeapi.paging import PageQuery, UnknownCursorError
from etl.fakeapi.responses_api import KINDS as RESPONSES_KINDS
from etl.fakeapi.responses_api import ResponsesEndpoints, Route
from etl.fakeapi.responses_data import ResponsesData

RUNS_LIST, RUN_GET, STEPS_LIST, STEP_GET, OTHER = "runs_list", "run_get", "steps_list", "step_get", "other"
THREADS_LIST, THREAD_GET = "threads_list", "thread_get"
ASSISTANTS_LIST, ASSISTANT_GET = "assistants_list", "assistant_get"
PREFIXES = ("/v1", "/openai", "/openai/v1")
FOUNDRY_PREFIX = "/api/projects/{project}"  # the foundry flavor serves only here
FOUNDRY_V1 = "/openai/v1"  # a Foundry project's OpenAI-compatible v1 API (new agents): no api-version needed
STATS_PATH = "/_fake/stats"  # not part of the API: no key needed, not logged
# Request headers worth keeping in the log (never the key headers).
_LOGGED_HEADERS = ("OpenAI-Beta", "OpenAI-Organization", "OpenAI-Project", "User-Agent", "x-stainless-retry-count")


@dataclass
class RequestRecord:
    """One request as the fake saw it; ``status`` is None when no complete response was sent."""

    method: str
    path: str
    query: str
    kind: str
    status: int | None = None
    fault: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    elapsed_ms: float | None = None  # from arrival to the last byte written (latency included)


class RequestLog:
    """Every request the fake received, counted by endpoint kind on arrival; resettable."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        """Record a request on arrival (its status is filled in when it is answered)."""
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[RequestRecord]:
        """A snapshot of the records, oldest first."""
        with self._lock:
            return list(self._records)

    def counts(self) -> Counter[str]:
        """Requests by kind: runs_list, run_get, steps_list, step_get, other."""
        return Counter(record.kind for record in self.records)

    def count(self, kind: str | None = None, *, status: int | None = None) -> int:
        """Requests of one kind (all kinds if None), optionally only those answered with ``status``."""
        return sum(
            1 for r in self.records if (kind is None or r.kind == kind) and (status is None or r.status == status)
        )

    def reset(self) -> None:
        """Forget every request."""
        with self._lock:
            self._records.clear()


class ServerState:
    """What the handlers share: the dataset, the current options, the log and the fault plan."""

    def __init__(self, config: FakeConfig, dataset: Dataset | None = None) -> None:
        self.config = config
        self.dataset = dataset if dataset is not None else Dataset(config)
        self.log = RequestLog()
        self.faults = faults.FaultPlan()
        self.headers = responses.HeaderMaker(config.seed)
        self.tokens = foundry.TokenIssuer(config.token_lifetime, clock=lambda: time.time())
        self._responses_data: ResponsesData | None = None
        self._responses_lock = threading.Lock()

    @property
    def responses_data(self) -> ResponsesData:
        """The Responses and Conversations data, made on first use (most fakes serve only run steps)."""
        with self._responses_lock:
            if self._responses_data is None:
                config = self.config
                self._responses_data = ResponsesData(
                    config.seed,
                    config.start_ts,
                    conversations=config.conversations,
                    chains=config.chains,
                    agents=config.flavor == "foundry",
                )
            return self._responses_data

    @property
    def foundry(self) -> bool:
        """True when the fake serves a Foundry project (classic agents) rather than OpenAI's paths."""
        return self.config.flavor == "foundry"


def create_app(state: ServerState) -> web.Application:
    """The aiohttp application serving ``state``."""
    app = web.Application(middlewares=[_middleware(state)])
    endpoints = _Endpoints(state)
    routes: list[Route] = [
        ("/threads/{thread_id}/runs", endpoints.list_runs, RUNS_LIST),
        ("/threads/{thread_id}/runs/{run_id}", endpoints.get_run, RUN_GET),
        ("/threads/{thread_id}/runs/{run_id}/steps", endpoints.list_steps, STEPS_LIST),
        ("/threads/{thread_id}/runs/{run_id}/steps/{step_id}", endpoints.get_step, STEP_GET),
        ("/assistants/{assistant_id}", endpoints.get_assistant, ASSISTANT_GET),
    ]
    successors = ResponsesEndpoints(
        lambda: state.responses_data, listing=state.foundry, conversations=state.config.conversations_api
    ).routes()
    if state.foundry:  # a Foundry project: OpenAI has no thread listing
        routes += [
            ("/threads", endpoints.list_threads, THREADS_LIST),
            ("/threads/{thread_id}", endpoints.get_thread, THREAD_GET),
            ("/assistants", endpoints.list_assistants, ASSISTANTS_LIST),
        ]
        # The new agents: the Responses and Conversations APIs under the project's /openai/v1, and their lists.
        routes += [(FOUNDRY_V1 + path, handler, kind) for path, handler, kind in successors]
    else:
        routes += successors
    for number, prefix in enumerate((FOUNDRY_PREFIX,) if state.foundry else PREFIXES):
        for path, handler, kind in routes:
            app.router.add_get(prefix + path, handler, name=f"{kind}.p{number}", allow_head=False)
    return app


def _kind(request: web.Request) -> str:
    route = request.match_info.route
    name = route.name if route is not None else None
    return name.split(".")[0] if name else OTHER


def _middleware(state: ServerState) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        if request.path == STATS_PATH:
            return _stats(state.log, request)
        if request.path == foundry.IDENTITY_PATH:  # Foundry's and Azure OpenAI's Entra ID tokens
            return _identity(state, request)
        record = RequestRecord(
            request.method,
            request.path,
            request.query_string,
            _kind(request),
            headers={name: request.headers[name] for name in _LOGGED_HEADERS if name in request.headers},
        )
        state.log.add(record)
        config = state.config
        fault = None
        if config.fault_rate:
            key = faults.request_key(request.method, request.path, list(request.query.items()))
            fault = state.faults.decide(config, key)
            record.fault = fault.value if fault else None
        headers = state.headers.make(config.rate_limit_requests, started)
        response: web.StreamResponse | None = faults.status_fault(fault, config, headers) if fault else None
        if response is None and fault is not FaultKind.DROP:
            # The Responses API takes no OpenAI-Beta header; a path not served at all is an Invalid URL either way.
            beta = _kind(request) not in RESPONSES_KINDS | {OTHER}
            check = (
                _check_foundry(request, state)
                if state.foundry
                else _check_headers(request, config, beta=beta, tokens=state.tokens)
            )
            response = check or await _call(handler, request)
            response.headers.update(headers)
        # The answer is ready before the latency is served: a burst of requests that wake together then
        # only has to be written out, so many concurrent requests add little beyond the latency.
        delay = config.latency_ms / 1000 - (time.monotonic() - started)
        if delay > 0:
            await asyncio.sleep(delay)
        if response is None:
            return faults.drop_connection(request)
        if fault is FaultKind.SLOW:
            await faults.slow_down(config)
        if fault is FaultKind.CUT_BODY and isinstance(response, web.Response):
            return await faults.cut_body(request, response)
        record.status = response.status
        # Written here rather than by aiohttp, so the record knows when the last byte was handed to the kernel.
        await response.prepare(request)
        await response.write_eof()
        record.elapsed_ms = (time.monotonic() - started) * 1000
        return response

    return middleware


def _stats(log: RequestLog, request: web.Request) -> web.Response:
    """``GET /_fake/stats[?last=N]``: request counts and server-side times, for a fake in another process."""
    records = log.records
    last = request.query.get("last", "")
    if last.isdigit():
        records = records[-int(last) :]
    times = sorted(r.elapsed_ms for r in records if r.elapsed_ms is not None)
    summary = {
        "requests": len(records),
        "by_kind": Counter(r.kind for r in records),
        "by_status": Counter(str(r.status) for r in records),
        "elapsed_ms": {
            "median": statistics.median(times) if times else None,
            "p95": times[max(int(len(times) * 0.95) - 1, 0)] if times else None,
            "max": times[-1] if times else None,
        },
    }
    return web.Response(body=orjson.dumps(summary), content_type="application/json")


async def _call(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.path.startswith("/openai/"):  # Azure OpenAI answers a path it lacks with its own body
            return responses.azure_error(404, "Resource not found")
        return responses.invalid_url(request.method, request.path)
    except web.HTTPMethodNotAllowed:
        return responses.error_response(405, f"Invalid method for URL ({request.method} {request.path})")


def _check_headers(
    request: web.Request, config: FakeConfig, *, beta: bool = True, tokens: foundry.TokenIssuer | None = None
) -> web.Response | None:
    """The key (Azure: or an Entra ID token), Azure api-version, beta header and quota checks; None when the
    request may proceed."""
    authorization = request.headers.get("Authorization")
    azure_key = request.headers.get("api-key")
    azure = request.path.startswith("/openai") or (azure_key is not None and authorization is None)
    bearer = _bearer(authorization)
    if azure:
        if azure_key is None and tokens is not None and bearer and bearer.startswith(foundry.TOKEN_PREFIX):
            # Azure OpenAI also takes Entra ID tokens, for its own audience (not Foundry's https://ai.azure.com).
            if tokens.check(bearer, audience=foundry.AZURE_OPENAI_AUDIENCE) is not None:
                return responses.azure_error(
                    401, "Access token is missing, invalid, audience is incorrect "
                    f"({foundry.AZURE_OPENAI_AUDIENCE}), or have expired.", code="Unauthorized",
                )  # fmt: skip
        elif (azure_key if azure_key is not None else bearer) != config.api_key:
            return responses.azure_error(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                "valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )
        if "api-version" not in request.query and not request.path.startswith("/openai/v1/"):
            return responses.azure_error(404, "Resource not found")
    else:
        if not authorization:
            return responses.missing_key()
        given = _bearer(authorization)
        if given != config.api_key:
            return responses.wrong_key(given or "")
        sent = request.headers.get("OpenAI-Beta")
        if beta and "assistants=v2" not in [part.strip() for part in (sent or "").split(",")]:
            return responses.bad_beta(sent)
    if config.quota_exhausted:
        return responses.quota_exhausted()
    return None


def _check_foundry(request: web.Request, state: ServerState) -> web.Response | None:
    """Foundry's checks: api-version, then the bearer token (audience, expiry, the agents data action)."""
    v1 = f"{FOUNDRY_V1}/" in request.path
    if not request.query.get("api-version") and not v1:
        return responses.azure_error(
            400,
            "The api-version query parameter (?api-version=) is required for all requests.",
            code="MissingApiVersionParameter",
        )
    token = _bearer(request.headers.get("Authorization"))
    problem = "missing" if not token else state.tokens.check(token)
    if problem == "denied":
        return responses.azure_error(
            401,
            f"The principal `{foundry.NO_ROLE_PRINCIPAL}` lacks the required data action `{foundry.DATA_ACTION}` "
            f"to perform `GET {request.path}` operation.",
            code="PermissionDenied",
        )
    if problem is not None:
        if problem == "expired":
            message = "Access token has expired."
        else:
            message = "Access token is missing, invalid, audience is incorrect (https://ai.azure.com), or have expired."
        return responses.azure_error(401, message, code="Unauthorized")
    if state.config.quota_exhausted:
        return responses.quota_exhausted()
    return None


def _identity(state: ServerState, request: web.Request) -> web.Response:
    """The App Service managed-identity token endpoint (``IDENTITY_ENDPOINT``): a fresh short-lived token."""
    if not request.headers.get("X-IDENTITY-HEADER"):
        return responses.error_response(400, "X-IDENTITY-HEADER is required")
    resource = request.query.get("resource", "")
    principal = request.query.get("client_id") or "agent-user"
    body = foundry.identity_body(state.tokens, resource, principal, state.config.token_lifetime)
    return web.Response(body=body, content_type="application/json")


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class _Endpoints:
    """The GET endpoints: runs and steps; with the foundry flavor also threads and assistants."""

    def __init__(self, state: ServerState) -> None:
        self.dataset = state.dataset

    async def list_threads(self, request: web.Request) -> web.Response:
        query = _page_query(request)
        if isinstance(query, web.Response):
            return query
        return _serve(lambda: self.dataset.threads_page(query))

    async def get_thread(self, request: web.Request) -> web.Response:
        return _serve(lambda: self.dataset.thread_json(request.match_info["thread_id"]))

    async def list_assistants(self, request: web.Request) -> web.Response:
        query = _page_query(request)
        if isinstance(query, web.Response):
            return query
        return _serve(lambda: self.dataset.assistants_page(query))

    async def get_assistant(self, request: web.Request) -> web.Response:
        return _serve(lambda: self.dataset.assistant_json(request.match_info["assistant_id"]))

    async def list_runs(self, request: web.Request) -> web.Response:
        query = _page_query(request)
        if isinstance(query, web.Response):
            return query
        return _serve(lambda: self.dataset.runs_page(request.match_info["thread_id"], query))

    async def get_run(self, request: web.Request) -> web.Response:
        info = request.match_info
        return _serve(lambda: self.dataset.run_json(info["thread_id"], info["run_id"]))

    async def list_steps(self, request: web.Request) -> web.Response:
        query = _page_query(request)
        include = _include_content(request)
        if isinstance(query, web.Response):
            return query
        if isinstance(include, web.Response):
            return include
        info = request.match_info
        return _serve(
            lambda: self.dataset.steps_page(info["thread_id"], info["run_id"], query, include_content=include)
        )

    async def get_step(self, request: web.Request) -> web.Response:
        include = _include_content(request)
        if isinstance(include, web.Response):
            return include
        info = request.match_info
        return _serve(
            lambda: self.dataset.step_json(info["thread_id"], info["run_id"], info["step_id"], include_content=include)
        )


def _serve(body: Callable[[], bytes]) -> web.Response:
    try:
        data = body()
    except NotFoundError as exc:
        return responses.not_found(exc.message)
    except UnknownCursorError as exc:
        return responses.error_response(400, str(exc), param=exc.param, code="invalid_value")
    return web.Response(body=data, content_type="application/json")


def _page_query(request: web.Request) -> PageQuery | web.Response:
    """``limit``/``order``/``after``/``before`` from the query string, or the API's 400."""
    query = request.query
    limit_text = query.get("limit", "20")
    try:
        limit = int(limit_text)
    except ValueError:
        return responses.invalid_limit(limit_text)
    if not 1 <= limit <= 100:
        return responses.invalid_limit(limit_text)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        return responses.invalid_value("order", order, ("asc", "desc"))
    return PageQuery(limit, order, query.get("after") or None, query.get("before") or None)


def _include_content(request: web.Request) -> bool | web.Response:
    """Whether include[] asks for file-search content (the only value it takes), or the API's 400."""
    values = request.query.getall("include[]", []) + request.query.getall("include", [])
    for index, value in enumerate(values):
        if value != FILE_SEARCH_CONTENT_INCLUDE:
            return responses.invalid_value(f"include[{index}]", value, (FILE_SEARCH_CONTENT_INCLUDE,))
    return bool(values)
