"""Cursor paging over a list endpoint: one small async generator, strict about the server keeping its contract.

The next cursor is the ``id`` of the last item (as openai-python does; ``last_id`` is not read), and every item's
id must be an id (``validate_id``): a server's ``../x`` never reaches a request or a table. The walk
stops on ``has_more: false`` or an empty page; a cursor seen before, or ``has_more: true`` with an empty
page, raises ``PagingError``, so a broken server can neither loop us forever nor truncate a run silently.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, Literal

from etl.errors import FatalApiError, InputError, PagingError
from etl.extract.client import ApiClient
from etl.extract.ids import validate_id

Order = Literal["asc", "desc"]
MAX_PAGE_SIZE = 100


async def iter_pages(
    client: ApiClient,
    path: str,
    *,
    limit: int = MAX_PAGE_SIZE,
    order: Order = "asc",
    after: str | None = None,
    before: str | None = None,
    include: Sequence[str] = (),
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """Yield the pages (``data`` lists) of the list at ``path`` in order: one yield per request, so only a
    list that is empty from the start, or a server that sends a last page with nothing on it, yields ``[]``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InputError(f"page size {limit} is out of range: use 1 to {MAX_PAGE_SIZE}")
    if order not in ("asc", "desc"):
        raise InputError(f"order {order!r} is not 'asc' or 'desc'")
    fixed = [("limit", str(limit)), ("order", order)]
    if before is not None:
        fixed.append(("before", before))
    fixed += [("include[]", value) for value in include]
    seen: set[str] = {after} if after is not None else set()
    cursor = after
    while True:
        params = fixed if cursor is None else [*fixed, ("after", cursor)]
        data, has_more = _read_page(await client.get_json(path, params), path, cursor)
        if not data and has_more:
            raise PagingError(f"has_more is true on an empty page (GET {path}, after={cursor})")
        yield data
        # A server that omits has_more is followed as openai-python does: on until an empty page.
        if not data or has_more is False:
            return
        cursor = data[-1]["id"]
        if cursor in seen:
            raise PagingError(f"the cursor {cursor!r} came back a second time (GET {path}): paging would loop")
        seen.add(cursor)


def _read_page(page: Any, path: str, cursor: str | None) -> tuple[list[dict[str, Any]], bool | None]:
    """The items and ``has_more`` of one list page, checked for the shape the rest of extract relies on."""
    where = f"(GET {path}, after={cursor})"
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise PagingError(f"the response is not a list page {where}")
    data: list[Any] = page["data"]
    has_more = page.get("has_more")
    if has_more is not None and not isinstance(has_more, bool):
        raise PagingError(f"has_more is {has_more!r}, not true or false {where}")
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise PagingError(f"a list item has no id {where}")
        try:  # the last one is the next page's cursor, and every one a key in the tables
            validate_id("list item", item["id"])
        except InputError as exc:
            raise FatalApiError(f"the API listed an item whose id is unsafe: {exc} {where}") from None
    return data, has_more
