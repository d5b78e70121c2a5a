"""The one write path: a ``Batch`` of objects from any source lands through ``write_batch``; a run whose objects do
not fit the tables fails alone, with the reason in its record, and the rest of the batch is written."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from paths import FIXTURES

from etl.errors import TransformError
from etl.load import open_destination
from etl.load.batch import Batch, write_batch
from etl.transform import tables as transform_tables
from etl.values import Json

FETCHED = datetime(2026, 11, 25, 12, 30, 5, 750_000, tzinfo=UTC)


def steps_of(run_id: str) -> list[Json]:
    """The variants page's seven steps, as the steps of ``run_id``."""
    data: list[Json] = json.loads((FIXTURES / "steps_variants_page.json").read_text())["data"]
    return [step | {"id": f"{step['id']}_{run_id}", "run_id": run_id} for step in data]


def run_of(run_id: str) -> Json:
    run: Json = json.loads((FIXTURES / "runs.jsonl").read_text().splitlines()[0])
    return run | {"id": run_id, "thread_id": "thread_v", "status": "completed"}


def table(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_run_that_does_not_fit_fails_alone_and_the_others_are_written(tmp_path: Path) -> None:
    bad = steps_of("run_bad")
    bad[3]["type"] = 7  # a step type that is not a string: the transform refuses the step, so its run
    batch = Batch()
    batch.add_run("thread_v", "run_good", run_of("run_good"), steps_of("run_good"), FETCHED)
    batch.add_run("thread_v", "run_bad", run_of("run_bad"), bad, FETCHED)
    batch.add_run("thread_v", "run_gone", None, [], FETCHED, error="HTTP 404: no such run")
    dest = tmp_path / "out.duckdb"
    with open_destination(str(dest)) as destination:
        written = write_batch(destination, batch)
        records = destination.run_records()

    assert list(written.refused) == ["run_bad"]
    assert written.objects == {"runs": 1, "steps": 7}
    assert written.tables["run_steps"] == 7 and written.tables["runs"] == 1
    assert table(dest, "SELECT DISTINCT run_id FROM run_steps") == [("run_good",)]
    assert table(dest, "SELECT run_id FROM runs") == [("run_good",)]
    # Rows are stamped with the run's fetch second.
    (stamp,) = table(dest, "SELECT DISTINCT epoch_ms(extracted_at) FROM run_steps")
    assert stamp == (int(FETCHED.timestamp()) * 1000,)
    assert records["run_good"].exported and records["run_good"].step_count == 7
    assert records["run_good"].run_status == "completed"
    refused = records["run_bad"]
    assert not refused.exported and refused.step_count == 0
    assert refused.error == (
        "the API sent data that does not fit the tables: step step_v3_run_bad: field type should be a string, "
        "got an integer 7"
    )
    assert not records["run_gone"].exported and records["run_gone"].error == "HTTP 404: no such run"


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_time_no_reader_could_show_fails_its_run_and_the_tables_stay_readable(kind: str, tmp_path: Path) -> None:
    """A run created in year 3170843 and a step in year -1199 (a server's garbage): each fails its own run; the
    good run is written, and every table still reads back (such values made queries fail, and Parquet writes)."""
    bad_step = steps_of("run_old")
    bad_step[0]["created_at"] = -99_999_999_999
    batch = Batch()
    batch.add_run("thread_v", "run_good", run_of("run_good"), steps_of("run_good"), FETCHED)
    batch.add_run("thread_v", "run_future", run_of("run_future") | {"created_at": 99_999_999_999_999}, [], FETCHED)
    batch.add_run("thread_v", "run_old", run_of("run_old"), bad_step, FETCHED)
    dest = tmp_path / ("out.duckdb" if kind == "duckdb" else "out")
    with open_destination(str(dest)) as destination:
        written = write_batch(destination, batch)
        records = destination.run_records()
        runs = destination.read_table("runs", ["run_id", "created_at"]).to_pylist()
        steps = destination.read_table("run_steps", ["run_id", "created_at"]).to_pylist()
    assert sorted(written.refused) == ["run_future", "run_old"]
    assert [row["run_id"] for row in runs] == ["run_good"] and {row["run_id"] for row in steps} == {"run_good"}
    assert records["run_future"].error == (
        "the API sent data that does not fit the tables: run run_future: field created_at is 99999999999999, not a"
        " time between years 1 and 9999 (unix seconds)"
    )
    assert "step step_v0_run_old: field created_at is -99999999999" in (records["run_old"].error or "")
    assert records["run_good"].exported


def test_within_a_batch_the_last_copy_of_an_object_wins() -> None:
    batch = Batch()
    first, second = steps_of("run_a")[0], copy.deepcopy(steps_of("run_a")[0])
    second["status"] = "failed"
    batch.add("steps", first, FETCHED)
    batch.add("steps", second, FETCHED)
    export_batch, written = batch.to_export_batch()
    assert written.objects == {"steps": 1} and export_batch.records == []
    assert export_batch.tables["run_steps"].column("status").to_pylist() == ["failed"]


def test_an_error_that_names_no_object_is_found_group_by_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new kind of object goes through the same path; an error that names nothing is still pinned on its group."""

    def notes(objects: list[Json], extracted_at: datetime) -> transform_tables.Rows:
        if any(obj.get("broken") for obj in objects):
            raise TransformError("notes do not fit the table schema (no single field could be blamed)")
        return {}, transform_tables.Drift(rows=len(objects))

    monkeypatch.setitem(transform_tables.TRANSFORMS, "notes", notes)
    batch = Batch()
    batch.add("notes", {"id": "n1"}, FETCHED, group="run_a")
    batch.add("notes", {"id": "n2", "broken": True}, FETCHED, group="run_b")
    batch.add("notes", {"id": "n3"}, FETCHED)  # a group of its own
    _, written = batch.to_export_batch()
    assert list(written.refused) == ["run_b"]
    assert written.objects == {"notes": 2} and written.drift.rows == 2
    assert all(isinstance(t, pa.Table) and t.num_rows == 0 for t in batch.to_export_batch()[0].tables.values())
