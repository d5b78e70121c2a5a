"""Incremental exports: state kept with the destination decides what is fetched again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from expected import assert_tables_equal, expected_tables

from etl.cli import cli
from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread
from etl.load.base import TERMINAL_RUN_STATUSES

KEY = "sk-test-incremental-0123456789"


def export(fake: FakeServer, dest: str, *args: str) -> dict[str, Any]:
    threads = [arg for tid in fake.dataset.thread_ids for arg in ("--thread", tid)]
    result = CliRunner().invoke(
        cli,
        ["export", *threads, "--dest", dest, "--base-url", fake.base_url, "--no-progress", "--metrics-json", *args],
        env={"OPENAI_API_KEY": KEY},
        catch_exceptions=False,
    )
    assert result.exit_code in (0, 3), result.output
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def step_pages(fake: FakeServer) -> int:
    return fake.log.count("steps_list")


def dest_of(tmp_path: Path, kind: str) -> str:
    return str(tmp_path / ("out.duckdb" if kind == "duckdb" else "out"))


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_second_export_with_nothing_new_makes_no_step_request(tmp_path: Path, kind: str) -> None:
    dest = dest_of(tmp_path, kind)
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=0)) as fake:
        first = export(fake, dest)
        assert first["runs_ok"] == len(fake.truth.runs)
        active = [
            r for r in fake.truth.runs if r["status"] in ("queued", "in_progress", "requires_action", "cancelling")
        ]
        fake.reset_counters()
        second = export(fake, dest)
        # Only runs that were still active are looked at again; finished ones cost no step request at all
        # (discovery starts at each thread's watermark, and runs listed there are skipped by their state).
        assert second["runs_ok"] == len(active)
        assert second["runs_skipped"] <= len(fake.truth.runs) - len(active)
        assert step_pages(fake) == len(active)
        assert fake.log.count("run_get") == len(active)


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_new_runs_and_finished_active_runs_are_picked_up(tmp_path: Path, kind: str) -> None:
    dest = dest_of(tmp_path, kind)
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=0)) as fake:
        export(fake, dest)
        thread = fake.dataset.thread_ids[0]
        active = [r for r in fake.truth.runs if r["status"] not in TERMINAL_RUN_STATUSES]
        for run in active:
            fake.dataset.set_run_status(run["thread_id"], run["id"], "completed")
        added = fake.dataset.add_run(thread, n_steps=4)
        fake.reset_counters()
        figures = export(fake, dest)
        assert figures["runs_ok"] == len(active) + 1
        assert step_pages(fake) == len(active) + 1
        truth = fake.truth
        assert added["id"] in {r["id"] for r in truth.runs}
        assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))
        fake.reset_counters()
        third = export(fake, dest)
        assert third["runs_ok"] == 0 and step_pages(fake) == 0


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_an_export_since_a_day_hides_no_older_run_from_the_exports_after_it(tmp_path: Path, kind: str) -> None:
    """A watermark says every run up to it was listed: an export with --since listed none before that day, so its
    threads' marks must not move (a later full export stopped at them and left the older runs out, exit 0)."""
    dest = dest_of(tmp_path, kind)
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=0)) as fake:
        created = sorted(run["created_at"] for run in fake.truth.runs)
        middle = created[len(created) // 2]
        recent = export(fake, dest, "--since", datetime.fromtimestamp(middle, UTC).isoformat())
        assert recent["runs_ok"] == sum(moment >= middle for moment in created) < len(created)
        export(fake, dest)
        assert_tables_equal(dest, expected_tables(fake.truth.runs, fake.truth.steps, content=False))
        # Listed whole now, the threads have marks: an export since an earlier day starts at them, as one without.
        active = [r for r in fake.truth.runs if r["status"] not in TERMINAL_RUN_STATUSES]
        fake.reset_counters()
        assert export(fake, dest, "--since", "2020-01-01")["runs_ok"] == len(active) == step_pages(fake)


def test_refresh_fetches_everything_again(tmp_path: Path) -> None:
    dest = dest_of(tmp_path, "duckdb")
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=0)) as fake:
        export(fake, dest)
        fake.reset_counters()
        figures = export(fake, dest, "--refresh")
        assert figures["runs_ok"] == len(fake.truth.runs) and figures["runs_skipped"] == 0
        assert step_pages(fake) >= len(fake.truth.runs)


def test_a_failed_run_is_retried_next_time_until_it_succeeds(tmp_path: Path) -> None:
    dest = dest_of(tmp_path, "duckdb")
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=0)) as fake:
        thread = fake.dataset.thread_ids[0]
        run_id = fake.dataset.run_ids(thread)[0]
        args = ["--run", f"{thread}/{run_id}"]
        fake.reconfigure(fault_rate=1.0, fault_kinds=("500",), fault_max_consecutive=100)
        result = CliRunner().invoke(
            cli,
            ["export", *args, "--dest", dest, "--base-url", fake.base_url, "--max-retries", "1", "--no-progress"],
            env={"OPENAI_API_KEY": KEY},
        )
        assert result.exit_code == 3, result.output
        status = json.loads(CliRunner().invoke(cli, ["status", "--dest", dest, "--json"]).stdout)
        assert [f["run_id"] for f in status["failed_runs"]] == [run_id]
        fake.reconfigure(fault_rate=0.0)
        result = CliRunner().invoke(
            cli,
            ["export", *args, "--dest", dest, "--base-url", fake.base_url, "--no-progress"],
            env={"OPENAI_API_KEY": KEY},
        )
        assert result.exit_code == 0, result.output
        status = json.loads(CliRunner().invoke(cli, ["status", "--dest", dest, "--json"]).stdout)
        assert status["failed_runs"] == []
        assert status["runs"] == 1
