"""Parsed JSON -> Arrow struct arrays; when that fails, a ``TransformError`` that names the object and field.

The fast path is one ``pa.array`` call. Only when it fails are the objects walked in Python, to turn
pyarrow's message ("Expected bytes, got a 'int' object") into one a user can act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from etl.errors import TransformError

CONVERSION_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def to_struct_array(items: Sequence[Any], type_: pa.StructType, noun: str) -> pa.StructArray:
    """Convert parsed JSON objects to one struct array; raise ``TransformError`` naming the first bad field."""
    try:
        array: pa.StructArray = pa.array(items, type=type_)
    except CONVERSION_ERRORS as exc:
        raise describe_failure(items, type_, noun) from exc
    return array


def require(items: Sequence[Any], columns: Mapping[str, pa.Array], names: Sequence[str], noun: str) -> None:
    """Raise ``TransformError`` for the first object that lacks one of the required fields ``names``."""
    for name in names:
        column = columns[name]
        if column.null_count:
            position = column.is_null().index(True).as_py()
            raise object_error(noun, position, items[position], name, "is missing or null")


def describe_failure(items: Sequence[Any], type_: pa.StructType, noun: str) -> TransformError:
    """The error for a list of objects that does not convert to ``type_``: names the first bad field."""
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            return TransformError(f"{noun} #{position} is {_kind(item)}, not an object")
        problem = _first_problem(item, type_, "")
        if problem is not None:
            path, expected, value = problem
            problem_text = f"should be {expected}, got {_kind(value)} {_preview(value)}"
            return object_error(noun, position, item, path, problem_text)
    return TransformError(f"{noun}s do not fit the table schema (no single field could be blamed)")


def object_error(noun: str, position: int, item: Any, field: str, problem: str) -> TransformError:
    """The error for one object: named by its id (or its position when it has none) and the field."""
    object_id = item.get("id") if isinstance(item, dict) else None
    if not isinstance(object_id, str):
        object_id = None
    name = object_id or f"#{position}"
    return TransformError(f"{noun} {name}: field {field} {problem}", object_id=object_id, field=field)


def _first_problem(value: Any, type_: pa.DataType, path: str) -> tuple[str, str, Any] | None:
    """(path, expected, value) of the first value under ``value`` that does not convert to its type."""
    if value is None:
        return None
    if pa.types.is_struct(type_):
        if not isinstance(value, dict):
            return path, "an object", value
        for field in type_:
            problem = _first_problem(value.get(field.name), field.type, f"{path}.{field.name}".lstrip("."))
            if problem is not None:
                return problem
        return None
    if pa.types.is_list(type_):
        if not isinstance(value, list):
            return path, "an array", value
        for index, element in enumerate(value):
            problem = _first_problem(element, type_.value_type, f"{path}[{index}]")
            if problem is not None:
                return problem
        return None
    try:
        pa.array([value], type=type_)
    except CONVERSION_ERRORS:
        return path, _expected(type_), value
    return None


def _expected(type_: pa.DataType) -> str:
    if pa.types.is_timestamp(type_):
        return "an integer (unix seconds)"
    if pa.types.is_integer(type_):
        return "an integer"
    if pa.types.is_floating(type_):
        return "a number"
    return "a string"


def _kind(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    kinds: tuple[tuple[type, str], ...] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (list, "an array"),
        (dict, "an object"),
    )
    if value is None:
        return "null"
    return next((name for cls, name in kinds if isinstance(value, cls)), type(value).__name__)


def _preview(value: Any, limit: int = 40) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
