"""The raw-archive writer: every response an export receives, as gzipped JSON Lines partitioned by fetch date.

    <archive>/responses/fetched_date=2026-11-25/part-<uuid>.jsonl.gz

``record`` only queues the response: a background thread encodes, compresses and publishes, so the event
loop that fetches never waits on gzip or on an upload (unless the queue is full: then it waits, which is
the backpressure we want). A part is built in memory and published whole with ``Store.write_atomic`` (temp
name + rename locally; one upload on object stores), so a reader never sees half a file. A part is rolled
when it holds ``max_records`` responses or ``max_bytes`` of uncompressed lines, when it is ``max_age_s``
old, when ``flush`` asks (an export does before each batch lands, so a crash loses no response whose rows it
recorded), and on close.
"""

from __future__ import annotations

import functools
import gzip
import io
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date
from types import TracebackType

from etl.archive.format import encode_line
from etl.config import Secret, mask_fragments_in
from etl.errors import DestinationError, EtlError
from etl.extract.client import ResponseRecord
from etl.load.fs import Store, open_store, store_error

log = logging.getLogger(__name__)

RESPONSES_DIR = "responses"
PARTITION = "fetched_date"
PART_SUFFIX = ".jsonl.gz"
_STOP = object()
_TICK_S = 1.0  # how often an idle writer checks whether a part is old enough to publish
_COMPRESS_LEVEL = 6  # gzip's default of 9 costs about twice the CPU for a few percent smaller files
MAX_RECORDS = 20_000
MAX_BYTES = 64 * 1024 * 1024  # of uncompressed lines: bounds the memory a part holds
MAX_AGE_S = 60.0  # an idle part is published after this long


@dataclass(frozen=True)
class _Flush:
    """Publish every part now, then set ``done``."""

    done: threading.Event = field(default_factory=threading.Event)


def part_path(day: date) -> str:
    """A new part's path, relative to the archive root."""
    return f"{RESPONSES_DIR}/{PARTITION}={day.isoformat()}/part-{uuid.uuid4().hex}{PART_SUFFIX}"


@dataclass
class _Part:
    """One file being built in memory."""

    day: date
    opened: float = field(default_factory=time.monotonic)
    records: int = 0
    raw_bytes: int = 0
    buffer: io.BytesIO = field(default_factory=io.BytesIO)
    gz: gzip.GzipFile = field(init=False)

    def __post_init__(self) -> None:
        # mtime=0: the same responses make the same bytes (no timestamp in the gzip header).
        self.gz = gzip.GzipFile(fileobj=self.buffer, mode="wb", compresslevel=_COMPRESS_LEVEL, mtime=0)

    def add(self, line: bytes) -> None:
        self.gz.write(line)
        self.records += 1
        self.raw_bytes += len(line)

    def finish(self) -> bytes:
        self.gz.close()
        return self.buffer.getvalue()


