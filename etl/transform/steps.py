"""Run step objects -> ``run_steps`` and its three child tables, in whole-column Arrow operations.

The steps convert to one Arrow struct array in C++ (``api.STEP``); every table column is then a child of
it, a list flattened, or a parent column repeated with ``take``. Python touches each step only for what
Arrow cannot see: whether ``expired_at`` was sent at all, the free-form ``metadata``, and unknown keys.
Rows of a type this version does not know keep their type and carry the object in ``raw_json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice, repeat
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from etl import schema
from etl.transform import api
from etl.transform.columns import (
    INDEX,
    constant_timestamp,
    empty_batch,
    explode,
    fields,
    fill_at,
    json_text,
    record_batch,
    take_all,
    usage_columns,
)
from etl.transform.convert import CONVERSION_ERRORS, object_error, require, to_struct_array
from etl.values import Json

_REQUIRED = ("id", "run_id", "thread_id", "type", "created_at")
_FIELD_SAMPLE = 100
_KNOWN = {
    name: pa.array(sorted(names))
    for name, names in (
        ("step_type", api.STEP_TYPES),
        ("tool_call_type", api.TOOL_CALL_TYPES),
        ("code_output_type", api.CODE_OUTPUT_TYPES),
    )
}


@dataclass(frozen=True)
class StepTables:
    """The four step tables of a batch of steps, and what in the batch this version did not know."""

    tables: dict[str, pa.RecordBatch]  # run_steps, tool_calls, code_interpreter_outputs, file_search_results
    drift_kinds: dict[str, int]  # "step_type:<t>", "tool_call_type:<t>", "code_output_type:<t>" -> rows
    unknown_fields: frozenset[str]  # keys sent but not stored, e.g. "step.attempt", "function.strict"

    @property
    def drift(self) -> int:
        """Rows kept with a type this version does not know: the summary's schema-drift count."""
        return sum(self.drift_kinds.values())


def to_step_tables(steps: Iterable[Json], extracted_at: datetime) -> StepTables:
    """Flatten run step objects, as parsed from the API's JSON, into the four step tables.

    Columnar, so the cost of a call is mostly fixed: give it many steps at once (thousands), not one page.
    """
    items = steps if isinstance(steps, list) else list(steps)
    step = fields(_convert(items), api.STEP)
    require(items, step, _REQUIRED, "step")
    kind = step["type"]
    details = fields(step["step_details"], api.STEP_DETAILS)
    error = fields(step["last_error"], api.LAST_ERROR)
    message = fields(details["message_creation"], api.STEP_DETAILS.field("message_creation").type)
    unknown = _unknown_positions(kind, "step_type")
    # Children come only from tool_calls steps: an unknown type's details stay whole in its raw_json.
    call_counts = _lengths(details["tool_calls"])
    is_tool_calls = pc.equal(kind, "tool_calls") if unknown else None
    if is_tool_calls is not None:
        call_counts = pc.if_else(is_tool_calls, call_counts, 0)
    stamp = constant_timestamp(extracted_at, len(items))
    run_steps = {
        "step_id": step["id"],
        "run_id": step["run_id"],
        "thread_id": step["thread_id"],
        "assistant_id": step["assistant_id"],
        "type": kind,
        "status": step["status"],
        "created_at": step["created_at"],
        "completed_at": step["completed_at"],
        "failed_at": step["failed_at"],
        "cancelled_at": step["cancelled_at"],
        "expired_at": _expired_at(items, step),
        "last_error_code": error["code"],
        "last_error_message": error["message"],
        "message_id": message["message_id"],
        "tool_call_count": call_counts,
        **usage_columns(step["usage"]),
        "metadata_json": json_text(list(map(dict.get, items, repeat("metadata")))),
        "details_json": _step_details_json(items, kind),
        "raw_json": fill_at(len(items), unknown, [_json(items[i]) for i in unknown]),
        "extracted_at": stamp,
    }
    parent = {name: run_steps[name] for name in ("step_id", "run_id", "thread_id", "created_at", "extracted_at")}
    children, drift = _tool_call_tables(items, details["tool_calls"], is_tool_calls, parent)
    return StepTables(
        tables={schema.RUN_STEPS.name: record_batch(schema.RUN_STEPS, run_steps), **children},
        drift_kinds=_type_counts(kind, unknown, "step_type") | drift,
        unknown_fields=_unknown_fields(items),
    )


