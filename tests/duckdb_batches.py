"""Export batches for the DuckDB destination tests, built straight in the Arrow schemas of ``etl.schema``.

Every value that a replacement must change carries ``version`` (step status, function outputs, logs, scores),
so a test can tell which write a row came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from etl.load.base import ExportBatch, RunRecord
from etl.schema import TABLES

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
EXTRACTED_AT = 1_767_312_000  # 2026-01-02T00:00:00Z
BIG_TOKENS = 3_000_000_000  # above int32: proves BIGINT


def step_id(run_id: str, index: int) -> str:
    """The id of a run's ``index``-th step in these batches."""
    return f"step_{run_id.removeprefix('run_')}_{index}"


def make_batch(
    run_ids: Iterable[str],
    *,
    steps: int = 2,
    calls: int = 2,
    version: int = 1,
    created_at: int = T0,
    thread_id: str = "thread_a",
) -> ExportBatch:
    """Runs with ``steps`` tool-call steps each, ``calls`` tool calls a step (cycling through the three types)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    records = []
    for run_id in run_ids:
        rows["runs"].append(_run(run_id, thread_id, created_at, version))
        for s in range(steps):
            sid = step_id(run_id, s)
            base = {"step_id": sid, "run_id": run_id, "thread_id": thread_id, "created_at": created_at + s}
            rows["run_steps"].append(_step(base, calls, version))
            for c in range(calls):
                _tool_call(rows, base, c, version)
        records.append(
            RunRecord(
                run_id=run_id,
                thread_id=thread_id,
                run_status="completed",
                run_created_at=created_at,
                step_count=steps,
                exported=True,
                error=None,
                exported_at=datetime(2026, 1, 2, 0, 0, version, tzinfo=UTC),
            )
        )
    tables = {name: pa.Table.from_pylist(r, schema=TABLES[name].schema) for name, r in rows.items()}
    return ExportBatch(tables=tables, records=records)


def _run(run_id: str, thread_id: str, created_at: int, version: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": "asst_1",
        "status": "completed",
        "model": f"model-v{version}",
        "created_at": created_at,
        "completed_at": created_at + 60,
        "prompt_tokens": BIG_TOKENS,
        "completion_tokens": 7,
        "total_tokens": BIG_TOKENS + 7,
        "temperature": 0.5,
        "tools_json": "[]",
        "metadata_json": "{}",
        "extracted_at": EXTRACTED_AT,
    }


def _step(base: dict[str, Any], calls: int, version: int) -> dict[str, Any]:
    return {
        **base,
        "assistant_id": "asst_1",
        "type": "tool_calls",
        "status": f"completed-v{version}",
        "completed_at": base["created_at"] + 5,
        "tool_call_count": calls,
        "prompt_tokens": BIG_TOKENS,
        "completion_tokens": version,
        "total_tokens": BIG_TOKENS + version,
        "extracted_at": EXTRACTED_AT,
    }


def _tool_call(rows: dict[str, list[dict[str, Any]]], base: dict[str, Any], index: int, version: int) -> None:
    kind = ("function", "code_interpreter", "file_search")[index % 3]
    call = {**base, "tool_call_index": index, "tool_call_id": f"call_{base['step_id']}_{index}", "type": kind}
    call["extracted_at"] = EXTRACTED_AT
    if kind == "function":
        call.update(function_name="lookup", function_arguments='{"q": 1}', function_output=f"out-v{version}")
    elif kind == "code_interpreter":
        call.update(code_input="print(1)", code_output_count=2)
        for o in range(2):
            rows["code_interpreter_outputs"].append(
                {**base, "tool_call_index": index, "output_index": o, "tool_call_id": call["tool_call_id"],
                 "type": "logs", "logs": f"log-v{version}", "extracted_at": EXTRACTED_AT}
            )
    else:
        call.update(file_search_ranker="auto", file_search_score_threshold=0.0, file_search_result_count=2)
        for r in range(2):
            rows["file_search_results"].append(
                {**base, "tool_call_index": index, "result_index": r, "tool_call_id": call["tool_call_id"],
                 "file_id": f"file_{r}", "file_name": "a.txt", "score": version / 10, "extracted_at": EXTRACTED_AT}
            )
    rows["tool_calls"].append(call)


def rows_of(table: pa.Table) -> list[dict[str, Any]]:
    """A table's rows as dicts, sorted, for comparing what was written with what is read back."""
    return sorted(table.to_pylist(), key=lambda row: [str(v) for v in row.values()])


def merge(*batches: ExportBatch) -> ExportBatch:
    """One batch holding the rows and records of several."""
    tables = {name: pa.concat_tables([b.tables[name] for b in batches]) for name in TABLES}
    return ExportBatch(tables=tables, records=[r for b in batches for r in b.records])
