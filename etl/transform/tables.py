"""Every table at once: objects of each kind, each with its own ``extracted_at``, into the tables of ``etl.schema``.

A kind of object (``runs``, ``steps``) is turned into rows by one function of ``TRANSFORMS``; a new kind of
object is a new entry there (and its tables in ``etl.schema``), and every source then writes it the same way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from etl.schema import ENTITY_TABLES, RESPONSE_TABLES, TABLES
from etl.transform.entities import to_assistants_table, to_threads_table
from etl.transform.responses import to_conversation_batches, to_response_batches
from etl.transform.runs import to_runs_table
from etl.transform.steps import to_step_tables
from etl.values import Json


@dataclass
class Drift:
    """What the API sent that this version's schema does not know (kept, never fatal)."""

    rows: int = 0  # rows kept whose step, tool call or output type is unknown
    kinds: Counter[str] = field(default_factory=Counter)  # e.g. "step_type:reasoning" -> rows
    unknown_fields: set[str] = field(default_factory=set)  # keys sent but not stored, e.g. "function.strict"

    def add(self, other: Drift) -> None:
        """Count ``other`` in too."""
        self.rows += other.rows
        self.kinds.update(other.kinds)
        self.unknown_fields |= other.unknown_fields


# What a transform of one kind gives for objects sharing one extracted_at: record batches by table name, and drift.
Rows = tuple[dict[str, pa.RecordBatch], Drift]


def _runs(runs: list[Json], extracted_at: datetime) -> Rows:
    return {"runs": to_runs_table(runs, extracted_at)}, Drift()


def _steps(steps: list[Json], extracted_at: datetime) -> Rows:
    tables = to_step_tables(steps, extracted_at)
    return tables.tables, Drift(tables.drift, Counter(tables.drift_kinds), set(tables.unknown_fields))


def _threads(threads: list[Json], extracted_at: datetime) -> Rows:
    return {"threads": to_threads_table(threads, extracted_at)}, Drift()


def _assistants(assistants: list[Json], extracted_at: datetime) -> Rows:
    return {"assistants": to_assistants_table(assistants, extracted_at)}, Drift()


def _responses(responses: list[Json], extracted_at: datetime) -> Rows:
    tables, kinds = to_response_batches(responses, extracted_at)
    return tables, Drift(sum(kinds.values()), kinds)


def _conversations(conversations: list[Json], extracted_at: datetime) -> Rows:
    tables, kinds = to_conversation_batches(conversations, extracted_at)
    return tables, Drift(sum(kinds.values()), kinds)


# object kind -> the function that turns objects of that kind into rows
TRANSFORMS: dict[str, Callable[[list[Json], datetime], Rows]] = {
    "runs": _runs,
    "steps": _steps,
    "threads": _threads,
    "assistants": _assistants,
    "responses": _responses,
    "conversations": _conversations,
}


def to_tables(objects: Mapping[str, Iterable[tuple[datetime, Json]]]) -> tuple[dict[str, pa.Table], Drift]:
    """Every table of ``etl.schema`` for these objects (by kind, see ``TRANSFORMS``), and the schema drift.

    Each object comes with its ``extracted_at``; objects sharing one are transformed in one call (the fixed cost
    of a call is paid per moment, not per object), so give moments at the table's resolution (whole seconds).
    """
    parts: defaultdict[str, list[pa.RecordBatch]] = defaultdict(list)
    drift = Drift()
    for kind, items in objects.items():
        transform = TRANSFORMS[kind]
        for extracted_at, group in _by_moment(items).items():
            tables, found = transform(group, extracted_at)
            for name, part in tables.items():
                parts[name].append(part)
            drift.add(found)
    tables = {name: pa.Table.from_batches(parts[name], schema=table.schema) for name, table in TABLES.items()}
    # Entity and successor tables only when there are rows: most batches bring none.
    tables |= {
        name: pa.Table.from_batches(parts[name], schema=t.schema)
        for name, t in (ENTITY_TABLES | RESPONSE_TABLES).items()
        if parts[name]
    }
    return tables, drift


def _by_moment(objects: Iterable[tuple[datetime, Json]]) -> dict[datetime, list[Json]]:
    groups: defaultdict[datetime, list[Json]] = defaultdict(list)
    for extracted_at, obj in objects:
        groups[extracted_at].append(obj)
    return groups
