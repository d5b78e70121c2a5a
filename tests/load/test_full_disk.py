"""A disk that fills up during an export, at every write point: one error line (exit 1), no traceback, and what
is at the destination reads whole, every run recorded as exported with all of its rows. A real full filesystem:
a small tmpfs (needs permission to mount; skipped where there is none)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from expected import actual_tables

from etl.cli import cli
from etl.errors import DestinationError
from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread
from etl.load import open_destination

KEY = "sk-full-disk-0123456789"
SIZES_KB = (16, 48, 96)  # the disk fills at a different write each time (all of it needs about 250 KB)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=100_000)) as server:
        yield server


@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    size = f"size={request.param}k"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("small_disk", SIZES_KB, indirect=True, ids=[f"{kb}k" for kb in SIZES_KB])
@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_full_disk_is_one_line_and_what_was_written_reads_whole(
    fake: FakeServer, small_disk: Path, kind: str
) -> None:
    dest = small_disk / ("out.duckdb" if kind == "duckdb" else "out")
    threads = [arg for thread in fake.dataset.thread_ids for arg in ("--thread", thread)]
    args = ["export", *threads, "--base-url", fake.base_url, "--dest", str(dest), "--no-progress", "--batch-steps", "5"]
    result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": KEY})
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        return  # it fitted: nothing to check beyond the other tests
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "no space left" in errors[0].lower(), result.stderr
    assert KEY not in result.output
    if not dest.exists() or (kind == "duckdb" and dest.stat().st_size == 0):
        return
    # Free the disk enough to read (DuckDB may need to write its WAL back), then check what is there.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    try:
        with open_destination(str(dest), read_only=True) as opened:
            records = opened.run_records()
    except DestinationError as exc:  # the disk filled while the file's tables were being created
        assert "not a run-steps-etl destination" in str(exc)
        return
    tables = actual_tables(str(dest))
    exported = {r.run_id: r for r in records.values() if r.exported}
    steps_by_run: dict[str, int] = {}
    for row in tables["run_steps"].values():
        steps_by_run[row["run_id"]] = steps_by_run.get(row["run_id"], 0) + 1
    for run_id, record in exported.items():
        assert steps_by_run.get(run_id, 0) == record.step_count, run_id


@pytest.mark.parametrize("small_disk", [4096], indirect=True, ids=["4m"])
@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_read_only_filesystem_is_refused_before_anything(fake: FakeServer, small_disk: Path, kind: str) -> None:
    threads = [arg for thread in fake.dataset.thread_ids for arg in ("--thread", thread)]
    existing = small_disk / ("old.duckdb" if kind == "duckdb" else "old")
    first = ["export", *threads, "--base-url", fake.base_url, "--dest", str(existing), "--no-progress"]
    assert CliRunner().invoke(cli, first, env={"OPENAI_API_KEY": KEY}).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    before = {str(p): p.read_bytes() for p in small_disk.rglob("*") if p.is_file()}
    for dest in (existing, small_disk / ("new.duckdb" if kind == "duckdb" else "new")):
        args = ["export", *threads, "--base-url", fake.base_url, "--dest", str(dest), "--no-progress"]
        result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": KEY})
        assert result.exit_code == 2, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "not writable" in lines[0] and "Traceback" not in result.output, lines
    assert {str(p): p.read_bytes() for p in small_disk.rglob("*") if p.is_file()} == before
