"""``runsteps replay``: an archive alone rebuilds exactly the tables its export wrote (both destinations, S3 too)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from click.testing import CliRunner, Result
from expected import actual_tables
from parquet_support import S3, moto_server, s3  # noqa: F401 (fixtures)

from etl.archive import decode_line, open_archive
from etl.archive.reader import open_archive_store
from etl.archive.replay import ReplayedRun, ReplaySummary, iter_replayed_runs
from etl.cli import cli
from etl.cli.export import archive_hook
from etl.config import Secret, Settings
from etl.errors import DestinationError
from etl.extract import ResponseRecord
from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread
from etl.load import open_destination
from etl.load.base import Destination, ExportBatch
from etl.pipeline import ExportOptions, Sources, run_export
from etl.sharding import Shard

KEY = "sk-test-archive-0123456789abcdef"
FAST_FAULTS = ("429-ms", "500", "502", "503", "drop", "cut")


@pytest.fixture(scope="module")
def fake() -> Any:
    config = FakeConfig.small(
        threads=3, runs_per_thread=5, steps_per_run="0-8", future_variants=True, api_key=KEY,
        boundary_sizes=(0, 1, 101), long_output_bytes=50_000,
    )
    with serve_in_thread(config) as server:
        yield server


def export(fake: FakeServer, dest: str, archive: str, *args: str) -> Result:
    threads = [arg for tid in fake.dataset.thread_ids for arg in ("--thread", tid)]
    return CliRunner().invoke(
        cli,
        ["export", *threads, "--dest", dest, "--archive", archive, "--base-url", fake.base_url, "--no-progress", *args],
        env={"OPENAI_API_KEY": KEY},
        catch_exceptions=False,
    )


def replay(archive: str, dest: str, *args: str) -> dict[str, Any]:
    command = ["replay", archive, "--dest", dest, "--metrics-json", *args]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return metrics


def dest_path(tmp_path: Path, name: str, kind: str) -> str:
    return str(tmp_path / (f"{name}.duckdb" if kind == "duckdb" else name))


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_replay_rebuilds_every_table_exactly(fake: FakeServer, tmp_path: Path, kind: str) -> None:
    original, rebuilt, archive = dest_path(tmp_path, "a", kind), dest_path(tmp_path, "b", kind), str(tmp_path / "arch")
    result = export(fake, original, archive, "--include-file-search-content", "--page-size", "3")
    assert result.exit_code == 0, result.output

    metrics = replay(archive, rebuilt)

    want, got = actual_tables(original), actual_tables(rebuilt)
    assert got == want  # every column of every row, extracted_at included
    assert len(want["runs"]) == len(fake.truth.runs) and len(want["run_steps"]) == len(fake.truth.steps)
    assert all(len(rows) for rows in want.values())
    assert (metrics["runs_ok"], metrics["steps"]) == (len(fake.truth.runs), len(fake.truth.steps))
    assert metrics["runs_skipped"] == 0
    raw = b"".join(gzip.decompress(p.read_bytes()) for p in Path(archive).rglob("*.jsonl.gz"))
    assert KEY.encode() not in raw and b"x-request-id" in raw


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_retries_and_a_later_export_replay_as_the_latest_fetch(tmp_path: Path, kind: str) -> None:
    original, rebuilt, archive = dest_path(tmp_path, "a", kind), dest_path(tmp_path, "b", kind), str(tmp_path / "arch")
    config = FakeConfig.small(api_key=KEY, long_output_bytes=0, fault_rate=0.25, fault_kinds=FAST_FAULTS)
    with serve_in_thread(config) as server:
        assert export(server, original, archive, "--page-size", "2").exit_code == 0
        # The step changes at the API; the second export (same archive) fetches every run again.
        step = next(s for s in server.truth.steps_with_content if s["status"] == "completed")
        server.dataset.replace_step(step | {"status": "failed", "failed_at": step["created_at"] + 5})
        second = export(server, original, archive, "--page-size", "2", "--refresh")
        assert second.exit_code == 0, second.output

    metrics = replay(archive, rebuilt)

    want = actual_tables(original)
    assert want["run_steps"][(step["id"],)]["status"] == "failed"
    assert actual_tables(rebuilt) == want
    statuses = {json.loads(line)["status"] for p in Path(archive).rglob("*.jsonl.gz")
                for line in gzip.decompress(p.read_bytes()).splitlines()}
    assert statuses > {200}  # failed attempts are archived too, and left out of the tables
    assert metrics["runs_ok"] == len(want["runs"])


def test_an_archive_on_s3_replays_into_a_local_destination(
    fake: FakeServer, tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch  # noqa: F811 (fixture)
) -> None:
    original, rebuilt = str(tmp_path / "a.duckdb"), str(tmp_path / "b")
    assert export(fake, original, s3.uri("raw")).exit_code == 0
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the option alone must reach the store
    replay(s3.uri("raw"), rebuilt, "--s3-endpoint-url", s3.endpoint)
    assert actual_tables(rebuilt) == actual_tables(original)


def test_an_archive_with_nothing_in_it_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DestinationError, match="no archived responses"):
        open_archive_store(str(tmp_path))
    result = CliRunner().invoke(cli, ["replay", str(tmp_path), "--dest", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2 and "no archived responses" in result.output


# -- choosing what to rebuild from: hand-made archives --------------------------------------------------

T0 = datetime(2026, 5, 4, 10, 0, 0, 250_000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def steps_page(run: str, ids: list[str], has_more: bool, when: datetime, after: str | None = None,
               status: int = 200) -> ResponseRecord:
    query = [("limit", "2"), ("order", "asc")] + ([("after", after)] if after else [])
    data = [{"id": i, "object": "thread.run.step", "run_id": run, "thread_id": "thread_t", "tag": when.second}
            for i in ids]
    body = {"object": "list", "data": data, "has_more": has_more} if status == 200 else {"error": {"message": "x"}}
    return ResponseRecord("GET", f"/threads/thread_t/runs/{run}/steps", tuple(query), status, {}, when,
                          orjson.dumps(body))


def run_get(run: str, status: str, when: datetime) -> ResponseRecord:
    body = {"id": run, "object": "thread.run", "thread_id": "thread_t", "status": status, "created_at": 1}
    return ResponseRecord("GET", f"/threads/thread_t/runs/{run}", (), 200, {}, when, orjson.dumps(body))


def runs_list(runs: dict[str, str], when: datetime) -> ResponseRecord:
    data = [{"id": r, "object": "thread.run", "thread_id": "thread_t", "status": s, "created_at": 1}
            for r, s in runs.items()]
    body = {"object": "list", "data": data, "has_more": False}
    return ResponseRecord("GET", "/threads/thread_t/runs", (("limit", "100"),), 200, {}, when, orjson.dumps(body))


def rebuilt(tmp_path: Path, responses: list[ResponseRecord]) -> tuple[dict[str, ReplayedRun], ReplaySummary]:
    with open_archive(str(tmp_path), max_records=3) as archive:  # several parts: runs span files
        for response in responses:
            archive.record(response)
    summary = ReplaySummary(archive="a", dest="d")
    runs = {run.run_id: run for run in iter_replayed_runs(open_archive_store(str(tmp_path)), Shard(), summary)}
    return runs, summary


def test_the_latest_complete_walk_wins_with_the_run_object_it_was_fetched_with(tmp_path: Path) -> None:
    runs, summary = rebuilt(tmp_path, [
        # run_a: an explicit run fetched whole, then fetched again (after discovery) but cut short by errors.
        run_get("run_a", "in_progress", at(0)),
        steps_page("run_a", ["s1", "s2"], True, at(1)),
        steps_page("run_a", ["s3"], False, at(2.9), after="s2"),
        runs_list({"run_a": "completed", "run_c": "completed"}, at(9)),
        steps_page("run_a", ["s1", "s2"], True, at(10)),
        steps_page("run_a", [], False, at(11), after="s2", status=500),
        # run_b: the export failed it after one page.
        steps_page("run_b", ["b1", "b2"], True, at(3)),
        # run_c: discovered; its last page arrives twice (one copy belongs to no walk).
        steps_page("run_c", ["c1", "c2"], True, at(12)),
        steps_page("run_c", ["c3"], False, at(13), after="c2"),
        steps_page("run_c", ["c3"], False, at(14), after="c2"),
    ])
    assert sorted(runs) == ["run_a", "run_c"]
    run_a, run_c = runs["run_a"], runs["run_c"]
    assert [s["id"] for s in run_a.steps] == ["s1", "s2", "s3"]
    assert run_a.run is not None and run_a.run["status"] == "in_progress"  # the copy fetched before that walk
    assert run_a.extracted_at == datetime(2026, 5, 4, 10, 0, 3, tzinfo=UTC)  # the walk's last page, to the second
    assert [s["id"] for s in run_c.steps] == ["c1", "c2", "c3"]
    assert run_c.run is not None and run_c.run["status"] == "completed"
    assert run_c.extracted_at == datetime(2026, 5, 4, 10, 0, 13, tzinfo=UTC)
    assert summary.runs_skipped == 1 and summary.problems == [
        "thread_t/run_b: no complete walk of its steps pages in the archive; skipped"
    ]


def test_a_later_complete_walk_replaces_an_earlier_one(tmp_path: Path) -> None:
    runs, _ = rebuilt(tmp_path, [
        run_get("run_a", "in_progress", at(0)),
        steps_page("run_a", ["s1"], False, at(1)),
        run_get("run_a", "completed", at(20)),
        steps_page("run_a", ["s1", "s2"], True, at(21)),
        steps_page("run_a", [], False, at(22), after="s2"),
    ])
    run_a = runs["run_a"]
    assert [(s["id"], s["tag"]) for s in run_a.steps] == [("s1", 21), ("s2", 21)]
    assert run_a.run is not None and run_a.run["status"] == "completed"


def test_a_walk_whose_cursor_comes_back_is_not_complete(tmp_path: Path) -> None:
    runs, summary = rebuilt(tmp_path, [
        run_get("run_a", "completed", at(0)),
        steps_page("run_a", ["s1", "s2"], True, at(1)),
        steps_page("run_a", ["s1", "s2"], True, at(2), after="s2"),  # the server repeats itself
        steps_page("run_a", ["s3"], False, at(3), after="s2"),
    ])
    assert runs == {} and summary.runs_skipped == 1


def test_unreadable_lines_are_named_and_the_rest_replays(tmp_path: Path) -> None:
    part = tmp_path / "responses" / "fetched_date=2026-05-04" / "part-damaged.jsonl.gz"
    part.parent.mkdir(parents=True)
    part.write_bytes(gzip.compress(b'{"v": 1}\nnot json\n'))
    runs, summary = rebuilt(tmp_path, [run_get("run_a", "completed", at(0)), steps_page("run_a", ["s1"], False, at(1))])
    assert list(runs) == ["run_a"]
    assert summary.bad_lines == 2
    assert summary.problems[0].startswith("responses/fetched_date=2026-05-04/part-damaged.jsonl.gz:1: ")
    assert summary.problems[1].startswith("responses/fetched_date=2026-05-04/part-damaged.jsonl.gz:2: not JSON")


class _Crash(Exception):
    """The process dying between two batches (the archive's parts still in memory are lost with it)."""


class _CrashingDestination:
    """A real destination that dies after its ``lands``-th batch has landed."""

    def __init__(self, dest: Destination, lands: int) -> None:
        self._dest, self._left = dest, lands

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dest, name)

    def write(self, batch: ExportBatch) -> None:
        self._dest.write(batch)
        self._left -= 1
        if self._left == 0:
            raise _Crash


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_every_run_a_destination_records_has_its_raw_responses_published_first(
    fake: FakeServer, tmp_path: Path, kind: str
) -> None:
    """Killed after two batches landed, before the archive closed: every run the destination holds as exported has
    its run object (its thread's run list) and step pages in the parts already published. Otherwise a re-run would
    skip it as finished and its raw responses would be lost for good (a replay then lacks it)."""
    settings = Settings(api_key=Secret(KEY), base_url=fake.base_url)
    sources = Sources(threads=tuple(fake.dataset.thread_ids))
    archive = str(tmp_path / "archive")
    with archive_hook(archive, settings, None) as archived, open_destination(dest_path(tmp_path, "x", kind)) as dest:
        options = archived(ExportOptions(dest=dest.uri, batch_runs=3))
        with pytest.raises(_Crash):
            run_export(settings, sources, options, dest=cast(Destination, _CrashingDestination(dest, lands=2)))
        exported = {r.run_id: r.thread_id for r in dest.run_records().values() if r.exported}
        published = {decode_line(line).path for line in _archived_lines(Path(archive))}
    assert len(exported) >= 2
    for run_id, thread_id in exported.items():
        listing = f"/threads/{thread_id}/runs"  # discovery: the run objects come from the thread's run list
        assert {listing, f"{listing}/{run_id}/steps"} <= published, run_id


def _archived_lines(root: Path) -> list[bytes]:
    parts = sorted(root.rglob("*.jsonl.gz"))
    return [line for part in parts for line in gzip.decompress(part.read_bytes()).splitlines()]
