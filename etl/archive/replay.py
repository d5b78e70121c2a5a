"""Replay: rebuild the tables from a raw archive alone, with no network, exactly as the export wrote them.

Two passes over the archive's part files, so memory holds an index of pages, not their steps:

1. ``_Index`` reads every response once and keeps, per run, where each ``200`` steps page is, its cursor
   (``after``), the id of its last step and ``has_more``; and where each copy of a run object is: a
   ``GET /threads/{t}/runs/{r}`` body (explicit runs) or an item of a ``GET /threads/{t}/runs`` page
   (discovered runs; the pipeline uses the object from the list page).
2. ``_choose`` rebuilds each run's page walks as the exporter made them: a page without ``after`` starts a
   walk, a page whose ``after`` is the previous page's last step continues it, and ``has_more: false`` (or
   an empty page) completes it. Retried and repeated requests, and runs exported again later, leave several
   walks: the complete walk that ended last wins (a later export of a run replaces the earlier one, as at
   the destination). Its run object is the copy the export used: the latest fetched before the walk began,
   a ``GET`` of this fetch before a list item. Rows get the ``extracted_at`` an export gives them: the
   fetch time of the walk's last page, truncated to the second (``FetchedRun.fetched_at``).
3. ``_assemble`` reads only the chosen lines, files in fetch order, and hands out each run once it is whole;
   ``run_replay`` writes them in batches through the export's write path (``etl.load.batch``).

Runs without a complete walk (the export failed them, or the archive lost pages) are skipped and named.
Threads (``GET /threads`` pages) and assistants (``GET /assistants`` pages, ``GET /assistants/{a}`` bodies, and
their 404s: gone) are rebuilt too, each from its latest response, and written with the last batch.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import orjson

from etl.archive.format import ArchivedResponse
from etl.archive.reader import BadLine, iter_responses, open_archive_store, part_files
from etl.archive.successors import read_successors
from etl.errors import InputError
from etl.load import DUCKDB_STORAGE_VERSION, open_destination
from etl.load.base import RunRecord
from etl.load.batch import BATCH_OBJECTS, BATCH_RUNS, Batch, write_batch
from etl.load.fs import Store
from etl.prices import PriceBook, write_model_prices
from etl.sharding import Shard
from etl.summary import LoadSummary
from etl.transform.entities import gone_assistant
from etl.values import iso

log = logging.getLogger(__name__)

_STEPS_PATH = re.compile(r"/threads/(?P<thread>[^/]+)/runs/(?P<run>[^/]+)/steps$")
_RUN_PATH = re.compile(r"/threads/(?P<thread>[^/]+)/runs/(?P<run>[^/]+)$")
_RUNS_PATH = re.compile(r"/threads/(?P<thread>[^/]+)/runs$")
_ASSISTANT_PATH = re.compile(r"^/assistants/(?P<assistant>[^/]+)$")
_ENTITY_LISTS = {"/threads": "threads", "/assistants": "assistants"}  # list path -> kind of its items
_SHOWN_PROBLEMS = 100  # bad lines and skipped runs kept by name in the summary; all are counted

# When a response was fetched, then where it sits in the archive: the order in which the exporter saw it.
Order = tuple[datetime, int]


@dataclass(frozen=True, slots=True)
class _Where:
    file: int
    line: int


@dataclass(frozen=True, slots=True)
class _Page:
    order: Order
    where: _Where
    after: str | None
    last_id: str | None  # None for an empty page
    has_more: bool | None


@dataclass(frozen=True, slots=True)
class _RunCopy:
    order: Order
    where: _Where
    index: int | None  # position in a list page's data; None when the body is the run itself


@dataclass
class _Walk:
    """One pass of the exporter over a run's steps pages."""

    pages: list[_Page]
    cursors: set[str] = field(default_factory=set)
    state: Literal["open", "complete", "broken"] = "open"

    def take(self, page: _Page) -> None:
        """Add the next page, judging it as ``etl.extract.paging.iter_pages`` would."""
        self.pages.append(page)
        if page.last_id is None:
            self.state = "broken" if page.has_more else "complete"
        elif page.has_more is False:
            self.state = "complete"
        elif page.last_id in self.cursors:
            self.state = "broken"  # the cursor came back: the exporter stopped with a PagingError
        else:
            self.cursors.add(page.last_id)


@dataclass(frozen=True)
class _Choice:
    """What to read for one run: its pages in order, its run object, and its rows' extracted_at."""

    thread_id: str
    run_id: str
    pages: tuple[_Page, ...]
    run_copy: _RunCopy | None
    extracted_at: datetime


