"""What a job did: one base whose dataclass fields are the ``--metrics-json`` object, and its lines for people.

``Metrics.as_dict`` is every field (but those marked ``HIDDEN``) as JSON-ready values, plus ``kind`` and the
values a summary derives (``derived``). ``LoadSummary`` adds what every load counts, whatever its source
(export, replay, import): ``count`` takes in one ``etl.load.batch.Written``; ``lines`` says it for people.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from etl.schema import TABLES
from etl.values import iso

if TYPE_CHECKING:
    from etl.load.base import RunRecord
    from etl.load.batch import Written

HIDDEN = {"metrics": False}  # field metadata: kept on the summary, left out of ``as_dict``


@dataclass(kw_only=True)
class Metrics:
    """A summary whose fields are its metrics."""

    kind: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values (no secrets: ids, counts and reasons only)."""
        values = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.metadata.get("metrics", True)}
        return {"kind": self.kind, **values, **self.derived()}

    def derived(self) -> dict[str, Any]:
        """Metrics computed from the fields (none by default)."""
        return {}

    def lines(self) -> list[str]:
        """The summary for people, one line each."""
        return [f"{self.kind}: {self.as_dict()}"]


@dataclass(kw_only=True)
class LoadSummary(Metrics):
    """What every load counts at its destination."""

    dest: str
    runs_ok: int = 0
    runs_failed: int = 0  # settled as failed (``failed`` says why)
    steps: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    schema_drift: int = 0  # rows kept whose step, tool call or output type this version does not know
    schema_drift_kinds: Counter[str] = field(default_factory=Counter)  # e.g. "step_type:reasoning" -> rows
    unknown_fields: set[str] = field(default_factory=set)  # keys sent but not stored, e.g. "function.strict"
    batches: int = 0
    elapsed_s: float = 0.0

    def count(self, written: Written) -> None:
        """Add one written batch."""
        for record in written.records:
            if record.exported:
                self.runs_ok += 1
            else:
                self.runs_failed += 1
                self.failed(record)
        self.steps += written.objects.get("steps", 0)
        for name, rows in written.tables.items():
            self.rows[name] = self.rows.get(name, 0) + rows
        self.schema_drift += written.drift.rows
        self.schema_drift_kinds.update(written.drift.kinds)
        self.unknown_fields |= written.drift.unknown_fields
        self.batches += 1

    def failed(self, record: RunRecord) -> None:
        """Keep why one run failed (nothing by default: it is counted)."""

    def lines(self) -> list[str]:
        """What was loaded: the summary's own head and tail around the rows and the schema drift."""
        lines = [*self.head(), "  rows: " + ", ".join(f"{name} {count}" for name, count in self.rows.items())]
        if self.schema_drift_kinds:
            kinds = ", ".join(f"{kind} {rows}" for kind, rows in sorted(self.schema_drift_kinds.items()))
            lines.append(f"  kept as sent (types this version does not know): {kinds}")
        if self.unknown_fields:
            lines.append(f"  fields not stored (new in the API?): {', '.join(sorted(self.unknown_fields))}")
        return lines + self.tail()

    def head(self) -> list[str]:
        """The lines before the rows."""
        return [f"{self.kind} into {self.dest}: {self.steps} steps in {self.elapsed_s:.1f} s"]

    def tail(self) -> list[str]:
        """The lines after the rows: what went wrong, by name."""
        return []


def _plain(value: object) -> Any:
    """A value as JSON has it: sets sorted, counters sorted by key, times as ISO text, floats to the ms."""
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Counter):
        return {key: _plain(count) for key, count in sorted(value.items())}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return str(value)
