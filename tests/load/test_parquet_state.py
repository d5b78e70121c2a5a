"""Export state of a Parquet root: run records, watermarks, backfill chunks, export history, read from anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from parquet_support import make_batch, simple_runs

from etl.errors import DestinationError
from etl.load import open_destination
from etl.load.base import ExportBatch, RunRecord
from etl.sharding import BUCKETS

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


def test_run_records_round_trip_and_replace(tmp_path: Path) -> None:
    runs = simple_runs(10, steps=1)
    failed = RunRecord("run_failed", "thread_9", None, None, 0, False, "HTTP 404: no such run", NOW)
    batch = make_batch(runs)
    with open_destination(str(tmp_path)) as dest:
        dest.write(ExportBatch(batch.tables, [*batch.records, failed]))
    reader = open_destination(str(tmp_path), read_only=True)  # a fresh object, as another machine would
    records = reader.run_records()
    assert set(records) == {r.run_id for r in runs} | {"run_failed"}
    assert records["run_failed"] == failed
    assert records[runs[3].run_id] == batch.records[3]
    assert records[runs[3].run_id].finished
    assert set(reader.run_records([runs[0].run_id, "run_unknown"])) == {runs[0].run_id}

    fixed = RunRecord("run_failed", "thread_9", "completed", 1_767_225_600, 3, True, None, NOW)
    with open_destination(str(tmp_path)) as dest:
        dest.write(ExportBatch({}, [fixed]))
    assert open_destination(str(tmp_path), read_only=True).run_records(["run_failed"]) == {"run_failed": fixed}


def test_rows_written_before_a_run_is_settled_leave_no_record(tmp_path: Path) -> None:
    runs = simple_runs(3)
    with open_destination(str(tmp_path)) as dest:
        dest.write(make_batch(runs, records=False))  # e.g. the first part of a long run
        assert dest.run_records() == {}


def test_watermarks_advance_per_scope_and_never_move_back(tmp_path: Path) -> None:
    with open_destination(str(tmp_path)) as dest:
        dest.set_watermarks("0/2", {"thread_a": 100, "thread_b": 50})
        dest.set_watermarks("0/2", {"thread_a": 90, "thread_b": 70})
        dest.set_watermarks("all/with spaces", {"thread_a": 5})
    reader = open_destination(str(tmp_path), read_only=True)
    assert reader.watermarks("0/2") == {"thread_a": 100, "thread_b": 70}
    assert reader.watermark("thread_a", "all/with spaces") == 5
    assert reader.watermark("thread_c", "0/2") is None
    assert reader.watermarks("1/2") == {}


def test_backfill_chunks(tmp_path: Path) -> None:
    with open_destination(str(tmp_path)) as dest:
        dest.mark_chunk_done("job/1", "2026-01-01/2026-01-02")
        dest.mark_chunk_done("job/1", "2026-01-02/2026-01-03")
        dest.mark_chunk_done("job/1", "2026-01-02/2026-01-03")
        dest.mark_chunk_done("other", "x")
    reader = open_destination(str(tmp_path), read_only=True)
    assert reader.chunks_done("job/1") == {"2026-01-01/2026-01-02", "2026-01-02/2026-01-03"}
    assert reader.chunks_done("never") == set()


def test_export_history_newest_first(tmp_path: Path) -> None:
    with open_destination(str(tmp_path)) as dest:
        assert dest.exports() == []
        for i in range(4):
            dest.record_export({"n": i, "finished_at": NOW})
    reader = open_destination(str(tmp_path), read_only=True)
    assert [e["n"] for e in reader.exports()] == [3, 2, 1, 0]
    assert [e["n"] for e in reader.exports(limit=2)] == [3, 2]
    assert reader.exports(1)[0]["finished_at"] == NOW.isoformat(sep=" ")
    files = sorted((tmp_path / "_state" / "exports").iterdir())
    assert len(files) == 4 and json.loads(files[-1].read_text())["n"] == 3


def test_state_writes_need_a_writer(tmp_path: Path) -> None:
    with open_destination(str(tmp_path)):
        pass
    reader = open_destination(str(tmp_path), read_only=True)
    for call in (
        lambda: reader.set_watermarks("s", {"t": 1}),
        lambda: reader.mark_chunk_done("j", "c"),
        lambda: reader.record_export({}),
    ):
        with pytest.raises(DestinationError, match="read-only"):
            call()


def test_a_root_records_its_bucket_count_and_refuses_another(tmp_path: Path) -> None:
    new, legacy, other = tmp_path / "new", tmp_path / "legacy", tmp_path / "other"
    with open_destination(str(new)):
        pass  # a claim alone writes nothing
    assert not (new / "_state" / "layout.json").exists()
    with open_destination(str(new)) as dest:
        dest.write(make_batch(simple_runs(2)))
    assert json.loads((new / "_state" / "layout.json").read_text()) == {"buckets": BUCKETS}
    with open_destination(str(new)) as dest:  # our own layout: accepted
        dest.write(make_batch(simple_runs(2)))

    # A root from before layout.json (32 buckets: state files up to bucket-31), or one of another count.
    (legacy / "_state" / "runs").mkdir(parents=True)
    (legacy / "_state" / "runs" / "bucket-17.parquet").write_bytes(b"")
    (other / "_state").mkdir(parents=True)
    (other / "_state" / "layout.json").write_text('{"buckets": 16}')
    for root, count in ((legacy, 32), (other, 16)):
        with pytest.raises(DestinationError, match=f"into {count} hash buckets .* this version writes {BUCKETS}"):
            open_destination(str(root)).__enter__()
        assert not list(root.glob("[!_]*/**/*.parquet"))
