"""`runsteps schema --format json|dbt`: generated from etl/schema.py, so every table (present and future) is in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner

from etl import catalog
from etl.cli import cli
from etl.load import open_destination
from etl.schema import ALL_TABLES, EVERY_TABLE, Table


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["schema", *args])


@pytest.fixture(scope="module")
def duckdb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dbt") / "my-export.duckdb"
    with open_destination(str(path)):
        pass  # every table, empty
    return path


def test_json_lists_every_table_with_key_references_and_typed_columns() -> None:
    result = invoke("--format", "json")
    assert result.exit_code == 0, result.output
    tables = {t["name"]: t for t in json.loads(result.output)["tables"]}
    assert list(tables) == list(EVERY_TABLE)
    for name, spec in EVERY_TABLE.items():
        listed = tables[name]
        assert listed["key"] == list(spec.key) and listed["description"] == spec.doc
        assert [c["name"] for c in listed["columns"]] == spec.schema.names
        assert all(c["description"] for c in listed["columns"]), name
    steps = {c["name"]: c for c in tables["run_steps"]["columns"]}
    assert steps["created_at"] == {
        "name": "created_at",
        "arrow_type": "timestamp[s, tz=UTC]",
        "duckdb_type": "TIMESTAMP WITH TIME ZONE",
        "nullable": False,
        "description": "when the step was created",
    }
    assert tables["tool_calls"]["references"] == [{"column": "step_id", "table": "run_steps", "to": "step_id"}]
    assert tables["runs"]["references"] == [] and tables["runs"]["parquet_files"] == "runs/created_date=*/*.parquet"
    assert tables["threads"]["parquet_partition"] is None


def test_a_table_added_to_the_schema_is_listed_with_its_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    field = pa.field("step_id", pa.string(), nullable=False, metadata={"doc": "step"})
    index = pa.field("item_index", pa.int32(), nullable=False, metadata={"doc": "position"})
    extra = Table("step_items", "one row per item", pa.schema([field, index]), ("step_id", "item_index"))
    monkeypatch.setattr(catalog, "EVERY_TABLE", {**EVERY_TABLE, extra.name: extra})
    listed = {t["name"]: t for t in catalog.listing()["tables"]}
    assert listed["step_items"]["references"] == [{"column": "step_id", "table": "run_steps", "to": "step_id"}]


def test_dbt_sources_for_a_duckdb_file(duckdb_file: Path) -> None:
    result = invoke("--format", "dbt", "--dest", str(duckdb_file))
    assert result.exit_code == 0, result.output
    (source,) = yaml.safe_load(result.output)["sources"]
    assert (source["name"], source["database"], source["schema"]) == ("runsteps", "my-export", "main")
    assert source["loaded_at_field"] == "extracted_at"
    tables = {t["name"]: t for t in source["tables"]}
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        have = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert list(tables) == [name for name in EVERY_TABLE if name in have]  # the tables the file has
    assert set(ALL_TABLES) <= set(tables)
    for name, table in tables.items():
        spec = EVERY_TABLE[name]
        assert table["description"] == spec.doc and "meta" not in table
        assert [c["name"] for c in table["columns"]] == spec.schema.names
        assert all(c["description"] and c["data_type"] for c in table["columns"])
        columns = {c["name"]: c.get("data_tests", []) for c in table["columns"]}
        for key in spec.key:
            assert "not_null" in columns[key]
        if len(spec.key) == 1:
            assert "unique" in columns[spec.key[0]]
        else:
            expression = "concat_ws('|', " + ", ".join(spec.key) + ")"
            assert table["data_tests"] == [{"unique": {"column_name": expression}}]
        relationships = [t for tests in columns.values() for t in tests if isinstance(t, dict)]
        expected = [
            {"relationships": {"arguments": {"to": f"source('runsteps', '{r.table}')", "field": r.to}}}
            for r in spec.references
        ]
        assert relationships == expected
        assert "freshness" not in table  # an empty table would always be stale
    assert {(r.column, r.table, r.to) for r in EVERY_TABLE["response_items"].references} == {
        ("response_id", "responses", "response_id")
    }


def test_dbt_sources_for_a_parquet_root_read_its_files(tmp_path: Path) -> None:
    root = tmp_path / "root's"
    result = CliRunner().invoke(
        cli,
        ["demo", "--dest", str(root), "--threads", "1", "--runs-per-thread", "2", "--no-progress"],
        env={"OPENAI_API_KEY": None},
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "sources.yml"
    assert invoke("--format", "dbt", "--dest", str(root), "--source-name", "steps", "-o", str(out)).exit_code == 0
    (source,) = yaml.safe_load(out.read_text())["sources"]
    assert source["name"] == "steps" and "database" not in source
    tables = {t["name"]: t for t in source["tables"]}
    with_files = [name for name in EVERY_TABLE if (root / name).is_dir()]
    assert list(tables) == with_files and "threads" not in tables  # the demo lists no threads
    quoted = str(root).replace("'", "''")
    assert tables["runs"]["meta"]["external_location"] == (
        f"read_parquet('{quoted}/runs/created_date=*/*.parquet', hive_partitioning=true)"
    )
    freshness = {name for name, table in tables.items() if "freshness" in table}
    assert freshness == {"runs"}  # one row per run: every export writes one
    assert tables["runs"]["freshness"]["warn_after"] == {"count": 36, "period": "hour"}
    assert tables["runs"]["columns"][-1] == {
        "name": "created_date",
        "description": "UTC date of created_at: the Parquet partition (from the file's path)",
        "data_type": "DATE",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "dbt"], "error: --format dbt needs --dest"),
        (["--format", "dbt", "--dest", "nowhere.duckdb"], "error: nowhere.duckdb does not exist"),
        (["--format", "dbt", "--dest", "nowhere"], "error: destination nowhere does not exist"),
        (["--format", "dbt", "--dest", "x.duckdb", "--source-name", "a-b"], "error: --source-name 'a-b'"),
        (["--format", "json", "--dest", "x.duckdb"], "error: --dest is for --format dbt only"),
    ],
)
def test_bad_schema_options_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2 and result.output.startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_o_is_written_the_way_report_writes_it(tmp_path: Path) -> None:
    target = tmp_path / "models" / "schema.sql"
    target.parent.mkdir()
    link = tmp_path / "schema.sql"
    link.symlink_to(target)
    assert invoke("--ddl", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and target.read_text(encoding="utf-8") == invoke("--ddl").stdout
    missing = invoke("--ddl", "-o", str(tmp_path / "nope" / "schema.sql"))
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("error: ") and "does not exist" in missing.stderr
    assert not (tmp_path / "nope").exists()
