"""Cursor paging: next cursor = last id, stops on has_more false or an empty page, never loops or truncates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from etl.config import FILE_SEARCH_CONTENT_INCLUDE, Secret, Settings
from etl.errors import FatalApiError, InputError, PagingError
from etl.extract.client import ApiClient
from etl.extract.paging import iter_pages

pytestmark = pytest.mark.anyio

Page = dict[str, Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def list_server(ids: list[str]) -> Callable[[httpx.Request], Page]:
    """A spec-faithful list endpoint over ``ids`` (ascending), honouring limit, order, after and before."""

    def page(request: httpx.Request) -> Page:
        params = request.url.params
        items = ids if params.get("order", "desc") == "asc" else ids[::-1]
        if "after" in params:
            items = items[items.index(params["after"]) + 1 :]
        if "before" in params:
            items = items[: items.index(params["before"])]
        limit = int(params.get("limit", "20"))
        data = [{"id": i} for i in items[:limit]]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": len(items) > limit}

    return page


async def walk(pages: Callable[[httpx.Request], Page], **kwargs: Any) -> tuple[list[list[str]], list[httpx.Request]]:
    """Run ``iter_pages`` over a MockTransport answering with ``pages``; the ids page by page, and the requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=orjson.dumps(pages(request)))

    settings = Settings(api_key=Secret("sk-test-paging"), base_url="https://api.test/v1", max_retries=0)
    got: list[list[str]] = []
    async with ApiClient(settings, transport=httpx.MockTransport(handler)) as client:
        async for data in iter_pages(client, "/threads/t/runs/r/steps", **kwargs):
            got.append([item["id"] for item in data])
    return got, seen


@pytest.mark.parametrize(
    ("n", "limit", "requests"), [(0, 100, 1), (1, 100, 1), (100, 100, 1), (101, 100, 2), (250, 100, 3), (7, 2, 4)]
)
async def test_every_item_once_in_the_minimum_of_requests(n: int, limit: int, requests: int) -> None:
    ids = [f"step_{i:04d}" for i in range(n)]
    pages, seen = await walk(list_server(ids), limit=limit)
    assert [i for page in pages for i in page] == ids
    assert len(seen) == requests


async def test_next_cursor_is_the_last_item_id_not_last_id() -> None:
    ids = [f"s{i}" for i in range(5)]

    def lying_last_id(request: httpx.Request) -> Page:
        body = list_server(ids)(request)
        body["last_id"] = "s0"  # a wrong last_id must not be followed
        return body

    pages, seen = await walk(lying_last_id, limit=2)
    assert pages == [["s0", "s1"], ["s2", "s3"], ["s4"]]
    assert [r.url.params.get("after") for r in seen] == [None, "s1", "s3"]
    assert all(r.url.params["order"] == "asc" and r.url.params["limit"] == "2" for r in seen)


async def test_missing_has_more_pages_on_until_an_empty_page() -> None:
    ids = ["a", "b", "c"]

    def no_has_more(request: httpx.Request) -> Page:
        body = list_server(ids)(request)
        del body["has_more"]
        return body

    pages, seen = await walk(no_has_more, limit=2)
    assert pages == [["a", "b"], ["c"], []]
    assert len(seen) == 3


async def test_repeated_cursor_is_a_paging_error() -> None:
    def stuck(request: httpx.Request) -> Page:
        return {"object": "list", "data": [{"id": "x1"}, {"id": "x2"}], "has_more": True}

    with pytest.raises(PagingError, match="came back a second time"):
        await walk(stuck, limit=2)


async def test_has_more_with_an_empty_page_is_a_paging_error() -> None:
    def empty_but_more(request: httpx.Request) -> Page:
        if "after" in request.url.params:
            return {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": True}
        return {"object": "list", "data": [{"id": "x1"}], "has_more": True}

    with pytest.raises(PagingError, match="has_more is true on an empty page"):
        await walk(empty_but_more)


@pytest.mark.parametrize(
    "body",
    [
        {"object": "list", "data": [{"no_id": 1}], "has_more": False},
        {"object": "list", "data": "nope", "has_more": False},
        {"object": "list", "data": [{"id": "a"}], "has_more": "yes"},
        ["not", "a", "page"],
    ],
)
async def test_malformed_pages_are_paging_errors(body: Any) -> None:
    with pytest.raises(PagingError):
        await walk(lambda request: body)


@pytest.mark.parametrize("bad", ["x/../../y?z=1#", "../../x", "step 1", "st\u00e9p", "s" * 129])
async def test_an_item_id_that_is_not_an_id_stops_the_walk_before_it_is_a_cursor(bad: str) -> None:
    seen: list[httpx.Request] = []

    def hostile(request: httpx.Request) -> Page:
        seen.append(request)
        return {"object": "list", "data": [{"id": "step_1"}, {"id": bad}], "has_more": True}

    with pytest.raises(FatalApiError, match=r"listed an item whose id is unsafe: list item id .* is not valid"):
        await walk(hostile)
    assert len(seen) == 1  # the id never went into a request


async def test_after_and_before_pass_through() -> None:
    ids = [f"s{i}" for i in range(10)]
    pages, seen = await walk(list_server(ids), limit=2, after="s1", before="s7")
    assert [i for page in pages for i in page] == ["s2", "s3", "s4", "s5", "s6"]
    assert [r.url.params.get("after") for r in seen] == ["s1", "s3", "s5"]
    assert all(r.url.params.get("before") == "s7" for r in seen)


async def test_desc_order_walks_newest_first() -> None:
    pages, _ = await walk(list_server(["a", "b", "c"]), order="desc", limit=2)
    assert pages == [["c", "b"], ["a"]]


async def test_include_uses_the_bracket_form() -> None:
    _, seen = await walk(list_server(["a"]), include=[FILE_SEARCH_CONTENT_INCLUDE])
    assert seen[0].url.params.get_list("include[]") == [FILE_SEARCH_CONTENT_INCLUDE]
    assert b"include%5B%5D=step_details.tool_calls%5B%2A%5D.file_search.results%5B%2A%5D.content" in seen[0].url.query


@pytest.mark.parametrize("limit", [0, 101])
async def test_page_size_out_of_range_is_an_input_error(limit: int) -> None:
    with pytest.raises(InputError, match="1 to 100"):
        await walk(list_server([]), limit=limit)