@dataclass(frozen=True)
class ReplayedRun:
    """One run rebuilt from the archive."""

    thread_id: str
    run_id: str
    run: dict[str, Any] | None
    steps: list[dict[str, Any]]
    extracted_at: datetime


@dataclass(kw_only=True)
class ReplaySummary(LoadSummary):
    """What a replay did; ``as_dict`` is the ``--metrics-json`` object."""

    kind: ClassVar[str] = "replay"
    archive: str
    files: int = 0
    responses: int = 0
    bad_lines: int = 0
    runs_skipped: int = 0  # no complete walk of their steps in the archive
    runs_without_object: int = 0
    problems: list[str] = field(default_factory=list)  # the first bad lines and skipped runs, by name
    successors: int = 0  # responses and conversations rebuilt (--source responses exports)
    successors_left_out: int = 0  # responses or conversation walks the archive does not hold whole

    def note(self, problem: str) -> None:
        """Keep one problem by name (up to a bound: they are counted anyway)."""
        if len(self.problems) < _SHOWN_PROBLEMS:
            self.problems.append(problem)

    def failed(self, record: RunRecord) -> None:
        """Name the run that was rebuilt but does not fit the tables (as the export failed it)."""
        self.note(f"{record.thread_id}/{record.run_id}: {record.error}")

    def head(self) -> list[str]:
        """Where from, and how much."""
        lines = [
            f"replayed {self.responses} responses from {self.files} files of {self.archive}",
            f"{self.runs_ok - self.successors} runs, {self.steps} steps written to {self.dest}"
            f" in {self.elapsed_s:.1f}s",
        ]
        if self.successors or self.successors_left_out:
            lines.append(
                f"{self.successors} responses and conversations rebuilt, {self.successors_left_out} left out"
                " (not held whole by the archive)"
            )
        return lines

    def tail(self) -> list[str]:
        """The runs skipped and the lines not read, by name."""
        if not (self.runs_skipped or self.runs_failed or self.bad_lines):
            return []
        head = f"{self.runs_skipped} runs skipped, {self.runs_failed} failed, {self.bad_lines} unreadable lines:"
        return [head, *(f"  {problem}" for problem in self.problems)]


def run_replay(
    archive: str,
    dest: str,
    *,
    shard: Shard | None = None,
    s3_endpoint_url: str | None = None,
    batch_steps: int = BATCH_OBJECTS,
    batch_runs: int = BATCH_RUNS,
    duckdb_storage_version: str = DUCKDB_STORAGE_VERSION,
) -> ReplaySummary:
    """Rebuild the tables at ``dest`` from the archive at ``archive`` (only ``shard``'s runs, default all).

    ``s3_endpoint_url``: an S3-compatible store's endpoint, for the archive and the destination alike.
    ``duckdb_storage_version``: the storage format of a DuckDB file this creates.
    """
    started = time.monotonic()
    shard = shard or Shard()
    store = open_archive_store(archive, s3_endpoint_url=s3_endpoint_url)
    summary = ReplaySummary(archive=store.display, dest=dest)
    entities: Entities = {}
    # The archive is read through once before dest is opened (and ``entities`` filled).
    runs = iter_replayed_runs(store, shard, summary, entities)
    if summary.bad_lines and not summary.responses:
        raise InputError(
            f"archive {store.display} holds no readable response ({summary.problems[0]}): "
            "nothing was written; replay an undamaged archive"
        )
    with open_destination(
        dest, shard, s3_endpoint_url=s3_endpoint_url, duckdb_storage_version=duckdb_storage_version
    ) as destination:
        batch = Batch()
        for run in runs:
            batch.add_run(run.thread_id, run.run_id, run.run, run.steps, run.extracted_at)
            summary.runs_without_object += run.run is None
            if batch.count("steps") >= batch_steps or batch.runs_settled >= batch_runs:
                summary.count(write_batch(destination, batch))
                batch = Batch()
        for kind, object_id in sorted(entities):
            _, fetched_at, obj = entities[(kind, object_id)]
            batch.add(kind, obj, fetched_at)
        if batch:
            summary.count(write_batch(destination, batch))
        # Responses and conversations (--source responses) in the archive: rebuilt beside the runs.
        successors = read_successors(store, part_files(store), shard)
        batch = Batch()
        summary.successors = successors.add_to(batch)
        summary.successors_left_out = successors.left_out
        if batch:
            summary.count(write_batch(destination, batch))
        write_model_prices(destination, PriceBook())  # the runs' models priced, as an export does
        summary.elapsed_s = time.monotonic() - started
        destination.record_export(summary.as_dict() | {"shard": str(shard), "started_at": iso()})
    return summary


