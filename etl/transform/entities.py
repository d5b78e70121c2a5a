"""Thread and assistant objects -> the ``threads`` and ``assistants`` tables (rows that belong to no one run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

import orjson
import pyarrow as pa

from etl import schema
from etl.schema import TIMESTAMP
from etl.transform.columns import constant_timestamp, fields, json_text, record_batch
from etl.transform.convert import require, to_struct_array
from etl.values import Json

GONE = "_runsteps_gone"  # marks the stand-in object of an assistant the API answered 404 for (never an API key)

THREAD = pa.struct([("id", pa.string()), ("created_at", TIMESTAMP)])
ASSISTANT = pa.struct(
    [
        ("id", pa.string()),
        ("name", pa.string()),
        ("description", pa.string()),
        ("model", pa.string()),
        ("instructions", pa.string()),
        ("created_at", TIMESTAMP),
    ]
)


def to_threads_table(threads: Sequence[Json], extracted_at: datetime) -> pa.RecordBatch:
    """Flatten thread objects, as parsed from the API's JSON, into one ``threads`` record batch."""
    items = list(threads)
    thread = fields(to_struct_array(items, THREAD, "thread"), THREAD)
    require(items, thread, ("id",), "thread")
    columns = {
        "thread_id": thread["id"],
        "created_at": thread["created_at"],
        "metadata_json": json_text(list(map(dict.get, items, repeat("metadata")))),
        "tool_resources_json": json_text(list(map(dict.get, items, repeat("tool_resources")))),
        "extracted_at": constant_timestamp(extracted_at, len(items)),
    }
    return record_batch(schema.THREADS, columns)


def gone_assistant(assistant_id: str, last_known: Mapping[str, Any] | None = None) -> Json:
    """The stand-in object of an assistant the API no longer has (404): its id and ``gone``, and what an earlier
    export knew of it (``last_known``: its ``assistants`` row), so that its name is not lost."""
    obj: Json = {"id": assistant_id, GONE: True}
    if last_known is not None:
        created = last_known.get("created_at")
        obj |= {name: last_known.get(name) for name in ("name", "description", "model", "instructions")}
        obj |= {
            "tools": _parsed(last_known.get("tools_json")),
            "metadata": _parsed(last_known.get("metadata_json")),
            "created_at": int(created.timestamp()) if isinstance(created, datetime) else None,
        }
    return obj


def _parsed(text: Any) -> Any:
    return orjson.loads(text) if isinstance(text, str) else None


def to_assistants_table(assistants: Sequence[Json], extracted_at: datetime) -> pa.RecordBatch:
    """Assistant objects (and ``gone_assistant`` stand-ins) as one ``assistants`` record batch."""
    items = list(assistants)
    assistant = fields(to_struct_array(items, ASSISTANT, "assistant"), ASSISTANT)
    require(items, assistant, ("id",), "assistant")
    columns = {
        "assistant_id": assistant["id"],
        "name": assistant["name"],
        "description": assistant["description"],
        "model": assistant["model"],
        "instructions": assistant["instructions"],
        "tools_json": json_text(list(map(dict.get, items, repeat("tools")))),
        "metadata_json": json_text(list(map(dict.get, items, repeat("metadata")))),
        "created_at": assistant["created_at"],
        "gone": pa.array([item.get(GONE) is True for item in items], pa.bool_()),
        "extracted_at": constant_timestamp(extracted_at, len(items)),
    }
    return record_batch(schema.ASSISTANTS, columns)
