"""Responses and conversations (the successors of runs and threads) into the four ``--source responses`` tables.

Pure: API objects in, Arrow record batches out. What the extract stage hands over:

- a response object (``GET /responses/{id}``) with its input items (``GET /responses/{id}/input_items``, oldest
  first) under ``input_items``: rows in ``responses`` and, per item, ``response_items``;
- a conversation object (``GET /conversations/{id}``) with ``items`` (the items read this time, oldest first),
  ``first_position`` (the position of the first of them) and ``item_count`` (all items stored once these are),
  and optionally ``response_of`` (item id -> the response that produced or consumed it): rows in
  ``conversations`` and ``conversation_items``.

Items carry no timestamp: a response's items take its ``created_at``, a conversation's its ``created_at``.
An item type this version does not know is kept: its row has the type as sent and the whole item in
``raw_json``, and it counts as schema drift (``item_type:<type>``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from etl.errors import TransformError
from etl.schema import CONVERSATION_ITEMS, CONVERSATIONS, RESPONSE_ITEMS, RESPONSES, Table
from etl.values import Json

Row = dict[str, Any]

# Columns an item fills from keys of the same name (any type that has them); the rest goes to details_json.
_DIRECT = ("role", "status", "call_id", "name", "server_label")
_TEXT_PARTS = {"input_text": "text", "output_text": "text", "refusal": "refusal", "summary_text": "text"}

# Item types of openai-python 3.3.1 (``types/responses``, ``types/conversations``) and the Foundry additions.
ITEM_TYPES = frozenset(
    {
        "message", "function_call", "function_call_output", "file_search_call", "web_search_call",
        "code_interpreter_call", "computer_call", "computer_call_output", "reasoning", "image_generation_call",
        "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
        "apply_patch_call_output", "mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response",
        "custom_tool_call", "custom_tool_call_output", "compaction", "item_reference", "tool_search_call",
        "tool_search_output",
    }
)  # fmt: skip

TERMINAL_RESPONSE_STATUSES = frozenset({"completed", "failed", "cancelled", "incomplete"})


def to_response_batches(
    responses: list[Json], extracted_at: datetime
) -> tuple[dict[str, pa.RecordBatch], Counter[str]]:
    """Rows of ``responses`` and ``response_items`` for response objects (with ``input_items``), and the drift."""
    drift: Counter[str] = Counter()
    heads: list[Row] = []
    items: list[Row] = []
    for response in responses:
        response_id = _text(response, "id")
        created_at = _seconds(response.get("created_at"), "created_at", response_id)
        inputs = _list(response, "input_items", response_id)
        outputs = _list(response, "output", response_id)
        heads.append(_response_row(response, response_id, created_at, len(inputs), len(outputs)))
        for direction, listed in (("input", inputs), ("output", outputs)):
            for index, item in enumerate(listed):
                row = item_row(item, drift, response_id)
                row.update(response_id=response_id, direction=direction, item_index=index, created_at=created_at)
                items.append(row)
    return {
        "responses": _batch(RESPONSES, heads, extracted_at),
        "response_items": _batch(RESPONSE_ITEMS, items, extracted_at),
    }, drift


def to_conversation_batches(
    conversations: list[Json], extracted_at: datetime
) -> tuple[dict[str, pa.RecordBatch], Counter[str]]:
    """Rows of ``conversations`` and ``conversation_items`` for conversation objects with their new items."""
    drift: Counter[str] = Counter()
    heads: list[Row] = []
    items: list[Row] = []
    for conversation in conversations:
        conversation_id = _text(conversation, "id")
        created_at = _seconds(conversation.get("created_at"), "created_at", conversation_id)
        listed = _list(conversation, "items", conversation_id)
        first = conversation.get("first_position", 0)
        count = conversation.get("item_count", first + len(listed))
        if not isinstance(first, int) or not isinstance(count, int):
            raise TransformError(f"conversation {conversation_id}: first_position and item_count must be integers")
        response_of: Mapping[str, str] = conversation.get("response_of") or {}
        heads.append(
            {
                "conversation_id": conversation_id,
                "created_at": created_at,
                "metadata_json": _json(conversation.get("metadata")),
                "item_count": count,
            }
        )
        for offset, item in enumerate(listed):
            row = item_row(item, drift, conversation_id)
            row.pop("server_label", None)
            row.update(
                conversation_id=conversation_id,
                position=first + offset,
                response_id=response_of.get(row["item_id"] or ""),
                created_at=created_at,
            )
            items.append(row)
    return {
        "conversations": _batch(CONVERSATIONS, heads, extracted_at),
        "conversation_items": _batch(CONVERSATION_ITEMS, items, extracted_at),
    }, drift


def item_row(item: Json, drift: Counter[str], owner: str) -> Row:
    """One item's columns (without its position); an unknown type keeps the whole item in ``raw_json``."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise TransformError(f"{owner}: an item without a string type: {str(item)[:80]}")
    kind: str = item["type"]
    row: Row = {"item_id": _optional_text(item.get("id")), "type": kind}
    if kind not in ITEM_TYPES:
        drift[f"item_type:{kind}"] += 1
        row["call_id"] = _optional_text(item.get("call_id"))
        row["raw_json"] = _json(item)
        return row
    rest = {k: v for k, v in item.items() if k not in ("id", "type")}
    for key in _DIRECT:
        if key in rest and (rest[key] is None or isinstance(rest[key], str)):
            row[key] = rest.pop(key)
    _SPECIAL.get(kind, _plain_io)(rest, row)
    row["details_json"] = _json(rest) if rest else None
    return row


