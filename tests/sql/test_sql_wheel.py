"""The wheel: a fresh virtual environment with only the wheel installed lists and runs the .sql files; a plain
install does not pull the fake API's web server (aiohttp, the ``[fake]`` extra), and without it the commands
that need it say how to get it."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import duckdb
import pytest
from packaging.requirements import Requirement
from paths import REPO

from etl import sqlfiles


def _run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, code: int = 0
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == code, f"{args}: {result.stdout}\n{result.stderr}"
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


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel, and a fresh venv with only it installed (~10 s alone, more on a busy machine)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp_path)
    return wheel, _fresh_venv(tmp_path, wheel)


@pytest.mark.slow
def test_wheel_ships_the_sql_files(tmp_path: Path, installed: tuple[Path, Path]) -> None:
    _, venv = installed
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


def _requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(name))
    return [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]


@pytest.mark.slow
def test_a_plain_install_does_not_pull_a_web_server(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    requirements = _requirements(wheel)
    plain = {r.name for r in requirements if r.marker is None}
    assert {"httpx", "pyarrow", "duckdb", "click"} <= plain
    assert "aiohttp" not in plain
    (fake,) = [r for r in requirements if r.name == "aiohttp"]
    assert fake.marker is not None and fake.marker.evaluate({"extra": "fake"})
    assert not fake.marker.evaluate({"extra": ""})


@pytest.mark.slow
def test_without_aiohttp_the_fake_api_says_how_to_get_it(tmp_path: Path, installed: tuple[Path, Path]) -> None:
    _, venv = installed
    # This environment has aiohttp; a package of that name that is not there stands in for a plain install.
    shadow = tmp_path / "shadow" / "aiohttp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'aiohttp'\", name='aiohttp')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    runsteps = venv / "bin" / "runsteps"
    listed = _run(runsteps, "--help", cwd=tmp_path, env=env).stdout
    assert "fake-api" in listed and "demo" in listed and "export" in listed
    for command in (["fake-api", "--port", "0"], ["demo", "--dest", str(tmp_path / "demo.duckdb")]):
        result = _run(runsteps, *command, cwd=tmp_path, env=env, code=2)
        assert result.stderr == (
            "error: the fake API needs aiohttp, which is not installed: pip install 'run-steps-etl[fake]'\n"
        ), command
        assert result.stdout == ""
    assert not (tmp_path / "demo.duckdb").exists()
