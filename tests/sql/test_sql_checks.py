"""The data checks pass on a clean export, and on data broken on purpose report exactly the rows that break them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from sql_export import Exported, Json, calls_of, shared_export

from etl import sqlfiles, sqlrun
from etl.errors import InputError
from etl.load import open_destination
from etl.load.batch import Batch, write_batch

ALL_ROWS = 1_000_000  # sample size that keeps every broken row


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return shared_export(tmp_path_factory)


def _broken_rows(dest: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every check that fails, with all the rows it reports (as tuples)."""
    return {
        r.name: [tuple(row.values()) for row in r.sample.to_pylist()]
        for r in sqlrun.run_checks(str(dest), sample_size=ALL_ROWS)
        if not r.passed
    }


def _broken_duckdb(exported: Exported, tmp_path: Path, *changes: tuple[str, list[object]]) -> Path:
    """A copy of the exported DuckDB file with ``changes`` (statement, parameters) applied."""
    copy = tmp_path / "broken.duckdb"
    shutil.copy(exported.duckdb, copy)
    with duckdb.connect(str(copy)) as con:
        for statement, params in changes:
            con.execute(statement, params)
    return copy


def _first(exported: Exported, wanted: Callable[[Json], bool]) -> Json:
    return next(step for step in exported.steps if wanted(step))


def _children(step: Json) -> list[tuple[str, str, int, int | None, str]]:
    """The rows a step's tool calls became in the child tables, as the orphan_rows check lists them."""
    rows: list[tuple[str, str, int, int | None, str]] = []
    for index, call in enumerate(calls_of(step)):
        rows.append(("tool_calls", step["id"], index, None, "step"))
        outputs = (call["code_interpreter"].get("outputs") or []) if call["type"] == "code_interpreter" else []
        results = (call["file_search"].get("results") or []) if call["type"] == "file_search" else []
        rows += [("code_interpreter_outputs", step["id"], index, i, "step") for i in range(len(outputs))]
        rows += [("file_search_results", step["id"], index, i, "step") for i in range(len(results))]
    return rows


def _has_code_outputs(step: Json) -> bool:
    return any(c["type"] == "code_interpreter" and c["code_interpreter"].get("outputs") for c in calls_of(step))


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_clean_export_passes_every_check(exported: Exported, kind: str) -> None:
    results = sqlrun.run_checks(exported.dest(kind))
    assert [r.name for r in results] == list(sqlfiles.sql_files("checks"))
    assert [(r.name, r.violations) for r in results if not r.passed] == []


def test_step_deleted_leaves_orphans(exported: Exported, tmp_path: Path) -> None:
    step = _first(exported, lambda s: _has_code_outputs(s) and len(calls_of(s)) > 1)
    broken = _broken_duckdb(exported, tmp_path, ("DELETE FROM run_steps WHERE step_id = ?", [step["id"]]))
    assert _broken_rows(broken) == {"orphan_rows": sorted(_children(step), key=lambda r: (r[0], r[1], r[2], r[3] or 0))}


def test_tool_call_deleted_leaves_orphan_outputs_and_a_wrong_count(exported: Exported, tmp_path: Path) -> None:
    step = _first(exported, _has_code_outputs)
    calls = calls_of(step)
    index = next(i for i, c in enumerate(calls) if c["type"] == "code_interpreter" and c["code_interpreter"]["outputs"])
    broken = _broken_duckdb(
        exported,
        tmp_path,
        ("DELETE FROM tool_calls WHERE step_id = ? AND tool_call_index = ?", [step["id"], index]),
    )
    outputs = calls[index]["code_interpreter"]["outputs"]
    assert _broken_rows(broken) == {
        "orphan_rows": [("code_interpreter_outputs", step["id"], index, i, "tool_call") for i in range(len(outputs))],
        "tool_call_count": [(step["id"], "tool_calls", len(calls), len(calls) - 1)],
    }


def test_completed_before_created(exported: Exported, tmp_path: Path) -> None:
    step = _first(exported, lambda s: s["status"] == "completed")
    broken = _broken_duckdb(
        exported,
        tmp_path,
        ("UPDATE run_steps SET completed_at = created_at - INTERVAL 1 SECOND WHERE step_id = ?", [step["id"]]),
    )
    rows = _broken_rows(broken)
    assert list(rows) == ["completed_step_times"]
    ((step_id, run_id, created_at, completed_at),) = rows["completed_step_times"]
    assert (step_id, run_id, int(created_at.timestamp())) == (step["id"], step["run_id"], step["created_at"])
    assert (created_at - completed_at).total_seconds() == 1


