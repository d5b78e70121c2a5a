"""One function per DAG task, taking the DagRun's params and upstream XComs: the DAG file only wires these."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

from etl.errors import DestinationError, InputError
from etl.orchestrate.params import DagParams
from etl.orchestrate.tasks import (
    Window,
    export_responses,
    export_shard,
    fail_fast,
    load_into_duckdb,
    plan_export,
    plan_responses,
    run_data_checks,
    write_interval_report,
)
from etl.preflight import check_destination

log = logging.getLogger(__name__)


def plan_step(params: Mapping[str, Any], start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    """The ``plan`` task: the runs of the data interval ``[start, end)``, split into shards."""
    with fail_fast():
        run = DagParams.from_mapping(params)
        window = Window.of_interval(start, end)
    # The places are checked here, before any export writes: a file where a root belongs, a duckdb_path that is
    # not a DuckDB file. No retry fixes them (they were retried, and load failed after every export had written).
    with fail_fast(DestinationError):
        check_destination(run.dest, what="dest")
        if run.duckdb_path:
            check_destination(run.duckdb_path, what="duckdb_path")
        if run.source == "responses" and run.responses.empty:
            raise InputError("source responses needs response or conversation ids: give them in the params")
    with fail_fast():
        settings = run.settings()
    if run.source == "responses":
        return plan_responses()
    return plan_export(settings, run.threads, run.dest, window, run.shards, all_threads=run.all_threads)


def export_step(params: Mapping[str, Any], shard: Mapping[str, Any]) -> dict[str, Any]:
    """The ``export`` task, mapped once per shard: its metrics become the task's XCom."""
    with fail_fast():
        run = DagParams.from_mapping(params)
        settings = run.settings()
    if run.source == "responses":
        return export_responses(settings, run.dest, run.responses)
    return export_shard(settings, run.dest, shard, list_threads=run.all_threads)


def load_step(
    params: Mapping[str, Any], planned: Sequence[Mapping[str, Any]], summaries: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The ``load`` task: totals of the shards' exports, then the DuckDB file (when ``duckdb_path`` is set)."""
    with fail_fast():
        run = DagParams.from_mapping(params)
    shards = list(summaries)
    log.info(
        "exported by %d shards: %d runs ok, %d failed, %d skipped, %d steps",
        len(shards),
        sum(int(s.get("runs_ok", 0)) for s in shards),
        sum(int(s.get("runs_failed", 0)) for s in shards),
        sum(int(s.get("runs_skipped", 0)) for s in shards),
        sum(int(s.get("steps", 0)) for s in shards),
    )
    if not run.duckdb_path:
        log.info("no duckdb_path param: nothing to load")
        return {"partitions": [], "rows": {}}
    return load_into_duckdb(
        run.dest, run.duckdb_path, str(planned[0]["planned_at"]), storage_version=run.duckdb_storage_version
    )


def checks_step(params: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """The ``checks`` task: every check of ``sql/checks`` over the Parquet root (and the DuckDB file)."""
    with fail_fast():
        run = DagParams.from_mapping(params)
    return run_data_checks(run.check_dests)


def report_step(params: Mapping[str, Any], start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """The ``report`` task: ``<dest>/_reports/<interval date>.html`` when the ``report`` param is on, else skipped."""
    with fail_fast():
        run = DagParams.from_mapping(params)
        window = Window.of_interval(start, end)
    if not run.report:
        _skip("the report param is off: no report written")
    return write_interval_report(run.dest, window, run.report_days)


def _skip(reason: str) -> NoReturn:
    log.info("%s", reason)
    from airflow.sdk.exceptions import AirflowSkipException  # only ever called inside an Airflow task

    raise AirflowSkipException(reason)
