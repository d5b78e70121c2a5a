"""The tables an export must produce, computed straight from the fake's ground truth.

Written row by row in plain Python, independently of ``etl.transform`` (which builds columns), so a test that
compares the two compares two implementations of the tables' contract (the README's Tables section).
Timestamps are unix seconds; JSON text columns are compared parsed; ``extracted_at`` is left out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from etl import sqlrun

Row = dict[str, Any]
KNOWN_STEP_TYPES = {"message_creation", "tool_calls"}
KNOWN_TOOL_TYPES = {"code_interpreter", "file_search", "function"}
JSON_COLUMNS = {"tools_json", "metadata_json", "raw_json", "details_json", "tool_resources_json"}
KEYS = {
    "runs": ("run_id",),
    "run_steps": ("step_id",),
    "tool_calls": ("step_id", "tool_call_index"),
    "code_interpreter_outputs": ("step_id", "tool_call_index", "output_index"),
    "file_search_results": ("step_id", "tool_call_index", "result_index"),
}


def expected_tables(
    runs: Iterable[Row], steps: Iterable[Row], *, content: bool
) -> dict[str, dict[tuple[Any, ...], Row]]:
    """Every table as {key: row} for these run and step objects (``content``: include[] was sent)."""
    tables: dict[str, dict[tuple[Any, ...], Row]] = {name: {} for name in KEYS}
    for run in runs:
        usage = run.get("usage") or {}
        error = run.get("last_error") or {}
        row = {
            "run_id": run["id"],
            "thread_id": run["thread_id"],
            "assistant_id": run.get("assistant_id"),
            "status": run.get("status"),
            "model": run.get("model"),
            "created_at": run["created_at"],
            "started_at": run.get("started_at"),
            "completed_at": run.get("completed_at"),
            "failed_at": run.get("failed_at"),
            "cancelled_at": run.get("cancelled_at"),
            "expires_at": run.get("expires_at"),
            "last_error_code": error.get("code"),
            "last_error_message": error.get("message"),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
            **token_details(usage),
            "instructions": run.get("instructions"),
            "tools_json": run.get("tools"),
            "metadata_json": run.get("metadata"),
        }
        tables["runs"][(run["id"],)] = row
    for step in steps:
        _add_step(tables, step, content)
    return tables


def token_details(usage: Row) -> Row:
    """cached_prompt_tokens and reasoning_tokens of a usage object (either spelling of the prompt details)."""
    prompt = usage.get("prompt_token_details") or usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    return {"cached_prompt_tokens": prompt.get("cached_tokens"), "reasoning_tokens": completion.get("reasoning_tokens")}


def _add_step(tables: dict[str, dict[tuple[Any, ...], Row]], step: Row, content: bool) -> None:
    known = step["type"] in KNOWN_STEP_TYPES
    details = step.get("step_details") or {}
    calls = details.get("tool_calls") or [] if step["type"] == "tool_calls" else []
    usage = step.get("usage") or {}
    error = step.get("last_error") or {}
    common = {"run_id": step["run_id"], "thread_id": step["thread_id"], "created_at": step["created_at"]}
    tables["run_steps"][(step["id"],)] = {
        "step_id": step["id"],
        **common,
        "assistant_id": step.get("assistant_id"),
        "type": step["type"],
        "status": step.get("status"),
        "completed_at": step.get("completed_at"),
        "failed_at": step.get("failed_at"),
        "cancelled_at": step.get("cancelled_at"),
        "expired_at": step["expired_at"] if "expired_at" in step else step.get("expires_at"),
        "last_error_code": error.get("code"),
        "last_error_message": error.get("message"),
        "message_id": (details.get("message_creation") or {}).get("message_id")
        if step["type"] == "message_creation"
        else None,
        "tool_call_count": len(calls),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "total_tokens": usage.get("total_tokens"),
        **token_details(usage),
        "metadata_json": step.get("metadata"),
        "raw_json": None if known else step,
    }
    for index, call in enumerate(calls):
        kind = call.get("type")
        body = call.get(kind) or {} if isinstance(kind, str) else {}
        ranking = body.get("ranking_options") or {} if kind == "file_search" else {}
        tables["tool_calls"][(step["id"], index)] = {
            "step_id": step["id"],
            "tool_call_index": index,
            "tool_call_id": call.get("id"),
            **common,
            "type": kind,
            "function_name": body.get("name") if kind == "function" else None,
            "function_arguments": body.get("arguments") if kind == "function" else None,
            "function_output": body.get("output") if kind == "function" else None,
            "code_input": body.get("input") if kind == "code_interpreter" else None,
            "file_search_ranker": ranking.get("ranker"),
            "file_search_score_threshold": ranking.get("score_threshold"),
            "raw_json": None if kind in KNOWN_TOOL_TYPES else call,
        }
        if kind == "code_interpreter":
            for out_index, output in enumerate(body.get("outputs") or []):
                tables["code_interpreter_outputs"][(step["id"], index, out_index)] = {
                    "step_id": step["id"],
                    "tool_call_index": index,
                    "output_index": out_index,
                    "tool_call_id": call.get("id"),
                    **common,
                    "type": output["type"],
                    "logs": output.get("logs") if output["type"] == "logs" else None,
                    "image_file_id": (output.get("image") or {}).get("file_id") if output["type"] == "image" else None,
                }
        if kind == "file_search":
            for res_index, result in enumerate(body.get("results") or []):
                parts = result.get("content")
                text = (
                    "\n".join(p["text"] for p in parts if p.get("type") == "text")
                    if content and parts is not None
                    else None
                )
                tables["file_search_results"][(step["id"], index, res_index)] = {
                    "step_id": step["id"],
                    "tool_call_index": index,
                    "result_index": res_index,
                    "tool_call_id": call.get("id"),
                    **common,
                    "file_id": result.get("file_id"),
                    "file_name": result.get("file_name"),
                    "score": result.get("score"),
                    "content_text": text,
                }


def actual_tables(dest: str) -> dict[str, dict[tuple[Any, ...], Row]]:
    """Every table at a destination as {key: row}, read through DuckDB; raises if a key appears twice."""
    out: dict[str, dict[tuple[Any, ...], Row]] = {}
    with sqlrun.open_sql_connection(dest) as con:
        for name, key in KEYS.items():
            out[name] = _read(con, name, key)
    return out


def _read(con: duckdb.DuckDBPyConnection, name: str, key: tuple[str, ...]) -> dict[tuple[Any, ...], Row]:
    table = con.sql(f"SELECT * FROM {name}").to_arrow_table()
    rows: dict[tuple[Any, ...], Row] = {}
    for row in table.to_pylist():
        row.pop("created_date", None)
        row = {k: _plain(k, v) for k, v in row.items()}
        k = tuple(row[c] for c in key)
        assert k not in rows, f"{name}: key {k} appears twice"
        rows[k] = row
    return rows


def _plain(column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if column in JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    return value


def assert_tables_equal(dest: str, expected: dict[str, dict[tuple[Any, ...], Row]]) -> None:
    """Every expected row is at ``dest`` with these values (columns the expectation names), and nothing else."""
    actual = actual_tables(dest)
    for name, rows in expected.items():
        got = actual[name]
        assert set(got) == set(rows), (
            f"{name}: missing {sorted(set(rows) - set(got))[:3]}, unexpected {sorted(set(got) - set(rows))[:3]}"
        )
        for key, want in rows.items():
            have = got[key]
            assert have["extracted_at"] is not None
            diff = {c: (have.get(c), v) for c, v in want.items() if have.get(c) != v}
            assert not diff, f"{name} {key}: (actual, expected) differ: {_short(diff)}"


def _short(diff: dict[str, tuple[Any, Any]]) -> str:
    return repr({c: tuple(repr(x)[:120] for x in pair) for c, pair in diff.items()})


def export_command(base_url: str, threads_file: str | Path, dest: str, *extra: str) -> list[str]:
    """``runsteps export`` of every thread in ``threads_file`` as a real subprocess command line."""
    return [
        sys.executable,
        "-m",
        "etl",
        "export",
        "--threads-file",
        str(threads_file),
        "--dest",
        dest,
        "--base-url",
        base_url,
        "--no-progress",
        *extra,
    ]
