"""Render an Arrow table for people (an aligned table, Markdown) or for programs (CSV, JSON)."""

from __future__ import annotations

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
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


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
    return orjson.dumps(table.to_pylist(), default=_json_default, option=orjson.OPT_INDENT_2).decode() + "\n"


def _markdown(table: pa.Table) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", "<br>") for c in cells) + " |"

    out = [line(table.column_names)]
    out.append("|" + "|".join("---:" if _is_numeric(t) else "---" for t in table.schema.types) + "|")
    out += [line([_text(v, "") for v in row]) for row in _rows(table)]
    return "\n".join(out) + "\n"
