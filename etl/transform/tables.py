"""Every table at once: objects, each with its own ``extracted_at``, into the tables of ``etl.schema``."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import pyarrow as pa

from etl.schema import ENTITY_TABLES, TABLES
from etl.transform.entities import to_assistants_table, to_threads_table
from etl.transform.runs import to_runs_table
from etl.transform.steps import to_step_tables

Json = dict[str, Any]
_T = TypeVar("_T")


@dataclass
class Drift:
    """What the API sent that this version's schema does not know (kept, never fatal)."""

    rows: int = 0  # rows kept whose step, tool call or output type is unknown
    kinds: Counter[str] = field(default_factory=Counter)  # e.g. "step_type:reasoning" -> rows
    unknown_fields: set[str] = field(default_factory=set)  # keys sent but not stored, e.g. "function.strict"


def to_tables(
    runs: Iterable[tuple[datetime, Json]],
    steps: Iterable[tuple[datetime, Json]],
    *,
    threads: Iterable[tuple[datetime, Json]] = (),
    assistants: Iterable[tuple[datetime, Json]] = (),
    gone_assistants: Iterable[tuple[datetime, str]] = (),
) -> tuple[dict[str, pa.Table], Drift]:
    """Every table for these run, step, thread and assistant objects (and assistants that are gone), and the drift.

    Each object comes with its ``extracted_at``; objects sharing one are transformed in one call (the fixed cost
    of a call is paid per moment, not per object), so give moments at the table's resolution (whole seconds).
    """
    parts: defaultdict[str, list[pa.RecordBatch]] = defaultdict(list)
    drift = Drift()
    for extracted_at, group in _by_moment(runs).items():
        parts["runs"].append(to_runs_table(group, extracted_at))
    for extracted_at, group in _by_moment(steps).items():
        step_tables = to_step_tables(group, extracted_at)
        for name, part in step_tables.tables.items():
            parts[name].append(part)
        drift.rows += step_tables.drift
        drift.kinds.update(step_tables.drift_kinds)
        drift.unknown_fields |= step_tables.unknown_fields
    for extracted_at, group in _by_moment(threads).items():
        parts["threads"].append(to_threads_table(group, extracted_at))
    found, gone = _by_moment(assistants), _by_moment(gone_assistants)
    for extracted_at in sorted(found.keys() | gone.keys()):
        parts["assistants"].append(
            to_assistants_table(found.get(extracted_at, []), gone.get(extracted_at, []), extracted_at)
        )
    tables = {name: pa.Table.from_batches(parts[name], schema=table.schema) for name, table in TABLES.items()}
    # Entity tables only when there are rows: most batches (and every OpenAI batch) bring none.
    tables |= {
        name: pa.Table.from_batches(parts[name], schema=t.schema) for name, t in ENTITY_TABLES.items() if parts[name]
    }
    return tables, drift


def _by_moment(objects: Iterable[tuple[datetime, _T]]) -> dict[datetime, list[_T]]:
    groups: defaultdict[datetime, list[_T]] = defaultdict(list)
    for extracted_at, obj in objects:
        groups[extracted_at].append(obj)
    return groups
