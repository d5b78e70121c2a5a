"""The tail of an export (issue 16): assistants fetched as soon as a run names them, batches written early."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
from click.testing import CliRunner

from etl.cli import cli
from etl.fakeapi import FakeConfig, serve_in_thread
from etl.load.batch import Batch
from etl.pipeline import ExportOptions, _due

KEY = "sk-test-assistants-early-0123"


def test_each_named_assistant_is_fetched_once_while_runs_are_still_fetched(tmp_path: Path) -> None:
    dest = str(tmp_path / "out.duckdb")
    config = FakeConfig.small(api_key=KEY, long_output_bytes=0, latency_ms=5)
    with serve_in_thread(config) as fake:
        threads = [arg for thread_id in fake.dataset.thread_ids for arg in ("--thread", thread_id)]
        result = CliRunner().invoke(
            cli,
            ["export", *threads, "--dest", dest, "--base-url", fake.base_url, "--no-progress", "--concurrency", "2"],
            env={"OPENAI_API_KEY": KEY},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        kinds = [record.kind for record in fake.log.records]
        named = {run["assistant_id"] for run in fake.truth.runs}
    assert kinds.count("assistant_get") == len(named)
    # The first assistant went out before the last page of steps: it did not wait for the end of the runs.
    last_steps = len(kinds) - 1 - kinds[::-1].index("steps_list")
    assert kinds.index("assistant_get") < last_steps
    with duckdb.connect(dest, read_only=True) as con:
        stored = {row[0] for row in con.execute("SELECT assistant_id FROM assistants").fetchall()}
    assert stored == named


def _batch(steps: int, runs: int) -> Batch:
    batch = Batch()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    per_run = steps // runs
    for r in range(runs):
        run_steps = [{"id": f"step_{r}_{s}"} for s in range(per_run)]
        batch.add_run("thread_1", f"run_{r}", {"id": f"run_{r}"}, run_steps, at)
    return batch


def test_a_batch_is_due_when_full_or_when_the_writer_idles_and_it_holds_a_quarter() -> None:
    options = ExportOptions(dest="x.duckdb", batch_steps=4_000, batch_runs=400)
    assert _due(_batch(4_000, 10), options, idle=False)  # full: always
    assert _due(_batch(400, 400), options, idle=False)  # full by runs
    assert _due(_batch(1_000, 10), options, idle=True)  # a quarter, and nothing is being written
    assert not _due(_batch(1_000, 10), options, idle=False)  # a quarter while a batch is being written
    assert not _due(_batch(990, 10), options, idle=True)  # less than a quarter
    assert _due(_batch(100, 100), options, idle=True)  # a quarter of the runs
