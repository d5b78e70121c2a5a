"""``runsteps fake-api`` in a real subprocess: prints its URL, writes threads and truth, serves, stops on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
from click.testing import CliRunner

from etl.cli import cli
from etl.fakeapi.validation import SpecValidator


def test_fake_api_command_serves_until_interrupted(tmp_path: Path) -> None:
    threads_file, truth_file = tmp_path / "threads.txt", tmp_path / "truth.jsonl"
    command = [
        sys.executable, "-m", "etl", "fake-api", "--port", "0", "--seed", "1", "--threads", "3",
        "--runs-per-thread", "4", "--no-boundary", "--api-key", "sk-test-key-0000",
        "--write-threads", str(threads_file), "--dump-truth", str(truth_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1"), base_url
        thread_ids = threads_file.read_text().splitlines()
        assert len(thread_ids) == 3
        headers = {"Authorization": "Bearer sk-test-key-0000", "OpenAI-Beta": "assistants=v2"}
        page = httpx.get(f"{base_url}/threads/{thread_ids[0]}/runs?limit=100", headers=headers)
        assert page.status_code == 200
        assert SpecValidator().errors(page.json(), "ListRunsResponse") == []
        dumped = [orjson.loads(line) for line in truth_file.read_bytes().splitlines()]
        dumped_runs = [o["id"] for o in dumped if o["object"] == "thread.run" and o["thread_id"] == thread_ids[0]]
        assert sorted(r["id"] for r in page.json()["data"]) == sorted(dumped_runs)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "sk-test-key-0000" not in stderr


def test_bad_options_are_usage_errors() -> None:
    runner = CliRunner()
    steps = runner.invoke(cli, ["fake-api", "--steps-per-run", "ten"])
    faults = runner.invoke(cli, ["fake-api", "--fault-kinds", "500,teapot"])
    assert steps.exit_code == 2 and "steps per run" in steps.output
    assert faults.exit_code == 2 and "fault-kinds" in faults.output