# (kind, id) -> (order, fetched_at, object): the latest response about each thread and assistant.
Entities = dict[tuple[str, str], tuple["Order", datetime, dict[str, Any]]]


def iter_replayed_runs(
    store: Store, shard: Shard, summary: ReplaySummary, entities: Entities | None = None
) -> Iterator[ReplayedRun]:
    """Every run of ``shard`` that the archive holds whole, as the export last fetched it.

    The archive is indexed (pass 1) when this is called, before the first run is asked for: a caller learns what
    the archive holds, and whether it holds anything readable, before it opens a destination. ``entities`` is
    filled then with the shard's threads and assistants.
    """
    files = part_files(store)
    summary.files = len(files)
    index = _Index(shard, {} if entities is None else entities)
    for number, path in enumerate(files):
        for line, item in iter_responses(store, path):
            if isinstance(item, BadLine):
                summary.bad_lines += 1
                summary.note(str(item))
            else:
                index.add(_Where(number, line), item)
    summary.responses = index.responses
    choices = _choose(index, summary)
    order = sorted(range(len(files)), key=lambda n: index.first_fetch.get(n, datetime.max.replace(tzinfo=UTC)))
    return _assemble(store, [(n, files[n]) for n in order], choices)


class _Index:
    """Pass 1: where every steps page and run object of the archive is, and how the pages chain."""

    def __init__(self, shard: Shard, entities: Entities) -> None:
        self.shard = shard
        self.entities = entities
        self.pages: defaultdict[tuple[str, str], list[_Page]] = defaultdict(list)
        self.copies: defaultdict[str, list[_RunCopy]] = defaultdict(list)
        self.first_fetch: dict[int, datetime] = {}
        self.responses = 0

    def add(self, where: _Where, response: ArchivedResponse) -> None:
        """Index one response (only successful GETs of steps pages and runs matter)."""
        self.responses += 1
        if where.file not in self.first_fetch or response.fetched_at < self.first_fetch[where.file]:
            self.first_fetch[where.file] = response.fetched_at
        if response.method != "GET":
            return
        order = (response.fetched_at, self.responses)
        if response.path in _ENTITY_LISTS or _ASSISTANT_PATH.match(response.path):
            self._add_entities(order, response)
            return
        if response.status != 200:
            return
        if match := _STEPS_PATH.search(response.path):
            self._add_page(match["thread"], match["run"], order, where, response)
        elif match := _RUN_PATH.search(response.path):
            body = _json(response.body)
            if isinstance(body, dict) and body.get("id") == match["run"] and self.shard.owns(match["run"]):
                self.copies[match["run"]].append(_RunCopy(order, where, None))
        elif _RUNS_PATH.search(response.path):
            data = _data(_json(response.body))
            for position, item in enumerate(data or ()):
                run_id = item.get("id")
                if isinstance(run_id, str) and self.shard.owns(run_id):
                    self.copies[run_id].append(_RunCopy(order, where, position))

    def _add_entities(self, order: Order, response: ArchivedResponse) -> None:
        """Threads and assistants as listed or fetched (a 404 for an assistant: gone), this shard's only."""
        found: list[tuple[str, dict[str, Any]]] = []
        if response.status == 200 and response.path in _ENTITY_LISTS:
            kind = _ENTITY_LISTS[response.path]
            found = [(kind, item) for item in _data(_json(response.body)) or ()]
        elif match := _ASSISTANT_PATH.match(response.path):
            body = _json(response.body)
            if response.status == 200 and isinstance(body, dict) and body.get("id") == match["assistant"]:
                found = [("assistants", body)]
            elif response.status == 404:
                found = [("assistants", gone_assistant(match["assistant"]))]
        for kind, obj in found:
            key = (kind, obj["id"])
            if self.shard.owns(obj["id"]) and (key not in self.entities or self.entities[key][0] < order):
                self.entities[key] = (order, response.fetched_at, obj)

    def _add_page(self, thread_id: str, run_id: str, order: Order, where: _Where, response: ArchivedResponse) -> None:
        if not self.shard.owns(run_id) or response.param("before") is not None:
            return  # the exporter never pages backwards: such a page is not one of its walks
        body = _json(response.body)
        data = _data(body)
        if data is None:
            return  # the exporter rejected this body and asked again
        has_more = body.get("has_more")
        last_id = data[-1]["id"] if data else None
        page = _Page(order, where, response.param("after"), last_id, has_more if isinstance(has_more, bool) else None)
        self.pages[(thread_id, run_id)].append(page)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _data(body: Any) -> list[dict[str, Any]] | None:
    """A list page's items, when the page has the shape the exporter accepts (each item an object with an id)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    data: list[Any] = body["data"]
    if not all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in data):
        return None
    return data


def _choose(index: _Index, summary: ReplaySummary) -> list[_Choice]:
    """Pass 1's verdict: for each run, the walk and the run object to rebuild it from."""
    choices: list[_Choice] = []
    for (thread_id, run_id), pages in sorted(index.pages.items()):
        walks = _walks(sorted(pages, key=lambda page: page.order))
        complete = [walk for walk in walks if walk.state == "complete"]
        if not complete:
            summary.runs_skipped += 1
            summary.note(f"{thread_id}/{run_id}: no complete walk of its steps pages in the archive; skipped")
            continue
        best = max(complete, key=lambda walk: walk.pages[-1].order)
        start = best.pages[0].order
        previous = max((walk.pages[0].order for walk in walks if walk.pages[0].order < start), default=None)
        last = best.pages[-1].order[0]
        choices.append(
            _Choice(
                thread_id=thread_id,
                run_id=run_id,
                pages=tuple(best.pages),
                run_copy=_run_copy(index.copies.get(run_id, []), start, previous),
                extracted_at=datetime.fromtimestamp(int(last.timestamp()), UTC),
            )
        )
    return choices


