"""Parquet destination on a local root: layout, exactly-once keys, replaced children and runs, round-tripped values."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from parquet_support import (
    DAY,
    T0,
    Run,
    Step,
    assert_exactly,
    expected_keys,
    make_batch,
    read_dataset,
    read_duckdb,
    simple_runs,
)

from etl.errors import DestinationError
from etl.load import open_destination
from etl.load.base import ExportBatch
from etl.load.parquet import ParquetDestination, data_file, partitions_changed_since
from etl.schema import TABLES
from etl.sharding import Shard, bucket_of


def write(root: Path, *batches: ExportBatch, shard: Shard | None = None) -> ParquetDestination:
    """Write batches in one session and return the (closed) destination."""
    with open_destination(str(root), shard) as dest:
        assert isinstance(dest, ParquetDestination)
        for batch in batches:
            dest.write(batch)
    return dest


def assert_all_exactly(root: Path, runs: list[Run]) -> None:
    """Both readers see every expected key of every table exactly once."""
    for name, keys in expected_keys(runs).items():
        assert_exactly(read_dataset(str(root), name), name, keys)
        assert len(read_duckdb(str(root), name)) == len(keys)


def test_rewrites_leave_each_key_once(tmp_path: Path) -> None:
    runs = simple_runs(40, steps=3, calls=2)
    write(tmp_path, make_batch(runs))
    write(tmp_path, make_batch(runs), make_batch(runs[:10]))  # a re-export, and a retry inside one session
    assert_all_exactly(tmp_path, runs)
    counts = {name: read_dataset(str(tmp_path), name).num_rows for name in TABLES}
    assert counts == {"runs": 40, "run_steps": 120, "tool_calls": 240, "code_interpreter_outputs": 240,
                      "file_search_results": 480}


def test_layout_is_hive_by_utc_day_and_bucket_with_zstd(tmp_path: Path) -> None:
    steps = [Step("step_late", T0 + DAY - 1, 1, 1, 1), Step("step_next", T0 + DAY, 1, 1, 1)]
    late = Run("run_late", "thread_x", T0 + DAY - 1, steps)
    write(tmp_path, make_batch([late]))
    bucket = bucket_of("run_late")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("[!_]*/*/*.parquet"))
    assert files == sorted(
        [data_file(t, "2026-01-01", bucket) for t in TABLES]
        + [data_file(t, "2026-01-02", bucket) for t in TABLES if t != "runs"]
    )
    meta = pq.ParquetFile(tmp_path / data_file("run_steps", "2026-01-01", bucket)).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"ZSTD"}
    assert "created_date" not in pq.read_schema(tmp_path / data_file("run_steps", "2026-01-01", bucket)).names
    steps = read_dataset(str(tmp_path), "run_steps").to_pylist()
    assert {(r["step_id"], r["created_date"]) for r in steps} == {
        ("step_late", date(2026, 1, 1)), ("step_next", date(2026, 1, 2))
    }


def test_fewer_children_after_rewrite_leaves_nothing_stale(tmp_path: Path) -> None:
    run = Run("run_a", "thread_a", T0, [Step("step_1", T0, 3, 2, 2), Step("step_2", T0 + 1, 2, 1, 1)])
    write(tmp_path, make_batch([run]))
    shrunk = replace(run, steps=[Step("step_1", T0, 1, 1, 0), Step("step_2", T0 + 1, 0)])
    write(tmp_path, make_batch([shrunk]))
    assert_all_exactly(tmp_path, [shrunk])
    steps = {r["step_id"]: r["type"] for r in read_dataset(str(tmp_path), "run_steps").to_pylist()}
    assert steps == {"step_1": "tool_calls", "step_2": "message_creation"}
    assert read_dataset(str(tmp_path), "file_search_results").num_rows == 0


def test_runs_row_is_replaced(tmp_path: Path) -> None:
    run = Run("run_s", "thread_s", T0, [Step("step_s", T0, 1)], status="in_progress")
    write(tmp_path, make_batch([run]))
    write(tmp_path, make_batch([replace(run, status="completed")]))
    rows = read_dataset(str(tmp_path), "runs").to_pylist()
    assert [(r["run_id"], r["status"]) for r in rows] == [("run_s", "completed")]


def test_values_round_trip_with_types(tmp_path: Path) -> None:
    runs = simple_runs(12, steps=2, calls=1)
    batch = make_batch(runs)
    write(tmp_path, batch)
    for name, written in batch.tables.items():
        table = TABLES[name]
        got = read_dataset(str(tmp_path), name)
        assert got.schema.field("created_at").type == pa.timestamp("s", tz="UTC")
        assert got.schema.field("created_date").type == pa.date32()
        order = [(k, "ascending") for k in table.key]
        assert got.drop_columns(["created_date"]).sort_by(order).to_pylist() == written.sort_by(order).to_pylist()
    con = duckdb.connect()
    steps = f"{tmp_path}/run_steps/*/*.parquet"
    types = con.execute(
        "SELECT DISTINCT typeof(created_at), typeof(total_tokens), typeof(created_date), max(total_tokens) "
        "FROM read_parquet(?, hive_partitioning=true) GROUP BY ALL",
        [steps],
    ).fetchall()
    assert types == [("TIMESTAMP WITH TIME ZONE", "BIGINT", "DATE", 2**40)]


def test_a_row_that_moves_to_another_day_leaves_its_old_file(tmp_path: Path) -> None:
    run = Run("run_m", "thread_m", T0, [Step("step_m", T0, 2, 1, 1)])
    write(tmp_path, make_batch([run]))
    moved = Run("run_m", "thread_m", T0 + 3 * DAY, [Step("step_m", T0 + 3 * DAY, 2, 1, 1)])
    write(tmp_path, make_batch([moved]))
    assert_all_exactly(tmp_path, [moved])
    assert {r["created_date"] for r in read_dataset(str(tmp_path), "tool_calls").to_pylist()} == {date(2026, 1, 4)}


def test_duplicates_inside_one_batch_are_written_once(tmp_path: Path) -> None:
    runs = simple_runs(3, steps=2)
    batch = make_batch(runs)
    doubled = ExportBatch({n: pa.concat_tables([t, t]) for n, t in batch.tables.items()}, batch.records)
    write(tmp_path, doubled)
    assert_all_exactly(tmp_path, runs)


def test_temp_files_are_invisible_and_removed_by_the_next_writer(tmp_path: Path) -> None:
    runs = simple_runs(6, steps=1)
    write(tmp_path, make_batch(runs))
    bucket = bucket_of(runs[0].run_id)
    other = next(b for b in range(32) if b % 2 != bucket % 2)
    folder = tmp_path / "run_steps" / "created_date=2026-01-01"
    ours = folder / f".part-b{bucket:02d}.parquet.deadbeef.tmp"
    theirs = folder / f".part-b{other:02d}.parquet.deadbeef.tmp"
    for stray in (ours, theirs):
        stray.write_bytes(b"PAR1 half written")
    assert_all_exactly(tmp_path, runs)  # neither DuckDB's glob nor the dataset picks them up
    with open_destination(str(tmp_path), Shard(bucket % 2, 2)):
        pass
    assert not ours.exists()
    assert theirs.exists()  # another shard's writer may be writing it right now


def test_batch_outside_the_shard_is_refused_before_writing(tmp_path: Path) -> None:
    runs = simple_runs(8)
    shard = Shard(0, 2)
    assert any(not shard.owns(r.run_id) for r in runs)
    with open_destination(str(tmp_path), shard) as dest, pytest.raises(DestinationError, match="outside shard 0/2"):
        dest.write(make_batch(runs))
    assert not list(tmp_path.glob("*/*/*.parquet"))


def test_read_only_and_misuse(tmp_path: Path) -> None:
    with pytest.raises(DestinationError, match="does not exist"):
        open_destination(str(tmp_path / "missing"), read_only=True)
    write(tmp_path, make_batch(simple_runs(2)))
    reader = open_destination(str(tmp_path), read_only=True)
    with reader, pytest.raises(DestinationError, match="read-only"):
        reader.write(make_batch(simple_runs(1)))
    with pytest.raises(DestinationError, match="inside `with"):
        open_destination(str(tmp_path)).write(make_batch(simple_runs(1)))
    (tmp_path / "file").write_text("x")
    with pytest.raises(DestinationError, match="is a file"):
        open_destination(str(tmp_path / "file"))


def test_partitions_written_and_changed_since(tmp_path: Path) -> None:
    old = [Run("run_o", "t", T0, [Step("step_o", T0)])]
    write(tmp_path, make_batch(old))
    stamp = datetime.now(UTC) - timedelta(seconds=1)
    for path in tmp_path.glob("*/*/*.parquet"):  # make the first export's files clearly older
        os.utime(path, (stamp.timestamp() - 3600, stamp.timestamp() - 3600))
    write(tmp_path, make_batch([Run("run_n", "t", T0 + 5 * DAY, [Step("step_n", T0 + 5 * DAY)])]))
    new_day = [date(2026, 1, 6)]
    assert partitions_changed_since(str(tmp_path), stamp) == {"run_steps": new_day, "runs": new_day}
