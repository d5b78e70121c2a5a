"""Paging contract over real HTTP: after/before walks, has_more, limits and cursors, as the API pages."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import pytest

from etl.fakeapi import BOUNDARY_SIZES, FakeConfig, FakeServer, Truth
from etl.fakeapi.paging import PageQuery, UnknownCursorError, select_page

HEADERS = {"Authorization": "Bearer sk-fake", "OpenAI-Beta": "assistants=v2"}


@pytest.fixture(scope="module")
def boundary_fake() -> Iterator[FakeServer]:
    """One thread holding exactly the boundary-sized runs (0, 1, 99, 100, 101, 250 steps) and 25 more runs."""
    with FakeServer(FakeConfig.small(threads=1, runs_per_thread=25, boundary_sizes=BOUNDARY_SIZES)) as fake:
        yield fake


@pytest.fixture(scope="module")
def truth(boundary_fake: FakeServer) -> Truth:
    """What ``boundary_fake`` serves (these tests do not change it)."""
    return boundary_fake.truth


def walk(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a list, following ``after`` = the last id until has_more is false."""
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {**params, **({"after": after} if after else {})}
        page = client.get(path, params=query).json()
        pages.append(page)
        if not page["has_more"]:
            return pages
        assert page["data"], "has_more with an empty page"
        after = page["data"][-1]["id"]


def run_of_size(truth: Truth, size: int) -> tuple[str, str]:
    """The boundary run with ``size`` steps (boundary runs are queued or completed; the others never are both)."""
    sizes = Counter(step["run_id"] for step in truth.steps)
    run = next(r for r in truth.runs if sizes[r["id"]] == size and r["status"] in ("queued", "completed"))
    return run["thread_id"], run["id"]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [100, 33])
def test_after_walk_returns_each_step_once_in_order(boundary_fake: FakeServer, truth: Truth, size: int, order: str,
                                                    limit: int) -> None:
    thread_id, run_id = run_of_size(truth, size)
    expected = [step["id"] for step in truth.steps_of(run_id)]
    if order == "desc":
        expected.reverse()
    with httpx.Client(base_url=boundary_fake.base_url, headers=HEADERS) as client:
        pages = walk(client, f"/threads/{thread_id}/runs/{run_id}/steps", order=order, limit=limit)
    ids = [step["id"] for page in pages for step in page["data"]]
    assert ids == expected
    assert len(pages) == max(1, math.ceil(size / limit))
    created = [step["created_at"] for page in pages for step in page["data"]]
    assert created == sorted(created, reverse=order == "desc")
    assert len(set(created)) == len(created)  # distinct seconds: the order needs no tie-break
    for page in pages:
        ids_on_page = [step["id"] for step in page["data"]]
        assert page["object"] == "list"
        assert page["first_id"] == (ids_on_page[0] if ids_on_page else None)
        assert page["last_id"] == (ids_on_page[-1] if ids_on_page else None)
    assert [page["has_more"] for page in pages] == [True] * (len(pages) - 1) + [False]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_before_from_any_page_returns_the_page_before_it(boundary_fake: FakeServer, truth: Truth, order: str) -> None:
    thread_id, run_id = run_of_size(truth, 250)
    path = f"/threads/{thread_id}/runs/{run_id}/steps"
    with httpx.Client(base_url=boundary_fake.base_url, headers=HEADERS) as client:
        pages = walk(client, path, order=order, limit=30)
        for previous, page in pairwise(pages):
            before = client.get(path, params={"order": order, "limit": 30, "before": page["data"][0]["id"]}).json()
            assert [s["id"] for s in before["data"]] == [s["id"] for s in previous["data"]]
            assert before["has_more"] is (previous is not pages[0])
        first = client.get(path, params={"order": order, "limit": 30, "before": pages[0]["data"][0]["id"]}).json()
    assert first == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_runs_list_pages_like_steps(boundary_fake: FakeServer, truth: Truth, order: str) -> None:
    thread_id = boundary_fake.thread_ids[0]
    expected = sorted(truth.runs, key=lambda r: (r["created_at"], r["id"]))
    expected_ids = [r["id"] for r in (expected if order == "asc" else reversed(expected))]
    with httpx.Client(base_url=boundary_fake.base_url, headers=HEADERS) as client:
        pages = walk(client, f"/threads/{thread_id}/runs", order=order, limit=10)
        default = client.get(f"/threads/{thread_id}/runs").json()
    assert [r["id"] for page in pages for r in page["data"]] == expected_ids
    assert len(pages) == math.ceil(len(expected_ids) / 10)
    # Defaults: 20 objects, newest first.
    assert [r["id"] for r in default["data"]] == [r["id"] for r in reversed(expected)][:20]
    assert default["has_more"] is True


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
def test_limit_out_of_range_is_a_400(fake_api: FakeServer, limit: str) -> None:
    thread_id = fake_api.thread_ids[0]
    with httpx.Client(base_url=fake_api.base_url, headers=HEADERS) as client:
        response = client.get(f"/threads/{thread_id}/runs", params={"limit": limit})
        run_id = fake_api.dataset.run_ids(thread_id)[0]
        steps = client.get(f"/threads/{thread_id}/runs/{run_id}/steps", params={"limit": limit})
    for answer in (response, steps):
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", "limit")
        assert error["code"] in ("integer_below_min_value", "integer_above_max_value", "invalid_type")


