"""Rebuilding responses and conversations (``--source responses``) from a raw archive, for ``runsteps replay``.

The archive holds every successful GET an export made. A response is rebuilt from its latest object (``GET
/responses/{id}``, or a Foundry listing) and the latest complete walk of its input items; a conversation from its
latest object and every walk of its items, in the order they were fetched: a walk from the start places its items
at 0, 1, ...; a later export's walk from ``after=<item>`` goes on after that item's position. Walks a retry
repeated are read once. Large payloads are dropped as an export drops them by default. A response without a
complete walk of its input items, or a conversation walk that starts after an item the archive never placed, is
left out and counted.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from etl.archive.format import ArchivedResponse
from etl.archive.reader import BadLine, iter_responses
from etl.load.batch import Batch
from etl.load.fs import Store
from etl.sharding import Shard
from etl.transform.responses import without_payloads
from etl.values import Json

_RESPONSE = re.compile(r"/responses/(?P<id>[^/]+)$")
_INPUT_ITEMS = re.compile(r"/responses/(?P<id>[^/]+)/input_items$")
_LISTED = re.compile(r"/(?:responses|conversations)$")
_CONVERSATION = re.compile(r"/conversations/(?P<id>[^/]+)$")
_ITEMS = re.compile(r"/conversations/(?P<id>[^/]+)/items$")


@dataclass(frozen=True)
class _Page:
    fetched_at: datetime
    after: str | None
    data: list[Json]
    has_more: bool


@dataclass
class Successors:
    """What the archive holds of the Responses and Conversations APIs, ready to be batched."""

    responses: dict[str, tuple[datetime, Json]] = field(default_factory=dict)
    input_pages: defaultdict[str, list[_Page]] = field(default_factory=lambda: defaultdict(list))
    conversations: dict[str, tuple[datetime, Json]] = field(default_factory=dict)
    item_pages: defaultdict[str, list[_Page]] = field(default_factory=lambda: defaultdict(list))
    left_out: int = 0  # responses or conversation walks that could not be rebuilt whole

    def take(self, response: ArchivedResponse, shard: Shard) -> None:
        """Keep one archived response if it belongs to the Responses or Conversations APIs."""
        if response.status != 200 or response.method != "GET":
            return
        body = _json(response.body)
        if not isinstance(body, dict):
            return
        at = response.fetched_at
        if match := _INPUT_ITEMS.search(response.path):
            self.input_pages[match["id"]].append(_page(at, response, body))
        elif match := _ITEMS.search(response.path):
            self.item_pages[match["id"]].append(_page(at, response, body))
        elif _LISTED.search(response.path) and body.get("object") == "list":
            for obj in body.get("data") or ():
                if isinstance(obj, dict) and obj.get("object") == "response" and shard.owns(str(obj.get("id"))):
                    _keep(self.responses, str(obj.get("id")), at, obj)
        elif match := _RESPONSE.search(response.path):
            if body.get("id") == match["id"] and shard.owns(match["id"]):
                _keep(self.responses, match["id"], at, body)
        elif (
            (match := _CONVERSATION.search(response.path)) and body.get("id") == match["id"] and shard.owns(match["id"])
        ):
            _keep(self.conversations, match["id"], at, body)

    def add_to(self, batch: Batch) -> int:
        """Add every response and conversation rebuilt whole to ``batch``; returns how many."""
        added = 0
        response_of: dict[str, str] = {}  # item id -> the response that had it, for the conversation items
        for response_id, (fetched_at, response) in self.responses.items():
            walk = _last_complete_walk(self.input_pages.get(response_id, []))
            if walk is None:
                self.left_out += 1
                continue
            items, last_at = walk
            obj = without_payloads({**response, "input_items": items})
            for item in [*items, *(response.get("output") or [])]:
                response_of.setdefault(str(item.get("id")), response_id)
            owner = (response.get("conversation") or {}).get("id") or response_id
            batch.add_unit("responses", response_id, obj, max(fetched_at, last_at), owner=owner,
                           count=len(items) + len(response.get("output") or []))  # fmt: skip
            added += 1
        for conversation_id, (fetched_at, conversation) in self.conversations.items():
            placed, walked_at = self._placed(conversation_id)
            items = [placed[p] for p in sorted(placed)]
            if sorted(placed) != list(range(len(items))):
                self.left_out += 1
                continue
            obj = without_payloads({**conversation, "items": items, "first_position": 0, "item_count": len(items)})
            obj["response_of"] = {i["id"]: response_of[i["id"]] for i in items if i.get("id") in response_of}
            batch.add_unit("conversations", conversation_id, obj, max(fetched_at, walked_at or fetched_at),
                           owner=conversation_id, count=len(items))  # fmt: skip
            added += 1
        return added

    def _placed(self, conversation_id: str) -> tuple[dict[int, Json], datetime | None]:
        """Every item placed by the walks of one conversation, by position (a later copy of an item wins)."""
        placed: dict[int, Json] = {}
        position_of: dict[str, int] = {}
        last_at = None
        for walk_after, pages in _walks(self.item_pages.get(conversation_id, [])):
            if walk_after is None:
                start = 0
            elif walk_after in position_of:
                start = position_of[walk_after] + 1
            else:
                self.left_out += 1
                continue
            for offset, item in enumerate(item for page in pages for item in page.data):
                placed[start + offset] = item
                position_of[str(item.get("id"))] = start + offset
            last_at = pages[-1].fetched_at
        return placed, last_at


def read_successors(store: Store, files: list[str], shard: Shard) -> Successors:
    """One pass over the archive's part files, keeping what the Responses and Conversations APIs answered."""
    found = Successors()
    for path in files:
        for _, item in iter_responses(store, path):
            if not isinstance(item, BadLine):
                found.take(item, shard)
    return found


def _walks(pages: list[_Page]) -> Iterator[tuple[str | None, list[_Page]]]:
    """The complete walks in fetch order: each from its first cursor to has_more false, retried pages once."""
    walk: list[_Page] = []
    for page in sorted(pages, key=lambda p: p.fetched_at):
        if walk and page.after == walk[-1].after:
            walk[-1] = page  # the same page again (a retry or a repeated export)
        elif walk and walk[-1].data and page.after == walk[-1].data[-1].get("id"):
            walk.append(page)
        else:
            walk = [page]  # a new walk begins
        if not page.has_more:
            yield walk[0].after, walk
            walk = []


def _last_complete_walk(pages: list[_Page]) -> tuple[list[Json], datetime] | None:
    """The items of the latest walk from the start (input items are always read whole), or None."""
    complete = [(walk, pages_) for walk, pages_ in _walks(pages) if walk is None]
    if not complete:
        return None
    _, chosen = complete[-1]
    return [item for page in chosen for item in page.data], chosen[-1].fetched_at


def _page(at: datetime, response: ArchivedResponse, body: Json) -> _Page:
    data = [item for item in body.get("data") or () if isinstance(item, dict)]
    return _Page(at, response.param("after"), data, bool(body.get("has_more")))


def _keep(objects: dict[str, tuple[datetime, Json]], object_id: str, at: datetime, obj: Json) -> None:
    """Keep the latest copy of an object."""
    if object_id not in objects or objects[object_id][0] <= at:
        objects[object_id] = (at, obj)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
