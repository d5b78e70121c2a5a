"""Render an Arrow table for people (an aligned table, Markdown) or for programs (CSV, JSON).

Every format takes its values from ``_values``, the one place where DuckDB's values become Python's: BLOBs
become base64 text, and what Python cannot hold as a value every format writes becomes DuckDB's own text of it.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

FORMATS = ("table", "csv", "json", "markdown")
_MAX_CELL = 80  # wider text (arguments, file contents) is cut in the aligned table only
_PLAIN_TYPES = (
    pa.types.is_null,
    pa.types.is_boolean,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_decimal,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_date,
)


def render(table: pa.Table, fmt: str) -> str:
    """The rows of ``table`` in one of ``FORMATS``, ending with a newline."""
    renderers: dict[str, Callable[[pa.Table], str]] = {
        "table": _aligned,
        "csv": _csv,
        "json": _json,
        "markdown": _markdown,
    }
    return renderers[fmt](table)


def _text(value: object, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    # Rows as tuples, not dicts: an ad hoc query may name two columns alike.
    return list(zip(*(_values(column) for column in table.columns), strict=True))


def _values(column: pa.ChunkedArray) -> list[Any]:
    """The column's values as Python objects every format writes (JSON too).

    A BLOB (DuckDB sends BIT as one too) becomes base64 text. What has no such Python value becomes DuckDB's
    text of it: an INTERVAL ('1 month 3 days'), a TIMESTAMP_NS (Python's datetimes stop at microseconds),
    DuckDB's own types (BIGNUM), a list or struct holding any of these or a BLOB; and, value by value, a date or
    timestamp beyond Python's years 1-9999 ('infinity', '290000-01-01 00:00:00'), which Python refuses only
    when it converts it.
    """
    type_ = column.type
    if pa.types.is_binary(type_) or pa.types.is_large_binary(type_) or pa.types.is_fixed_size_binary(type_):
        return [None if value is None else base64.b64encode(value).decode("ascii") for value in column.to_pylist()]
    if not _plain(type_):
        return _duckdb_text(column)
    try:
        values: list[Any] = column.to_pylist()
    except (OverflowError, ValueError):
        values = []
        for scalar, text in zip(column, _duckdb_text(column), strict=True):
            try:
                values.append(scalar.as_py())
            except (OverflowError, ValueError):
                values.append(text)
    return values


def _plain(type_: pa.DataType) -> bool:
    """True when Python's values of ``type_`` are ones every format writes: no interval, no bytes in a list."""
    if pa.types.is_dictionary(type_):
        return _plain(type_.value_type)
    if pa.types.is_nested(type_):
        return all(_plain(type_.field(i).type) for i in range(type_.num_fields))
    if pa.types.is_time(type_) or pa.types.is_timestamp(type_):
        # Nanoseconds are not: pyarrow makes them pandas Timestamps where pandas is installed, else refuses them.
        return bool(type_.unit != "ns")
    return any(check(type_) for check in _PLAIN_TYPES)  # an extension type (BIGNUM) is none of them


def _duckdb_text(column: pa.ChunkedArray) -> list[str | None]:
    """DuckDB's text of each value (``CAST(value AS VARCHAR)``), in UTC as ``runsteps sql`` runs."""
    import duckdb

    from etl.load.duckdb import NO_AUTO_EXTENSIONS

    with duckdb.connect(config=NO_AUTO_EXTENSIONS) as con:  # in memory: no file, nothing else to read
        con.execute("SET TimeZone = 'UTC'")
        values = con.from_arrow(pa.table({"value": column}))
        return [row[0] for row in values.project("CAST(value AS VARCHAR)").fetchall()]


def _is_numeric(type_: pa.DataType) -> bool:
    return bool(pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_))


def _aligned(table: pa.Table) -> str:
    headers = table.column_names
    rows = [[_cut(_text(v, "NULL").replace("\n", "\\n")) for v in row] for row in _rows(table)]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    right = [_is_numeric(t) for t in table.schema.types]

    def line(cells: list[str]) -> str:
        padded = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
        return "  ".join(padded).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(out) + "\n"


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _csv(table: pa.Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    writer.writerows([_text(v, "") for v in row] for row in _rows(table))
    return buffer.getvalue()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _json(table: pa.Table) -> str:
    # orjson writes datetimes and dates as ISO 8601 text; DuckDB's HUGEINT sums arrive as Decimal.
    rows = [dict(zip(table.column_names, row, strict=True)) for row in _rows(table)]
    return orjson.dumps(rows, default=_json_default, option=orjson.OPT_INDENT_2).decode() + "\n"


def _markdown(table: pa.Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", "<br>") for c in cells) + " |"

    out = [line(table.column_names)]
    out.append("|" + "|".join("---:" if _is_numeric(t) else "---" for t in table.schema.types) + "|")
    out += [line([_text(v, "") for v in row]) for row in _rows(table)]
    return "\n".join(out) + "\n"