def test_wrong_totals(exported: Exported, tmp_path: Path) -> None:
    step = _first(exported, lambda s: s.get("usage") is not None)
    run = next(r for r in exported.runs if r.get("usage") is not None)
    broken = _broken_duckdb(
        exported,
        tmp_path,
        ("UPDATE run_steps SET total_tokens = total_tokens + 1 WHERE step_id = ?", [step["id"]]),
        ("UPDATE runs SET total_tokens = NULL WHERE run_id = ?", [run["id"]]),
    )
    usage, run_usage = step["usage"], run["usage"]
    assert _broken_rows(broken) == {
        "token_totals": [
            ("run_steps", step["id"], usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"] + 1),
            ("runs", run["id"], run_usage["prompt_tokens"], run_usage["completion_tokens"], None),
        ]
    }


def test_message_creation_without_message_id(exported: Exported, tmp_path: Path) -> None:
    step = _first(exported, lambda s: s["type"] == "message_creation")
    broken = _broken_duckdb(
        exported, tmp_path, ("UPDATE run_steps SET message_id = NULL WHERE step_id = ?", [step["id"]])
    )
    assert _broken_rows(broken) == {"message_creation_message_id": [(step["id"], step["run_id"], step["status"], None)]}


def test_tool_call_count_off(exported: Exported, tmp_path: Path) -> None:
    step = _first(exported, lambda s: len(calls_of(s)) > 0)
    broken = _broken_duckdb(
        exported, tmp_path, ("UPDATE run_steps SET tool_call_count = 0 WHERE step_id = ?", [step["id"]])
    )
    assert _broken_rows(broken) == {"tool_call_count": [(step["id"], "tool_calls", 0, len(calls_of(step)))]}


def _parquet_copy(exported: Exported, tmp_path: Path) -> Path:
    root = tmp_path / "parquet"
    shutil.copytree(exported.parquet, root)
    return root


def test_parquet_file_copied_twice_duplicates_keys(exported: Exported, tmp_path: Path) -> None:
    root = _parquet_copy(exported, tmp_path)
    original = sorted((root / "run_steps").glob("*/*.parquet"))[0]
    shutil.copy(original, original.with_name("copy-" + original.name))
    step_ids = sorted(pq.read_table(original).column("step_id").to_pylist())
    assert step_ids
    assert _broken_rows(root) == {"duplicate_keys": [("run_steps", step_id, 2) for step_id in step_ids]}


def test_parquet_steps_file_lost_leaves_orphans(exported: Exported, tmp_path: Path) -> None:
    root = _parquet_copy(exported, tmp_path)
    files = sorted((root / "run_steps").glob("*/*.parquet"))
    lost = next(f for f in files if any(_children(s) for s in _steps_in(exported, f)))
    expected = sorted(
        (row for step in _steps_in(exported, lost) for row in _children(step)),
        key=lambda r: (r[0], r[1], r[2], r[3] or 0),
    )
    lost.unlink()
    assert _broken_rows(root) == {"orphan_rows": expected}


def _steps_in(exported: Exported, path: Path) -> list[Json]:
    ids = set(pq.read_table(path).column("step_id").to_pylist())
    return [step for step in exported.steps if step["id"] in ids]


def test_check_names_can_be_chosen_and_unknown_ones_are_refused(exported: Exported) -> None:
    results = sqlrun.run_checks(exported.dest("duckdb"), ["token_totals"])
    assert [(r.name, r.passed) for r in results] == [("token_totals", True)]
    with pytest.raises(InputError, match="no check named 'nope'"):
        sqlrun.run_checks(exported.dest("duckdb"), ["nope"])


def test_duplicate_keys_covers_the_entity_and_responses_tables_too(tmp_path: Path) -> None:
    """It named only the run-step tables: a copied responses part passed every check (and doubled era_daily)."""
    at = datetime(2026, 3, 1, tzinfo=UTC)
    batch = Batch()
    batch.add("threads", {"id": "thread_1", "object": "thread", "created_at": 1772323200}, at)
    batch.add("assistants", {"id": "asst_1", "object": "assistant", "created_at": 1772323200, "name": "A"}, at)
    output = [{"id": "msg_1", "type": "message", "content": "hi"}]
    response = {"id": "resp_1", "object": "response", "created_at": 1772323200, "status": "completed",
                "conversation": {"id": "conv_1"}, "output": output}  # fmt: skip
    batch.add_unit("responses", "resp_1", response, at, owner="conv_1", count=1)
    dest = tmp_path / "x.duckdb"
    with open_destination(str(dest)) as opened:
        write_batch(opened, batch)
    assert _broken_rows(dest) == {}
    with duckdb.connect(str(dest)) as con:
        for table in ("threads", "assistants", "responses", "response_items"):
            con.execute(f"INSERT INTO {table} SELECT * FROM {table}")
    assert _broken_rows(dest) == {
        "duplicate_keys": [
            ("assistants", "asst_1", 2), ("response_items", "resp_1/output/0", 2), ("responses", "resp_1", 2),
            ("threads", "thread_1", 2),
        ]
    }  # fmt: skip
