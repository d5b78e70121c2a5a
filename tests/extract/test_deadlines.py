"""--deadline bounds a whole export (and backfill): it stops in time with exit 3, keeps every batch it wrote, and
the next run without a deadline exports the rest."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from expected import actual_tables

from etl.cli import cli
from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread

KEY = "sk-deadline-test-0123456789"


@pytest.fixture(scope="module")
def slow_fake() -> Any:
    # 30 runs at 0.3 s a request, two at a time: about 5 s for everything, so a 2.5 s deadline stops midway.
    config = FakeConfig.small(api_key=KEY, threads=5, runs_per_thread=6, latency_ms=300, boundary_sizes=())
    with serve_in_thread(config) as fake:
        yield fake


def run(command: str, fake: FakeServer, dest: Path, *args: str) -> Result:
    threads = [arg for thread in fake.dataset.thread_ids for arg in ("--thread", thread)]
    base = [command, *threads, "--base-url", fake.base_url, "--dest", str(dest), "--no-progress", "--metrics-json"]
    if command == "export":
        base += ["--batch-steps", "1"]  # every run its own batch: the deadline finds some landed
    return CliRunner().invoke(cli, [*base, "--concurrency", "2", *args], env={"OPENAI_API_KEY": KEY})


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_export_stops_at_its_deadline_and_keeps_what_it_wrote(slow_fake: FakeServer, tmp_path: Path, kind: str) -> None:
    dest = tmp_path / ("out.duckdb" if kind == "duckdb" else "out")
    started = time.monotonic()
    stopped = run("export", slow_fake, dest, "--deadline", "2.5")
    elapsed = time.monotonic() - started
    assert stopped.exit_code == 3, stopped.output
    assert "--deadline of 2.5 s reached" in stopped.stderr
    assert elapsed < 12, f"a 2.5 s deadline took {elapsed:.1f} s"  # loose: writes after it still land
    metrics = json.loads(stopped.stdout.strip().splitlines()[-1])
    truth = slow_fake.truth
    assert 0 < metrics["runs_ok"] < len(truth.runs)
    kept = actual_tables(str(dest))
    assert len(kept["runs"]) == metrics["runs_ok"]
    assert len(kept["run_steps"]) == metrics["steps"]

    finished = run("export", slow_fake, dest)
    assert finished.exit_code == 0, finished.output
    tables = actual_tables(str(dest))
    assert len(tables["runs"]) == len(truth.runs)
    assert len(tables["run_steps"]) == len(truth.steps)


def test_backfill_deadline_bounds_the_whole_backfill(slow_fake: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "out.duckdb"
    window = ("--since", "2026-01-01", "--until", "2026-01-13", "--chunk", "3d")
    started = time.monotonic()
    stopped = run("backfill", slow_fake, dest, *window, "--deadline", "1")
    assert stopped.exit_code == 3, stopped.output
    assert "--deadline of" in stopped.stderr
    assert time.monotonic() - started < 10
    resumed = run("backfill", slow_fake, dest, *window)
    assert resumed.exit_code == 0, resumed.output
    until = int(datetime(2026, 1, 13, tzinfo=UTC).timestamp())
    runs = {r["id"] for r in slow_fake.truth.runs if r["created_at"] < until}
    expected = [s for s in slow_fake.truth.steps if s["run_id"] in runs]
    assert expected and len(actual_tables(str(dest))["run_steps"]) == len(expected)
