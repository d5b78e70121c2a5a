"""The .sql files ship in the wheel: a fresh virtual environment with only the wheel installed lists and runs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import duckdb
import pytest

from etl import sqlfiles

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def _build_wheel(tmp_path: Path) -> Path:
    # Build from a copy so the build leaves nothing (build/, *.egg-info) in the shared checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("etl", "sql"):
        shutil.copytree(REPO / folder, source / folder, symlinks=True, ignore=ignore)
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("run_steps_etl-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    # The dependencies come from this test's environment, appended after the venv's own site-packages; a path
    # line in a .pth file does not run that environment's .pth files, so its editable `etl` stays out of reach.
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.mark.slow  # ~10 s alone, more on a busy machine; still part of the default run
def test_wheel_ships_the_sql_files(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    venv = _fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()

    where = _run(venv / "bin" / "python", "-c", "import etl; print(etl.__file__)", cwd=elsewhere).stdout
    assert Path(where.strip()).is_relative_to(venv), where

    listed = _run(venv / "bin" / "runsteps", "sql", "list", "--format", "csv", cwd=elsewhere).stdout
    names = {line.split(",")[1] for line in listed.splitlines()[1:]}
    for kind in sqlfiles.KINDS:
        assert set(sqlfiles.sql_files(kind)) <= names

    # The views and checks load from the installed package too: an empty DuckDB file passes every check.
    empty = elsewhere / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    checked = _run(venv / "bin" / "runsteps", "sql", "check", "--dest", empty, cwd=elsewhere).stdout
    assert f"{len(sqlfiles.sql_files('checks'))} of {len(sqlfiles.sql_files('checks'))} checks passed" in checked

    # The report's own script and style ship in the wheel too: a page over the empty file, from the installed package.
    page = elsewhere / "report.html"
    _run(venv / "bin" / "runsteps", "report", "--dest", empty, "-o", page, cwd=elsewhere)
    text = page.read_text(encoding="utf-8")
    assert "No run steps here yet" in text and "function fitScales" in text and ".panel.wide" in text
