"""Threads and assistants: the objects around the runs (``GET /threads``, ``GET /assistants[/{id}]``).

``iter_listed_threads`` pages through every thread of a project (providers whose description says
``can_list_threads``), oldest first, checking each id like a user's before it goes into a URL.
``fetch_assistants`` gets each assistant once, many at once; one the API answers 404 for is *gone* (deleted
since its runs ran), and any other failure leaves that assistant out with a warning: an assistant row is
context for the runs, and never fails one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl.errors import AuthError, EtlError, FatalApiError, InputError
from etl.extract.client import ApiClient, last_fetched_at
from etl.extract.ids import validate_id
from etl.extract.paging import MAX_PAGE_SIZE, iter_pages
from etl.extract.streams import stream_map

log = logging.getLogger(__name__)

Json = dict[str, Any]
THREADS_PATH = "/threads"
ASSISTANTS_PATH = "/assistants"


@dataclass(frozen=True)
class Fetched:
    """One object as fetched, and when its response arrived (its row's extracted_at)."""

    obj: Json
    fetched_at: datetime


async def iter_listed_threads(client: ApiClient) -> AsyncGenerator[Fetched, None]:
    """Every thread ``GET /threads`` lists, oldest first (``InputError`` when the provider cannot list threads)."""
    provider = client.provider
    if not provider.can_list_threads:
        raise InputError(f"provider {provider.name} cannot list threads: give --thread or --threads-file instead")
    pages = iter_pages(client, THREADS_PATH, limit=MAX_PAGE_SIZE, order="asc")
    async with aclosing(pages):
        async for page in pages:
            arrived = _arrival()
            for thread in page:
                yield Fetched(_checked(thread, "thread"), arrived)


@dataclass
class Assistants:
    """The assistants an export fetched, those the API no longer has, and those it could not get."""

    found: list[Fetched] = field(default_factory=list)
    gone: list[tuple[str, datetime]] = field(default_factory=list)  # (id, when the 404 arrived)
    failed: dict[str, str] = field(default_factory=dict)  # id -> why


async def list_assistants(client: ApiClient) -> list[Fetched]:
    """Every assistant ``GET /assistants`` lists (providers that can list threads can list these too)."""
    found: list[Fetched] = []
    pages = iter_pages(client, ASSISTANTS_PATH, limit=MAX_PAGE_SIZE, order="asc")
    async with aclosing(pages):
        async for page in pages:
            arrived = _arrival()
            found.extend(Fetched(_checked(item, "assistant"), arrived) for item in page)
    return found


async def fetch_assistants(client: ApiClient, assistant_ids: Iterable[str]) -> Assistants:
    """``GET /assistants/{id}`` for each id once, ``concurrency`` at a time; 404 is recorded as gone."""
    result = Assistants()

    async def one(assistant_id: str) -> None:
        try:
            obj = await client.get_json(f"{ASSISTANTS_PATH}/{validate_id('assistant', assistant_id)}")
            result.found.append(Fetched(_checked(obj, "assistant", assistant_id), _arrival()))
        except AuthError:
            raise
        except FatalApiError as exc:
            if exc.status == 404:
                result.gone.append((assistant_id, _arrival()))
            else:
                _failed(result, assistant_id, exc)
        except EtlError as exc:
            _failed(result, assistant_id, exc)

    ids = list(dict.fromkeys(assistant_ids))
    async for _ in stream_map(ids, one, concurrency=client.settings.concurrency):
        pass
    return result


def _failed(result: Assistants, assistant_id: str, exc: EtlError) -> None:
    log.warning("assistant %s could not be fetched: %s", assistant_id, exc)
    result.failed[assistant_id] = str(exc)


def _checked(obj: Any, kind: str, expected: str | None = None) -> Json:
    """An object from the API with a safe id (the one asked for, when one was)."""
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if expected is not None and object_id != expected:
        raise FatalApiError(f"GET /{kind}s/{expected} returned {object_id!r}")
    try:
        validate_id(kind, object_id)
    except InputError as exc:
        raise FatalApiError(f"the API listed a {kind} whose id is unsafe: {exc}") from None
    assert isinstance(obj, dict)
    return obj


def _arrival() -> datetime:
    arrived = last_fetched_at()
    assert arrived is not None  # set by the response just received
    return arrived
