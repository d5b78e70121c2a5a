"""Transform: run steps and runs, as the API sends them, land in the right columns of the right tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest
from paths import FIXTURES

from etl import schema
from etl.errors import TransformError
from etl.transform import StepTables, to_runs_table, to_step_tables

EXTRACTED = datetime(2026, 11, 25, 12, 30, 5, 999_000, tzinfo=UTC)
T = 1717000000  # created_at of the first step in steps_variants_page.json


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def page(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["data"]
    return data


def lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def rows(tables: StepTables, table: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = tables.tables[table].to_pylist()
    return result


def by_step(tables: StepTables) -> dict[str, dict[str, Any]]:
    return {row["step_id"]: row for row in rows(tables, "run_steps")}


@pytest.fixture(scope="module")
def variants() -> StepTables:
    return to_step_tables(page("steps_variants_page.json"), EXTRACTED)


def test_batches_have_exactly_the_declared_schemas(variants: StepTables) -> None:
    assert set(variants.tables) == {"run_steps", "tool_calls", "code_interpreter_outputs", "file_search_results"}
    for name, batch in variants.tables.items():
        assert batch.schema.equals(schema.TABLES[name].schema, check_metadata=True), name
    runs = to_runs_table(lines("runs.jsonl"), EXTRACTED)
    assert runs.schema.equals(schema.RUNS.schema, check_metadata=True)


def test_message_creation_step(variants: StepTables) -> None:
    assert by_step(variants)["step_v0"] == {
        "step_id": "step_v0",
        "run_id": "run_v",
        "thread_id": "thread_v",
        "assistant_id": "asst_v",
        "type": "message_creation",
        "status": "completed",
        "created_at": at(T),
        "completed_at": at(T + 3),
        "failed_at": None,
        "cancelled_at": None,
        "expired_at": at(T + 999),  # sent expired_at wins over expires_at
        "last_error_code": None,
        "last_error_message": None,
        "message_id": "msg_v0",
        "tool_call_count": 0,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "total_tokens": 110,
        "cached_prompt_tokens": None,  # no usage details sent
        "reasoning_tokens": None,
        "metadata_json": '{"app":"a","team":"b"}',  # compact, keys sorted
        "details_json": None,
        "raw_json": None,
        "extracted_at": datetime(2026, 11, 25, 12, 30, 5, tzinfo=UTC),  # whole seconds
    }


def test_step_columns_for_the_other_states(variants: StepTables) -> None:
    steps = by_step(variants)
    in_progress, failed, cancelled, expired = steps["step_v2"], steps["step_v3"], steps["step_v4"], steps["step_v6"]
    assert (in_progress["status"], in_progress["tool_call_count"], in_progress["message_id"]) == (
        "in_progress", 0, None)  # fmt: skip
    assert [in_progress[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")] == [None] * 3
    assert in_progress["metadata_json"] == "{}"  # sent empty: not NULL
    assert (failed["failed_at"], failed["last_error_code"], failed["last_error_message"]) == (
        at(T + 35), "rate_limit_exceeded", "Rate limit reached")  # fmt: skip
    assert (failed["prompt_tokens"], failed["completion_tokens"]) == (5_000_000_000, 0)  # beyond int32
    assert cancelled["cancelled_at"] == at(T + 44)
    assert expired["expired_at"] == at(T + 66)
    assert [steps[s]["tool_call_count"] for s in ("step_v1", "step_v3", "step_v4", "step_v6")] == [3, 1, 2, 2]


def test_types_are_int64_tokens_and_utc_timestamps(variants: StepTables) -> None:
    steps = variants.tables["run_steps"]
    assert steps.schema.field("prompt_tokens").type == pa.int64()
    assert steps.schema.field("created_at").type == pa.timestamp("s", tz="UTC")
    created = steps.column("created_at").to_pylist()
    assert all(value.utcoffset() == timedelta(0) for value in created)
    assert created[0].timestamp() == T


def test_tool_calls_land_in_their_columns(variants: StepTables) -> None:
    calls = {(r["step_id"], r["tool_call_index"]): r for r in rows(variants, "tool_calls")}
    assert sorted(calls) == [("step_v1", 0), ("step_v1", 1), ("step_v1", 2), ("step_v3", 0),
                             ("step_v4", 0), ("step_v4", 1), ("step_v6", 0), ("step_v6", 1)]  # fmt: skip
    code, search, function = calls["step_v1", 0], calls["step_v1", 1], calls["step_v1", 2]
    context = {"run_id": "run_v", "thread_id": "thread_v", "created_at": at(T + 10), "raw_json": None,
               "extracted_at": datetime(2026, 11, 25, 12, 30, 5, tzinfo=UTC)}  # fmt: skip
    nothing = dict.fromkeys(("function_name", "function_arguments", "function_output", "code_input",
                             "code_output_count", "file_search_ranker", "file_search_score_threshold",
                             "file_search_result_count", "mcp_server_label", "connected_run_id",
                             "connected_thread_id", "connected_assistant_id", "tool_input", "tool_output",
                             "details_json"))  # fmt: skip
    assert code == {**context, **nothing, "step_id": "step_v1", "tool_call_index": 0, "tool_call_id": "call_code",
                    "type": "code_interpreter", "code_input": "print(2 + 2)\nplot()", "code_output_count": 2}
    assert search == {**context, **nothing, "step_id": "step_v1", "tool_call_index": 1,
                      "tool_call_id": "call_search", "type": "file_search",
                      "file_search_ranker": "default_2024_08_21", "file_search_score_threshold": 0.25,
                      "file_search_result_count": 2}  # fmt: skip
    assert function == {**context, **nothing, "step_id": "step_v1", "tool_call_index": 2, "tool_call_id": "call_fn",
                        "type": "function", "function_name": "lookup",
                        "function_arguments": '{"q": "caf\\u00e9", "n": 3}',  # as sent, not re-encoded
                        "function_output": None}  # fmt: skip
    assert calls["step_v3", 0]["function_output"] == "Zürich: 21 °C ☀️ 東京"
    bare, no_outputs = calls["step_v4", 0], calls["step_v4", 1]
    assert (bare["type"], bare["file_search_result_count"], bare["file_search_ranker"]) == ("file_search", None, None)
    assert (no_outputs["code_input"], no_outputs["code_output_count"]) == ("x = 1", 0)


def test_code_interpreter_outputs(variants: StepTables) -> None:
    assert rows(variants, "code_interpreter_outputs") == [
        {"step_id": "step_v1", "tool_call_index": 0, "output_index": index, "tool_call_id": "call_code",
         "run_id": "run_v", "thread_id": "thread_v", "created_at": at(T + 10), "type": kind, "logs": logs,
         "image_file_id": image, "extracted_at": datetime(2026, 11, 25, 12, 30, 5, tzinfo=UTC)}
        for index, kind, logs, image in ((0, "logs", "4\n", None), (1, "image", None, "file-img1"))
    ]  # fmt: skip


def test_file_search_results_join_text_parts(variants: StepTables) -> None:
    results = rows(variants, "file_search_results")
    assert [(r["step_id"], r["tool_call_index"], r["result_index"], r["tool_call_id"]) for r in results] == [
        ("step_v1", 1, 0, "call_search"), ("step_v1", 1, 1, "call_search")]  # fmt: skip
    assert [(r["file_id"], r["file_name"], r["score"], r["content_text"]) for r in results] == [
        ("file-a", "a.md", 0.91, "first part\nsecond part"), ("file-b", "b.pdf", 0.5, "")]  # fmt: skip
    assert {r["created_at"] for r in results} == {at(T + 10)}


def test_content_text_is_null_when_content_was_not_sent() -> None:
    steps = page("steps_variants_page.json")[1:2]
    for result in steps[0]["step_details"]["tool_calls"][1]["file_search"]["results"]:
        del result["content"]
    tables = to_step_tables(steps, EXTRACTED)
    assert rows(tables, "file_search_results")[0]["content_text"] is None
    assert tables.tables["file_search_results"].column("content_text").null_count == 2


def test_content_text_keeps_only_text_parts() -> None:
    steps = page("steps_variants_page.json")[1:2]
    results = steps[0]["step_details"]["tool_calls"][1]["file_search"]["results"]
    results[0]["content"].insert(1, {"type": "image", "image": {"file_id": "file-x"}})
    tables = to_step_tables(steps, EXTRACTED)
    assert [r["content_text"] for r in rows(tables, "file_search_results")] == ["first part\nsecond part", ""]


def test_unknown_step_and_tool_call_types_are_kept_and_counted(variants: StepTables) -> None:
    sent = {step["id"]: step for step in page("steps_variants_page.json")}
    reasoning = by_step(variants)["step_v5"]
    assert (reasoning["type"], reasoning["status"], reasoning["total_tokens"]) == ("reasoning", "completed", 120)
    assert (reasoning["message_id"], reasoning["tool_call_count"]) == (None, 0)
    assert orjson.loads(reasoning["raw_json"]) == sent["step_v5"]
    assert [r["raw_json"] for r in rows(variants, "run_steps") if r["step_id"] != "step_v5"] == [None] * 6
    mcp = next(r for r in rows(variants, "tool_calls") if r["tool_call_id"] == "call_mcp")
    assert (mcp["type"], mcp["step_id"], mcp["tool_call_index"], mcp["function_name"]) == (
        "web_search", "step_v6", 0, None)  # fmt: skip
    assert orjson.loads(mcp["raw_json"]) == sent["step_v6"]["step_details"]["tool_calls"][0]
    assert variants.drift_kinds == {"step_type:reasoning": 1, "tool_call_type:web_search": 1}
    assert variants.drift == 2
    assert variants.unknown_fields == {"step.attempt", "function.strict"}


def test_unknown_types_may_reuse_known_keys_with_other_shapes() -> None:
    steps = page("steps_variants_page.json")
    steps[5]["step_details"]["tool_calls"] = {"not": "a list"}
    steps[6]["step_details"]["tool_calls"][0]["function"] = "a string, not an object"
    tables = to_step_tables(steps, EXTRACTED)
    assert orjson.loads(by_step(tables)["step_v5"]["raw_json"])["step_details"]["tool_calls"] == {"not": "a list"}
    mcp = next(r for r in rows(tables, "tool_calls") if r["tool_call_id"] == "call_mcp")
    assert orjson.loads(mcp["raw_json"])["function"] == "a string, not an object"
    assert tables.tables["tool_calls"].num_rows == 8
    assert tables.drift == 2


def test_calls_inside_an_unknown_step_type_make_no_child_rows() -> None:
    step = page("steps_variants_page.json")[1] | {"id": "step_new", "type": "parallel_tool_calls"}
    tables = to_step_tables([step], EXTRACTED)
    assert [r["tool_call_count"] for r in rows(tables, "run_steps")] == [0]
    assert [tables.tables[name].num_rows for name in schema.STEP_CHILD_TABLES] == [0, 0, 0]
    assert orjson.loads(rows(tables, "run_steps")[0]["raw_json"]) == step


def test_tool_calls_step_without_details_has_no_calls() -> None:
    steps = page("steps_variants_page.json")[1:3]
    steps[0]["step_details"] = None
    del steps[1]["step_details"]
    tables = to_step_tables(steps, EXTRACTED)
    assert [(r["type"], r["tool_call_count"]) for r in rows(tables, "run_steps")] == [("tool_calls", 0)] * 2
    assert [tables.tables[name].num_rows for name in schema.STEP_CHILD_TABLES] == [0, 0, 0]


def test_real_payloads_expires_at_no_metadata_empty_in_progress_calls() -> None:
    sent = lines("run_steps.jsonl")
    tables = to_step_tables(sent, EXTRACTED)
    got = rows(tables, "run_steps")
    # expires_at is read only because these steps do not send expired_at at all
    assert [r["expired_at"] for r in got] == [at(s["expires_at"]) if "expires_at" in s else None for s in sent]
    assert [r["metadata_json"] for r in got] == [None] * len(sent)
    empty = got[2]
    assert (empty["type"], empty["status"], empty["tool_call_count"], empty["total_tokens"]) == (
        "tool_calls", "in_progress", 0, None)  # fmt: skip
    weather = rows(tables, "tool_calls")
    assert [(r["step_id"], r["function_name"], r["function_output"]) for r in weather] == [
        ("step_001", "get_current_weather", "70 degrees and sunny.")]  # fmt: skip
    assert weather[0]["function_arguments"] == '{"location":"San Francisco, CA","unit":"fahrenheit"}'


def test_expired_at_sent_as_null_does_not_fall_back() -> None:
    listed = page("list_run_steps_page.json")
    with_both = listed[0] | {"id": "step_both", "expires_at": T}
    legacy = {k: v for k, v in listed[0].items() if k != "expired_at"} | {"id": "step_legacy", "expires_at": T}
    got = by_step(to_step_tables([listed[0], with_both, legacy], EXTRACTED))
    assert [got[s]["expired_at"] for s in ("step_abc123", "step_both", "step_legacy")] == [None, None, at(T)]


def test_a_one_megabyte_output_and_many_steps_from_a_generator() -> None:
    big = "é" + "x" * 1_000_000
    template = page("steps_variants_page.json")[3]

    def steps() -> Any:
        for n in range(250):
            details = {"type": "tool_calls", "tool_calls": [
                {"id": f"c{n}", "type": "function", "function": {"name": "f", "arguments": "{}",
                                                                  "output": big if n == 7 else str(n)}}]}  # fmt: skip
            yield template | {"id": f"step_{n:04d}", "step_details": details}

    tables = to_step_tables(steps(), EXTRACTED)
    outputs = tables.tables["tool_calls"].column("function_output").to_pylist()
    assert outputs[7] == big
    assert outputs[:3] == ["0", "1", "2"] and outputs[249] == "249"
    assert tables.tables["run_steps"].column("step_id").to_pylist()[-1] == "step_0249"


def test_no_steps_gives_empty_batches_in_the_schemas() -> None:
    tables = to_step_tables([], EXTRACTED)
    for name, batch in tables.tables.items():
        assert batch.num_rows == 0
        assert batch.schema.equals(schema.TABLES[name].schema, check_metadata=True)
    assert (tables.drift, tables.unknown_fields) == (0, frozenset())
    assert to_runs_table([], EXTRACTED).num_rows == 0


def test_extracted_at_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_step_tables(page("list_run_steps_page.json"), datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(created_at="2024-01-01"),
         "step step_v3: field created_at should be an integer (unix seconds), got a string \"2024-01-01\""),
        (lambda s: s.pop("id"), "step #3: field id is missing or null"),
        (lambda s: s.update(run_id=None), "step step_v3: field run_id is missing or null"),
        (lambda s: s["usage"].update(total_tokens="many"),
         "step step_v3: field usage.total_tokens should be an integer, got a string \"many\""),
        (lambda s: s["step_details"]["tool_calls"][0]["function"].update(arguments={"a": 1}),
         "step step_v3: field step_details.tool_calls[0].function.arguments should be a string, got an object"),
        (lambda s: s["step_details"].update(tool_calls="none"),
         "step step_v3: field step_details.tool_calls should be an array, got a string"),
        (lambda s: s["step_details"]["tool_calls"][0].pop("type"),
         "step step_v3: field step_details.tool_calls[0].type is missing or null"),
        (lambda s: s["step_details"]["tool_calls"].append(None),
         "step step_v3: field step_details.tool_calls[1].type is missing or null"),
        (lambda s: s.update(type=7), "step step_v3: field type should be a string, got an integer 7"),
        # Arrow takes any 64-bit number of seconds; no reader of the table could show these
        (lambda s: s.update(created_at=-99_999_999_999),
         "step step_v3: field created_at is -99999999999, not a time between years 1 and 9999 (unix seconds)"),
        (lambda s: s.update(completed_at=300_000_000_000),
         "step step_v3: field completed_at is 300000000000, not a time between years 1 and 9999 (unix seconds)"),
    ],
)
def test_malformed_steps_raise_an_error_naming_step_and_field(change: Any, message: str) -> None:
    steps = page("steps_variants_page.json")
    change(steps[3])
    with pytest.raises(TransformError) as caught:
        to_step_tables(steps, EXTRACTED)
    assert str(caught.value).startswith(message)
    assert caught.value.field is not None and caught.value.field in message


def test_a_code_output_without_type_is_named() -> None:
    steps = page("steps_variants_page.json")
    del steps[1]["step_details"]["tool_calls"][0]["code_interpreter"]["outputs"][1]["type"]
    with pytest.raises(TransformError, match=r"step step_v1: field step_details\.tool_calls\[0\]\.code_interpreter"
                                             r"\.outputs\[1\]\.type is missing"):  # fmt: skip
        to_step_tables(steps, EXTRACTED)


def test_an_item_that_is_not_an_object_is_named() -> None:
    steps: list[Any] = [*page("list_run_steps_page.json"), "step_x"]
    with pytest.raises(TransformError, match="step #1 is a string, not an object"):
        to_step_tables(steps, EXTRACTED)


def test_runs_table_from_real_payloads() -> None:
    sent = lines("runs.jsonl")
    got = to_runs_table(sent, EXTRACTED).to_pylist()
    assert len(got) == len(sent)
    first = got[0]
    assert first == {
        "run_id": "run_abc123", "thread_id": "thread_abc123", "assistant_id": "asst_abc123", "status": "queued",
        "model": "gpt-4o", "created_at": at(1699076792), "started_at": None, "completed_at": None,
        "failed_at": None, "cancelled_at": None, "expires_at": at(1699077392), "last_error_code": None,
        "last_error_message": None, "incomplete_reason": None, "prompt_tokens": None, "completion_tokens": None,
        "total_tokens": None, "cached_prompt_tokens": None, "reasoning_tokens": None, "temperature": 1.0,
        "top_p": 1.0, "max_prompt_tokens": None,
        "max_completion_tokens": None, "instructions": "You are a helpful assistant.", "tools_json": "[]",
        "metadata_json": "{}", "extracted_at": datetime(2026, 11, 25, 12, 30, 5, tzinfo=UTC),
    }  # fmt: skip
    assert [r["instructions"] for r in got[1:3]] == [None, None]
    assert [(r["status"], r["total_tokens"]) for r in got[2:4]] == [("in_progress", None), ("completed", 356)]
    assert orjson.loads(got[4]["tools_json"]) == sent[4]["tools"]
    assert got[17]["metadata_json"] == '{"user_id":"user_abc123"}'


def test_runs_errors_and_incomplete_details() -> None:
    run = lines("runs.jsonl")[3] | {
        "status": "incomplete", "incomplete_details": {"reason": "max_prompt_tokens"},
        "last_error": {"code": "invalid_prompt", "message": "bad"}, "max_prompt_tokens": 1000,
        "reasoning_effort": "medium",  # a field this version does not know: ignored
    }  # fmt: skip
    (row,) = to_runs_table(iter([run]), EXTRACTED).to_pylist()
    assert (row["incomplete_reason"], row["last_error_code"], row["last_error_message"]) == (
        "max_prompt_tokens", "invalid_prompt", "bad")  # fmt: skip
    assert row["max_prompt_tokens"] == 1000


def test_malformed_run_is_named() -> None:
    run = lines("runs.jsonl")[3] | {"temperature": "hot"}
    with pytest.raises(TransformError, match='run run_123: field temperature should be a number, got a string "hot"'):
        to_runs_table([run], EXTRACTED)
    with pytest.raises(TransformError, match="run #0: field id is missing or null"):
        to_runs_table([{k: v for k, v in lines("runs.jsonl")[3].items() if k != "id"}], EXTRACTED)


def test_usage_details_in_either_spelling_on_runs_and_steps() -> None:
    """cached_prompt_tokens from prompt_token_details (as sent) or prompt_tokens_details; NULL when not sent."""
    base = page("steps_variants_page.json")[0]
    usages = [
        {"prompt_tokens": 900, "completion_tokens": 50, "total_tokens": 950,
         "prompt_token_details": {"cached_tokens": 768}, "completion_tokens_details": {"reasoning_tokens": 20}},
        {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340,
         "prompt_tokens_details": {"cached_tokens": 256, "audio_tokens": 0}},
        {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11, "prompt_token_details": None,
         "completion_tokens_details": {}},
        {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    ]  # fmt: skip
    steps = [base | {"id": f"step_u{i}", "usage": usage} for i, usage in enumerate(usages)]
    step_rows = rows(to_step_tables(steps, EXTRACTED), "run_steps")
    got = [(r["cached_prompt_tokens"], r["reasoning_tokens"]) for r in step_rows]
    want = [(768, 20), (256, None), (None, None), (None, None)]
    assert got == want
    run = lines("runs.jsonl")[3]
    runs = to_runs_table([run | {"id": f"run_u{i}", "usage": usage} for i, usage in enumerate(usages)], EXTRACTED)
    cached, reasoning = runs["cached_prompt_tokens"].to_pylist(), runs["reasoning_tokens"].to_pylist()
    assert list(zip(cached, reasoning, strict=True)) == want
