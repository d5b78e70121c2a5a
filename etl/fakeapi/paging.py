"""Cursor paging exactly as the API pages: ``limit``, ``order``, ``after`` and ``before`` over an ordered list.

The list is ordered ascending by (created_at, id). In the requested order, ``after=X`` returns the ``limit``
objects that follow X; ``before=X`` returns the ``limit`` objects just before X (the previous page), still in
the requested order. ``has_more`` is true iff more objects exist beyond the returned page in the walking
direction: after the page for a forward walk, before it for a ``before`` walk. Both cursors together bound
an open interval. A cursor that names no object of this list is a 400, like any invalid parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class UnknownCursorError(ValueError):
    """``after`` or ``before`` names no object of the list."""

    def __init__(self, param: str, cursor: str) -> None:
        super().__init__(f"Invalid '{param}': no object with id '{cursor}' in this list.")
        self.param = param
        self.cursor = cursor


@dataclass(frozen=True)
class PageQuery:
    """The paging parameters of one list request, already validated."""

    limit: int = 20
    order: str = "desc"
    after: str | None = None
    before: str | None = None


def select_page(count: int, position: Mapping[str, int], query: PageQuery) -> tuple[list[int], bool]:
    """Ascending positions of the page's objects, in the requested order, and ``has_more``."""
    ascending = query.order == "asc"

    def walk_index(param: str, cursor: str) -> int:
        index = position.get(cursor)
        if index is None:
            raise UnknownCursorError(param, cursor)
        return index if ascending else count - 1 - index

    low = walk_index("after", query.after) + 1 if query.after else 0
    high = walk_index("before", query.before) if query.before else count
    if query.before:
        start, stop = max(low, high - query.limit), high
        has_more = start > low
    else:
        start, stop = low, min(high, low + query.limit)
        has_more = stop < high
    walked = range(start, stop) if start < stop else range(0)
    return ([i if ascending else count - 1 - i for i in walked]), has_more
