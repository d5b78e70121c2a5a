"""``runsteps demo``: the whole job with no key and no network, and a report from SQL over the result."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from costs import run_cost

from etl.cli import cli
from etl.fakeapi import FakeConfig
from etl.fakeapi.dataset import Dataset


def test_demo_exports_the_fake_and_reports_from_sql(tmp_path: Path, monkeypatch: object) -> None:
    dest = tmp_path / "demo.duckdb"
    page = tmp_path / "demo.html"
    args = ["demo", "--dest", str(dest), "--threads", "3", "--runs-per-thread", "4", "--no-progress"]
    result = CliRunner().invoke(
        cli,
        [*args, "--report", str(page)],
        env={"OPENAI_API_KEY": None},
    )
    assert result.exit_code == 0, result.output
    truth = Dataset(FakeConfig(seed=1, threads=3, runs_per_thread=4)).truth()
    with duckdb.connect(str(dest), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM run_steps").fetchall() == [(len(truth.steps),)]
        assert con.sql("SELECT count(*) FROM runs").fetchall() == [(len(truth.runs),)]
    assert "Steps by type and status" in result.output
    assert "Tool calls by type" in result.output and "Tokens by assistant" in result.output
    # The cost line, worked out by hand from the served runs' usage at the fake models' prices.
    usd = sum(c for c in map(run_cost, truth.runs) if c is not None)
    cost_line = next(line for line in result.output.splitlines() if line.startswith("Cost: "))
    assert cost_line.startswith(f"Cost: ${usd:,.2f} for {len(truth.runs)} runs (0 unpriced)"), cost_line
    by_type: dict[str, int] = {}
    for step in truth.steps:
        for call in step["step_details"].get("tool_calls") or []:
            by_type[call["type"]] = by_type.get(call["type"], 0) + 1
    for kind, count in by_type.items():
        assert any(kind in line and f" {count} " in f" {line} " for line in result.output.splitlines()), kind
    # The HTML report of the same export, its path printed last.
    assert result.output.rstrip().endswith(f"one self-contained page: {page.resolve()}")
    assert f"{len(truth.steps):,}" in page.read_text(encoding="utf-8")


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nothing may be written in: a read-only tmpfs as root (root writes through permissions), else 0o555."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ("{tmp}", "is a directory"),
        ("", "the path is empty"),
        ("{tmp}/missing/demo.html", "does not exist"),
        ("{read_only}/demo.html", "is not writable"),
    ],
    ids=["directory", "empty", "missing-folder", "read-only-folder"],
)
def test_a_bad_report_path_fails_before_anything_is_created(
    report: str, message: str, tmp_path: Path, read_only_folder: Path
) -> None:
    dest = tmp_path / "demo.duckdb"
    before = sorted(tmp_path.rglob("*"))
    report = report.format(tmp=tmp_path, read_only=read_only_folder)
    args = ["demo", "--dest", str(dest), "--threads", "1", "--runs-per-thread", "1", "--no-progress"]
    result = CliRunner().invoke(cli, [*args, "--report", report], env={"OPENAI_API_KEY": None})
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "'--report'" in result.stderr and message in result.stderr, result.stderr
    assert result.stdout == ""
    assert sorted(tmp_path.rglob("*")) == before, "the demo created something"
