"""load_parquet_into_duckdb: the Airflow load task copies Parquet partitions into the DuckDB file, idempotently."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from duckdb_batches import T0, make_batch, merge, rows_of
from parquet_support import S3, moto_server, s3  # noqa: F401 (fixtures)

from etl.errors import DestinationError
from etl.load.base import ExportBatch
from etl.load.duckdb import DuckDBDestination, load_parquet_into_duckdb
from etl.load.parquet import ParquetDestination
from etl.schema import TABLES

DAY1, DAY2 = date(2026, 1, 1), date(2026, 1, 2)
DAY1_RUNS = make_batch(["run_a1", "run_a2"], steps=2, calls=3)
DAY2_RUNS = make_batch(["run_b1"], steps=3, calls=3, created_at=T0 + 86_400)


def _write_root(root: Path, batch: ExportBatch) -> None:
    """The Parquet layout ``<root>/<table>/created_date=YYYY-MM-DD/part-0.parquet``, written with pyarrow alone."""
    for name, table in batch.tables.items():
        by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
        for row in table.to_pylist():
            by_day[row["created_at"].astimezone(UTC).date()].append(row)
        for day, rows in by_day.items():
            folder = root / name / f"created_date={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            rows_table = pa.Table.from_pylist(rows, schema=TABLES[name].schema)
            pq.write_table(rows_table, folder / "part-0.parquet", compression="zstd")


def _tables(path: Path) -> dict[str, list[dict[str, Any]]]:
    with DuckDBDestination(str(path), read_only=True) as dest:
        return {name: rows_of(dest.connection.sql(f"SELECT * FROM {name}").to_arrow_table()) for name in TABLES}


def _rows(batch: ExportBatch) -> dict[str, list[dict[str, Any]]]:
    return {name: rows_of(batch.tables[name]) for name in TABLES}


def _counts(batch: ExportBatch) -> dict[str, int]:
    return {name: batch.tables[name].num_rows for name in TABLES}


def test_loading_all_partitions_twice_gives_the_parquet_rows_once(tmp_path: Path) -> None:
    root, db = tmp_path / "parquet", tmp_path / "x.duckdb"
    both = merge(DAY1_RUNS, DAY2_RUNS)
    _write_root(root, both)
    first = load_parquet_into_duckdb(str(root), str(db))
    assert first == {**_counts(both), "_runsteps_runs": 0}
    assert first["tool_calls"] == 21
    assert _tables(db) == _rows(both)
    assert load_parquet_into_duckdb(str(root), str(db)) == first
    assert _tables(db) == _rows(both)


def test_loading_some_partitions_replaces_only_those_days(tmp_path: Path) -> None:
    root, db = tmp_path / "parquet", tmp_path / "x.duckdb"
    _write_root(root, merge(DAY1_RUNS, DAY2_RUNS))
    load_parquet_into_duckdb(str(root), str(db))

    # day 2 re-exported with fewer tool calls; day 1's tool calls vanish from Parquet but day 1 is not reloaded
    newer_day2 = make_batch(["run_b1"], steps=3, calls=1, version=2, created_at=T0 + 86_400)
    for name in TABLES:
        for folder in (root / name).iterdir():
            if folder.name == f"created_date={DAY2}" or name == "tool_calls":
                for file in folder.iterdir():
                    file.unlink()
    _write_root(root, newer_day2)

    assert load_parquet_into_duckdb(str(root), str(db), partitions=[DAY2, DAY2]) == {
        **_counts(newer_day2),
        "_runsteps_runs": 0,
    }
    assert _tables(db) == _rows(merge(DAY1_RUNS, newer_day2))
    assert load_parquet_into_duckdb(str(root), str(db), partitions=[]) == dict.fromkeys([*TABLES, "_runsteps_runs"], 0)
    assert _tables(db) == _rows(merge(DAY1_RUNS, newer_day2))


def test_a_missing_parquet_root_changes_nothing(tmp_path: Path) -> None:
    root, db = tmp_path / "parquet", tmp_path / "x.duckdb"
    _write_root(root, DAY1_RUNS)
    load_parquet_into_duckdb(str(root), str(db))
    with pytest.raises(DestinationError, match="does not exist"):
        load_parquet_into_duckdb(str(tmp_path / "typo"), str(db))
    assert _tables(db) == _rows(DAY1_RUNS)


def test_parquet_destination_rows_and_run_records_land_in_duckdb(tmp_path: Path) -> None:
    root, db = tmp_path / "parquet", tmp_path / "x.duckdb"
    both = merge(DAY1_RUNS, DAY2_RUNS)
    with ParquetDestination(str(root)) as dest:
        dest.write(both)
    counts = load_parquet_into_duckdb(str(root), str(db))
    assert counts == {**_counts(both), "_runsteps_runs": 3}
    assert _tables(db) == _rows(both)
    with DuckDBDestination(str(db), read_only=True) as dest:
        assert dest.run_records() == {r.run_id: r for r in both.records}


def test_an_object_store_root_loads_like_a_local_one(tmp_path: Path, s3: S3) -> None:  # noqa: F811
    both = merge(DAY1_RUNS, DAY2_RUNS)
    with ParquetDestination(s3.uri("export")) as dest:
        dest.write(both)
    db = tmp_path / "x.duckdb"
    assert load_parquet_into_duckdb(s3.uri("export"), str(db), partitions=[DAY2]) == {
        **_counts(DAY2_RUNS),
        "_runsteps_runs": 3,
    }
    assert _tables(db) == _rows(DAY2_RUNS)


def test_a_newer_record_in_duckdb_is_kept(tmp_path: Path) -> None:
    root, db = tmp_path / "parquet", tmp_path / "x.duckdb"
    with ParquetDestination(str(root)) as dest:
        dest.write(DAY1_RUNS)
    newer = make_batch(["run_a1"], version=9)
    newer.records[0] = type(newer.records[0])(
        **{**newer.records[0].__dict__, "exported_at": datetime(2027, 1, 1, tzinfo=UTC)}
    )
    with DuckDBDestination(str(db)) as dest:
        dest.write(ExportBatch(records=newer.records))
    load_parquet_into_duckdb(str(root), str(db))
    with DuckDBDestination(str(db), read_only=True) as dest:
        records = dest.run_records()
    assert records["run_a1"] == newer.records[0]
    assert records["run_a2"] == DAY1_RUNS.records[1]


def test_a_column_older_parquet_files_lack_is_loaded_as_null(tmp_path: Path) -> None:
    root, db = tmp_path / "parquet", tmp_path / "x.duckdb"
    _write_root(root, DAY1_RUNS)
    load_parquet_into_duckdb(str(root), str(db))
    (file,) = (root / "runs").rglob("*.parquet")
    pq.write_table(pq.read_table(file).drop_columns(["model"]), file)
    load_parquet_into_duckdb(str(root), str(db))
    with DuckDBDestination(str(db), read_only=True) as dest:
        assert dest.connection.execute("SELECT count(*), count(model) FROM runs").fetchall() == [(2, 0)]
