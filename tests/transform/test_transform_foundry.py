"""Foundry's tool calls land in typed columns (not drift); activities steps keep their activities; entities."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
from paths import FIXTURES

from etl import schema
from etl.transform import to_step_tables, to_tables
from etl.transform.entities import gone_assistant

EXTRACTED = datetime(2026, 11, 25, 12, 30, 5, tzinfo=UTC)


def steps() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / "foundry_steps_page.json").read_text())["data"]
    return data


def test_foundry_tool_calls_fill_typed_columns_and_only_unknown_types_drift() -> None:
    tables = to_step_tables(steps(), EXTRACTED)
    calls = {r["tool_call_id"]: r for r in tables.tables["tool_calls"].to_pylist()}
    picked = ("function_name", "function_arguments", "function_output")
    assert {k: tuple(calls[k][c] for c in picked) for k in ("call_fn", "call_az", "call_mcp", "call_ca")} == {
        "call_fn": ("lookup", '{"q":1}', None),  # Foundry sends no output for function calls
        "call_az": ("az", "{}", "42"),
        "call_mcp": ("search_docs", '{"q":"x"}', "found"),
        "call_ca": ("child", "{}", "ok"),
    }
    assert calls["call_mcp"]["mcp_server_label"] == "docs"
    child = calls["call_ca"]
    assert (child["connected_run_id"], child["connected_thread_id"], child["connected_assistant_id"]) == (
        "run_child", "thread_child", "asst_child")  # fmt: skip
    assert (calls["call_dr"]["tool_input"], calls["call_dr"]["tool_output"]) == ("why", "because")
    assert (calls["call_ba"]["tool_input"], calls["call_ba"]["tool_output"]) == ("open", "done")
    assert orjson.loads(calls["call_bing"]["details_json"]) == {
        "requesturl": "https://api.bing/x",
        "response_metadata": "{}",
    }
    assert orjson.loads(calls["call_ba"]["details_json"])["steps"][0]["next_step"] == "c"
    assert orjson.loads(calls["call_cu"]["details_json"])["output"]["file_id"] == "file_1"
    typed = [r for k, r in calls.items() if k != "call_new"]
    assert [r["raw_json"] for r in typed] == [None] * 8
    assert [r["details_json"] for r in typed if r["type"] in ("function", "mcp", "deep_research")] == [None] * 3
    # Only a type neither OpenAI nor Foundry defines is drift.
    assert orjson.loads(calls["call_new"]["raw_json"])["web_search"] == {"query": "q"}
    assert tables.drift_kinds == {"tool_call_type:web_search": 1}
    assert not {f for f in tables.unknown_fields if f.startswith("tool_call.")}


def test_activities_steps_are_rows_with_their_activities_and_no_usage_is_null() -> None:
    tables = to_step_tables(steps(), EXTRACTED)
    by_id = {r["step_id"]: r for r in tables.tables["run_steps"].to_pylist()}
    activities = by_id["step_f2"]
    assert (activities["type"], activities["tool_call_count"], activities["raw_json"]) == ("activities", 0, None)
    assert orjson.loads(activities["details_json"])[0]["tools"]["search_docs"]["description"] == "search"
    assert (activities["prompt_tokens"], by_id["step_f1"]["total_tokens"]) == (None, None)
    assert (by_id["step_f1"]["tool_call_count"], by_id["step_f3"]["message_id"]) == (9, "msg_f")
    assert [by_id[s]["details_json"] for s in ("step_f1", "step_f3")] == [None, None]


def test_threads_and_assistants_tables() -> None:
    threads = [(EXTRACTED, {"id": "thread_f", "created_at": 1767225000, "metadata": {"b": "1", "a": "2"},
                            "tool_resources": {"code_interpreter": {"file_ids": ["f1"]}}})]  # fmt: skip
    assistants = [(EXTRACTED, {"id": "asst_f", "name": "Support", "model": "gpt-4o-deploy", "tools": [{"type": "mcp"}],
                               "created_at": 1767220000, "description": None, "instructions": "be kind"})]  # fmt: skip
    assistants.append((EXTRACTED, gone_assistant("asst_x")))
    tables, drift = to_tables({"threads": threads, "assistants": assistants})
    assert tables["threads"].schema.equals(schema.THREADS.schema, check_metadata=True)
    assert tables["threads"].to_pylist() == [{
        "thread_id": "thread_f", "created_at": datetime.fromtimestamp(1767225000, UTC),
        "metadata_json": '{"a":"2","b":"1"}',
        "tool_resources_json": '{"code_interpreter":{"file_ids":["f1"]}}', "extracted_at": EXTRACTED}]  # fmt: skip
    rows = {r["assistant_id"]: r for r in tables["assistants"].to_pylist()}
    assert (rows["asst_f"]["name"], rows["asst_f"]["model"], rows["asst_f"]["gone"]) == (
        "Support",
        "gpt-4o-deploy",
        False,
    )
    assert rows["asst_f"]["tools_json"] == '[{"type":"mcp"}]'
    assert (rows["asst_x"]["gone"], rows["asst_x"]["name"], rows["asst_x"]["created_at"]) == (True, None, None)
    assert drift.rows == 0
