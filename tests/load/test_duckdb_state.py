"""The export state kept in the DuckDB file: run records, watermarks, backfill chunks, export history."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from duckdb_batches import T0, make_batch

from etl.errors import DestinationError
from etl.load.base import ExportBatch
from etl.load.duckdb import DuckDBDestination


def test_run_records_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "x.duckdb")
    batch = make_batch(["run_1", "run_2", "run_3"])
    active = replace(batch.records[2], run_status="in_progress", run_created_at=None)
    records = [*batch.records[:2], active]
    with DuckDBDestination(path) as dest:
        dest.write(ExportBatch(tables=batch.tables, records=records))
    with DuckDBDestination(path, read_only=True) as dest:
        assert dest.run_records() == {r.run_id: r for r in records}
        assert dest.run_records(["run_2", "run_9"]) == {"run_2": records[1]}
        assert dest.run_records([]) == {}
        assert dest.run_records()["run_1"].finished
        assert not dest.run_records()["run_3"].finished
        assert dest.run_records()["run_1"].exported_at.tzinfo is UTC


def test_a_later_record_replaces_the_earlier_one(tmp_path: Path) -> None:
    first = make_batch(["run_1"]).records[0]
    failed = replace(first, exported=False, error="HTTP 500 server_error", step_count=0)
    retried = replace(first, exported_at=datetime(2026, 1, 3, tzinfo=UTC))
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.write(ExportBatch(records=[failed]))
        assert dest.run_records()["run_1"].error == "HTTP 500 server_error"
        dest.write(ExportBatch(records=[failed, retried]))  # the last record of a run in a batch wins
        assert dest.run_records() == {"run_1": retried}


def test_watermarks_never_move_back_and_are_kept_per_scope(tmp_path: Path) -> None:
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        assert dest.watermark("thread_a", "0/1") is None
        dest.set_watermarks("0/1", {"thread_a": T0 + 100, "thread_b": T0})
        dest.set_watermarks("0/1", {"thread_a": T0 + 50, "thread_b": T0 + 10})
        dest.set_watermarks("1/2", {"thread_a": T0 + 1})
        dest.set_watermarks("0/1", {})
        assert dest.watermark("thread_a", "0/1") == T0 + 100
        assert dest.watermarks("0/1") == {"thread_a": T0 + 100, "thread_b": T0 + 10}
        assert dest.watermarks("1/2") == {"thread_a": T0 + 1}
        assert dest.watermarks("3/4") == {}
        shown = dest.connection.execute("SELECT created_at FROM _runsteps_watermarks WHERE scope = '1/2'").fetchall()
        assert shown == [(datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC),)]


def test_backfill_chunks_are_recorded_per_job(tmp_path: Path) -> None:
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        dest.mark_chunk_done("job-a", "2026-01-01")
        dest.mark_chunk_done("job-a", "2026-01-02")
        dest.mark_chunk_done("job-a", "2026-01-01")
        dest.mark_chunk_done("job-b", "2026-02-01")
        assert dest.chunks_done("job-a") == {"2026-01-01", "2026-01-02"}
        assert dest.chunks_done("job-c") == set()


def test_export_summaries_come_back_newest_first(tmp_path: Path) -> None:
    with DuckDBDestination(str(tmp_path / "x.duckdb")) as dest:
        for n in range(3):
            dest.record_export({"export": n, "finished_at": datetime(2026, 1, 1, tzinfo=UTC), "rows": {"runs": n}})
        assert dest.exports(limit=2) == [
            {"export": 2, "finished_at": "2026-01-01T00:00:00+00:00", "rows": {"runs": 2}},
            {"export": 1, "finished_at": "2026-01-01T00:00:00+00:00", "rows": {"runs": 1}},
        ]
        assert [e["export"] for e in dest.exports()] == [2, 1, 0]


def test_read_only_destination_reads_state_and_refuses_writes(tmp_path: Path) -> None:
    path = str(tmp_path / "x.duckdb")
    with DuckDBDestination(path) as dest:
        dest.set_watermarks("0/1", {"thread_a": T0})
        dest.record_export({"export": 1})
    with DuckDBDestination(path, read_only=True) as dest:
        assert dest.watermark("thread_a", "0/1") == T0
        assert dest.exports() == [{"export": 1}]
        for attempt in (
            lambda: dest.write(make_batch(["run_1"])),
            lambda: dest.set_watermarks("0/1", {"thread_a": T0 + 1}),
            lambda: dest.mark_chunk_done("job", "c"),
            lambda: dest.record_export({"export": 2}),
        ):
            with pytest.raises(DestinationError, match="read-only"):
                attempt()
        assert dest.watermark("thread_a", "0/1") == T0
