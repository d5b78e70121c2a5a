"""Kill the export with SIGKILL at many moments, then rerun: the destination must end equal to the truth.

Each destination is killed at 10 moments while an export runs, spread over it (fetching, transforming, writing, between
data and state). After every kill the destination must be readable with each key at most once (no half-written
file is visible; the DuckDB file opens). After the kills, one more export completes the work and the tables
equal the fake's ground truth exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from expected import actual_tables, assert_tables_equal, expected_tables, export_command

from etl.fakeapi import FakeConfig, serve_in_thread

KEY = "sk-test-crash-0123456789abcdef"
KILLS = 20  # moments spread over the export; tests/load/test_parquet_crash.py kills at every named write point besides


def start_export(base_url: str, threads_file: Path, dest: str, *extra: str) -> subprocess.Popen[bytes]:
    command = export_command(base_url, threads_file, dest, "--concurrency", "8", "--batch-steps", "150", *extra)
    return subprocess.Popen(
        command, env={**os.environ, "OPENAI_API_KEY": KEY}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def assert_consistent(dest: str) -> None:
    """Whatever a kill left: every visible file reads whole, and no key appears twice."""
    if not dest.endswith(".duckdb"):
        for path in Path(dest).glob("*/*/*.parquet"):
            pq.read_table(path)  # raises on a truncated or half-written file
    actual_tables(dest)  # opens the DuckDB file / reads the Parquet tables; asserts keys are unique


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_sigkill_at_many_points_then_rerun_equals_truth(tmp_path: Path, kind: str) -> None:
    dest = str(tmp_path / ("out.duckdb" if kind == "duckdb" else "out"))
    config = FakeConfig(
        seed=7,
        threads=6,
        runs_per_thread=20,
        steps_per_run="1-20",
        boundary_sizes=(0, 101),
        long_output_bytes=0,
        api_key=KEY,
        latency_ms=10,
    )
    with serve_in_thread(config) as fake:
        threads_file = tmp_path / "threads.txt"
        fake.dataset.write_threads(threads_file)
        # The first export also makes the fake generate its data; time a second, warm one to spread the kills over.
        first = start_export(fake.base_url, threads_file, dest)
        assert first.wait(timeout=300) == 0, first.stderr.read().decode() if first.stderr else ""
        began = time.monotonic()
        warm = start_export(fake.base_url, threads_file, dest, "--refresh")
        assert warm.wait(timeout=300) == 0, warm.stderr.read().decode() if warm.stderr else ""
        duration = time.monotonic() - began
        # Kill at KILLS moments spread over the export. A kill that comes after the export already finished does
        # not count: the estimate of how long an export takes shrinks to what was seen, and that moment is retried.
        misses = 0
        for i in range(KILLS):
            while True:
                proc = start_export(fake.base_url, threads_file, dest, "--refresh")
                began = time.monotonic()
                time.sleep(duration * (i + 0.5) / KILLS)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=60)
                    break
                duration = min(duration, time.monotonic() - began) * 0.9
                misses += 1
                assert misses <= KILLS, "exports finish too fast to be killed while running"
            assert_consistent(dest)
        # One more kill mid-way, then resume without --refresh: only what is left is done.
        proc = start_export(fake.base_url, threads_file, dest, "--refresh")
        time.sleep(duration / 2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        resumed = start_export(fake.base_url, threads_file, dest)
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode() if resumed.stderr else ""
        truth = fake.truth
        assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_stops_an_export_as_ctrl_c_does_and_a_rerun_completes_it(tmp_path: Path, sent: int) -> None:
    """SIGTERM (systemd, Kubernetes, ``timeout``) killed the process outright; now, like Ctrl-C, the batch being
    written lands whole or not at all, one line says the finished batches are kept, exit 130."""
    dest = str(tmp_path / "out.duckdb")
    config = FakeConfig(seed=3, threads=4, runs_per_thread=25, steps_per_run="1-10", boundary_sizes=(),
                        long_output_bytes=0, api_key=KEY, latency_ms=60)  # fmt: skip
    with serve_in_thread(config) as fake:
        threads_file = tmp_path / "threads.txt"
        fake.dataset.write_threads(threads_file)
        proc = start_export(fake.base_url, threads_file, dest, "--concurrency", "2", "--batch-steps", "50")
        time.sleep(2.0)
        assert proc.poll() is None, "the export ended before it could be stopped"
        proc.send_signal(sent)
        assert proc.wait(timeout=60) == 130
        assert proc.stderr is not None
        lines = proc.stderr.read().decode().strip().splitlines()
        assert lines[-1] == "error: interrupted: finished batches are kept; run the same command again to go on"
        assert "Traceback" not in "\n".join(lines)
        assert_consistent(dest)
        resumed = start_export(fake.base_url, threads_file, dest)
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode() if resumed.stderr else ""
        assert_tables_equal(dest, expected_tables(fake.truth.runs, fake.truth.steps, content=False))