def _tool_call_tables(
    items: list[Json], call_lists: pa.Array, is_tool_calls: pa.Array | None, step: dict[str, pa.Array]
) -> tuple[dict[str, pa.RecordBatch], dict[str, int]]:
    """The three child tables of the steps' tool calls, and their drift counts."""
    calls, call_step, call_index = explode(call_lists)
    if is_tool_calls is not None:  # some steps have an unknown type: drop any calls they carry
        keep = is_tool_calls.take(call_step)
        calls, call_step, call_index = (column.filter(keep) for column in (calls, call_step, call_index))
    if len(calls) == 0:  # the per-call cost matters for small batches: skip the work when there is none
        return {name: empty_batch(schema.TABLES[name]) for name in schema.STEP_CHILD_TABLES}, {}
    call = fields(calls, api.TOOL_CALL)
    _require_nested(items, call["type"], call_step, lambda row: f"{_call_path(call_index, row)}.type")
    function = fields(call["function"], api.FUNCTION)
    azure_function = fields(call["azure_function"], api.FUNCTION)
    connected = fields(call["connected_agent"], api.CONNECTED_AGENT)
    research = fields(call["deep_research"], api.INPUT_OUTPUT)
    browser = fields(call["browser_automation"], api.INPUT_OUTPUT)
    code = fields(call["code_interpreter"], api.CODE_INTERPRETER)
    search = fields(call["file_search"], api.FILE_SEARCH)
    ranking = fields(search["ranking_options"], api.FILE_SEARCH.field("ranking_options").type)
    unknown = _unknown_positions(call["type"], "tool_call_type")
    raw = [_json(call) for call in _sent_calls(items, call_step, call_index, unknown)]
    # Every child row names its call: the step's columns plus the call's position and id.
    per_call = take_all(step, call_step) | {"tool_call_index": call_index, "tool_call_id": call["id"]}
    # A call has one payload, so at most one of each coalesced source is set: the one of its type.
    named = (function, azure_function, connected, call)  # call: mcp keeps name/arguments/output at the top
    tool_calls = per_call | {
        "type": call["type"],
        "function_name": _first(part["name"] for part in named),
        "function_arguments": _first(part["arguments"] for part in named),
        "function_output": _first(part["output"] for part in named),
        "code_input": code["input"],
        "code_output_count": pc.list_value_length(code["outputs"]),
        "file_search_ranker": ranking["ranker"],
        "file_search_score_threshold": ranking["score_threshold"],
        "file_search_result_count": pc.list_value_length(search["results"]),
        "mcp_server_label": call["server_label"],
        "connected_run_id": connected["run_id"],
        "connected_thread_id": connected["thread_id"],
        "connected_assistant_id": connected["assistant_id"],
        "tool_input": _first(part["input"] for part in (research, browser)),
        "tool_output": _first(part["output"] for part in (research, browser)),
        "details_json": _call_details_json(items, call["type"], call_step, call_index),
        "raw_json": fill_at(len(calls), unknown, raw),
    }
    code_outputs, output_drift = _code_outputs(items, code["outputs"], per_call, call_step)
    tables = {
        schema.TOOL_CALLS.name: record_batch(schema.TOOL_CALLS, tool_calls),
        schema.CODE_INTERPRETER_OUTPUTS.name: code_outputs,
        schema.FILE_SEARCH_RESULTS.name: _file_search_results(search["results"], per_call),
    }
    return tables, _type_counts(call["type"], unknown, "tool_call_type") | output_drift


def _code_outputs(
    items: list[Json], output_lists: pa.Array, per_call: dict[str, pa.Array], call_step: pa.Array
) -> tuple[pa.RecordBatch, dict[str, int]]:
    """``code_interpreter_outputs`` rows, and the counts of output types this version does not know."""
    outputs, output_call, output_index = explode(output_lists)
    if len(outputs) == 0:
        return empty_batch(schema.CODE_INTERPRETER_OUTPUTS), {}
    output = fields(outputs, api.CODE_OUTPUT)
    call_index = per_call["tool_call_index"]

    def path(row: int) -> str:
        call = output_call[row].as_py()
        return f"{_call_path(call_index, call)}.code_interpreter.outputs[{output_index[row].as_py()}].type"

    _require_nested(items, output["type"], call_step.take(output_call), path)
    columns = take_all(per_call, output_call) | {
        "output_index": output_index,
        "type": output["type"],
        "logs": output["logs"],
        "image_file_id": fields(output["image"], api.CODE_OUTPUT.field("image").type)["file_id"],
    }
    unknown = _unknown_positions(output["type"], "code_output_type")
    return record_batch(schema.CODE_INTERPRETER_OUTPUTS, columns), _type_counts(
        output["type"], unknown, "code_output_type"
    )


