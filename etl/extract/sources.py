"""Where the runs to export come from: ``thread/run`` pairs, runs files, threads files and per-thread discovery.

Files are read lazily, line by line (``-`` is stdin), so a list of millions of runs is never held at once;
a bad line is an ``InputError`` naming the file and line. Discovery walks a thread's runs newest first
(``order=desc, limit=100``) and stops at the page that crosses the lower bound, so an incremental export
of a long thread costs one or two requests, and keeps the runs with ``created_at`` in ``[since, until)``.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import stat
import sys
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from etl.errors import AuthError, EtlError, FatalApiError, InputError
from etl.extract.client import ApiClient
from etl.extract.ids import RunRef, runs_path, validate_id
from etl.extract.paging import MAX_PAGE_SIZE, iter_pages
from etl.extract.streams import aiter_any, stream_map

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20  # characters: a longer line is not a runs or threads file (and is not held whole)


def parse_instant(text: str, what: str = "--since") -> int:
    """Unix seconds of an ISO-8601 date or datetime (UTC when it has no offset), as given to ``what``."""
    try:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())
    except (ValueError, OverflowError):
        raise InputError(
            f"{what} {text[:80]!r} is not an ISO-8601 date or datetime in years 1 to 9999: give one such as"
            " 2024-05-01 or 2024-05-01T12:00Z"
        ) from None


def read_runs_file(path: str, stdin: TextIO | None = None) -> Iterator[RunRef]:
    """The runs listed in a CSV file (header ``thread_id,run_id``) or a JSON Lines file; ``-`` reads stdin."""
    return _read_runs(_label(path), _open(path, stdin))


def read_threads_file(path: str, stdin: TextIO | None = None) -> Iterator[str]:
    """The thread ids in a file of one id a line, or a CSV file with a ``thread_id`` column; ``-`` reads stdin."""
    return _read_threads(_label(path), _open(path, stdin))


def read_ids_file(path: str, kind: str, stdin: TextIO | None = None) -> Iterator[str]:
    """The ids of ``kind`` (response, conversation) in a file of one id a line, or a CSV file with a ``<kind>_id``
    column; ``-`` reads stdin."""
    return _read_threads(path, _open(path, stdin), kind)


@dataclass(frozen=True)
class DiscoveredThread:
    """The runs found in one thread within the bounds, or why listing them failed."""

    thread_id: str
    runs: list[RunRef] = field(repr=False)
    error: EtlError | None
    requests: int

    @property
    def newest_created_at(self) -> int | None:
        """The latest ``created_at`` among the runs found: where this thread's watermark may move to."""
        return max((_created_at(ref.run) for ref in self.runs), default=None)


async def discover_thread(
    client: ApiClient, thread_id: str, *, since: int | None = None, until: int | None = None
) -> DiscoveredThread:
    """List one thread's runs with ``since <= created_at < until``, newest first, no page beyond ``since``."""
    runs: list[RunRef] = []
    requests = 0
    try:
        pages = iter_pages(client, runs_path(thread_id), limit=MAX_PAGE_SIZE, order="desc")
        async with aclosing(pages):
            async for page in pages:
                requests += 1
                crossed = False
                for run in page:
                    created = _created_at(run)
                    if since is not None and created < since:
                        crossed = True
                    elif until is None or created < until:
                        runs.append(_ref_of(run, thread_id))
                if crossed:  # newest first: every later page is older still
                    break
    except AuthError:
        raise
    except EtlError as exc:
        log.warning("listing the runs of thread %s failed: %s", thread_id, exc)
        return DiscoveredThread(thread_id, runs, exc, requests)
    return DiscoveredThread(thread_id, runs, None, requests)


async def iter_discovered_threads(
    client: ApiClient,
    thread_ids: AsyncIterable[str] | Iterable[str],
    *,
    since: int | None = None,
    until: int | None = None,
    watermarks: Mapping[str, int] | None = None,
    concurrency: int | None = None,
) -> AsyncGenerator[DiscoveredThread, None]:
    """Discover the runs of many threads at once (each thread once), yielding each thread as it finishes.

    A thread's watermark (the newest run an earlier export settled) raises its lower bound like ``since``;
    the bound is inclusive, so runs created in the watermark's own second are looked at again.
    """
    marks = watermarks or {}

    async def one(thread_id: str) -> DiscoveredThread:
        lower = max((b for b in (since, marks.get(thread_id)) if b is not None), default=None)
        return await discover_thread(client, thread_id, since=lower, until=until)

    limit = concurrency or client.settings.concurrency
    async for thread in stream_map(_unique_threads(thread_ids), one, concurrency=limit):
        yield thread


async def iter_discovered_runs(
    client: ApiClient,
    thread_ids: AsyncIterable[str] | Iterable[str],
    *,
    since: int | None = None,
    until: int | None = None,
    watermarks: Mapping[str, int] | None = None,
    concurrency: int | None = None,
    on_thread: Callable[[DiscoveredThread], None] | None = None,
) -> AsyncGenerator[RunRef, None]:
    """The runs of ``iter_discovered_threads`` one by one; ``on_thread`` sees each thread (errors, watermarks)."""
    threads = iter_discovered_threads(
        client, thread_ids, since=since, until=until, watermarks=watermarks, concurrency=concurrency
    )
    async with aclosing(threads):
        async for thread in threads:
            if on_thread is not None:
                on_thread(thread)
            for ref in thread.runs:
                yield ref


async def _unique_threads(thread_ids: AsyncIterable[str] | Iterable[str]) -> AsyncGenerator[str, None]:
    seen: set[str] = set()
    async with aclosing(aiter_any(thread_ids)) as items:
        async for thread_id in items:
            if validate_id("thread", thread_id) not in seen:
                seen.add(thread_id)
                yield thread_id


