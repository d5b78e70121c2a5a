"""The functions the Airflow DAG wires (etl.orchestrate), run directly against the fake API: no scheduler needed."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pytest

from etl.config import Secret, Settings
from etl.errors import AuthError, InputError, PartialExportError
from etl.fakeapi import FakeConfig, FakeServer
from etl.load import open_destination
from etl.load.batch import Batch, write_batch
from etl.load.parquet import parquet_dataset
from etl.orchestrate import (
    DagParams,
    ThreadSource,
    Window,
    export_shard,
    load_into_duckdb,
    plan_export,
    resolve_thread_ids,
    run_data_checks,
    settings_from_connection,
    split_runs,
)
from etl.orchestrate.entrypoints import plan_step
from etl.orchestrate.tasks import fail_fast
from etl.sharding import Shard

DAY_1 = Window(int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2026, 1, 2, tzinfo=UTC).timestamp()))
DAY_2 = Window(DAY_1.until, DAY_1.until + 86_400)
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


@dataclass
class FakeConnection:
    """The fields of an Airflow Connection that etl.orchestrate reads."""

    password: str | None = "sk-test-0123456789"
    host: str | None = "https://api.example.test/v1"
    port: int | None = None
    conn_id: str | None = "openai_default"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


# -- connection -----------------------------------------------------------------------------------------


def test_connection_in_the_provider_layout_gives_key_url_and_extras() -> None:
    conn = FakeConnection(extra={"organization": "org-1", "project": "proj-1", "azure_api_version": "2024-05-01"})
    settings = settings_from_connection(conn, concurrency=4, include_file_search_content=True)
    assert settings.api_key.reveal() == "sk-test-0123456789"
    assert (settings.base_url, settings.organization, settings.project) == (
        "https://api.example.test/v1",
        "org-1",
        "proj-1",
    )
    assert (settings.azure_api_version, settings.concurrency, settings.include_file_search_content) == (
        "2024-05-01",
        4,
        True,
    )
    assert "sk-test-0123456789" not in repr(settings)


def test_connection_reads_the_providers_openai_client_kwargs() -> None:
    kwargs = {
        "api_key": "sk-from-kwargs-99",
        "base_url": "https://proxy.test/v1",
        "organization": "org-k",
        "project": "proj-k",
        "api_version": "2025-01-01",
    }
    settings = settings_from_connection(
        FakeConnection(password=None, host=None, extra={"openai_client_kwargs": kwargs})
    )
    assert settings.api_key.reveal() == "sk-from-kwargs-99"
    assert (settings.base_url, settings.organization, settings.project, settings.azure_api_version) == (
        "https://proxy.test/v1",
        "org-k",
        "proj-k",
        "2025-01-01",
    )


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        (None, None, "https://api.openai.com/v1"),
        ("http://127.0.0.1:8787/v1/", None, "http://127.0.0.1:8787/v1"),
        ("gateway.test/openai/v1", 8443, "https://gateway.test:8443/openai/v1"),
    ],
)
def test_connection_host_becomes_the_base_url(host: str | None, port: int | None, base_url: str) -> None:
    assert settings_from_connection(FakeConnection(host=host, port=port)).base_url == base_url


def test_connection_without_a_key_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="'openai_default' has no API key"):
        settings_from_connection(FakeConnection(password=""))


# -- params, window, shards -------------------------------------------------------------------------------


def test_params_blank_strings_mean_unset() -> None:
    params = DagParams.from_mapping(
        {
            "conn_id": "",
            "dest": " /data/rs ",
            "duckdb_path": "",
            "shards": 3,
            "concurrency": 8,
            "thread_ids": ["thread_a"],
            "threads_file": "  ",
            "threads_query": "",
            "threads_query_source": "",
        }
    )
    assert (params.conn_id, params.dest, params.duckdb_path, params.shards) == ("openai_default", "/data/rs", None, 3)
    assert params.threads == ThreadSource(ids=("thread_a",))
    assert params.check_dests == ["/data/rs"]


def test_params_refuse_a_duckdb_file_as_the_parquet_root() -> None:
    with pytest.raises(InputError, match="duckdb_path"):
        DagParams.from_mapping({"dest": "/data/rs.duckdb"})


def test_window_is_the_data_interval_in_unix_seconds() -> None:
    window = Window.of_interval(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    assert window == DAY_1
    assert window.describe() == "[2026-01-01T00:00:00+00:00, 2026-01-02T00:00:00+00:00)"
    with pytest.raises(InputError, match="no data interval"):
        Window.of_interval(None, datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(InputError, match="empty"):
        Window.of_interval(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))


def test_split_runs_matches_the_export_shard_filter() -> None:
    planned = [f"thread_t{i % 3}/run_r{i:03d}" for i in range(200)]
    parts = split_runs(planned, 4)
    assert [(part["index"], part["count"]) for part in parts] == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert sorted(item for part in parts for item in part["runs"]) == sorted(planned)
    for part in parts:
        assert part["runs"], "200 runs leave no shard of 4 empty"
        assert all(Shard(part["index"], 4).owns(item.split("/")[1]) for item in part["runs"])


# -- thread sources ---------------------------------------------------------------------------------------


def test_thread_ids_from_list_file_and_query_each_once(tmp_path: Path) -> None:
    threads_file = tmp_path / "threads.csv"
    threads_file.write_text("thread_id,owner\nthread_b,x\nthread_c,y\n")
    watch = tmp_path / "watch.duckdb"
    with duckdb.connect(str(watch)) as con:
        con.execute(
            "CREATE TABLE watch AS SELECT * FROM (VALUES ('thread_c', true), ('thread_d', true), "
            "('thread_e', false), (NULL, true)) t(thread_id, active)"
        )
    source = ThreadSource(
        ids=("thread_a", "thread_b"),
        file=str(threads_file),
        query="SELECT thread_id FROM watch WHERE active ORDER BY thread_id",
        query_source=str(watch),
    )
    assert resolve_thread_ids(source, default_query_source="unused") == ["thread_a", "thread_b", "thread_c", "thread_d"]


def test_thread_query_must_return_a_thread_id_column(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    with pytest.raises(InputError, match="thread_id column"):
        resolve_thread_ids(ThreadSource(query="SELECT 'thread_a' AS id"), default_query_source=str(db))
    with pytest.raises(InputError, match="thread id"):
        resolve_thread_ids(ThreadSource(query="SELECT 'not an id!' AS thread_id"), default_query_source=str(db))


def test_no_thread_source_is_an_input_error() -> None:
    with pytest.raises(InputError, match="thread_ids, threads_file or threads_query"):
        resolve_thread_ids(ThreadSource(), default_query_source="/nowhere")


@pytest.fixture(scope="module")
def airflow_fail() -> Iterator[type[Exception]]:
    """Airflow's fail-without-retry exception, imported with AIRFLOW_HOME in a temporary folder.

    Importing Airflow writes into ``$AIRFLOW_HOME`` (``~/airflow`` by default): never into the user's home.
    """
    home = tempfile.mkdtemp(prefix="airflow-home-")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", home)
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        from airflow.sdk.exceptions import AirflowFailException

        yield AirflowFailException
    shutil.rmtree(home, ignore_errors=True)


def test_fail_fast_stops_retries_only_for_errors_a_retry_cannot_fix(airflow_fail: type[Exception]) -> None:
    with pytest.raises(airflow_fail, match="AuthError: HTTP 401"), fail_fast():
        raise AuthError("HTTP 401 invalid_api_key", status=401)
    with pytest.raises(PartialExportError), fail_fast():
        raise PartialExportError("2 runs failed")


# -- the steps against the fake API -------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """Ten runs over two days; day 1 holds finished and still active runs."""
    with FakeServer(FakeConfig.small(days=2, seed=1)) as server:
        yield server


def _settings(fake: FakeServer) -> Settings:
    return Settings(api_key=Secret(fake.config.api_key), base_url=fake.base_url, concurrency=4)


def _table(root: Path, name: str) -> list[dict[str, Any]]:
    return parquet_dataset(str(root), name).to_table().to_pylist()


def _runs_created_in(fake: FakeServer, window: Window) -> set[str]:
    return {run["id"] for run in fake.truth.runs if window.since <= run["created_at"] < window.until}


def _export_all(fake: FakeServer, dest: Path, window: Window, shards: int) -> list[dict[str, Any]]:
    plan = plan_export(_settings(fake), ThreadSource(ids=fake.thread_ids), str(dest), window, shards)
    return [export_shard(_settings(fake), str(dest), part) for part in plan]


def test_plan_then_shards_export_the_interval_and_later_the_runs_left_active(fake: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "parquet"
    day1 = _runs_created_in(fake, DAY_1)
    active = {run["id"] for run in fake.truth.runs if run["id"] in day1 and run["status"] not in TERMINAL}
    assert active and day1 - active, "the dataset must hold finished and active runs on day 1"

    metrics = _export_all(fake, dest, DAY_1, shards=3)
    assert [m["shard"] for m in metrics] == ["0/3", "1/3", "2/3"]
    assert sum(m["runs_ok"] for m in metrics) == len(day1)
    assert {row["run_id"] for row in _table(dest, "runs")} == day1

    # Day 2 discovers its own runs and fetches day 1's active runs again; day 1's finished runs are not fetched.
    plan = plan_export(_settings(fake), ThreadSource(ids=fake.thread_ids), str(dest), DAY_2, 2)
    planned = {item.split("/")[1] for part in plan for item in part["runs"]}
    assert planned == _runs_created_in(fake, DAY_2) | active
    for part in plan:
        export_shard(_settings(fake), str(dest), part)
    steps = _table(dest, "run_steps")
    assert {row["run_id"] for row in _table(dest, "runs")} == {run["id"] for run in fake.truth.runs}
    assert sorted(row["step_id"] for row in steps) == sorted(step["id"] for step in fake.truth.steps)


def test_a_shard_with_failed_runs_writes_the_others_then_fails(fake: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "parquet"
    run = next(run for run in fake.truth.runs if run["status"] in TERMINAL)
    good = f"{run['thread_id']}/{run['id']}"
    missing = f"{run['thread_id']}/run_doesnotexist0000000000"
    shard = {"index": 0, "count": 1, "runs": [good, missing]}
    with pytest.raises(PartialExportError, match="1 of 2 runs failed"):
        export_shard(_settings(fake), str(dest), shard)
    assert {row["run_id"] for row in _table(dest, "runs")} == {run["id"]}
    # Airflow's retry asks again for the one run still missing: the finished one is not fetched twice.
    fake.reset_counters()
    with pytest.raises(PartialExportError):
        export_shard(_settings(fake), str(dest), shard)
    paths = [record.path for record in fake.requests]
    assert any("run_doesnotexist" in path for path in paths)
    assert not [path for path in paths if run["id"] in path]


def test_an_empty_shard_exports_nothing_and_reports_zeros(tmp_path: Path) -> None:
    settings = Settings(api_key=Secret("sk-unused-000000"), base_url="http://127.0.0.1:9/v1")
    metrics = export_shard(settings, str(tmp_path / "parquet"), {"index": 2, "count": 4, "runs": []})
    assert (metrics["shard"], metrics["runs_ok"], metrics["steps"], metrics["exit_code"]) == ("2/4", 0, 0, 0)
    assert not (tmp_path / "parquet").exists()


def test_load_brings_duckdb_level_with_parquet_and_checks_pass(fake: FakeServer, tmp_path: Path) -> None:
    dest, db = tmp_path / "parquet", tmp_path / "steps.duckdb"
    planned_at = datetime.now(UTC).isoformat()
    _export_all(fake, dest, DAY_1, shards=2)
    first = load_into_duckdb(str(dest), str(db), planned_at)
    assert first["partitions"] is None, "a new DuckDB file gets every partition"
    again = load_into_duckdb(str(dest), str(db), planned_at)
    assert again["partitions"], "the partitions written since the plan"
    assert {k: v for k, v in again["rows"].items() if k != "_runsteps_runs"} == {
        k: v for k, v in first["rows"].items() if k != "_runsteps_runs"
    }
    with duckdb.connect(str(db), read_only=True) as con:
        step_ids = sorted(row[0] for row in con.execute("SELECT step_id FROM run_steps").fetchall())
    assert step_ids == sorted(row["step_id"] for row in _table(dest, "run_steps"))
    outcome = run_data_checks([str(dest), str(db)])
    assert set(outcome) == {str(dest), str(db)}
    assert all(count == 0 for checks in outcome.values() for count in checks.values())


def test_load_skips_a_destination_nothing_was_exported_to(tmp_path: Path) -> None:
    loaded = load_into_duckdb(str(tmp_path / "never"), str(tmp_path / "x.duckdb"), datetime.now(UTC).isoformat())
    assert loaded == {"partitions": [], "rows": {}}
    assert not (tmp_path / "x.duckdb").exists()


def test_a_check_violation_fails_the_task_without_retry_and_a_warning_does_not(
    fake: FakeServer, tmp_path: Path, airflow_fail: type[Exception], caplog: pytest.LogCaptureFixture
) -> None:
    dest = tmp_path / "parquet"
    _export_all(fake, dest, DAY_1, shards=1)
    # A run of a model no price is known for breaks unpriced_models, a check of severity warning.
    batch = Batch()
    run = {"id": "run_unpriced", "object": "thread.run", "thread_id": "thread_unpriced", "assistant_id": "asst_x",
           "model": "mystery-model-9", "status": "completed", "created_at": DAY_1.since}  # fmt: skip
    batch.add("runs", run, datetime.now(UTC))
    with open_destination(str(dest)) as opened:
        write_batch(opened, batch)
    with caplog.at_level(logging.INFO, logger="etl.orchestrate.tasks"):
        outcome = run_data_checks([str(dest)])[str(dest)]
    assert outcome["unpriced_models"] == 1
    assert all(n == 0 for name, n in outcome.items() if name != "unpriced_models"), outcome
    (warned,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "check unpriced_models over" in warned.message and "(warning): 1 violations" in warned.message
    assert "mystery-model-9" in warned.message
    # A second copy of one data file: every key in it is now held twice, and duplicate_keys is an error.
    original = next((dest / "run_steps").rglob("*.parquet"))
    shutil.copy(original, original.with_name("copy-" + original.name))
    assert ds.dataset(str(original)).count_rows() > 0
    with pytest.raises(airflow_fail, match=r"1 data checks failed: duplicate_keys over [^,]*$"):
        run_data_checks([str(dest)])


# -- the report task --------------------------------------------------------------------------------------


def test_the_report_task_writes_the_intervals_page_under_reports(fake: FakeServer, tmp_path: Path) -> None:
    from report_support import embedded, query_rows

    from etl.orchestrate import report_step

    dest = tmp_path / "parquet"
    _export_all(fake, dest, DAY_1, shards=2)
    start, end = (datetime.fromtimestamp(moment, UTC) for moment in (DAY_1.since, DAY_1.until))
    written = report_step({"dest": str(dest), "report": True, "report_days": 7}, start, end)
    page = dest / "_reports" / "2026-01-01.html"
    assert written == {
        "report": str(page),
        "bytes": page.stat().st_size,
        "since": "2025-12-26T00:00:00+00:00",
        "until": "2026-01-02T00:00:00+00:00",
    }
    data = embedded(page.read_text(encoding="utf-8"))
    scope = {"since": written["since"], "until": written["until"]}
    assert data["overview"] == query_rows(str(dest), "overview", scope)[0]
    assert data["overview"]["runs"] == len(_runs_created_in(fake, DAY_1))
    # The page beside the tables changes nothing a reader of the root sees.
    assert run_data_checks([str(dest)])[str(dest)] and {r["run_id"] for r in _table(dest, "runs")} == (
        _runs_created_in(fake, DAY_1)
    )


def test_the_report_task_is_skipped_unless_asked_for(tmp_path: Path, airflow_fail: type[Exception]) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from etl.orchestrate import report_step

    start, end = (datetime.fromtimestamp(moment, UTC) for moment in (DAY_1.since, DAY_1.until))
    with pytest.raises(AirflowSkipException, match="the report param is off"):
        report_step({"dest": str(tmp_path / "parquet")}, start, end)
    assert not (tmp_path / "parquet").exists()


def test_plan_refuses_places_no_retry_can_fix_before_any_export_writes(
    tmp_path: Path, airflow_fail: type[Exception]
) -> None:
    """A file where the Parquet root belongs, a duckdb_path that is not a DuckDB file, a responses source without
    ids: the plan fails without retry (they passed it, then every export wrote and load was retried for ever)."""
    (tmp_path / "plain").write_text("x")
    (tmp_path / "text.duckdb").write_text("not a duckdb")
    good_root = str(tmp_path / "lake")
    day = datetime(2026, 3, 1, tzinfo=UTC)
    cases = [
        ({"dest": str(tmp_path / "plain")}, "dest '"),
        ({"dest": good_root, "duckdb_path": str(tmp_path / "text.duckdb")}, "duckdb_path '"),
        ({"dest": good_root, "source": "responses"}, "needs response or conversation ids"),
    ]
    for extra, words in cases:
        with pytest.raises(airflow_fail, match=words):
            plan_step({"thread_ids": ["thread_a"], **extra}, day, day + timedelta(days=1))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["plain", "text.duckdb"]
    assert (tmp_path / "text.duckdb").read_text() == "not a duckdb"