def _plain_io(rest: Json, row: Row) -> None:
    """``arguments`` / ``input`` and ``output`` as sent (JSON text when not a string)."""
    if "arguments" in rest:
        row["arguments"] = _as_text(rest.pop("arguments"))
    elif "input" in rest and isinstance(rest["input"], str):  # custom_tool_call
        row["arguments"] = rest.pop("input")
    if "output" in rest:
        row["output"] = _as_text(rest.pop("output"))


def _message(rest: Json, row: Row) -> None:
    """Text parts into ``text``; parts that carry more (annotations, images, files) stay in details."""
    content = rest.get("content")
    if isinstance(content, str):
        row["text"] = rest.pop("content")
        return
    if not isinstance(content, list):
        return
    texts: list[str] = []
    kept: list[Any] = []
    for part in content:
        key = _TEXT_PARTS.get(part.get("type", "")) if isinstance(part, dict) else None
        value = part.get(key) if key else None
        if isinstance(value, str):
            texts.append(value)
            extra = {k: v for k, v in part.items() if k not in ("type", key) and v not in (None, [], {})}
            if extra:
                kept.append({"type": part["type"], **extra})
        else:
            kept.append(part)
    row["text"] = "\n".join(texts) if texts else None
    if kept:
        rest["content"] = kept
    else:
        rest.pop("content")


def _reasoning(rest: Json, row: Row) -> None:
    """The summary's text into ``text``."""
    summary = rest.get("summary")
    if isinstance(summary, list):
        texts = [p["text"] for p in summary if isinstance(p, dict) and isinstance(p.get("text"), str)]
        row["text"] = "\n".join(texts) if texts else None
        if len(texts) == len(summary):
            rest.pop("summary")


def _code(rest: Json, row: Row) -> None:
    """The code a code interpreter ran, as its ``arguments``."""
    if isinstance(rest.get("code"), str):
        row["arguments"] = rest.pop("code")


_SPECIAL: dict[str, Callable[[Json, Row], None]] = {
    "message": _message,
    "reasoning": _reasoning,
    "code_interpreter_call": _code,
}


