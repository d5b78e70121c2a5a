"""The pure transform of responses and conversations: columns of each item type, drift, payloads, the response row."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from etl.errors import TransformError
from etl.transform.responses import item_row, to_conversation_batches, to_response_batches, without_payloads

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_message_text_parts_join_and_richer_parts_stay_in_details() -> None:
    drift: Counter[str] = Counter()
    item = {
        "id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
        "content": [
            {"type": "output_text", "text": "first", "annotations": [], "logprobs": []},
            {"type": "refusal", "refusal": "no"},
            {"type": "output_text", "text": "cited", "annotations": [{"type": "url_citation", "url": "u"}]},
        ],
    }  # fmt: skip
    row = item_row(item, drift, "resp_1")
    assert (row["item_id"], row["type"], row["role"], row["status"]) == ("msg_1", "message", "assistant", "completed")
    assert row["text"] == "first\nno\ncited"
    assert orjson.loads(row["details_json"]) == {
        "content": [{"type": "output_text", "annotations": [{"type": "url_citation", "url": "u"}]}]
    }
    assert not drift and "raw_json" not in row


def test_calls_outputs_and_mcp_fill_their_columns() -> None:
    drift: Counter[str] = Counter()
    call = item_row({"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a": 1}',
                     "status": "completed"}, drift, "r")  # fmt: skip
    assert (call["call_id"], call["name"], call["arguments"], call["details_json"]) == ("c1", "f", '{"a": 1}', None)
    output = item_row({"id": "o", "type": "function_call_output", "call_id": "c1", "output": [{"x": 1}]}, drift, "r")
    assert output["output"] == '[{"x":1}]'
    mcp = item_row({"id": "m", "type": "mcp_call", "server_label": "docs", "name": "s", "arguments": "{}",
                    "output": "ok", "error": None}, drift, "r")  # fmt: skip
    assert (mcp["server_label"], mcp["output"], orjson.loads(mcp["details_json"])) == ("docs", "ok", {"error": None})
    code = item_row({"id": "ci", "type": "code_interpreter_call", "code": "print(1)", "outputs": []}, drift, "r")
    assert code["arguments"] == "print(1)"
    custom = item_row({"id": "ct", "type": "custom_tool_call", "call_id": "c2", "name": "g", "input": "x"}, drift, "r")
    assert custom["arguments"] == "x"
    reasoning = item_row({"id": "rs", "type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}]},
                         drift, "r")  # fmt: skip
    assert reasoning["text"] == "hm" and reasoning["details_json"] is None
    assert not drift


def test_an_unknown_type_is_kept_whole_and_counted() -> None:
    drift: Counter[str] = Counter()
    item = {"id": "x_1", "type": "teleport_call", "call_id": "c9", "where": {"to": "mars"}}
    row = item_row(item, drift, "r")
    assert row["type"] == "teleport_call" and orjson.loads(row["raw_json"]) == item and row["call_id"] == "c9"
    assert drift == Counter({"item_type:teleport_call": 1})
    with pytest.raises(TransformError):
        item_row({"id": "y"}, drift, "r")


def test_payloads_are_replaced_by_a_note() -> None:
    image = "data:image/png;base64," + "A" * 500
    obj = {
        "output": [
            {"type": "reasoning", "encrypted_content": "E" * 300, "summary": []},
            {"type": "image_generation_call", "result": "B" * 400},
            {"type": "message", "content": [{"type": "input_image", "image_url": image},
                                            {"type": "input_image", "image_url": "https://x/y.png"}]},
            {"type": "function_call", "result": "not a payload"},
        ]
    }  # fmt: skip
    stripped = without_payloads(obj)
    out = stripped["output"]
    assert out[0]["encrypted_content"].startswith("(not stored: 300 bytes")
    assert out[1]["result"].startswith("(not stored: 400 bytes")
    assert out[2]["content"][0]["image_url"].startswith("(not stored")
    assert out[2]["content"][1]["image_url"] == "https://x/y.png"
    assert out[3]["result"] == "not a payload"
    assert obj["output"][0]["encrypted_content"] == "E" * 300  # the input is not changed


def test_response_row_and_items_inherit_its_second() -> None:
    response = {
        "id": "resp_1", "created_at": 1767225600.75, "completed_at": 1767225603, "status": "completed",
        "model": "gpt-4.1", "conversation": {"id": "conv_1"}, "previous_response_id": None,
        "agent": {"type": "agent_reference", "name": "helper", "version": "3"},
        "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 40}, "output_tokens": 7,
                  "output_tokens_details": {"reasoning_tokens": 5}, "total_tokens": 107},
        "instructions": [{"type": "message", "role": "developer", "content": "be brief"}],
        "output": [{"id": "msg_o", "type": "message", "role": "assistant", "content": "hi"}],
        "input_items": [{"id": "msg_i", "type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "hello"}]}],
    }  # fmt: skip
    tables, drift = to_response_batches([response], NOW)
    (row,) = tables["responses"].to_pylist()
    assert row["created_at"] == datetime(2026, 1, 1, tzinfo=UTC)  # fractional seconds truncated
    assert (row["conversation_id"], row["agent"], row["agent_version"]) == ("conv_1", "helper", "3")
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (
        100, 40, 7, 5,
    )  # fmt: skip
    assert orjson.loads(row["instructions"])[0]["content"] == "be brief"
    assert (row["input_item_count"], row["output_item_count"], row["extracted_at"]) == (1, 1, NOW)
    items = tables["response_items"].to_pylist()
    assert [(i["direction"], i["item_index"], i["text"]) for i in items] == [("input", 0, "hello"), ("output", 0, "hi")]
    assert {i["created_at"] for i in items} == {row["created_at"]} and not drift


def test_conversation_items_take_positions_from_the_cursor() -> None:
    conversation = {
        "id": "conv_1", "created_at": 1767225600, "metadata": {"k": "v"}, "first_position": 5, "item_count": 7,
        "items": [{"id": "msg_a", "type": "message", "role": "user", "content": []},
                  {"id": "fc_b", "type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}],
        "response_of": {"fc_b": "resp_9"},
    }  # fmt: skip
    tables, _ = to_conversation_batches([conversation], NOW)
    assert tables["conversations"].to_pylist()[0]["item_count"] == 7
    rows = tables["conversation_items"].to_pylist()
    assert [(r["position"], r["item_id"], r["response_id"]) for r in rows] == [
        (5, "msg_a", None),
        (6, "fc_b", "resp_9"),
    ]


@pytest.mark.parametrize(("field", "value"), [("created_at", 99_999_999_999_999), ("completed_at", -1e13)])
def test_a_time_no_reader_could_show_names_the_response(field: str, value: float) -> None:
    """Named by its id (so only its own unit is refused, not the batch searched response by response)."""
    response = {"id": "resp_far", "created_at": 1767225600, "status": "completed", "output": [], field: value}
    with pytest.raises(TransformError, match=rf"resp_far: {field} is .*, not a time between years 1 and 9999") as e:
        to_response_batches([response], NOW)
    assert e.value.object_id == "resp_far"