def test_limits_one_and_hundred_are_accepted(fake_api: FakeServer) -> None:
    thread_id = fake_api.thread_ids[0]
    with httpx.Client(base_url=fake_api.base_url, headers=HEADERS) as client:
        one = client.get(f"/threads/{thread_id}/runs", params={"limit": 1}).json()
        hundred = client.get(f"/threads/{thread_id}/runs", params={"limit": 100}).json()
    assert len(one["data"]) == 1 and one["has_more"] is True
    assert len(hundred["data"]) == len(fake_api.dataset.run_ids(thread_id)) and hundred["has_more"] is False


def test_bad_order_and_unknown_cursor_are_400s(fake_api: FakeServer) -> None:
    thread_id = fake_api.thread_ids[0]
    with httpx.Client(base_url=fake_api.base_url, headers=HEADERS) as client:
        order = client.get(f"/threads/{thread_id}/runs", params={"order": "ASC"})
        cursor = client.get(f"/threads/{thread_id}/runs", params={"after": "run_gone"})
    assert order.status_code == 400 and order.json()["error"]["param"] == "order"
    assert cursor.status_code == 400 and cursor.json()["error"]["param"] == "after"


def reference_page(ids: list[str], q: PageQuery) -> tuple[list[str], bool]:
    """The paging contract written the slow, obvious way."""
    walked = ids if q.order == "asc" else ids[::-1]
    low = walked.index(q.after) + 1 if q.after else 0
    high = walked.index(q.before) if q.before else len(walked)
    window = walked[low:high]
    if q.before:
        page = window[-q.limit:] if q.limit < len(window) else window
        return page, len(page) < len(window)
    return window[: q.limit], len(window) > q.limit


def test_select_page_matches_the_reference_for_every_small_case() -> None:
    checked = 0
    for count in range(8):
        ids = [f"obj_{i}" for i in range(count)]
        position = {object_id: i for i, object_id in enumerate(ids)}
        cursors: list[str | None] = [None, *ids]
        for limit in (1, 2, 3, 100):
            for order in ("asc", "desc"):
                for after in cursors:
                    for before in cursors:
                        query = PageQuery(limit, order, after, before)
                        indices, has_more = select_page(count, position, query)
                        assert ([ids[i] for i in indices], has_more) == reference_page(ids, query), query
                        checked += 1
    assert checked > 1000
    with pytest.raises(UnknownCursorError):
        select_page(2, {"a": 0, "b": 1}, PageQuery(after="c"))


def test_a_run_of_n_steps_costs_ceil_n_over_100_step_pages(boundary_fake: FakeServer, truth: Truth) -> None:
    boundary_fake.reset_counters()
    with httpx.Client(base_url=boundary_fake.base_url, headers=HEADERS) as client:
        for size in BOUNDARY_SIZES:
            thread_id, run_id = run_of_size(truth, size)
            walk(client, f"/threads/{thread_id}/runs/{run_id}/steps", order="asc", limit=100)
    expected = sum(max(1, math.ceil(size / 100)) for size in BOUNDARY_SIZES)
    assert boundary_fake.counters["steps_list"] == expected == 1 + 1 + 1 + 1 + 2 + 3
    assert boundary_fake.log.count("steps_list", status=200) == expected
