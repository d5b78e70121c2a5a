"""The .sql loader: every file has a header, declares exactly the parameters it uses, and binds them safely."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from etl import schema, sqlfiles, sqlrun
from etl.errors import InputError
from etl.sqlfiles import SqlFile, parse

ALL_FILES = [f for kind in sqlfiles.KINDS for f in sqlfiles.sql_files(kind).values()]
_PLACEHOLDER = re.compile(r"\$([A-Za-z_]\w*)")


def test_required_queries_and_checks_exist() -> None:
    assert set(sqlfiles.sql_files("queries")) >= {
        "tokens_by_assistant_day",
        "tool_usage_by_assistant",
        "step_duration_percentiles",
        "failure_rates_by_day",
        "function_calls_missing_output",
        "file_search_score_distribution",
        "file_search_top_files",
        "top_runs",
    }
    assert set(sqlfiles.sql_files("checks")) >= {
        "duplicate_keys",
        "orphan_rows",
        "completed_step_times",
        "token_totals",
        "message_creation_message_id",
        "tool_call_count",
    }
    assert "step_tool_calls" in sqlfiles.sql_files("views")


@pytest.mark.parametrize("file", ALL_FILES, ids=lambda f: f"{f.kind}/{f.name}")
def test_file_declares_exactly_the_parameters_it_uses(file: SqlFile) -> None:
    code = "\n".join(line.split("--", 1)[0] for line in file.text.splitlines())
    assert set(_PLACEHOLDER.findall(code)) == set(file.params)
    assert file.description and not file.description.startswith("param:")
    if file.kind != "queries":
        assert not file.params, "checks and views run without parameters"


@pytest.mark.parametrize("file", ALL_FILES, ids=lambda f: f"{f.kind}/{f.name}")
def test_file_runs_on_empty_tables(file: SqlFile, tmp_path: Path) -> None:
    path = str(tmp_path / "empty.duckdb")
    with duckdb.connect(path) as con:
        for table in schema.TABLES.values():
            con.execute(schema.duckdb_ddl(table))
    with sqlrun.open_sql_connection(path) as con:
        result = sqlrun.run_sql(con, file.body, file.bind())
    if file.name == "file_search_score_distribution":
        assert result.column("results").to_pylist() == [0] * 10  # every bucket is listed, empty or not
    elif file.name == "overview":  # the headline figures of nothing: one row of zeros
        assert result.select(["runs", "steps", "total_tokens"]).to_pylist() == [
            {"runs": 0, "steps": 0, "total_tokens": 0}
        ]
    else:
        assert result.num_rows == 0


def test_header_parsing() -> None:
    text = (
        "-- What it answers.\n"
        "-- param: since = 2024-01-01\n"
        "-- param: who = NULL\n"
        "-- More prose.\n"
        "SELECT $since, $who;\n"
    )
    parsed = parse("queries", "example", text)
    assert parsed.description == "What it answers."
    assert parsed.params == {"since": "2024-01-01", "who": None}
    assert parsed.body.endswith("SELECT $since, $who")
    assert parsed.severity == "error"


def test_severity_is_declared_in_a_checks_header() -> None:
    assert parse("checks", "rule", "-- A rule.\n-- severity: warning\nSELECT 1").severity == "warning"
    assert parse("checks", "rule", "-- A rule.\nSELECT 1").severity == "error"
    with pytest.raises(ValueError, match=r"severity 'fatal' is not one of: error, warning"):
        parse("checks", "rule", "-- A rule.\n-- severity: fatal\nSELECT 1")
    severities = {name: f.severity for name, f in sqlfiles.sql_files("checks").items()}
    assert severities["unpriced_models"] == "warning"  # a missing price is not broken data
    assert {name for name, severity in severities.items() if severity == "error"} >= {"duplicate_keys", "orphan_rows"}


def test_bind_uses_defaults_and_refuses_unknown_names() -> None:
    query = sqlfiles.sql_file("queries", "top_runs")
    assert query.bind({"by": "tokens"}) == {
        "by": "tokens",
        "limit": "20",
        "since": "1970-01-01",
        "until": "9999-12-31",
        "assistants": None,
    }
    with pytest.raises(InputError, match="top_runs has no parameter colour"):
        query.bind({"colour": "red"})


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"no query named 'nope'; there are: .*top_runs"):
        sqlfiles.sql_file("queries", "nope")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("Bad-Name", "-- x\nSELECT 1", "lowercase letters"),
        ("no_header", "SELECT 1", "start it with a comment"),
        ("loud", "-- x\n-- severity: warning\nSELECT 1", "only a check has a severity"),
    ],
)
def test_malformed_files_are_refused(name: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse("queries", name, text)
