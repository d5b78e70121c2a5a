"""Writing batches to a DuckDB file: tables and keys, typed round trip, replacement of re-exported steps."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from duckdb_batches import BIG_TOKENS, make_batch, rows_of, step_id

from etl.errors import DestinationError
from etl.load import open_destination
from etl.load.base import ExportBatch
from etl.load.duckdb import DuckDBDestination
from etl.load.duckdb_state import SCHEMA_VERSION
from etl.schema import ALL_TABLES, STEP_CHILD_TABLES, TABLES, duckdb_type


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    value: int = con.execute(sql).fetchall()[0][0]
    return value


def _table(dest: DuckDBDestination, name: str) -> pa.Table:
    return dest.connection.sql(f"SELECT * FROM {name}").to_arrow_table()


def _primary_keys(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[list[str]]]:
    return con.execute(
        "SELECT constraint_column_names FROM duckdb_constraints()"
        " WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
        [table],
    ).fetchall()


def test_open_destination_creates_typed_tables_without_key_indexes_and_state(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    with open_destination(str(path)) as dest:
        assert isinstance(dest, DuckDBDestination)
        con = dest.connection
        for table in TABLES.values():
            assert _primary_keys(con, table.name) == []  # the writer keeps each key once (see etl.load.duckdb)
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                [table.name],
            ).fetchall()
            assert columns == [(f.name, duckdb_type(f.type)) for f in table.schema]
        tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert tables - set(ALL_TABLES) == {
            "_runsteps_meta", "_runsteps_runs", "_runsteps_watermarks", "_runsteps_chunks", "_runsteps_exports"
        }
        version = con.execute("SELECT value FROM _runsteps_meta WHERE key = 'schema_version'").fetchall()
        assert version == [(str(SCHEMA_VERSION),)]


def test_written_rows_read_back_equal_with_their_types(tmp_path: Path) -> None:
    batch = make_batch(["run_1", "run_2"], steps=3, calls=3)
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(batch)
        for name, written in batch.tables.items():
            assert rows_of(_table(dest, name)) == rows_of(written), name
        types = dest.connection.execute(
            "SELECT DISTINCT typeof(created_at), typeof(extracted_at), typeof(prompt_tokens), prompt_tokens"
            " FROM run_steps"
        ).fetchall()
        assert types == [("TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE", "BIGINT", BIG_TOKENS)]
    assert {name: batch.tables[name].num_rows for name in TABLES} == {
        "runs": 2, "run_steps": 6, "tool_calls": 18, "code_interpreter_outputs": 12, "file_search_results": 12
    }


def test_checkpoint_folds_the_write_ahead_log_into_the_file_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    wal = path.with_name("x.duckdb.wal")
    batch = make_batch(["run_1", "run_2"], steps=3, calls=3)
    with DuckDBDestination(str(path)) as dest:
        dest.write(batch)
        logged = wal.stat().st_size
        dest.checkpoint()
        assert logged > 0 and (not wal.exists() or wal.stat().st_size < logged)
        for name, written in batch.tables.items():
            assert rows_of(_table(dest, name)) == rows_of(written), name
    with DuckDBDestination(str(path), read_only=True) as reader:
        with pytest.raises(DestinationError, match="opened read-only"):
            reader.checkpoint()
        assert _count(reader.connection, "SELECT count(*) FROM run_steps") == 6


def test_rewrite_replaces_steps_and_leaves_no_stale_children(tmp_path: Path) -> None:
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(make_batch(["run_1", "run_2"], steps=3, calls=3, version=1))
        newer = make_batch(["run_1"], steps=3, calls=1, version=2)  # the calls that now only run_1 lacks
        dest.write(newer)
        con = dest.connection
        run_1 = {name: con.sql(f"SELECT * FROM {name} WHERE run_id = 'run_1'").to_arrow_table() for name in TABLES}
        for name in TABLES:
            assert rows_of(run_1[name]) == rows_of(newer.tables[name]), name
        assert run_1["code_interpreter_outputs"].num_rows == 0
        assert run_1["file_search_results"].num_rows == 0
        # run_2 was not in the second batch: all of its rows stay as first written
        assert _count(con, "SELECT count(*) FROM tool_calls WHERE run_id = 'run_2'") == 9
        assert _count(con, "SELECT count(*) FROM file_search_results WHERE run_id = 'run_2' AND score = 0.1") == 6
        for name, table in TABLES.items():
            keys = ", ".join(table.key)
            assert _count(con, f"SELECT count(*) - count(DISTINCT ({keys})) FROM {name}") == 0


def test_step_rewritten_with_no_tool_calls_loses_all_children(tmp_path: Path) -> None:
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(make_batch(["run_1"], steps=2, calls=3))
        dest.write(make_batch(["run_1"], steps=2, calls=0, version=2))
        for name in STEP_CHILD_TABLES:
            assert _count(dest.connection, f"SELECT count(*) FROM {name}") == 0, name
        assert dest.connection.execute("SELECT step_id, status FROM run_steps ORDER BY step_id").fetchall() == [
            (step_id("run_1", 0), "completed-v2"),
            (step_id("run_1", 1), "completed-v2"),
        ]


def test_writing_the_same_batch_twice_changes_nothing(tmp_path: Path) -> None:
    batch = make_batch(["run_1", "run_2"], steps=2, calls=3)
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(batch)
        first = {name: rows_of(_table(dest, name)) for name in TABLES}
        dest.write(batch)
        assert {name: rows_of(_table(dest, name)) for name in TABLES} == first


def test_failed_write_rolls_back_everything_and_the_file_stays_usable(tmp_path: Path) -> None:
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(make_batch(["run_1"], calls=3))
        before = {name: rows_of(_table(dest, name)) for name in TABLES}
        bad = make_batch(["run_1", "run_2"], calls=3, version=2)
        # the last table inserted breaks NOT NULL, after the deletes and the other inserts ran
        results = bad.tables["file_search_results"]
        nulls = pa.nulls(results.num_rows, pa.string())
        bad.tables = {**bad.tables, "file_search_results": results.set_column(0, "step_id", nulls)}
        with pytest.raises(DestinationError, match="nothing was written"):
            dest.write(bad)
        assert {name: rows_of(_table(dest, name)) for name in TABLES} == before
        assert set(dest.run_records()) == {"run_1"}
        dest.write(make_batch(["run_2"]))
        assert set(dest.run_records()) == {"run_1", "run_2"}


def test_batch_of_only_failed_run_records_writes_state_and_no_rows(tmp_path: Path) -> None:
    failed = make_batch(["run_1"]).records[0]
    failed = type(failed)(**{**failed.__dict__, "exported": False, "error": "HTTP 404", "step_count": 0})
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(ExportBatch(records=[failed]))
        assert dest.run_records() == {"run_1": failed}
        assert _count(dest.connection, "SELECT count(*) FROM run_steps") == 0


def test_batch_with_unknown_table_or_column_is_refused(tmp_path: Path) -> None:
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        with pytest.raises(ValueError, match="messages"):
            dest.write(ExportBatch(tables={"messages": pa.table({"a": [1]})}))
        with pytest.raises(ValueError, match="colour"):
            dest.write(ExportBatch(tables={"runs": pa.table({"colour": ["red"]})}))


def test_older_file_gains_new_columns_and_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    with DuckDBDestination(str(path)) as dest:
        dest.write(make_batch(["run_1"]))
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE run_steps DROP COLUMN raw_json")  # as a file from before raw_json existed
    con.close()
    with DuckDBDestination(str(path)) as dest:
        rows = dest.connection.execute("SELECT count(*), count(raw_json) FROM run_steps").fetchall()
        assert rows == [(2, 0)]
    con = duckdb.connect(str(path))
    con.execute("UPDATE _runsteps_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(DestinationError, match="newer run-steps-etl"), DuckDBDestination(str(path)):
        pass


def test_a_file_written_with_primary_keys_is_rebuilt_without_them_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    with DuckDBDestination(str(path)) as dest:
        dest.write(make_batch(["run_1", "run_2"], steps=3, calls=3))
        before = {name: rows_of(_table(dest, name)) for name in TABLES}
    con = duckdb.connect(str(path))  # make it a file of state schema 1: the data tables carried primary keys
    for table in TABLES.values():
        con.execute(f"CREATE TABLE keyed AS SELECT * FROM {table.name} LIMIT 0")
        con.execute(f"ALTER TABLE keyed ADD PRIMARY KEY ({', '.join(table.key)})")
        con.execute(f"INSERT INTO keyed SELECT * FROM {table.name}")
        con.execute(f"DROP TABLE {table.name}")
        con.execute(f"ALTER TABLE keyed RENAME TO {table.name}")
        assert _primary_keys(con, table.name) == [(list(table.key),)]
    con.execute("UPDATE _runsteps_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    with DuckDBDestination(str(path)) as dest:
        con = dest.connection
        assert all(_primary_keys(con, name) == [] for name in TABLES)
        assert {name: rows_of(_table(dest, name)) for name in TABLES} == before
        assert con.execute("SELECT value FROM _runsteps_meta WHERE key = 'schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)
        ]
        dest.write(make_batch(["run_2"], steps=3, calls=1, version=2))  # a re-export replaces, as before
        assert _count(con, "SELECT count(*) FROM tool_calls WHERE run_id = 'run_2'") == 3
        assert _count(con, "SELECT count(*) FROM (SELECT step_id FROM run_steps GROUP BY 1 HAVING count(*) > 1)") == 0


def test_big_batches_write_and_rewrite_in_set_operations(tmp_path: Path) -> None:
    runs = [f"run_{i}" for i in range(2_000)]
    first = make_batch(runs, steps=10, calls=3)  # 20,000 steps, 60,000 tool calls
    second = make_batch(runs, steps=10, calls=3, version=2)  # the usual re-export: same shape, new values
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        started = time.perf_counter()
        dest.write(first)
        wrote = time.perf_counter()
        dest.write(second)
        rewrote = time.perf_counter()
        con = dest.connection
        counts = {name: _count(con, f"SELECT count(*) FROM {name}") for name in TABLES}
        outputs = con.execute("SELECT DISTINCT function_output FROM tool_calls WHERE type = 'function'").fetchall()
    print(f"\n20,000 steps: write {wrote - started:.2f}s, rewrite {rewrote - wrote:.2f}s")
    assert counts == {name: second.tables[name].num_rows for name in TABLES}
    assert counts["tool_calls"] == 60_000
    assert outputs == [("out-v2",)]
    # per-row SQL would take minutes here; set operations take about a second
    assert rewrote - started < 30


def test_a_column_the_batch_lacks_is_replaced_with_null(tmp_path: Path) -> None:
    first = make_batch(["run_1"])
    steps = first.tables["run_steps"]
    with_metadata = steps.set_column(
        steps.schema.get_field_index("metadata_json"), "metadata_json", pa.array(['{"a": 1}'] * steps.num_rows)
    )
    older_writer = steps.drop_columns(["metadata_json"])  # as from a transform that did not know the column
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(ExportBatch(tables={"run_steps": with_metadata}))
        dest.write(ExportBatch(tables={"run_steps": older_writer}))
        rows = dest.connection.execute("SELECT count(*), count(metadata_json) FROM run_steps").fetchall()
    assert rows == [(2, 0)]
