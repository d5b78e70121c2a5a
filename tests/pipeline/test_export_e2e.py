"""``runsteps export`` end to end against the fake API on 127.0.0.1, into both kinds of destination."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from expected import actual_tables, assert_tables_equal, expected_tables

from etl.cli import cli
from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread

KEY = "sk-test-e2e-0123456789abcdef"


@pytest.fixture(scope="module")
def fake() -> Any:
    config = FakeConfig.small(
        threads=3,
        runs_per_thread=6,
        steps_per_run="0-8",
        future_variants=True,
        api_key=KEY,
        boundary_sizes=(0, 1, 101),
        long_output_bytes=200_000,
    )
    with serve_in_thread(config) as server:
        yield server


def export(fake: FakeServer, dest: str, *args: str, key: str = KEY) -> Any:
    """Run ``runsteps export`` in-process over every thread of the fake."""
    runner = CliRunner()
    threads = [arg for tid in fake.dataset.thread_ids for arg in ("--thread", tid)]
    return runner.invoke(
        cli,
        ["export", *threads, "--dest", dest, "--base-url", fake.base_url, "--no-progress", "--metrics-json", *args],
        env={"OPENAI_API_KEY": key},
        catch_exceptions=False,
    )


def metrics(output: str) -> dict[str, Any]:
    """The --metrics-json object: the last stdout line."""
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_every_table_equals_the_truth_field_by_field(fake: FakeServer, tmp_path: Path, kind: str) -> None:
    dest = str(tmp_path / ("out.duckdb" if kind == "duckdb" else "out"))
    result = export(fake, dest, "--include-file-search-content")
    assert result.exit_code == 0, result.output
    truth = fake.truth
    expected = expected_tables(truth.runs, truth.steps_with_content, content=True)
    assert_tables_equal(dest, expected)
    figures = metrics(result.stdout)
    assert figures["runs_ok"] == len(truth.runs)
    assert figures["steps"] == len(truth.steps)
    assert figures["rows"]["tool_calls"] == len(expected["tool_calls"])
    # --future-variants: one unknown step type and one unknown tool call type, each counted as drift
    unknown_steps = [s for s in truth.steps if s["type"] not in ("message_creation", "tool_calls")]
    assert unknown_steps and figures["schema_drift"] >= len(unknown_steps)
    kinds = figures["schema_drift_kinds"]
    assert kinds[f"step_type:{unknown_steps[0]['type']}"] == len(unknown_steps)
    assert any(kind.startswith("tool_call_type:") for kind in kinds)
    assert figures["unknown_fields"], "the future variants' extra fields are named in the summary"


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_reexport_changes_no_row_and_a_changed_step_is_replaced(tmp_path: Path, kind: str) -> None:
    dest = str(tmp_path / ("out.duckdb" if kind == "duckdb" else "out"))
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=0)) as fake:
        assert export(fake, dest).exit_code == 0
        before = {name: len(rows) for name, rows in actual_tables(dest).items()}
        again = export(fake, dest, "--refresh")
        assert again.exit_code == 0, again.output
        assert metrics(again.stdout)["runs_ok"] == len(fake.truth.runs)
        assert {name: len(rows) for name, rows in actual_tables(dest).items()} == before

        # The fake now serves a step with one tool call fewer and another status: a re-export replaces it.
        step = next(s for s in fake.truth.steps_with_content if len(s["step_details"].get("tool_calls") or []) >= 2)
        changed = json.loads(json.dumps(step))
        dropped = changed["step_details"]["tool_calls"].pop()
        changed["status"] = "cancelled"
        fake.dataset.replace_step(changed)
        assert export(fake, dest, "--refresh").exit_code == 0
        after = actual_tables(dest)
        assert after["run_steps"][(step["id"],)]["status"] == "cancelled"
        assert after["run_steps"][(step["id"],)]["tool_call_count"] == len(changed["step_details"]["tool_calls"])
        gone = len(changed["step_details"]["tool_calls"])
        assert (step["id"], gone) not in after["tool_calls"]
        assert len(after["tool_calls"]) == before["tool_calls"] - 1
        if dropped["type"] == "code_interpreter":
            assert not [k for k in after["code_interpreter_outputs"] if k[:2] == (step["id"], gone)]
        truth = fake.truth
        assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))


def test_wrong_key_exits_4_and_never_shows_the_key(fake: FakeServer, tmp_path: Path) -> None:
    wrong = "sk-wrong-key-abcdefghijklmnop1234"
    result = export(fake, str(tmp_path / "out.duckdb"), key=wrong)
    assert result.exit_code == 4
    assert "401" in result.output and "invalid_api_key" in result.output
    assert wrong not in result.output and wrong[8:] not in result.output


def test_unknown_run_is_partial_exit_3_named_and_recorded(fake: FakeServer, tmp_path: Path) -> None:
    dest = str(tmp_path / "out.duckdb")
    thread = fake.dataset.thread_ids[0]
    good = fake.dataset.run_ids(thread)[0]
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "export",
            "--run",
            f"{thread}/{good}",
            "--run",
            f"{thread}/run_doesnotexist",
            "--dest",
            dest,
            "--base-url",
            fake.base_url,
            "--no-progress",
            "--metrics-json",
        ],
        env={"OPENAI_API_KEY": KEY},
    )
    assert result.exit_code == 3, result.output
    assert f"FAILED {thread}/run_doesnotexist" in result.output and "404" in result.output
    figures = metrics(result.stdout)
    assert figures["runs_ok"] == 1 and figures["runs_failed"] == 1
    status = runner.invoke(cli, ["status", "--dest", dest, "--json"])
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert [f["run_id"] for f in report["failed_runs"]] == ["run_doesnotexist"]
    assert "404" in report["failed_runs"][0]["reason"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "thread_a/../x"], "run"),
        (["--run", "a/b/c"], "run"),
        (["--run", "nothread"], "THREAD_ID/RUN_ID"),
        (["--thread", "t_1", "--since", "yesterday"], "ISO-8601"),
        (["--thread", "t_1", "--shard", "3/2"], "shard"),
        ([], "nothing to export"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    dest = tmp_path / "out.duckdb"
    result = CliRunner().invoke(
        cli,
        ["export", *args, "--dest", str(dest), "--base-url", "http://127.0.0.1:9/v1"],
        env={"OPENAI_API_KEY": KEY},
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not dest.exists()


def test_dry_run_lists_runs_and_writes_nothing(fake: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "out.duckdb"
    result = export(fake, str(dest), "--dry-run")
    assert result.exit_code == 0, result.output
    listed = [line for line in result.stdout.splitlines() if "/" in line and not line.startswith("{")]
    want = {f"{r['thread_id']}/{r['id']}" for r in fake.truth.runs}
    assert set(listed) == want and len(listed) == len(want)
    assert not dest.exists()


def test_real_subprocess_prints_metrics_json_last(fake: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    threads = tmp_path / "threads.txt"
    fake.dataset.write_threads(threads)
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "etl",
            "export",
            "--threads-file",
            str(threads),
            "--dest",
            str(dest),
            "--base-url",
            fake.base_url,
            "--log-format",
            "json",
            "--metrics-json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["runs_ok"] == len(fake.truth.runs) and figures["exit_code"] == 0
    assert KEY not in proc.stdout + proc.stderr
    truth = fake.truth
    assert_tables_equal(str(dest), expected_tables(truth.runs, truth.steps, content=False))