def _file_search_results(result_lists: pa.Array, per_call: dict[str, pa.Array]) -> pa.RecordBatch:
    """``file_search_results`` rows."""
    results, result_call, result_index = explode(result_lists)
    if len(results) == 0:
        return empty_batch(schema.FILE_SEARCH_RESULTS)
    result = fields(results, api.FILE_SEARCH_RESULT)
    columns = take_all(per_call, result_call) | {
        "result_index": result_index,
        "file_id": result["file_id"],
        "file_name": result["file_name"],
        "score": result["score"],
        "content_text": _content_text(result["content"]),
    }
    return record_batch(schema.FILE_SEARCH_RESULTS, columns)


def _convert(items: list[Json]) -> pa.StructArray:
    """The steps as one struct array; see ``_known_parts`` for the second try."""
    try:
        array: pa.StructArray = pa.array(items, type=api.STEP)
    except CONVERSION_ERRORS:
        # An unknown step or tool call type may reuse a known key with another shape: read those bare.
        return to_struct_array([_known_parts(item) for item in items], api.STEP, "step")
    return array


def _known_parts(step: Any) -> Any:
    """The step without the details of unknown step and tool call types (kept whole in ``raw_json``)."""
    if not isinstance(step, dict):
        return step
    if step.get("type") not in api.STEP_TYPES:
        return {key: value for key, value in step.items() if key != "step_details"}
    details = step.get("step_details")
    if not isinstance(details, dict) or not isinstance(details.get("tool_calls"), list):
        return step
    calls = [
        {"id": call.get("id"), "type": call.get("type")}
        if isinstance(call, dict) and call.get("type") not in api.TOOL_CALL_TYPES
        else call
        for call in details["tool_calls"]
    ]
    return step | {"step_details": details | {"tool_calls": calls}}


def _expired_at(items: list[Json], step: dict[str, pa.Array]) -> pa.Array:
    """``expired_at`` as sent; ``expires_at`` for steps that do not send the key (real payloads do not)."""
    # Only absence falls back: an expired_at sent as null stays NULL.
    sent = list(map(dict.__contains__, items, repeat("expired_at")))
    if all(sent):
        return step["expired_at"]
    if not any(sent):
        return step["expires_at"]
    return pc.if_else(pa.array(sent, pa.bool_()), step["expired_at"], step["expires_at"])


def _content_text(content: pa.Array) -> pa.Array:
    """Each file search result's text parts joined with newlines; NULL where content was not sent."""
    if content.null_count == len(content):
        return pa.nulls(len(content), pa.string())
    parts = fields(pc.list_flatten(content), api.CONTENT_PART)
    if parts["text"].null_count == 0 and pc.all(pc.equal(parts["type"], "text")).as_py() is not False:
        lengths = pc.fill_null(pc.list_value_length(content), 0)
        offsets = pa.concat_arrays([pa.array([0], INDEX), pc.cumulative_sum(lengths)])
        texts = pa.ListArray.from_arrays(offsets, parts["text"], mask=pc.is_null(content))
        joined: pa.Array = pc.binary_join(texts, "\n")
        return joined
    # Some part is not plain text (the API sends none today): keep only the text parts.
    return pa.array(
        [
            None if parts_ is None else "\n".join(p["text"] for p in parts_ if p["type"] == "text" and p["text"])
            for parts_ in content.to_pylist()
        ],
        pa.string(),
    )


def _first(columns: Iterable[pa.Array]) -> pa.Array:
    """Per row, the first non-NULL value of ``columns``; skips the work when only the first has any."""
    first, *rest = columns
    rest = [column for column in rest if column.null_count < len(column)]
    return pc.coalesce(first, *rest) if rest else first


