"""DuckDB files that the DuckDB 1.x readers analysts have can open: new files in an older storage format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from analyst_exports import full_export
from click.testing import CliRunner
from paths import FIXTURES, TESTS

from etl.cli import cli
from etl.load import DUCKDB_STORAGE_VERSION, _writes, parse_storage_version
from etl.load.duckdb import DuckDBDestination, load_parquet_into_duckdb
from etl.schema import EVERY_TABLE

DIGEST = TESTS / "duckdb_digest.py"
SPEC = json.dumps({t.name: {"key": list(t.key), "columns": t.schema.names} for t in EVERY_TABLE.values()})


def demo(dest: Path, *extra: str) -> None:
    """A small ``runsteps demo`` export into ``dest``."""
    args = ["demo", "--dest", str(dest), "--threads", "3", "--runs-per-thread", "4", "--no-progress", *extra]
    result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": None})
    assert result.exit_code == 0, result.output


def storage_version_of(con: duckdb.DuckDBPyConnection) -> str:
    """The storage format of the connection's database file, as DuckDB names it (``v1.2.0+``)."""
    rows = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    tags: dict[str, str] = rows[0][0] if rows else {}
    return tags.get("storage_version", "")


def file_version(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return storage_version_of(con)


def digest(python: Path | str, path: Path) -> dict[str, list[object]]:
    """Row count and MD5 of every table, as the DuckDB of ``python`` reads ``path``."""
    done = subprocess.run([str(python), str(DIGEST), str(path), SPEC], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[object]] = json.loads(done.stdout)["tables"]
    return result


def test_an_exported_file_opens_in_duckdb_1x_with_the_same_rows(tmp_path: Path, dbt_venv: Path) -> None:
    dest = tmp_path / "demo.duckdb"
    full_export(dest)
    assert file_version(dest) == f"{DUCKDB_STORAGE_VERSION}+"
    old_python = dbt_venv / "bin" / "python"
    old_version = subprocess.run(
        [str(old_python), "-c", "import duckdb; print(duckdb.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert old_version.startswith("1."), old_version
    new, old = digest(sys.executable, dest), digest(old_python, dest)
    assert old == new
    assert set(new) == set(EVERY_TABLE) and all(int(str(count)) > 0 for count, _ in new.values())


def test_latest_writes_the_newest_format_and_an_existing_file_keeps_its_own(tmp_path: Path) -> None:
    newest = tmp_path / "newest.duckdb"
    duckdb.connect(str(tmp_path / "plain.duckdb")).close()  # what this DuckDB writes when asked for nothing
    demo(newest, "--duckdb-storage-version", "latest")
    assert file_version(newest) == file_version(tmp_path / "plain.duckdb")
    demo(newest)  # the default asks for v1.2.0; the file has a format already and keeps it
    assert file_version(newest) == file_version(tmp_path / "plain.duckdb")

    older = tmp_path / "older.duckdb"
    with DuckDBDestination(str(older), storage_version="v1.2.0"):
        pass
    with DuckDBDestination(str(older), storage_version="latest") as dest:
        assert storage_version_of(dest.connection) == "v1.2.0+"


@pytest.mark.parametrize("version", [None, "latest"])
def test_import_and_the_airflow_load_create_files_in_the_asked_format(tmp_path: Path, version: str | None) -> None:
    duckdb.connect(str(tmp_path / "plain.duckdb")).close()
    wanted = "v1.2.0+" if version is None else file_version(tmp_path / "plain.duckdb")
    asked = [] if version is None else ["--duckdb-storage-version", version]
    imported = tmp_path / "imported.duckdb"
    steps = str(FIXTURES / "run_steps.jsonl")
    result = CliRunner().invoke(cli, ["import", steps, "--dest", str(imported), *asked])
    assert result.exit_code == 0, result.output
    assert file_version(imported) == wanted

    root = tmp_path / "root"
    assert CliRunner().invoke(cli, ["import", steps, "--dest", str(root)]).exit_code == 0
    loaded = tmp_path / "loaded.duckdb"
    counts = load_parquet_into_duckdb(str(root), str(loaded), storage_version=version or DUCKDB_STORAGE_VERSION)
    assert counts["run_steps"] > 0 and file_version(loaded) == wanted


@pytest.mark.parametrize("command", ["demo", "export", "backfill", "replay", "import"])
@pytest.mark.parametrize("value", ["v9.9.9", "1.2.0", "newest", "v1.2"])
def test_a_bad_storage_version_exits_2_before_anything_is_opened(tmp_path: Path, command: str, value: str) -> None:
    dest = tmp_path / "x.duckdb"
    source = tmp_path / "source"
    source.mkdir()
    args = {
        "demo": ["demo", "--dest", str(dest)],
        "export": ["export", "--dest", str(dest), "--run", "thread_a/run_b", "--base-url", "http://127.0.0.1:9"],
        "backfill": [
            "backfill",
            "--dest",
            str(dest),
            "--thread",
            "thread_a",
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-02",
            "--base-url",
            "http://127.0.0.1:9",
        ],
        "replay": ["replay", str(source), "--dest", str(dest)],
        "import": ["import", str(source), "--dest", str(dest)],
    }[command]
    result = CliRunner().invoke(cli, [*args, "--duckdb-storage-version", value], env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: DuckDB storage version '{value}'"), result.output
    assert "latest" in lines[0] and "Traceback" not in result.output
    assert not dest.exists()


def test_parse_storage_version_accepts_what_duckdb_writes() -> None:
    assert parse_storage_version("latest") == "latest"
    assert parse_storage_version(" v1.2.0 ") == "v1.2.0"
    assert parse_storage_version("v1.0.0") == "v1.0.0"
    # the default is taken without asking DuckDB (opening a database costs ~20 ms): this DuckDB must write it
    assert parse_storage_version(DUCKDB_STORAGE_VERSION) == DUCKDB_STORAGE_VERSION
    assert _writes(DUCKDB_STORAGE_VERSION)
