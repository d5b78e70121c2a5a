"""Fetching responses and conversations (the successors of runs and threads), each whole or failed.

A response is ``GET /responses/{id}`` plus its input items (``GET /responses/{id}/input_items``, paged oldest
first), handed on as the response object with ``input_items`` added. A conversation is ``GET /conversations/{id}``
plus its items from a cursor on (``order=asc&after=<last stored item>``): a daily export reads only what is new.
Foundry can list every stored response and conversation (``GET /responses``, ``GET /conversations``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from etl.errors import AuthError, EtlError, FatalApiError
from etl.extract.client import ApiClient, last_fetched_at
from etl.extract.ids import validate_id
from etl.extract.paging import iter_pages
from etl.extract.streams import stream_map
from etl.values import Json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResponseRef:
    """One response to fetch; ``listed`` is its object when a listing already brought it."""

    response_id: str
    listed: Json | None = None

    def __post_init__(self) -> None:
        validate_id("response", self.response_id)


@dataclass(frozen=True)
class ConversationRef:
    """One conversation to read from ``position`` on; ``after`` is the id of the item stored last (None: all)."""

    conversation_id: str
    position: int = 0
    after: str | None = None

    def __post_init__(self) -> None:
        validate_id("conversation", self.conversation_id)
        if self.after is not None:
            validate_id("item", self.after)


@dataclass(frozen=True)
class Fetched:
    """A response (with ``input_items``) or a conversation (with ``items``, ``first_position``, ``item_count``)."""

    unit_id: str
    obj: Json | None  # None when it failed before anything arrived
    error: EtlError | None
    fetched_at: datetime  # when its last page arrived: the rows' extracted_at

    @property
    def ok(self) -> bool:
        """True when the object and every item were fetched."""
        return self.error is None


async def fetch_response(client: ApiClient, ref: ResponseRef, include: Iterable[str] = ()) -> Fetched:
    """One response and all its input items (oldest first); failures but auth go in ``error``."""
    include = list(include)
    path = f"/responses/{ref.response_id}"
    response: Any = ref.listed
    try:
        if response is None:
            response = await client.get_json(path, [("include[]", value) for value in include])
        _check(response, ref.response_id, path)
        items = await _all_items(client, f"{path}/input_items", include=include)
    except AuthError:
        raise
    except EtlError as exc:
        log.warning("response %s failed: %s", ref.response_id, exc)
        return Fetched(ref.response_id, None, exc, _arrival())
    return Fetched(ref.response_id, {**response, "input_items": items}, None, _arrival())


async def fetch_conversation(client: ApiClient, ref: ConversationRef, include: Iterable[str] = ()) -> Fetched:
    """A conversation and its items after ``ref.after`` (oldest first); failures but auth go in ``error``."""
    path = f"/conversations/{ref.conversation_id}"
    try:
        conversation = await client.get_json(path)
        _check(conversation, ref.conversation_id, path)
        items = await _all_items(client, f"{path}/items", after=ref.after, include=include)
    except AuthError:
        raise
    except EtlError as exc:
        log.warning("conversation %s failed: %s", ref.conversation_id, exc)
        return Fetched(ref.conversation_id, None, exc, _arrival())
    envelope = {**conversation, "items": items, "first_position": ref.position, "item_count": ref.position + len(items)}
    return Fetched(ref.conversation_id, envelope, None, _arrival())


async def missing_conversations_api(client: ApiClient, conversation_id: str) -> str | None:
    """Why the host has no Conversations API at all (its 404 for ``GET /conversations/{id}`` is the provider's
    missing-route answer, not an unknown id's), or None when it has one or cannot tell."""
    path = f"/conversations/{validate_id('conversation', conversation_id)}"
    try:
        await client.get_json(path)
    except AuthError:
        raise
    except EtlError as exc:
        # Anything else (an unknown id, a host that is down) the export itself tells, conversation by conversation.
        if isinstance(exc, FatalApiError) and exc.status == 404 and client.provider.missing_route.search(exc.message):
            return exc.message  # it names the request: "HTTP 404 ...: Resource not found (GET /conversations/...)"
    return None


async def iter_fetched(
    client: ApiClient,
    refs: AsyncIterable[Any] | Iterable[Any],
    fetch: Callable[[ApiClient, Any], Awaitable[Fetched]],
) -> AsyncGenerator[Fetched, None]:
    """``fetch(client, ref)`` for every ref, ``--concurrency`` at a time, each as it finishes."""
    fetched = stream_map(refs, lambda ref: fetch(client, ref), concurrency=client.settings.concurrency)
    async with aclosing(fetched) as stream:
        async for one in stream:
            yield one


async def iter_listed(client: ApiClient, path: str) -> AsyncGenerator[Json, None]:
    """Every object of a Foundry list endpoint (``/responses``, ``/conversations``), oldest first."""
    pages = iter_pages(client, path, limit=client.settings.page_size, order="asc")
    async with aclosing(pages) as stream:
        async for page in stream:
            for obj in page:
                yield obj


async def _all_items(
    client: ApiClient, path: str, *, after: str | None = None, include: Iterable[str] = ()
) -> list[Json]:
    """Every item of a list, oldest first (``order=asc``), from ``after`` on."""
    items: list[Json] = []
    pages = iter_pages(client, path, limit=client.settings.page_size, order="asc", after=after, include=list(include))
    async with aclosing(pages) as stream:
        async for page in stream:
            items.extend(page)
    return items


def _check(obj: Any, wanted: str, path: str) -> None:
    """Refuse an object that is not the one asked for (a misrouted or malformed response)."""
    if not isinstance(obj, dict) or obj.get("id") != wanted:
        got = obj.get("id") if isinstance(obj, dict) else type(obj).__name__
        raise FatalApiError(f"GET {path} returned {got!r}, not {wanted!r}")


def _arrival() -> datetime:
    return last_fetched_at() or datetime.now(UTC)
