"""``runsteps backfill``: a long window in chunks, each recorded; a rerun continues where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from expected import assert_tables_equal, expected_tables

from etl.backfill import chunks, parse_chunk
from etl.errors import InputError
from etl.fakeapi import FakeConfig, serve_in_thread

KEY = "sk-test-backfill-0123456789abc"


def test_chunks_cover_the_window_exactly() -> None:
    day = 86400
    window = chunks(0, 10 * day + 3600, parse_chunk("3d"))
    assert [(c.start, c.end) for c in window] == [
        (0, 3 * day),
        (3 * day, 6 * day),
        (6 * day, 9 * day),
        (9 * day, 10 * day + 3600),
    ]
    assert window[0].label == "1970-01-01T00:00:00Z/1970-01-04T00:00:00Z"
    assert parse_chunk("12h") == 43200 and parse_chunk("1w") == 7 * day and parse_chunk("30m") == 1800
    for bad in ("0d", "1y", "d", "-1d"):
        with pytest.raises(InputError):
            parse_chunk(bad)


def backfill_command(base_url: str, threads_file: Path, dest: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "etl",
        "backfill",
        "--threads-file",
        str(threads_file),
        "--since",
        "2026-01-01",
        "--until",
        "2026-01-11",
        "--chunk",
        "2d",
        "--dest",
        dest,
        "--base-url",
        base_url,
        "--no-progress",
        "--metrics-json",
        "--concurrency",
        "2",
    ]


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_backfill_resumes_after_an_interruption(tmp_path: Path, kind: str) -> None:
    dest = str(tmp_path / ("out.duckdb" if kind == "duckdb" else "out"))
    config = FakeConfig.small(threads=3, runs_per_thread=12, api_key=KEY, long_output_bytes=0, days=10, latency_ms=40)
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    with serve_in_thread(config) as fake:
        threads_file = tmp_path / "threads.txt"
        fake.dataset.write_threads(threads_file)
        command = backfill_command(fake.base_url, threads_file, dest)
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert first.stderr is not None
        for line in first.stderr:
            if line.startswith("chunk 3/5"):  # chunks 1 and 2 are finished and recorded
                first.send_signal(signal.SIGKILL)
                break
        first.wait(timeout=60)
        assert first.returncode == -signal.SIGKILL

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        figures = json.loads(second.stdout.strip().splitlines()[-1])
        assert figures["chunks_total"] == 5 and figures["chunks_done"] == 5
        assert 2 <= figures["chunks_skipped"] < 5
        assert f"chunk {figures['chunks_skipped'] + 1}/5 ({figures['chunks_skipped']} done" in second.stderr

        truth = fake.truth
        start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
        end = int(datetime(2026, 1, 11, tzinfo=UTC).timestamp())
        runs = [r for r in truth.runs if start <= r["created_at"] < end]
        assert len(runs) < len(truth.runs) or config.days <= 10
        ids = {r["id"] for r in runs}
        assert_tables_equal(dest, expected_tables(runs, [s for s in truth.steps if s["run_id"] in ids], content=False))

        # Run again: every chunk is recorded, so nothing is listed or fetched.
        fake.reset_counters()
        third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert third.returncode == 0, third.stderr
        assert json.loads(third.stdout.strip().splitlines()[-1])["chunks_skipped"] == 5
        assert sum(fake.counters.values()) == 0
