"""The fake's Responses and Conversations endpoints (and Foundry's list endpoints), over ``ResponsesData``.

    GET /responses/{id}                     the response with its output[]
    GET /responses/{id}/input_items         list: limit 1..100 (20), order asc|desc (desc), after, include[]
    GET /conversations/{id}                 the conversation
    GET /conversations/{id}/items           list, as input_items (Foundry: also before, item_type)
    GET /conversations/{id}/items/{item}    one item
    GET /responses, GET /conversations      Foundry only (flavor foundry, under /openai/v1): every stored one,
                                            order desc by default, with after/before; responses by conversation_id
                                            or agent_name

Lists answer ``{object: "list", data, first_id, last_id, has_more}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from etl.fakeapi import responses as errors
from etl.fakeapi.paging import PageQuery, UnknownCursorError, select_page
from etl.fakeapi.responses_data import ResponsesData

RESPONSE_GET, INPUT_ITEMS_LIST = "response_get", "input_items_list"
CONVERSATION_GET, CONVERSATION_ITEMS_LIST, CONVERSATION_ITEM_GET = (
    "conversation_get", "conversation_items_list", "conversation_item_get",
)  # fmt: skip
RESPONSES_LIST, CONVERSATIONS_LIST = "responses_list", "conversations_list"
KINDS = frozenset(
    {RESPONSE_GET, INPUT_ITEMS_LIST, CONVERSATION_GET, CONVERSATION_ITEMS_LIST, CONVERSATION_ITEM_GET,
     RESPONSES_LIST, CONVERSATIONS_LIST}
)  # fmt: skip
INCLUDE_VALUES = (
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url", "code_interpreter_call.outputs",
    "reasoning.encrypted_content", "message.output_text.logprobs",
)  # fmt: skip

Route = tuple[str, Callable[[web.Request], Awaitable[web.Response]], str]


class ResponsesEndpoints:
    """The handlers; ``listing`` adds Foundry's GET /responses and GET /conversations; without ``conversations``
    the Conversations API is not served at all (a host that lacks it, as Azure OpenAI v1 may)."""

    def __init__(self, data: Callable[[], ResponsesData], *, listing: bool, conversations: bool = True) -> None:
        self._data = data
        self.listing = listing
        self.conversations = conversations

    def routes(self) -> list[Route]:
        """(path, handler, kind) of every endpoint served."""
        routes: list[Route] = [
            ("/responses/{response_id}", self.get_response, RESPONSE_GET),
            ("/responses/{response_id}/input_items", self.list_input_items, INPUT_ITEMS_LIST),
            ("/conversations/{conversation_id}", self.get_conversation, CONVERSATION_GET),
            ("/conversations/{conversation_id}/items", self.list_conversation_items, CONVERSATION_ITEMS_LIST),
            ("/conversations/{conversation_id}/items/{item_id}", self.get_conversation_item, CONVERSATION_ITEM_GET),
        ]
        if self.listing:
            routes += [
                ("/responses", self.list_responses, RESPONSES_LIST),
                ("/conversations", self.list_conversations, CONVERSATIONS_LIST),
            ]
        if not self.conversations:
            routes = [route for route in routes if not route[0].startswith("/conversations")]
        return routes

    async def get_response(self, request: web.Request) -> web.Response:
        bad = _bad_include(request)
        if bad is not None:
            return bad
        response = self._data().response(request.match_info["response_id"])
        if response is None:
            return _not_found("Response", request.match_info["response_id"])
        return _json(response)

    async def list_input_items(self, request: web.Request) -> web.Response:
        bad = _bad_include(request)
        if bad is not None:
            return bad
        items = self._data().input_items(request.match_info["response_id"])
        if items is None:
            return _not_found("Response", request.match_info["response_id"])
        return _page(request, items, before=False)

    async def get_conversation(self, request: web.Request) -> web.Response:
        conversation = self._data().conversation(request.match_info["conversation_id"])
        if conversation is None:
            return _not_found("Conversation", request.match_info["conversation_id"])
        return _json(conversation)

    async def list_conversation_items(self, request: web.Request) -> web.Response:
        bad = _bad_include(request)
        if bad is not None:
            return bad
        items = self._data().conversation_items(request.match_info["conversation_id"])
        if items is None:
            return _not_found("Conversation", request.match_info["conversation_id"])
        if self.listing and request.query.get("item_type"):
            items = [item for item in items if item["type"] == request.query["item_type"]]
        return _page(request, items, before=self.listing)

    async def get_conversation_item(self, request: web.Request) -> web.Response:
        items = self._data().conversation_items(request.match_info["conversation_id"]) or []
        wanted = request.match_info["item_id"]
        for item in items:
            if item["id"] == wanted:
                return _json(item)
        return _not_found("Item", wanted)

    async def list_responses(self, request: web.Request) -> web.Response:
        query = request.query
        listed = self._data().responses_listed(query.get("conversation_id"), query.get("agent_name"))
        return _page(request, listed, before=True)

    async def list_conversations(self, request: web.Request) -> web.Response:
        return _page(request, self._data().conversations_listed(), before=True)


def _page(request: web.Request, items: list[dict[str, Any]], *, before: bool) -> web.Response:
    """One list page of ``items`` (oldest first) as the API pages them."""
    query = request.query
    limit_text = query.get("limit", "20")
    try:
        limit = int(limit_text)
    except ValueError:
        return errors.invalid_limit(limit_text)
    if not 1 <= limit <= 100:
        return errors.invalid_limit(limit_text)
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        return errors.invalid_value("order", order, ("asc", "desc"))
    page_query = PageQuery(limit, order, query.get("after") or None, (query.get("before") or None) if before else None)
    position = {item["id"]: index for index, item in enumerate(items)}
    try:
        picked, has_more = select_page(len(items), position, page_query)
    except UnknownCursorError as exc:
        return errors.error_response(400, str(exc), param=exc.param, code="invalid_value")
    data = [items[i] for i in picked]
    body = {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
    return _json(body)


def _bad_include(request: web.Request) -> web.Response | None:
    for index, value in enumerate(request.query.getall("include[]", [])):
        if value not in INCLUDE_VALUES:
            return errors.invalid_value(f"include[{index}]", value, INCLUDE_VALUES)
    return None


def _not_found(kind: str, object_id: str) -> web.Response:
    return errors.not_found(f"{kind} with id '{object_id}' not found.")


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")