def _walks(pages: list[_Page]) -> list[_Walk]:
    """A run's pages (in fetch order) as the walks that fetched them; a page that fits no walk is dropped."""
    walks: list[_Walk] = []
    for page in pages:
        if page.after is None:
            walks.append(_Walk([]))
            walks[-1].take(page)
            continue
        # The latest open walk waiting for this cursor: concurrent exports of one run stay apart.
        for walk in reversed(walks):
            if walk.state == "open" and walk.pages[-1].last_id == page.after:
                walk.take(page)
                break
    return walks


def _run_copy(copies: list[_RunCopy], start: Order, previous: Order | None) -> _RunCopy | None:
    """The run object the export used for a walk that began at ``start``.

    An explicit run is fetched (``GET``) right before its steps: such a copy after the run's previous walk
    belongs to this fetch. Otherwise the run was discovered: the latest list item before the walk.
    """
    before = [copy for copy in copies if copy.order <= start]
    fetched = [copy for copy in before if copy.index is None and (previous is None or copy.order > previous)]
    listed = [copy for copy in before if copy.index is not None]
    candidates = fetched or listed or before or copies
    return max(candidates, key=lambda copy: copy.order, default=None)


@dataclass
class _Assembly:
    choice: _Choice
    pages: list[list[dict[str, Any]] | None]
    run: dict[str, Any] | None = None
    missing: int = 0


def _assemble(store: Store, files: list[tuple[int, str]], choices: list[_Choice]) -> Iterator[ReplayedRun]:
    """Pass 2: read the chosen lines (files in fetch order) and yield each run as soon as it is whole."""
    wanted: defaultdict[_Where, list[tuple[_Assembly, int]]] = defaultdict(list)  # slot -1: the run object
    for choice in choices:
        assembly = _Assembly(choice, [None] * len(choice.pages))
        for slot, page in enumerate(choice.pages):
            wanted[page.where].append((assembly, slot))
        if choice.run_copy is not None:
            wanted[choice.run_copy.where].append((assembly, -1))
        assembly.missing = len(choice.pages) + (choice.run_copy is not None)
    needed_files = {where.file for where in wanted}
    for number, path in files:
        if number not in needed_files:
            continue
        for line, item in iter_responses(store, path):
            takers = wanted.pop(_Where(number, line), None)
            if not takers or isinstance(item, BadLine):
                continue
            body = orjson.loads(item.body)
            for assembly, slot in takers:
                if slot >= 0:
                    assembly.pages[slot] = body["data"]
                else:
                    copy = assembly.choice.run_copy
                    assert copy is not None
                    assembly.run = body if copy.index is None else body["data"][copy.index]
                assembly.missing -= 1
                if assembly.missing == 0:
                    yield _replayed(assembly)
    if wanted:
        # Pass 1 saw these lines: the archive changed between the two passes.
        log.warning("%d archived responses could not be read again; their runs are left out", len(wanted))


def _replayed(assembly: _Assembly) -> ReplayedRun:
    choice = assembly.choice
    steps = [step for page in assembly.pages for step in page or ()]
    return ReplayedRun(choice.thread_id, choice.run_id, assembly.run, steps, choice.extracted_at)
