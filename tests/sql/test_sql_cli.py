"""``runsteps sql``: list, run, query and check over a DuckDB file and a Parquet root, in every output format."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner, Result
from parquet_support import S3, moto_server, s3  # noqa: F401 (fixtures)
from sql_export import Exported, shared_export

from etl import schema, sqlfiles, sqlrun
from etl.cli import cli


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return shared_export(tmp_path_factory)


def _sql(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["sql", *args], input=stdin)


def _expected(exported: Exported, name: str, params: dict[str, object] | None = None) -> list[dict[str, object]]:
    with sqlrun.open_sql_connection(exported.dest("duckdb")) as con:
        rows: list[dict[str, object]] = sqlrun.run_query(con, name, params).to_pylist()
    return rows


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def test_list_names_every_file_with_its_description_and_parameters() -> None:
    result = _sql("list", "--format", "json")
    assert result.exit_code == 0, result.output
    listed = {(e["kind"], e["name"]): e for e in json.loads(result.output)}
    files = [f for kind in sqlfiles.KINDS for f in sqlfiles.sql_files(kind).values()]
    assert set(listed) == {(sqlfiles.SINGULAR[f.kind], f.name) for f in files}
    top = listed[("query", "top_runs")]
    assert top["params"] == "by=steps, limit=20, since=1970-01-01, until=9999-12-31, assistants=NULL"
    assert top["description"].startswith("Runs with the most steps, tokens or cost")

    table = _sql("list").output
    for f in files:
        assert f.name in table


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_run_as_json_and_csv_gives_the_query_rows(exported: Exported, kind: str) -> None:
    expected = _expected(exported, "tokens_by_assistant_day")
    as_json = _sql("run", "tokens_by_assistant_day", "--dest", exported.dest(kind), "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == [{k: _jsonable(v) for k, v in row.items()} for row in expected]

    as_csv = _sql("run", "tokens_by_assistant_day", "--dest", exported.dest(kind), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert rows == [{k: str(_jsonable(v)) for k, v in row.items()} for row in expected]


def test_run_binds_params(exported: Exported) -> None:
    result = _sql("run", "top_runs", "-p", "by=tokens", "--param", "limit=3", "--dest", exported.dest("duckdb"))
    assert result.exit_code == 0, result.output
    expected = _expected(exported, "top_runs", {"by": "tokens", "limit": 3})
    assert len(expected) == 3
    for row in expected:
        assert str(row["run_id"]) in result.output
    assert result.output.rstrip().endswith("(3 rows)")


def test_table_output_is_aligned(exported: Exported) -> None:
    result = _sql("run", "tokens_by_assistant_day", "--dest", exported.dest("parquet"))
    lines = result.output.splitlines()
    header, rule, *rows, footer = lines
    assert header.split() == list(_expected(exported, "tokens_by_assistant_day")[0])
    assert footer == f"({len(rows)} rows)"
    # The last column is numeric, so right-aligned: every line ends at the same column.
    assert {len(line) for line in (header, rule, *rows)} == {len(rule)}
    starts = [i for i, c in enumerate(rule) if c == "-" and (i == 0 or rule[i - 1] == " ")]
    assert all(row[i - 2 : i] in ("  ", "") for row in rows for i in starts[1:])


def test_markdown_output(exported: Exported) -> None:
    result = _sql("run", "tool_calls_by_type", "--dest", exported.dest("duckdb"), "--format", "markdown")
    lines = result.output.splitlines()
    assert lines[0] == "| type | tool_calls | steps | runs |"
    assert lines[1] == "|---|---:|---:|---:|"
    assert len(lines) - 2 == len(_expected(exported, "tool_calls_by_type"))


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_query_with_a_parameter(exported: Exported, kind: str) -> None:
    statement = "SELECT count(*) AS n FROM run_steps WHERE status = $status"
    result = _sql("query", statement, "-p", "status=completed", "--dest", exported.dest(kind), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output == f"n\n{sum(s['status'] == 'completed' for s in exported.steps)}\n"


def test_query_from_stdin(exported: Exported) -> None:
    result = _sql("query", "-", "--dest", exported.dest("duckdb"), "--format", "csv", stdin="SELECT 40 + 2 AS x")
    assert result.output == "x\n42\n"


# Values a DuckDB query may return that Python holds badly or not at all, and how every format prints them.
UNUSUAL = """
SELECT '\\xFF\\x00abc'::BLOB AS blob, repeat('a', 100)::BLOB AS long_blob,
       INTERVAL 1 MONTH + INTERVAL 3 DAY + INTERVAL 1 MICROSECOND AS span,
       'infinity'::TIMESTAMP AS forever, '-infinity'::TIMESTAMPTZ AS never, '290000-01-01'::TIMESTAMP AS far,
       'infinity'::DATE AS last_day, '2026-01-01 00:00:00.123456789'::TIMESTAMP_NS AS nanos
