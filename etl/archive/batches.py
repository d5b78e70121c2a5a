"""Rows gathered outside a live export (a replayed archive, imported files) -> one ``ExportBatch``.

The same transform and the same ``ExportBatch`` as ``etl.pipeline``'s batches, so a replay or an import lands
with the guarantees of an export. Objects are keyed by id: within a batch the last one given wins, and across
batches the destination replaces (``Destination.write``), so each key is written once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from etl.load.base import ExportBatch, RunRecord
from etl.transform import to_tables

Json = dict[str, Any]


class RowBatch:
    """Steps and runs waiting to be written, each with its ``extracted_at``, and the run records to settle."""

    def __init__(self) -> None:
        self._steps: dict[str, tuple[datetime, Json]] = {}
        self._runs: dict[str, tuple[datetime, Json]] = {}
        self.records: list[RunRecord] = []

    @property
    def steps(self) -> int:
        """Steps in the batch."""
        return len(self._steps)

    @property
    def runs(self) -> int:
        """Run objects in the batch."""
        return len(self._runs)

    def __bool__(self) -> bool:
        return bool(self._steps or self._runs or self.records)

    def add_step(self, step: Json, extracted_at: datetime) -> None:
        """Take one run step object (it must carry a string ``id``)."""
        self._steps[step["id"]] = (extracted_at, step)

    def add_run(self, run: Json, extracted_at: datetime) -> None:
        """Take one run object (it must carry a string ``id``)."""
        self._runs[run["id"]] = (extracted_at, run)

    def drop(self, object_id: str) -> bool:
        """Forget the step or run with this id; True when there was one."""
        return self._steps.pop(object_id, None) is not None or self._runs.pop(object_id, None) is not None

    def to_export_batch(self) -> tuple[ExportBatch, int]:
        """The batch as Arrow tables in the schemas of ``etl.schema``, and its schema-drift count.

        Raises ``TransformError`` (naming the object) when an object does not fit the tables.
        """
        tables, drift = to_tables(self._runs.values(), self._steps.values())
        return ExportBatch(tables=tables, records=list(self.records)), drift.rows
