"""Column building blocks shared by the step and run transforms: whole-column Arrow operations only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import TransformError
from etl.schema import FIRST_SECOND, LAST_SECOND, TIMESTAMP, Table
from etl.transform import api

INDEX = pa.int32()


def fields(array: pa.StructArray, type_: pa.StructType) -> dict[str, pa.Array]:
    """A struct array's children by name, NULL wherever the struct itself is NULL."""
    # StructArray.field() would show whatever the builder left under a NULL parent; flatten() masks it.
    return dict(zip(type_.names, array.flatten(), strict=True))


def usage_columns(usage: pa.StructArray) -> dict[str, pa.Array]:
    """The token columns of runs and steps from their ``usage`` objects (NULL where not sent)."""
    tokens = fields(usage, api.USAGE)
    cached = [
        fields(tokens[name], api.USAGE.field(name).type)["cached_tokens"]
        for name in ("prompt_token_details", "prompt_tokens_details")
    ]
    reasoning = fields(tokens["completion_tokens_details"], api.USAGE.field("completion_tokens_details").type)
    return {
        "prompt_tokens": tokens["prompt_tokens"],
        "completion_tokens": tokens["completion_tokens"],
        "total_tokens": tokens["total_tokens"],
        "cached_prompt_tokens": pc.coalesce(*cached),
        "reasoning_tokens": reasoning["reasoning_tokens"],
    }


def explode(lists: pa.ListArray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """A list column's values, the row each came from, and each value's 0-based position in its list."""
    values = lists.flatten()
    parents = pc.list_parent_indices(lists)
    # Value i sits at offsets[0] + i in the child array; its list starts at offsets[parent].
    # (Valid because NULL lists built by pyarrow's converter span no values.)
    offsets = lists.offsets
    first = offsets[0].as_py() if len(offsets) else 0
    absolute = pc.cumulative_sum(pa.repeat(pa.scalar(1, INDEX), len(values)), start=first - 1)
    return values, parents, pc.subtract(absolute, offsets.take(parents))


def take_all(columns: Mapping[str, pa.Array], rows: pa.Array) -> dict[str, pa.Array]:
    """The given columns at ``rows`` (a parent's columns repeated for each of its children)."""
    taken = pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns)).take(rows)
    return dict(zip(columns, taken.columns, strict=True))


def json_text(values: Sequence[Any]) -> pa.Array:
    """Free-form objects as compact JSON text with sorted keys (stable across exports); NULL stays NULL."""
    if values.count(None) == len(values):
        return pa.nulls(len(values), pa.string())
    sort = orjson.OPT_SORT_KEYS
    return pa.array([None if v is None else orjson.dumps(v, option=sort).decode() for v in values], pa.string())


def fill_at(length: int, positions: Sequence[int], texts: Sequence[str | None]) -> pa.Array:
    """A string column of NULLs except ``texts`` at ``positions`` (the rare rows that carry raw JSON)."""
    if not positions:
        return pa.nulls(length, pa.string())
    values: list[str | None] = [None] * length
    for position, text in zip(positions, texts, strict=True):
        values[position] = text
    return pa.array(values, pa.string())


def constant_timestamp(moment: datetime, length: int) -> pa.Array:
    """``moment`` (timezone-aware) repeated ``length`` times, in whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("extracted_at must be timezone-aware")
    return pa.repeat(pa.scalar(int(moment.timestamp()), pa.int64()), length).cast(TIMESTAMP)


@cache
def empty_batch(table: Table) -> pa.RecordBatch:
    """A batch with no rows in ``table``'s schema."""
    return pa.RecordBatch.from_pylist([], schema=table.schema)


def record_batch(table: Table, columns: Mapping[str, pa.Array]) -> pa.RecordBatch:
    """One batch in exactly ``table``'s schema, its columns picked by name; every time within years 1 to 9999."""
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            _check_times(table, field.name, columns)
    return pa.RecordBatch.from_arrays([columns[field.name] for field in table.schema], schema=table.schema)


def _check_times(table: Table, name: str, columns: Mapping[str, pa.Array]) -> None:
    """Raise ``TransformError`` naming the row's object when a time is outside years 1 to 9999.

    Arrow takes any 64-bit number of seconds; a reader of the table cannot (a query of the column failed, and a
    Parquet write could not even be named: "ordinal must be >= 1").
    """
    seconds = columns[name].cast(pa.int64())
    if seconds.null_count == len(seconds):
        return
    low, high = pc.min_max(seconds).values()
    if low.as_py() >= FIRST_SECOND and high.as_py() <= LAST_SECOND:
        return
    bad = pc.or_(pc.less(seconds, FIRST_SECOND), pc.greater(seconds, LAST_SECOND))
    row = pc.index(bad, True).as_py()
    object_id = columns[table.key[0]][row].as_py()
    noun = table.key[0].removesuffix("_id")  # step, run, thread, assistant
    raise TransformError(
        f"{noun} {object_id}: field {name} is {seconds[row].as_py()}, not a time between years 1 and 9999"
        " (unix seconds)",
        object_id=object_id,
        field=name,
    )