class ArchiveWriter:
    """Writes every recorded response to an archive root; use as a context manager (closing publishes the rest)."""

    def __init__(
        self,
        store: Store,
        *,
        secret: Secret | None = None,
        max_records: int = MAX_RECORDS,
        max_bytes: int = MAX_BYTES,
        max_age_s: float = MAX_AGE_S,
        queue_size: int = 512,
    ) -> None:
        self.store = store
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.records_written = 0
        self.files_written: list[str] = []
        self._secret = secret.reveal().encode() if secret else b""
        self._parts: dict[date, _Part] = {}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._failure: EtlError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._drain, name="archive-writer", daemon=True)
        self._thread.start()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.close()
        except EtlError:
            if exc is None:
                raise
            # Another error is already on its way out: it is the one the user needs to see.
            log.error("the raw archive could not be completed either", exc_info=True)

    def record(self, response: ResponseRecord) -> None:
        """Queue one response for the archive (the ``on_response`` callback of ``ApiClient``)."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise DestinationError("the raw archive is closed")
        self._queue.put(response)

    def flush(self) -> None:
        """Publish every response recorded so far, and return once they are published (raises if a write failed).

        An export calls it before each batch lands (``ExportOptions.before_write``): the destination then never
        records a run as exported whose raw responses a crash could still lose, so a re-run fetches (and archives)
        again whatever the archive lacks, and a replay rebuilds what the export wrote.
        """
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise DestinationError("the raw archive is closed")
        flush = _Flush()
        while True:
            try:
                self._queue.put(flush, timeout=1.0)
                break
            except queue.Full:
                self._check_alive()
        while not flush.done.wait(timeout=1.0):
            self._check_alive()
        if self._failure is not None:
            raise self._failure

    def _check_alive(self) -> None:
        if not self._thread.is_alive():
            raise self._failure or DestinationError(f"the raw archive at {self.store.display} stopped writing")

    def close(self) -> None:
        """Publish every part still in memory and stop the writer thread; raises if any write failed."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        if self._failure is not None:
            raise self._failure

    # -- the writer thread -----------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=max(0.01, min(_TICK_S, self.max_age_s)))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._guarded(self._publish_all)
                return
            if isinstance(item, _Flush):
                self._guarded(self._publish_all)
                item.done.set()
                continue
            if self._failure is not None:
                continue  # keep taking items so ``record`` never blocks on a dead writer
            if isinstance(item, ResponseRecord):
                self._guarded(functools.partial(self._add, item))
            self._guarded(self._publish_old)

    def _guarded(self, action: Callable[[], None]) -> None:
        if self._failure is not None:
            return
        try:
            action()
        except EtlError as exc:
            self._failure = exc
        except Exception as exc:  # surfaced to the exporting thread, never lost in this one
            self._failure = DestinationError(f"cannot write the raw archive at {self.store.display}: {exc}")

    def _add(self, response: ResponseRecord) -> None:
        body = response.body
        if self._secret and self._secret in body:
            body = body.replace(self._secret, b"***")
        if response.status >= 400:  # an error body may show part of the key ("sk-ab***yz"); a page's text is data
            body = mask_fragments_in(body)
        line = encode_line(
            fetched_at=response.fetched_at,
            method=response.method,
            path=response.path,
            query=response.query,
            status=response.status,
            headers=response.headers,
            body=body,
        )
        day = response.fetched_at.astimezone(UTC).date()
        part = self._parts.get(day)
        if part is None:
            part = self._parts[day] = _Part(day)
        part.add(line)
        if part.records >= self.max_records or part.raw_bytes >= self.max_bytes:
            self._publish(part)

    def _publish_old(self) -> None:
        now = time.monotonic()
        for part in list(self._parts.values()):
            if now - part.opened >= self.max_age_s:
                self._publish(part)

    def _publish_all(self) -> None:
        for part in list(self._parts.values()):
            self._publish(part)

    def _publish(self, part: _Part) -> None:
        del self._parts[part.day]
        path = part_path(part.day)
        self.store.write_atomic(path, part.finish())
        self.records_written += part.records
        self.files_written.append(path)


def open_archive(
    uri: str,
    *,
    secret: Secret | None = None,
    s3_endpoint_url: str | None = None,
    max_records: int = MAX_RECORDS,
    max_bytes: int = MAX_BYTES,
    max_age_s: float = MAX_AGE_S,
) -> ArchiveWriter:
    """An ``ArchiveWriter`` for a local directory or any ``pyarrow.fs`` URI (created on first write).

    ``secret``: the API key, masked as ``***`` should a body ever echo it (the API itself masks it).
    ``s3_endpoint_url``: an S3-compatible store's endpoint (default ``$AWS_ENDPOINT_URL``).
    """
    store = open_store(uri, endpoint_url=s3_endpoint_url, must_exist=False)
    if store.local:
        # Fail before the export starts, not when the first part is published (object stores were probed).
        with store_error(store, f"create {RESPONSES_DIR}/"):
            store.fs.create_dir(store.path(RESPONSES_DIR), recursive=True)
    return ArchiveWriter(store, secret=secret, max_records=max_records, max_bytes=max_bytes, max_age_s=max_age_s)
