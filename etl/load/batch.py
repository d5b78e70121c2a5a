"""The one write path: objects from any source (export, replay, import) -> ``Batch`` -> ``write_batch``.

A ``Batch`` holds API objects by kind (``etl.transform.TRANSFORMS``), each with its ``extracted_at``, and the
run records they settle; ``write_batch`` turns it into the tables (``etl.transform.to_tables``), lands them in
one ``Destination.write`` and returns what it wrote. Objects are keyed by kind and id: within a batch the last
one given wins, and across batches the destination replaces, so each key is written once.

Objects belong to a group (a run, or the object alone): when an object does not fit the tables, its whole
group is left out and named in ``Written.refused``, and the rest of the batch is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING

import pyarrow as pa

from etl.errors import TransformError
from etl.load.base import Destination, ExportBatch, RunRecord
from etl.schema import FIRST_SECOND, LAST_SECOND
from etl.values import Json

if TYPE_CHECKING:
    from etl.transform import Drift

# Arrow's default allocator (mimalloc) keeps the pages a written batch freed, so an export's RSS crept up batch by
# batch; the system allocator hands them back (bench_memory, 200k steps into DuckDB: peak 358 -> 305 MB).
pa.set_memory_pool(pa.system_memory_pool())

BATCH_STEPS = 5_000  # steps per write of an export: bounds its memory (README, Benchmarks: Memory)
BATCH_RUNS = 2_000  # runs per write, for jobs of many small runs
BATCH_OBJECTS = 20_000  # objects per write when nothing is fetched meanwhile (replay, import)


@dataclass(frozen=True)
class _Run:
    """A run the batch settles: what its ``RunRecord`` will say unless its objects are refused."""

    thread_id: str
    run_id: str
    run: Json | None
    step_count: int
    error: str | None


@dataclass
class Written:
    """What one batch put at the destination (or would have: a check-only write)."""

    tables: dict[str, int]  # rows per table
    objects: dict[str, int]  # objects written per kind ("runs", "steps", ...)
    drift: Drift
    records: list[RunRecord]
    refused: dict[str, TransformError] = field(default_factory=dict)  # group -> why its objects were left out


class Batch:
    """Objects waiting to be written, by kind, each with its ``extracted_at``; and the runs they settle."""

    def __init__(self) -> None:
        self._objects: defaultdict[str, dict[str, tuple[datetime, Json]]] = defaultdict(dict)
        # group -> (kind, ids): a run's steps are one entry, not a tuple per step (cheaper to build and to collect)
        self._groups: defaultdict[str, list[tuple[str, list[str]]]] = defaultdict(list)
        self._group_of: dict[str, str] = {}  # object id -> group
        self._runs: list[_Run] = []

    def count(self, kind: str) -> int:
        """Objects of one kind in the batch."""
        return len(self._objects.get(kind, ()))

    @property
    def objects(self) -> int:
        """Objects of every kind in the batch."""
        return sum(len(objects) for objects in self._objects.values())

    @property
    def runs_settled(self) -> int:
        """Runs whose record the batch writes."""
        return len(self._runs)

    def __bool__(self) -> bool:
        return bool(self.objects or self._runs)

    def add(self, kind: str, obj: Json, extracted_at: datetime, *, group: str | None = None) -> None:
        """Take one object of ``kind`` (it must carry a string ``id``); ``group`` defaults to the object alone."""
        object_id: str = obj["id"]
        # Rows are stamped to the second (the tables' resolution), so objects of one second transform together.
        self._objects[kind][object_id] = (extracted_at.replace(microsecond=0), obj)
        owner = group or object_id
        self._groups[owner].append((kind, [object_id]))
        self._group_of[object_id] = owner

    def add_run(
        self,
        thread_id: str,
        run_id: str,
        run: Json | None,
        steps: list[Json],
        extracted_at: datetime,
        *,
        error: str | None = None,
    ) -> None:
        """Take one run as a source got it: whole (its object, if any, and its steps) or failed with ``error``."""
        if error is None:
            if run is not None:
                self.add("runs", run, extracted_at, group=run_id)
            # What ``add`` does for each step, in C loops: a per-step Python loop cost more than the Arrow
            # conversion of the steps (bench_transform, issue 16).
            ids = [step["id"] for step in steps]
            self._objects["steps"].update(
                zip(ids, zip(repeat(extracted_at.replace(microsecond=0)), steps), strict=False)
            )
            self._groups[run_id].append(("steps", ids))
            self._group_of.update(dict.fromkeys(ids, run_id))
        self._runs.append(_Run(thread_id, run_id, run, len(steps) if error is None else 0, error))

    def add_unit(
        self,
        kind: str,
        unit_id: str,
        obj: Json | None,
        extracted_at: datetime,
        *,
        owner: str,
        count: int,
        error: str | None = None,
    ) -> None:
        """Take one response or conversation (``kind``) as a source got it, whole or failed, and settle its record.

        Its record is a ``RunRecord`` keyed by ``unit_id`` (``owner``: the conversation, or the unit itself;
        ``count``: the items it brought), so a finished response is never fetched again, like a finished run.
        """
        if error is None and obj is not None:
            self.add(kind, obj, extracted_at, group=unit_id)
        self._runs.append(_Run(owner, unit_id, obj, count if error is None else 0, error))

    def to_export_batch(self) -> tuple[ExportBatch, Written]:
        """The tables of ``etl.schema`` with the run records, and what they hold (groups left out, and why)."""
        refused: dict[str, TransformError] = {}
        while True:
            try:
                tables, drift = _to_tables(self._kept(refused))
                break
            except TransformError as exc:
                group = self._group_of.get(exc.object_id or "")
                if group is None or group in refused:
                    self._find_refused(refused)  # the error names no object of the batch: try group by group
                    tables, drift = _to_tables(self._kept(refused))
                    break
                refused[group] = exc
        now = datetime.now(UTC)
        records = [_record(run, refused.get(run.run_id), now) for run in self._runs]
        left_out = self._left_out(refused)
        written = Written(
            tables={name: table.num_rows for name, table in tables.items()},
            objects={
                kind: sum((kind, i) not in left_out for i in objects) if left_out else len(objects)
                for kind, objects in self._objects.items()
            },
            drift=drift,
            records=records,
            refused=refused,
        )
        return ExportBatch(tables=tables, records=records), written

    def release(self) -> None:
        """Drop the objects (the runs it settles stay): what ``to_export_batch`` made no longer needs them."""
        self._objects.clear()
        self._groups.clear()
        self._group_of.clear()

    def _left_out(self, refused: dict[str, TransformError]) -> set[tuple[str, str]]:
        return {(kind, object_id) for group in refused for kind, ids in self._groups[group] for object_id in ids}

    def _kept(self, refused: dict[str, TransformError]) -> dict[str, list[tuple[datetime, Json]]]:
        left_out = self._left_out(refused)
        if not left_out:
            return {kind: list(objects.values()) for kind, objects in self._objects.items()}
        return {
            kind: [value for object_id, value in objects.items() if (kind, object_id) not in left_out]
            for kind, objects in self._objects.items()
        }

    def _find_refused(self, refused: dict[str, TransformError]) -> None:
        for group, members in self._groups.items():
            if group in refused:
                continue
            alone: defaultdict[str, list[tuple[datetime, Json]]] = defaultdict(list)
            for kind, ids in members:
                alone[kind].extend(self._objects[kind][object_id] for object_id in ids)
            try:
                _to_tables(alone)
            except TransformError as exc:
                refused[group] = exc


def _to_tables(objects: dict[str, list[tuple[datetime, Json]]]) -> tuple[dict[str, pa.Table], Drift]:
    # Imported on first use: an export opens its destination and sends its first requests before it needs the
    # transform (pyarrow.compute, and the pandas that pyarrow imports on its first list conversion).
    from etl.transform import to_tables

    return to_tables(objects)


def _record(run: _Run, refused: TransformError | None, now: datetime) -> RunRecord:
    """What the destination keeps of one run: whole and written, or failed and why."""
    error = run.error
    if error is None and refused is not None:
        error = f"the API sent data that does not fit the tables: {refused}"
    obj = run.run or {}
    status, created_at = obj.get("status"), obj.get("created_at")
    if not isinstance(created_at, int | float) or not FIRST_SECOND <= created_at <= LAST_SECOND:
        created_at = None  # not a time any reader could show (its run is refused for it): the record keeps none
    return RunRecord(
        run_id=run.run_id,
        thread_id=run.thread_id,
        run_status=status if isinstance(status, str) else None,
        # Responses send fractional seconds.
        run_created_at=None if created_at is None else int(created_at),
        step_count=run.step_count if error is None else 0,
        exported=error is None,
        error=error,
        exported_at=now,
    )


def write_batch(dest: Destination | None, batch: Batch, *, before: Callable[[], None] | None = None) -> Written:
    """Transform ``batch`` and land it at ``dest`` as one unit (``None``: transform only, to check the objects).

    ``batch`` is used up: its objects are dropped once they are tables, so the destination's write (DuckDB's copy
    of the tables, a Parquet file's old rows) never shares the memory with them. ``before``: called just before the
    destination's write (an export's raw archive publishes what it holds).
    """
    export_batch, written = batch.to_export_batch()
    batch.release()
    if before is not None:
        before()
    if dest is not None:
        dest.write(export_batch)
    return written