def without_payloads(obj: Json) -> Json:
    """A copy of a response or conversation item list holder with large payloads replaced by a short note.

    Base64 images (generated images, screenshots, inline input images and files) and encrypted reasoning can be
    megabytes each and answer no analytics question; ``--keep-payloads`` stores them as sent.
    """
    return _strip(obj)  # type: ignore[no-any-return]


_PAYLOAD_KEYS = frozenset({"encrypted_content", "result", "file_data", "image_url", "url"})


def _strip(value: Any) -> Any:
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: Json = {}
    for key, inner in value.items():
        if key in _PAYLOAD_KEYS and _is_payload(key, inner, value):
            out[key] = f"(not stored: {len(inner)} bytes; --keep-payloads keeps it)"
        else:
            out[key] = _strip(inner)
    return out


def _is_payload(key: str, value: Any, holder: Json) -> bool:
    if not isinstance(value, str):
        return False
    if key == "encrypted_content":
        return True
    if key == "result":
        return holder.get("type") == "image_generation_call"
    return value.startswith("data:") or key == "file_data"


# -- columns ---------------------------------------------------------------------------------------------------


def _response_row(response: Json, response_id: str, created_at: datetime, inputs: int, outputs: int) -> Row:
    usage = _dict(response.get("usage"))
    error = _dict(response.get("error"))
    agent = _dict(response.get("agent")) or _dict(response.get("prompt"))
    conversation = response.get("conversation")
    instructions = response.get("instructions")
    completed = response.get("completed_at")
    return {
        "response_id": response_id,
        "conversation_id": _dict(conversation).get("id") if isinstance(conversation, dict) else conversation,
        "previous_response_id": response.get("previous_response_id"),
        "agent": agent.get("name") or agent.get("id"),
        "agent_version": _optional_text(agent.get("version")),
        "model": response.get("model"),
        "status": response.get("status"),
        "created_at": created_at,
        "completed_at": None if completed is None else _seconds(completed, "completed_at", response_id),
        "input_tokens": usage.get("input_tokens"),
        "cached_input_tokens": _dict(usage.get("input_tokens_details")).get("cached_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "reasoning_tokens": _dict(usage.get("output_tokens_details")).get("reasoning_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "service_tier": response.get("service_tier"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
        "incomplete_reason": _dict(response.get("incomplete_details")).get("reason"),
        "temperature": response.get("temperature"),
        "top_p": response.get("top_p"),
        "max_output_tokens": response.get("max_output_tokens"),
        "input_item_count": inputs,
        "output_item_count": outputs,
        "instructions": instructions if instructions is None or isinstance(instructions, str) else _json(instructions),
        "tools_json": _json(response.get("tools")),
        "metadata_json": _json(response.get("metadata")),
    }


def _batch(table: Table, rows: list[Row], extracted_at: datetime) -> pa.RecordBatch:
    if extracted_at.tzinfo is None:
        raise ValueError("extracted_at must be timezone-aware")
    stamp = datetime.fromtimestamp(int(extracted_at.timestamp()), UTC)
    for row in rows:
        row["extracted_at"] = stamp
    try:
        return pa.RecordBatch.from_pylist(rows, schema=table.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TransformError(f"{table.name}: a value does not fit the column: {exc}") from None


def _seconds(value: Any, name: str, owner: str) -> datetime:
    """Unix seconds (may be fractional) as a UTC timestamp, truncated to the second like the other tables."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TransformError(f"{owner}: {name} must be a number of seconds, not {value!r}", object_id=owner)
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        why = f"{owner}: {name} is {value!r}, not a time between years 1 and 9999 (unix seconds)"
        raise TransformError(why, object_id=owner) from None


def _text(obj: Json, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise TransformError(f"an object without a string {key}: {str(obj)[:80]}")
    return value


def _list(obj: Json, key: str, owner: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TransformError(f"{owner}: {key} must be a list")
    return value


def _dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else _json(value)


def _json(value: Any) -> str | None:
    """Free-form values as compact JSON text with sorted keys (as the other tables); NULL stays NULL."""
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