"""
UNUSUAL_TEXT = {
    "blob": base64.b64encode(b"\xff\x00abc").decode(),  # BLOBs are base64
    "long_blob": base64.b64encode(b"a" * 100).decode(),
    "span": "1 month 3 days 00:00:00.000001",  # the rest: DuckDB's own text
    "forever": "infinity",
    "never": "-infinity",
    "far": "290000-01-01 00:00:00",
    "last_day": "infinity",
    "nanos": "2026-01-01 00:00:00.123456789",
}


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_blobs_intervals_and_times_python_cannot_hold_print_in_every_format(exported: Exported, fmt: str) -> None:
    result = _sql("query", UNUSUAL, "--dest", exported.dest("duckdb"), "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.output) == [UNUSUAL_TEXT]
    elif fmt == "csv":
        assert list(csv.DictReader(io.StringIO(result.output))) == [UNUSUAL_TEXT]
    elif fmt == "markdown":
        assert result.output.splitlines()[2] == "| " + " | ".join(UNUSUAL_TEXT.values()) + " |"
    else:
        header, _, row, footer = result.output.splitlines()
        assert header.split() == list(UNUSUAL_TEXT) and footer == "(1 row)"
        shown = {**UNUSUAL_TEXT, "long_blob": UNUSUAL_TEXT["long_blob"][:79] + "…"}  # the table cuts wide cells
        assert row.split() == " ".join(shown.values()).split()


def test_a_time_python_cannot_hold_leaves_the_rest_of_its_column_as_it_was(exported: Exported) -> None:
    statement = (
        "SELECT * FROM (VALUES (1, TIMESTAMP '2026-01-02 03:04:05'), (2, 'infinity'::TIMESTAMP), (3, NULL)) "
        "t(n, moment) ORDER BY n"
    )
    as_json = _sql("query", statement, "--dest", exported.dest("duckdb"), "--format", "json")
    assert json.loads(as_json.output) == [
        {"n": 1, "moment": "2026-01-02T03:04:05"},
        {"n": 2, "moment": "infinity"},
        {"n": 3, "moment": None},
    ]
    as_csv = _sql("query", statement, "--dest", exported.dest("duckdb"), "--format", "csv")
    assert as_csv.output == "n,moment\n1,2026-01-02 03:04:05\n2,infinity\n3,\n"


def test_views_are_temporary_and_the_duckdb_file_is_left_untouched(exported: Exported, tmp_path: Path) -> None:
    path = tmp_path / "copy.duckdb"
    shutil.copy(exported.duckdb, path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert _sql("run", "tool_usage_by_assistant", "--dest", str(path)).exit_code == 0
    refused = _sql("query", "DELETE FROM run_steps", "--dest", str(path))
    assert refused.exit_code == 2
    assert "read-only" in refused.output
    assert _sql("query", "CREATE TABLE scratch AS SELECT 1", "--dest", str(path)).exit_code == 2
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with duckdb.connect(str(path), read_only=True) as con:
        names = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        steps = con.execute("SELECT count(*) FROM run_steps").fetchall()[0][0]
    assert "step_tool_calls" not in names
    assert steps == len(exported.steps)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no_such_query"], "no query named 'no_such_query'"),
        (["run", "top_runs", "-p", "colour=red"], "top_runs has no parameter colour"),
        (["run", "top_runs", "-p", "by"], "--param 'by' is not of the form NAME=VALUE"),
        (["run", "top_runs", "-p", "by=size"], "parameter by must be steps, tokens or cost"),
        (["run", "tokens_by_assistant_day", "-p", "since=yesterday-ish"], "Conversion Error"),
        (["query", "SELEC 1"], "Parser Error"),
        (["query", "SELECT * FROM no_such_table"], "no_such_table"),
        (["query", "SELECT $missing"], "missing"),
        (["query", "   "], "the statement is empty"),
        (["check", "no_such_check"], "no check named 'no_such_check'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(exported: Exported, args: list[str], message: str) -> None:
    result = _sql(*args, "--dest", exported.dest("duckdb"))
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("error: ")
    assert message in result.output


@pytest.mark.parametrize("via", ["stdin", "argument", "a process's stdin"])
def test_sql_that_is_not_utf8_is_one_line_and_exit_2(exported: Exported, via: str) -> None:
    dest = exported.dest("duckdb")
    if via == "stdin":
        result = CliRunner().invoke(cli, ["sql", "query", "-", "--dest", dest], input=b"\xff\xfe")
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    elif via == "argument":  # as Python decodes a command line's bytes that are not UTF-8
        result = _sql("query", os.fsdecode(b"SELECT '\xff'"), "--dest", dest)
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    else:
        args = [sys.executable, "-m", "etl", "sql", "query", "-", "--dest", dest]
        done = subprocess.run(args, input=b"\xff\xfe", capture_output=True, timeout=60)
        code, stdout, stderr = done.returncode, done.stdout.decode(), done.stderr.decode()
    assert code == 2, stderr
    assert stdout == "" and stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: the SQL is not UTF-8 text ("), stderr


@pytest.mark.parametrize("dest", ["missing.duckdb", "missing-parquet-root"])
def test_missing_destination_is_exit_2(tmp_path: Path, dest: str) -> None:
    result = _sql("query", "SELECT 1", "--dest", str(tmp_path / dest))
    assert result.exit_code == 2
    assert "does not exist" in result.output or "no DuckDB file" in result.output


def test_check_exit_codes(exported: Exported, tmp_path: Path) -> None:
    clean = _sql("check", "--dest", exported.dest("duckdb"))
    checks = list(sqlfiles.sql_files("checks"))
    assert clean.exit_code == 0, clean.output
    assert clean.output.splitlines()[-1] == f"{len(checks)} of {len(checks)} checks passed"

    broken = tmp_path / "broken.duckdb"
    shutil.copy(exported.duckdb, broken)
    step = next(s for s in exported.steps if s.get("usage"))
    with duckdb.connect(str(broken)) as con:
        con.execute("UPDATE run_steps SET total_tokens = -1 WHERE step_id = ?", [step["id"]])
    result = _sql("check", "--dest", str(broken))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("FAIL  token_totals:") and "(1 row breaks it)" in line for line in lines)
    assert any(line.startswith("run_steps") and step["id"] in line and line.endswith(" -1") for line in lines)
    assert sum(line.startswith("ok    ") for line in lines) == len(checks) - 1
    assert lines[-1] == f"{len(checks) - 1} of {len(checks)} checks passed; failed: token_totals"


def test_object_store_root_reads_like_a_local_one(exported: Exported, s3: S3) -> None:  # noqa: F811
    # The tables top_runs reads are enough (the others show up empty); each file costs a request or two.
    for table in ("runs", "run_steps", "model_prices"):
        source = exported.parquet / table
        pafs.copy_files(str(source), f"{s3.bucket}/export/{table}", destination_filesystem=s3.fs)
    remote = _sql("run", "top_runs", "-p", "by=tokens", "--dest", s3.uri("export"), "--format", "json")
    assert remote.exit_code == 0, remote.output
    local = _sql("run", "top_runs", "-p", "by=tokens", "--dest", exported.dest("parquet"), "--format", "json")
    assert json.loads(remote.output) == json.loads(local.output) != []
    missing = _sql("query", "SELECT 1", "--dest", s3.uri("nothing-here"))
    assert missing.exit_code == 2
    assert "does not exist" in missing.output


def test_tables_without_files_are_empty_with_their_columns(tmp_path: Path) -> None:
    root = tmp_path / "fresh-root"
    root.mkdir()
    for table in schema.TABLES.values():
        result = _sql("query", f"DESCRIBE {table.name}", "--dest", str(root), "--format", "json")
        assert result.exit_code == 0, result.output
        described = [(c["column_name"], c["column_type"]) for c in json.loads(result.output)]
        columns = [(f.name, schema.duckdb_type(f.type)) for f in table.schema]
        assert described == [*columns, ("created_date", "DATE")]
        counted = _sql("query", f"SELECT count(*) AS n FROM {table.name}", "--dest", str(root), "--format", "csv")
        assert counted.output == "n\n0\n"


def test_duckdb_file_held_by_a_writer_is_exit_2(exported: Exported, tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    shutil.copy(exported.duckdb, path)
    with duckdb.connect(str(path)):  # a writer holds the file (here: this process, in read-write mode)
        result = _sql("query", "SELECT count(*) FROM run_steps", "--dest", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: cannot open {path} read-only: ")
    assert result.output.count("\n") == 1


def test_tables_that_do_not_fit_the_views_are_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE run_steps (step_id VARCHAR)")
    result = _sql("query", "SELECT 1", "--dest", str(path))
    assert result.exit_code == 2
    # The first view (by name) that reads the missing columns is named.
    assert result.output.startswith(f"error: view step_costs does not fit the tables at {path}: Binder Error")
