"""Backfills: one long ``[since, until)`` window exported chunk by chunk, each finished chunk recorded at the
destination, so a backfill that was interrupted continues where it stopped when run again."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, overload

from etl.config import Settings
from etl.errors import InputError
from etl.pipeline import ExportObserver, ExportOptions, ExportSummary, Sources, check_provider, run_export, thread_ids
from etl.preflight import check_destination, check_host_resolves, check_settings, check_sources, check_window
from etl.summary import HIDDEN, Metrics
from etl.values import iso

log = logging.getLogger(__name__)

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_chunk(text: str) -> int:
    """Seconds in a chunk given as ``<N><m|h|d|w>`` (``1d``, ``12h``, ``1w``)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if not match or int(match.group(1)) == 0:
        raise InputError(f"--chunk {text!r} is not a duration like 1d, 12h, 30m or 1w")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Chunk:
    """One slice ``[start, end)`` of the backfill window, in unix seconds."""

    start: int
    end: int

    @property
    def label(self) -> str:
        """How the chunk is recorded and shown: ``<start>/<end>`` in ISO-8601 UTC."""
        # Labels are recorded at the destination to resume a backfill: their Z form must never change.
        return f"{iso(self.start)}/{iso(self.end)}".replace("+00:00", "Z")


@dataclass(frozen=True)
class Window(Sequence[Chunk]):
    """The window cut into chunks of ``size`` seconds, oldest first, the last one ending at ``until``: computed
    on demand, so a long window costs no memory (and one of more than ``MAX_CHUNKS`` chunks is refused)."""

    since: int
    until: int
    size: int

    def __len__(self) -> int:
        return -(-(self.until - self.since) // self.size)

    @overload
    def __getitem__(self, index: int) -> Chunk: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Chunk]: ...

    def __getitem__(self, index: int | slice) -> Chunk | Sequence[Chunk]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = self.since + index * self.size
        return Chunk(start, min(start + self.size, self.until))


def chunks(since: int, until: int, size: int) -> Window:
    """The window cut into chunks of ``size`` seconds, oldest first; the last one ends at ``until``."""
    check_window(since, until, size)
    return Window(since, until, size)


def job_id(sources: Sources, threads: list[str], size: int, options: ExportOptions) -> str:
    """A name for the backfill that is the same when the same backfill is run again (to resume it)."""
    digest = hashlib.sha256()
    listed = ("|all-threads",) if sources.all_threads else ()  # absent otherwise: earlier jobs keep their names
    for part in (*threads, *listed, "|", str(sources.since), str(sources.until), str(size), options.scope):
        digest.update(part.encode() + b"\0")
    return f"backfill-{digest.hexdigest()[:16]}"


@dataclass(kw_only=True)
class BackfillSummary(Metrics):
    """What a backfill did, chunk by chunk."""

    kind: ClassVar[str] = "backfill"
    job: str
    chunks_total: int
    chunks_skipped: int = 0  # finished by an earlier run of the same backfill
    exports: list[ExportSummary] = field(default_factory=list, metadata=HIDDEN)

    @property
    def exit_code(self) -> int:
        """3 when some run failed in some chunk, else 0."""
        return max((s.exit_code for s in self.exports), default=0)

    def derived(self) -> dict[str, Any]:
        """Totals over the chunks."""
        return {
            "chunks_done": self.chunks_skipped + len(self.exports),
            "runs_ok": sum(s.runs_ok for s in self.exports),
            "runs_failed": sum(s.runs_failed for s in self.exports),
            "runs_skipped": sum(s.runs_skipped for s in self.exports),
            "steps": sum(s.steps for s in self.exports),
            "requests": sum(s.requests for s in self.exports),
            "failures": [f for s in self.exports for f in s.failures],
            "exit_code": self.exit_code,
        }

    def lines(self) -> list[str]:
        """Each chunk's export, then the totals."""
        totals = self.derived()
        return [line for export in self.exports for line in export.lines()] + [
            f"backfill {self.job}: {totals['chunks_done']}/{self.chunks_total} chunks done "
            f"({self.chunks_skipped} finished earlier), {totals['runs_ok']} runs, {totals['steps']} steps"
        ]


def run_backfill(
    settings: Settings,
    sources: Sources,
    options: ExportOptions,
    chunk_seconds: int,
    *,
    observer: ExportObserver | None = None,
    on_chunk: Callable[[Chunk, int, int], None] | None = None,
) -> BackfillSummary:
    """Export ``sources`` over its window chunk by chunk, skipping the chunks an earlier run finished.

    A chunk is recorded as finished only when every run in it was exported; a chunk with failures is tried
    again next time (its exported runs are then skipped by the run state, at no request).
    """
    if sources.since is None or sources.until is None:
        raise InputError("a backfill needs both --since and --until")
    check_provider(settings, sources)
    window = chunks(sources.since, sources.until, chunk_seconds)
    # Everything is checked before the destination is opened: an input error leaves it as it was.
    check_settings(settings)
    check_destination(options.dest)
    threads = _threads(check_sources(sources))
    check_host_resolves(settings)
    job = job_id(sources, threads, chunk_seconds, options)
    summary = BackfillSummary(job=job, chunks_total=len(window))
    chunk_options = replace(options, use_watermarks=False)  # the chunk bounds the window, not a watermark
    # --deadline bounds the whole backfill: each chunk gets what is left of it.
    ends_at = None if options.deadline is None else time.monotonic() + options.deadline
    # One claim on the destination for the whole backfill: no other export slips in between chunks.
    with options.open() as dest:
        done = dest.chunks_done(job)
        for position, chunk in enumerate(window, 1):
            if chunk.label in done:
                summary.chunks_skipped += 1
                continue
            if ends_at is not None:
                chunk_options = replace(chunk_options, deadline=max(ends_at - time.monotonic(), 0.0))
            if on_chunk is not None:
                on_chunk(chunk, position, len(window))
            chunk_sources = Sources(
                threads=tuple(threads),
                since=chunk.start,
                until=chunk.end,
                all_threads=sources.all_threads,
                checked=True,
            )
            result = run_export(settings, chunk_sources, chunk_options, observer, dest=dest)
            summary.exports.append(result)
            if result.exit_code == 0:
                dest.mark_chunk_done(job, chunk.label)
            log.info(
                "chunk %d/%d %s: %d runs ok, %d failed, %d steps",
                position,
                len(window),
                chunk.label,
                result.runs_ok,
                result.runs_failed,
                result.steps,
            )
            if ends_at is not None and time.monotonic() >= ends_at:
                break  # the chunk's export named the deadline as its failure: exit code 3
    return summary


def _threads(sources: Sources) -> list[str]:
    threads = thread_ids(sources)
    if not threads and not sources.all_threads:
        raise InputError("a backfill discovers runs per thread: give --thread, --threads-file or --all-threads")
    return threads