def _positions_of(types: pa.Array, wanted: frozenset[str]) -> list[int]:
    """Rows whose type is one of ``wanted``."""
    hits = pc.is_in(types, value_set=pa.array(sorted(wanted), pa.string()))
    if not pc.any(hits).as_py():
        return []
    positions: list[int] = pc.indices_nonzero(hits).to_pylist()
    return positions


def _step_details_json(items: list[Json], kind: pa.Array) -> pa.Array:
    """``step_details.<type>`` as JSON text for step types stored that way (Foundry's activities)."""
    rows = _positions_of(kind, api.DETAILS_JSON_STEP_TYPES)
    texts = [_json_or_none(_payload(items[i].get("step_details"), items[i]["type"])) for i in rows]
    return fill_at(len(items), rows, texts)


def _call_details_json(items: list[Json], types: pa.Array, call_step: pa.Array, call_index: pa.Array) -> pa.Array:
    """The payload of map-shaped and other untyped Foundry tool calls as JSON text; NULL for the others."""
    rows = _positions_of(types, api.DETAILS_JSON_TOOL_TYPES)
    texts = [_json_or_none(_payload(call, call["type"])) for call in _sent_calls(items, call_step, call_index, rows)]
    return fill_at(len(types), rows, texts)


def _payload(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _sent_calls(items: list[Json], call_step: pa.Array, call_index: pa.Array, rows: list[int]) -> list[Json]:
    """The tool call objects as sent, for some rows of ``tool_calls``."""
    if not rows:
        return []
    steps, indexes = call_step.take(rows).to_pylist(), call_index.take(rows).to_pylist()
    return [items[s]["step_details"]["tool_calls"][i] for s, i in zip(steps, indexes, strict=True)]


def _lengths(lists: pa.ListArray) -> pa.Array:
    """Each list's length, 0 for NULL (pyarrow's converter gives NULL lists no values)."""
    offsets = lists.offsets
    return pc.subtract(offsets[1:], offsets[:-1])


def _call_path(call_index: pa.Array, row: int) -> str:
    return f"step_details.tool_calls[{call_index[row].as_py()}]"


def _require_nested(items: list[Json], column: pa.Array, step_rows: pa.Array, path: Callable[[int], str]) -> None:
    """Raise ``TransformError`` naming the step and ``path(row)`` for the first NULL in ``column``."""
    if column.null_count:
        row = column.is_null().index(True).as_py()
        position = step_rows[row].as_py()
        raise object_error("step", position, items[position], path(row), "is missing or null")


def _unknown_positions(types: pa.Array, kind: str) -> list[int]:
    """Rows whose type this version does not know."""
    known = pc.is_in(types, value_set=_KNOWN[kind])
    if pc.all(known).as_py():
        return []
    positions: list[int] = pc.indices_nonzero(pc.invert(known)).to_pylist()
    return positions


def _type_counts(types: pa.Array, positions: list[int], kind: str) -> dict[str, int]:
    counts = Counter(types.take(positions).to_pylist()) if positions else Counter[str]()
    return {f"{kind}:{name}": count for name, count in counts.items()}


def _unknown_fields(items: list[Json]) -> frozenset[str]:
    """Keys of steps, tool calls and functions that this version does not read (new API fields).

    Steps are all checked (in C); tool calls only in the first ``_FIELD_SAMPLE`` tool_calls steps,
    because walking every call in Python would cost more than the rest of the transform.
    """
    found = {f"step.{key}" for key in set().union(*items) - api.STEP_KEYS}
    details = (step.get("step_details") for step in items if step["type"] == "tool_calls")
    call_lists = islice((d["tool_calls"] for d in details if d and d.get("tool_calls")), _FIELD_SAMPLE)
    calls = [call for call_list in call_lists for call in call_list]
    known_calls = [call for call in calls if call.get("type") in api.TOOL_CALL_TYPES]
    found |= {f"tool_call.{key}" for key in set().union(*known_calls) - api.TOOL_CALL_KEYS}
    functions = [call["function"] for call in known_calls if isinstance(call.get("function"), dict)]
    found |= {f"function.{key}" for key in set().union(*functions) - api.FUNCTION_KEYS}
    return frozenset(found)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _json(value)


def _json(value: Any) -> str:
    """An object as sent, as compact JSON text (raw_json)."""
    return orjson.dumps(value).decode()
