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
        sys.executable,
        "-m",
        "etl",
        "fake-api",
        "--port",
        "0",
        "--seed",
        "1",
        "--threads",
        "3",
        "--runs-per-thread",
        "4",
        "--no-boundary",
        "--api-key",
        "sk-test-key-0000",
        "--write-threads",
        str(threads_file),
        "--dump-truth",
        str(truth_file),
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


def test_output_files_are_checked_before_the_server_starts(tmp_path: Path) -> None:
    """A file the fake is to write in a missing folder, or a directory, is a usage error before it serves (it was
    an exit 1 after the data was made, or a server whose files never appeared)."""
    for option, value, words in [
        ("--write-threads", tmp_path / "no" / "threads.txt", "the folder"),
        ("--dump-truth", tmp_path, "is a directory"),
        ("--write-responses", tmp_path / "no" / "r.txt", "the folder"),
    ]:
        done = subprocess.run([sys.executable, "-m", "etl", "fake-api", "--port", "0", option, str(value)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (option, done.stderr)
        assert lines[0].startswith(f"error: invalid value for '{option}': ") and words in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_responses_flavor_writes_its_ids_and_a_responses_export_reads_them(tmp_path: Path) -> None:
    responses_file, conversations_file = tmp_path / "responses.txt", tmp_path / "conversations.txt"
    command = [
        sys.executable, "-m", "etl", "fake-api", "--port", "0", "--flavor", "responses", "--conversations", "2",
        "--chains", "1", "--write-responses", str(responses_file), "--write-conversations", str(conversations_file),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        responses = responses_file.read_text().splitlines()
        conversations = conversations_file.read_text().splitlines()
        assert len(responses) == 2 * 3 + 3 + 5 and len(conversations) == 2
        dest = tmp_path / "lake.duckdb"
        export = [
            sys.executable, "-m", "etl", "export", "--source", "responses", "--base-url", base_url,
            "--responses-file", str(responses_file), "--conversations-file", str(conversations_file),
            "--dest", str(dest), "--metrics-json",
        ]  # fmt: skip
        done = subprocess.run(export, capture_output=True, text=True, timeout=120, env={"OPENAI_API_KEY": "sk-fake",
                              "PATH": "/usr/bin:/bin"})  # fmt: skip
        assert done.returncode == 0, done.stderr
        metrics = orjson.loads(done.stdout.splitlines()[-1])
        assert (metrics["responses_ok"], metrics["conversations_ok"]) == (len(responses), 2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "serving 14 responses and 2 conversations" in stderr
