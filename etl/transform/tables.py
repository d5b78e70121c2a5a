"""Every table at once: objects, each with its own ``extracted_at``, into the five tables of ``etl.schema``."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from etl.schema import TABLES
from etl.transform.runs import to_runs_table
from etl.transform.steps import to_step_tables

Json = dict[str, Any]


@dataclass
class Drift:
    """What the API sent that this version's schema does not know (kept, never fatal)."""

    rows: int = 0  # rows kept whose step, tool call or output type is unknown
    kinds: Counter[str] = field(default_factory=Counter)  # e.g. "step_type:reasoning" -> rows
    unknown_fields: set[str] = field(default_factory=set)  # keys sent but not stored, e.g. "function.strict"


def to_tables(
    runs: Iterable[tuple[datetime, Json]], steps: Iterable[tuple[datetime, Json]]
) -> tuple[dict[str, pa.Table], Drift]:
    """The five tables for these run and step objects, and the schema drift.

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
    tables = {name: pa.Table.from_batches(parts[name], schema=table.schema) for name, table in TABLES.items()}
    return tables, drift


def _by_moment(objects: Iterable[tuple[datetime, Json]]) -> dict[datetime, list[Json]]:
    groups: defaultdict[datetime, list[Json]] = defaultdict(list)
    for extracted_at, obj in objects:
        groups[extracted_at].append(obj)
    return groups
