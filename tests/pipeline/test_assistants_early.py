"""Assistants that nothing lists are fetched as soon as a run names them, not after the last run (issue 16)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from click.testing import CliRunner

from etl.cli import cli
from etl.fakeapi import FakeConfig, serve_in_thread

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
