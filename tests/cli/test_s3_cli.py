# ruff: noqa: F811  (pytest fixtures imported from parquet_support are used as parameters)
"""The command line on an object-store destination (a real moto S3 server on 127.0.0.1): export, re-export,
status, SQL, backfill and crash-and-resume pass the same checks as on a local root; a bad store writes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from expected import actual_tables, assert_tables_equal, expected_tables, export_command
from parquet_support import S3, free_port, moto_server, s3  # noqa: F401

from etl.cli import cli
from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread

KEY = "sk-test-s3cli-0123456789abcdef"


@pytest.fixture
def fake() -> Any:
    with serve_in_thread(FakeConfig.small(threads=3, runs_per_thread=6, api_key=KEY, long_output_bytes=0)) as server:
        yield server


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"OPENAI_API_KEY": KEY})


def export_args(fake: FakeServer, dest: str, s3: S3) -> list[str]:
    threads = [arg for tid in fake.dataset.thread_ids for arg in ("--thread", tid)]
    return [
        "export",
        *threads,
        "--dest",
        dest,
        "--base-url",
        fake.base_url,
        "--s3-endpoint-url",
        s3.endpoint,
        "--no-progress",
        "--metrics-json",
    ]


def objects(s3: S3, prefix: str) -> list[str]:
    from pyarrow import fs as pafs

    try:
        infos = s3.fs.get_file_info(pafs.FileSelector(f"{s3.bucket}/{prefix}", recursive=True))
    except FileNotFoundError:
        return []
    return [i.path for i in infos if i.type == pafs.FileType.File]


def test_export_reexport_status_and_sql_on_s3(fake: FakeServer, s3: S3) -> None:
    dest = s3.uri("lake")
    first = invoke(*export_args(fake, dest, s3))
    assert first.exit_code == 0, first.output
    truth = fake.truth
    assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))
    assert any("/run_steps/created_date=" in path for path in objects(s3, "lake"))
    counts = {name: len(rows) for name, rows in actual_tables(dest).items()}

    again = invoke(*export_args(fake, dest, s3), "--refresh")
    assert again.exit_code == 0, again.output
    assert {name: len(rows) for name, rows in actual_tables(dest).items()} == counts

    status = invoke("status", "--dest", dest, "--json")
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert report["runs"] == len(truth.runs) and report["failed_runs"] == []
    assert report["steps"] == len(truth.steps)
    assert set(report["watermarks"]) == set(fake.dataset.thread_ids)

    query = invoke("sql", "query", "SELECT count(*) AS n FROM run_steps", "--dest", dest, "--format", "json")
    assert query.exit_code == 0, query.output
    assert json.loads(query.stdout) == [{"n": len(truth.steps)}]
    checks = invoke("sql", "check", "--dest", dest)
    assert checks.exit_code == 0, checks.output
    everything = "".join(r.output for r in (first, again, status, query, checks))
    assert "test-secret-key-never-shown" not in everything and KEY not in everything


def test_backfill_on_s3_resumes_from_its_recorded_chunks(fake: FakeServer, s3: S3) -> None:
    dest = s3.uri("backfill")
    threads = [arg for tid in fake.dataset.thread_ids for arg in ("--thread", tid)]
    args = [
        "backfill",
        *threads,
        "--since",
        "2026-01-01",
        "--until",
        "2026-01-31",
        "--chunk",
        "10d",
        "--dest",
        dest,
        "--base-url",
        fake.base_url,
        "--no-progress",
        "--metrics-json",
    ]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout.strip().splitlines()[-1])["chunks_done"] == 3
    fake.reset_counters()
    second = invoke(*args)
    assert json.loads(second.stdout.strip().splitlines()[-1])["chunks_skipped"] == 3
    assert sum(fake.counters.values()) == 0
    truth = fake.truth
    assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))


def test_sigkill_mid_export_to_s3_then_rerun(tmp_path: Path, s3: S3) -> None:
    dest = s3.uri("crash")
    config = FakeConfig(
        seed=3,
        threads=4,
        runs_per_thread=15,
        steps_per_run="1-20",
        boundary_sizes=(),
        long_output_bytes=0,
        api_key=KEY,
        latency_ms=20,
    )
    with serve_in_thread(config) as fake:
        threads_file = tmp_path / "threads.txt"
        fake.dataset.write_threads(threads_file)
        command = export_command(fake.base_url, threads_file, dest, "--concurrency", "4", "--batch-steps", "100")
        env = {**os.environ, "OPENAI_API_KEY": KEY}
        for delay in (1.0, 2.0, 3.0):
            proc = subprocess.Popen([*command, "--refresh"], env=env, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            if objects(s3, "crash/run_steps"):
                actual_tables(dest)  # readable, each key at most once
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        truth = fake.truth
        assert_tables_equal(dest, expected_tables(truth.runs, truth.steps, content=False))


@pytest.mark.parametrize("where", ["endpoint", "bucket"])
def test_wrong_endpoint_or_missing_bucket_is_exit_2_and_writes_nothing(fake: FakeServer, s3: S3, where: str) -> None:
    if where == "endpoint":
        dest, endpoint = s3.uri("nowhere"), f"http://127.0.0.1:{free_port()}"
    else:
        dest, endpoint = f"s3://no-such-bucket-{free_port()}/lake", s3.endpoint
    fake.reset_counters()
    threads = [arg for tid in fake.dataset.thread_ids for arg in ("--thread", tid)]
    result = invoke(
        "export", *threads, "--dest", dest, "--base-url", fake.base_url, "--s3-endpoint-url", endpoint, "--no-progress"
    )
    assert result.exit_code in (2, 4), result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error:") and ("bucket" in last or "reach" in last or "connect" in last), last
    assert "Traceback" not in result.output
    assert fake.log.count("steps_list") == 0  # refused before fetching anything
    assert objects(s3, "nowhere") == []
