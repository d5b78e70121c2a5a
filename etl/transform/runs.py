"""Run objects -> the ``runs`` table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from itertools import repeat
from typing import Any

import pyarrow as pa

from etl import schema
from etl.transform import api
from etl.transform.columns import constant_timestamp, fields, json_text, record_batch, usage_columns
from etl.transform.convert import require, to_struct_array

_REQUIRED = ("id", "thread_id", "created_at")
_SAME_NAME = [name for name in api.RUN.names if name in schema.RUNS.schema.names]  # API field = column name


def to_runs_table(runs: Iterable[dict[str, Any]], extracted_at: datetime) -> pa.RecordBatch:
    """Flatten run objects, as parsed from the API's JSON, into one ``runs`` record batch."""
    items = runs if isinstance(runs, list) else list(runs)
    run = fields(to_struct_array(items, api.RUN, "run"), api.RUN)
    require(items, run, _REQUIRED, "run")
    error = fields(run["last_error"], api.LAST_ERROR)
    # Most run fields keep their API name as the column name; the rest are renamed or unnested here.
    same_name = {name: run[name] for name in _SAME_NAME}
    columns = same_name | {
        "run_id": run["id"],
        "last_error_code": error["code"],
        "last_error_message": error["message"],
        "incomplete_reason": fields(run["incomplete_details"], api.RUN.field("incomplete_details").type)["reason"],
        **usage_columns(run["usage"]),
        "tools_json": json_text(list(map(dict.get, items, repeat("tools")))),
        "metadata_json": json_text(list(map(dict.get, items, repeat("metadata")))),
        "extracted_at": constant_timestamp(extracted_at, len(items)),
    }
    return record_batch(schema.RUNS, columns)
