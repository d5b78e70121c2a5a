"""The one write signature both destinations keep, and the export state they keep with the data.

A ``Destination`` is opened for one shard (``Shard(0, 1)`` = everything) and used as a context manager:
entering takes the writer's claim on that shard's part of the destination (or raises
``DestinationBusyError`` before anything is written); ``write`` lands one ``ExportBatch`` as one unit:
DuckDB in one transaction with its state rows, Parquet data files first and the state files after them.
Re-writing a step replaces the step and all of its child rows; re-writing a run replaces its ``runs`` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol

import pyarrow as pa

from etl.schema import Table
from etl.sharding import Shard

TERMINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})


@dataclass(frozen=True)
class RunRecord:
    """What the destination knows of one run's export."""

    run_id: str
    thread_id: str
    run_status: str | None  # the run's own status when it was fetched; None if the run object was not fetched
    run_created_at: int | None  # unix seconds
    step_count: int  # steps written for this run
    exported: bool  # True when every step of the run was written
    error: str | None  # why the export of this run failed (None when it did not)
    exported_at: datetime  # when this record was written (UTC)

    @property
    def finished(self) -> bool:
        """Exported completely while terminal: an incremental export need not fetch it again."""
        return self.exported and self.run_status in TERMINAL_RUN_STATUSES


@dataclass(frozen=True)
class ItemCursor:
    """Where the stored items of a conversation end: the next position, and the last stored item's id."""

    next_position: int
    last_item_id: str | None


@dataclass
class ExportBatch:
    """One unit of writing: the rows of some runs (all five tables) and those runs' state records.

    ``tables`` maps table name -> Arrow table in that table's schema (``etl.schema``); a missing or empty
    table means no rows. ``records`` holds one ``RunRecord`` per run the batch settles, including runs that
    failed (they carry ``error`` and no rows).
    """

    tables: Mapping[str, pa.Table] = field(default_factory=dict)
    records: list[RunRecord] = field(default_factory=list)


class StateStore(Protocol):
    """The export state kept with the destination."""

    def run_records(self, run_ids: Iterable[str] | None = None) -> dict[str, RunRecord]:
        """Records for the given runs (all runs when None)."""

    def watermark(self, thread_id: str, scope: str) -> int | None:
        """Highest run created_at (unix s) discovered and settled for a thread, for one scope (shard spec)."""

    def watermarks(self, scope: str) -> dict[str, int]:
        """Every thread's watermark for one scope."""

    def set_watermarks(self, scope: str, marks: Mapping[str, int]) -> None:
        """Advance the watermarks of some threads (never moves one back)."""

    def chunks_done(self, job: str) -> set[str]:
        """The chunk labels a backfill job has finished."""

    def mark_chunk_done(self, job: str, chunk: str) -> None:
        """Record one finished backfill chunk."""

    def record_export(self, summary: Mapping[str, object]) -> None:
        """Append one export's summary (no secrets in it) to the destination's history."""

    def exports(self, limit: int = 10) -> list[dict[str, object]]:
        """The latest export summaries, newest first."""


class Destination(StateStore, Protocol):
    """A place the tables are written to. Use as ``with open_destination(uri, shard) as dest: ...``."""

    uri: str
    shard: Shard

    def __enter__(self) -> Destination: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def write(self, batch: ExportBatch) -> None:
        """Land one batch as a unit: replace its steps (and their children) and runs, then its state."""

    def conversation_cursors(self, conversation_ids: Iterable[str]) -> dict[str, ItemCursor]:
        """Where each conversation's stored items end: how many there are, and the id of the last one."""

    def read_table(self, name: str, columns: Sequence[str]) -> pa.Table:
        """Some columns of a table as the destination holds it now (empty when it has none yet)."""

    def replace_table(self, table: Table, rows: pa.Table) -> None:
        """Make a table that is written whole (``model_prices``) hold exactly ``rows``, as one unit."""

    def checkpoint(self) -> None:
        """Fold what is written so far into the destination's own files (DuckDB: its write-ahead log into the
        database file, which closing it would do anyway); nothing to do where each write already is final."""