def _created_at(run: Any) -> int:
    created = run.get("created_at") if isinstance(run, dict) else None
    if not isinstance(created, int) or isinstance(created, bool):
        raise FatalApiError(f"run {run.get('id') if isinstance(run, dict) else run!r} has no integer created_at")
    return created


def _ref_of(run: dict[str, Any], thread_id: str) -> RunRef:
    """A ref for a listed run; the server's ids are checked like the user's before they go into a URL."""
    if run.get("thread_id", thread_id) != thread_id:
        raise FatalApiError(f"thread {thread_id} listed run {run.get('id')!r} of thread {run.get('thread_id')!r}")
    try:
        return RunRef(thread_id, run["id"], run)
    except InputError as exc:
        raise FatalApiError(f"thread {thread_id} listed a run whose id is unsafe: {exc}") from None


def _label(path: str) -> str:
    return "stdin" if path == "-" else path


def is_reread_safe(path: str) -> bool:
    """True when ``path`` is a regular file, which can be read once to check it and again to export it."""
    if path == "-":
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # opening it says what is wrong, as an InputError


def _open(path: str, stdin: TextIO | None) -> Iterable[str]:
    """The lines of ``path`` (``-`` = stdin); a file that cannot be opened is an ``InputError`` now, not later.

    Files and stdin are read alike: UTF-8 with or without a byte-order mark (spreadsheet programs write one),
    any of LF, CRLF and CR line endings, no line longer than ``MAX_LINE``.
    """
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream = io.TextIOWrapper(buffer, encoding="utf-8-sig", newline="")
        return _capped(path, stream)
    try:
        if os.path.isdir(path):
            raise InputError(f"cannot read {path}: it is a directory, not a file of ids")
        return _capped(path, open(path, encoding="utf-8-sig", newline=""))  # closed by the reader
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


class _capped:
    """The lines of a stream, each read with a length limit so a file with no line breaks is refused, not held."""

    def __init__(self, path: str, stream: TextIO) -> None:
        self._path = path
        self._stream = stream

    def __iter__(self) -> Iterator[str]:
        number = 0
        while True:
            line = self._stream.readline(MAX_LINE + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE:
                raise InputError(f"{self._path} line {number}: longer than {MAX_LINE:,} characters: not a file of ids")
            yield line

    def close(self) -> None:
        """Close the file (never stdin itself)."""
        if self._stream is not sys.stdin and self._path != "-":
            self._stream.close()


def _read_runs(path: str, lines: Iterable[str]) -> Iterator[RunRef]:
    numbered = _numbered(path, lines)
    try:
        first = next(numbered, None)
        if first is None:
            return
        number, line = first
        if line.lstrip().startswith("{"):
            yield _json_run(path, number, line)
            for number, line in numbered:
                yield _json_run(path, number, line)
            return
        header = _csv_row(path, number, line)
        try:
            thread_col, run_col = header.index("thread_id"), header.index("run_id")
        except ValueError:
            raise InputError(
                f"{path} line {number}: a runs file is CSV with a header naming thread_id and run_id, "
                f"or JSON Lines; got {line.strip()[:80]!r}"
            ) from None
        for number, line in numbered:
            row = _csv_row(path, number, line)
            if max(thread_col, run_col) >= len(row):
                raise InputError(f"{path} line {number}: no thread_id and run_id columns in {line.strip()[:80]!r}")
            yield _ref_at(path, number, row[thread_col], row[run_col])
    finally:
        _close(lines)


def _read_threads(path: str, lines: Iterable[str], kind: str = "thread") -> Iterator[str]:
    numbered = _numbered(path, lines)
    try:
        first = next(numbered, None)
        if first is None:
            return
        number, line = first
        header = _csv_row(path, number, line)
        column = header.index(f"{kind}_id") if f"{kind}_id" in header else None
        if column is None:
            yield _id_at(path, number, kind, line.strip())
        for number, line in numbered:
            value = line.strip() if column is None else _column(path, number, line, column)
            yield _id_at(path, number, kind, value)
    finally:
        _close(lines)


def _numbered(path: str, lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number, line) for the non-blank lines."""
    try:
        for number, line in enumerate(lines, start=1):
            if "\0" in line:
                raise InputError(f"{path} line {number}: a NUL byte: this is a binary file, not a file of ids")
            if line.strip():
                yield number, line
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason}): save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _json_run(path: str, number: int, line: str) -> RunRef:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path} line {number}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or "thread_id" not in obj or "run_id" not in obj:
        raise InputError(f"{path} line {number}: expected an object with thread_id and run_id")
    return _ref_at(path, number, obj["thread_id"], obj["run_id"])


def _ref_at(path: str, number: int, thread_id: object, run_id: object) -> RunRef:
    return RunRef(_id_at(path, number, "thread", thread_id), _id_at(path, number, "run", run_id))


def _id_at(path: str, number: int, kind: str, value: object) -> str:
    try:
        return validate_id(kind, value.strip() if isinstance(value, str) else value)
    except InputError as exc:
        raise InputError(f"{path} line {number}: {exc}") from None


def _column(path: str, number: int, line: str, column: int) -> str:
    row = _csv_row(path, number, line)
    if column >= len(row):
        raise InputError(f"{path} line {number}: no thread_id column in {line.strip()[:80]!r}")
    return row[column]


def _csv_row(path: str, number: int, line: str) -> list[str]:
    try:
        return [cell.strip() for cell in next(csv.reader([line]), [])]
    except csv.Error as exc:
        raise InputError(f"{path} line {number}: not CSV ({exc}): {line.strip()[:80]!r}") from None


def _close(lines: Iterable[str]) -> None:
    if lines is not sys.stdin and hasattr(lines, "close"):
        lines.close()
