"""``runsteps sql`` is read-only in every sense: no statement can write, attach, install, load or reconfigure.

Each way out is tried twice over both kinds of destination: through the command (refused by the statement check
with one ``error:`` line, exit 2) and straight on the connection ``open_sql_connection`` returns, where DuckDB's
own locked settings refuse it. Every test compares the whole tree of the destination (and the working directory)
byte for byte before and after.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from sql_export import Exported, shared_export

from etl import sqlrun
from etl.cli import cli


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return shared_export(tmp_path_factory)


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (or ``root`` itself) with the sha256 of its bytes."""
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def data_file(exported: Exported) -> Path:
    """One data file of the Parquet root: the target a COPY would most like to overwrite."""
    return sorted((exported.parquet / "run_steps").rglob("*.parquet"))[0]


# (name, statement with {dir} for a scratch directory and {data} for a Parquet data file, words of the refusal)
WAYS_OUT = [
    ("copy-over-data-file", "COPY (SELECT 1 AS x) TO '{data}' (FORMAT parquet)", "COPY"),
    ("copy-elsewhere", "COPY (SELECT * FROM run_steps) TO '{dir}/out.csv'", "COPY"),
    ("copy-table", "COPY runs TO '{dir}/runs.parquet'", "COPY"),
    ("export-database", "EXPORT DATABASE '{dir}/dump'", "EXPORT"),
    ("attach-new-file", "ATTACH '{dir}/new.duckdb' AS other", "ATTACH"),
    ("attach-memory", "ATTACH ':memory:' AS other", "ATTACH"),
    ("install", "INSTALL httpfs", "an INSTALL or LOAD statement"),
    ("install-from-url", "INSTALL httpfs FROM 'http://127.0.0.1:9/'", "an INSTALL or LOAD statement"),
    ("load", "LOAD httpfs", "LOAD"),
    ("set-external-access", "SET enable_external_access = true", "SET"),
    ("set-lock", "RESET lock_configuration", "SET"),
    ("set-memory", "SET memory_limit = '1GB'", "SET"),
    ("pragma-setting", "PRAGMA enable_profiling", "PRAGMA"),
    ("insert", "INSERT INTO runs (run_id) VALUES ('run_x')", "INSERT"),
    ("update", "UPDATE run_steps SET status = 'x'", "UPDATE"),
    ("delete", "DELETE FROM run_steps", "DELETE"),
    ("create-table", "CREATE TABLE runs_copy AS SELECT * FROM runs", "CREATE"),
    ("drop", "DROP TABLE runs", "DROP"),
    ("checkpoint", "CHECKPOINT", "refused"),
    ("call", "CALL checkpoint()", "CALL"),
    ("two-statements", "SELECT 1; COPY (SELECT 1) TO '{dir}/x.csv'", "exactly one"),
]

# What DuckDB itself refuses on the locked connection (the statement check is not involved there).
LOCKED = [
    ("copy-over-data-file", "COPY (SELECT 1 AS x) TO '{data}' (FORMAT parquet)"),
    ("copy-elsewhere", "COPY (SELECT 1 AS x) TO '{dir}/out.csv'"),
    ("attach-new-file", "ATTACH '{dir}/new.duckdb' AS other"),
    ("install", "INSTALL httpfs"),
    ("load", "LOAD httpfs"),
    ("read-other-file", "SELECT * FROM read_csv('{dir}/../secret.csv')"),
    ("read-url", "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')"),
    ("set-external-access", "SET enable_external_access = true"),
    ("reset-lock", "RESET lock_configuration"),
    ("set-temp-directory", "SET temp_directory = '{dir}'"),
]


def _statement(template: str, exported: Exported, scratch: Path) -> str:
    return template.format(dir=scratch, data=data_file(exported))


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
@pytest.mark.parametrize(("name", "template", "word"), WAYS_OUT, ids=[w[0] for w in WAYS_OUT])
def test_sql_query_refuses_every_way_out(
    exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, name: str, template: str, word: str
) -> None:
    scratch, cwd = tmp_path / "scratch", tmp_path / "cwd"
    scratch.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    dest = Path(exported.dest(kind))
    before = tree(dest)
    result = CliRunner().invoke(cli, ["sql", "query", _statement(template, exported, scratch), "--dest", str(dest)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and word in lines[0], lines
    assert "Traceback" not in result.output
    assert tree(dest) == before
    assert os.listdir(scratch) == [] and os.listdir(cwd) == []


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
@pytest.mark.parametrize(("name", "template"), LOCKED, ids=[w[0] for w in LOCKED])
def test_the_connection_itself_is_locked(
    exported: Exported, tmp_path: Path, kind: str, name: str, template: str
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    dest = Path(exported.dest(kind))
    before = tree(dest)
    with sqlrun.open_sql_connection(str(dest)) as con:
        with pytest.raises(duckdb.Error) as refused:
            con.execute(_statement(template, exported, scratch))
        assert isinstance(refused.value, duckdb.PermissionException | duckdb.InvalidInputException), refused.value
        # Still usable for reading after the refusal.
        assert con.execute("SELECT count(*) FROM run_steps").fetchall()[0][0] == len(exported.steps)
    assert tree(dest) == before
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_reading_statements_still_work(exported: Exported, kind: str) -> None:
    for statement in (
        "SELECT count(*) AS n FROM run_steps",
        "EXPLAIN SELECT * FROM runs",
        "SELECT * FROM pragma_version()",
    ):
        result = CliRunner().invoke(cli, ["sql", "query", statement, "--dest", exported.dest(kind), "--format", "csv"])
        assert result.exit_code == 0, result.output
    counted = CliRunner().invoke(
        cli, ["sql", "query", "FROM run_steps SELECT count(*) AS n", "--dest", exported.dest(kind), "--format", "csv"]
    )
    assert counted.stdout.splitlines() == ["n", str(len(exported.steps))]
