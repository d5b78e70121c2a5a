"""Two exports at one destination: shards write side by side; overlapping writers are refused, never lost."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from expected import actual_tables, assert_tables_equal, expected_tables, export_command

from etl.fakeapi import FakeConfig, serve_in_thread
from etl.sharding import Shard

KEY = "sk-test-concurrent-0123456789ab"


def command(base_url: str, threads_file: Path, dest: str, *extra: str) -> list[str]:
    return export_command(base_url, threads_file, dest, "--metrics-json", *extra)


def run_together(commands: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    done = []
    for proc, cmd in zip(procs, commands, strict=True):
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return done


@pytest.mark.parametrize("kind", ["parquet", "duckdb"])
def test_shards_together_equal_the_truth(tmp_path: Path, kind: str) -> None:
    config = FakeConfig.small(threads=4, runs_per_thread=10, api_key=KEY, long_output_bytes=0, latency_ms=5)
    with serve_in_thread(config) as fake:
        threads_file = tmp_path / "threads.txt"
        fake.dataset.write_threads(threads_file)
        if kind == "parquet":
            dest = str(tmp_path / "out")
            results = run_together([command(fake.base_url, threads_file, dest, "--shard", f"{i}/3") for i in range(3)])
        else:
            # One DuckDB file has one writer at a time: shards run one after another.
            dest = str(tmp_path / "out.duckdb")
            results = [
                run_together([command(fake.base_url, threads_file, dest, "--shard", f"{i}/3")])[0] for i in range(3)
            ]
        for result in results:
            assert result.returncode == 0, result.stderr
        runs_per_shard = [json.loads(r.stdout.strip().splitlines()[-1])["runs_ok"] for r in results]
        truth = fake.truth
        assert runs_per_shard == [sum(Shard(i, 3).owns(r["id"]) for r in truth.runs) for i in range(3)]
        assert all(runs_per_shard)
        assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))


@pytest.mark.parametrize("kind", ["parquet", "duckdb"])
def test_a_second_overlapping_writer_stops_before_writing(tmp_path: Path, kind: str) -> None:
    # A slow fake keeps the first export writing while the second one starts.
    config = FakeConfig.small(threads=3, runs_per_thread=10, api_key=KEY, long_output_bytes=0, latency_ms=150)
    with serve_in_thread(config) as fake:
        threads_file = tmp_path / "threads.txt"
        fake.dataset.write_threads(threads_file)
        dest = str(tmp_path / ("out.duckdb" if kind == "duckdb" else "out"))
        env = {**os.environ, "OPENAI_API_KEY": KEY}
        first = subprocess.Popen(
            command(fake.base_url, threads_file, dest, "--concurrency", "2"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2.5)  # the first export has opened the destination and is fetching
        assert first.poll() is None, "the first export finished before the second one started"
        second = subprocess.run(
            command(fake.base_url, threads_file, dest, "--shard", "1/2"),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr
        message = second.stderr.strip().splitlines()[-1]
        assert message.startswith("error:") and ("busy" in message or "another" in message or "lock" in message)
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        truth = fake.truth
        assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))
        assert len(actual_tables(dest)["runs"]) == len(truth.runs)
