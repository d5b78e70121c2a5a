"""A Parquet root reads the same in polars, pandas and pyarrow.dataset, with the calls the README gives.

Every table with files at the root: the same row count in each reader, each key once, timestamps that carry
their UTC time zone, and ``created_date`` (the partition, from the path) a date equal to ``created_at``'s UTC day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from analyst_exports import DEMO, full_export

from etl.fakeapi.dataset import Dataset
from etl.load.parquet import PARTITION, is_partitioned, table_glob
from etl.schema import EVERY_TABLE, TIMESTAMP, Table


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Parquet root with rows in every table (day-partitioned and not)."""
    where = tmp_path_factory.mktemp("readers") / "root"
    full_export(where)
    return where


def tables_at(root: Path) -> list[Table]:
    return [t for t in EVERY_TABLE.values() if list(root.glob(table_glob(t)))]


def read_polars(root: Path, table: Table) -> pl.DataFrame:
    return pl.scan_parquet(f"{root}/{table_glob(table)}", hive_partitioning=is_partitioned(table)).collect()


def read_pandas(root: Path, table: Table) -> pd.DataFrame:
    if not is_partitioned(table):
        return pd.read_parquet(root / table.name)
    partitioning = ds.partitioning(pa.schema([(PARTITION, pa.date32())]), flavor="hive")
    return pd.read_parquet(root / table.name, partitioning=partitioning)


def read_pyarrow(root: Path, table: Table) -> pa.Table:
    by_day = ds.partitioning(pa.schema([(PARTITION, pa.date32())]), flavor="hive")
    partitioning = by_day if is_partitioned(table) else None
    return ds.dataset(root / table.name, format="parquet", partitioning=partitioning).to_table()


def test_every_table_is_there(root: Path) -> None:
    assert [t.name for t in tables_at(root)] == list(EVERY_TABLE)
    truth = Dataset(DEMO).truth()
    assert len(read_polars(root, EVERY_TABLE["run_steps"])) == len(truth.steps)
    assert len(read_pandas(root, EVERY_TABLE["runs"])) == len(truth.runs)


@pytest.mark.parametrize("name", list(EVERY_TABLE))
def test_polars_pandas_and_pyarrow_read_the_same_rows(root: Path, name: str) -> None:
    table = EVERY_TABLE[name]
    expected = duckdb.sql(f"SELECT count(*) FROM read_parquet('{root}/{table_glob(table)}')").fetchall()[0][0]
    frames: dict[str, Any] = {
        "polars": read_polars(root, table),
        "pandas": read_pandas(root, table),
        "pyarrow": read_pyarrow(root, table),
    }
    assert expected > 0
    assert {reader: len(frame) for reader, frame in frames.items()} == dict.fromkeys(frames, expected)

    keys = list(table.key)
    assert not frames["polars"].select(keys).is_duplicated().any()
    assert not frames["pandas"].duplicated(subset=keys).any()
    assert frames["pyarrow"].group_by(keys).aggregate([]).num_rows == expected

    for field in table.schema:
        if field.type == TIMESTAMP:
            polars_type = frames["polars"].schema[field.name]
            assert isinstance(polars_type, pl.Datetime) and polars_type.time_zone == "UTC", field.name
            assert str(frames["pandas"][field.name].dtype.tz) == "UTC", field.name
            assert frames["pyarrow"].schema.field(field.name).type.tz == "UTC", field.name

    if not is_partitioned(table):
        assert PARTITION not in frames["polars"].columns and PARTITION not in frames["pandas"].columns
        return
    assert frames["polars"].schema[PARTITION] == pl.Date
    assert frames["pyarrow"].schema.field(PARTITION).type == pa.date32()
    assert all(isinstance(day, date) for day in frames["pandas"][PARTITION])
    utc_days = frames["polars"].select(pl.col("created_at").dt.date() == pl.col(PARTITION)).to_series()
    assert utc_days.all()
    by_pandas = frames["pandas"]["created_at"].dt.date == frames["pandas"][PARTITION]
    assert by_pandas.all()
