"""The steps of a scheduled export, as plain functions the DAG wires: plan -> export (per shard) -> load -> checks.

Each step returns JSON-ready values for XCom (ids, counts, reasons; never a secret) and is idempotent, so
Airflow may retry any of them. Errors that a retry cannot fix (a refused key, bad input, a data check that
fails) fail the task at once; a partial export fails it after writing what worked, so that the retry
fetches only the runs that are still missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn

from etl.config import Settings
from etl.errors import AuthError, DataCheckError, DiscoveryError, EtlError, InputError, PartialExportError
from etl.extract import RunRef
from etl.load import DUCKDB_STORAGE_VERSION
from etl.orchestrate.threads import ThreadSource, resolve_thread_ids
from etl.pipeline import PROGRESS_INTERVAL_S, ExportOptions, ExportSummary, LogLines, Sources, run_export
from etl.pipeline_responses import PROGRESS_UNITS, ResponseSources, run_responses_export
from etl.sharding import Shard
from etl.values import iso

log = logging.getLogger(__name__)

# The load picks the partitions whose files changed since the plan, minus this much: worker and object
# store clocks may disagree, and loading a partition once too often costs only time.
CLOCK_MARGIN = timedelta(minutes=15)
REPORTS_DIR = "_reports"  # under the Parquet root, beside the tables (no reader's dataset looks in "_" folders)


@dataclass(frozen=True)
class Window:
    """The ``created_at`` bounds of the runs an interval discovers: ``[since, until)`` in unix seconds."""

    since: int
    until: int

    @classmethod
    def of_interval(cls, start: datetime | None, end: datetime | None) -> Window:
        """The window of a DagRun's data interval (both ends must be known)."""
        if start is None or end is None:
            raise InputError("this DagRun has no data interval: trigger it with a logical date")
        window = cls(int(start.timestamp()), int(end.timestamp()))
        if window.until <= window.since:
            raise InputError(f"the data interval {iso(start)} .. {iso(end)} is empty")
        return window

    def describe(self) -> str:
        """``[2026-01-01T00:00:00+00:00, 2026-01-02T00:00:00+00:00)``."""
        return f"[{iso(self.since)}, {iso(self.until)})"


def plan_export(
    settings: Settings, threads: ThreadSource, dest: str, window: Window, shards: int, *, all_threads: bool = False
) -> list[dict[str, Any]]:
    """Discover the interval's runs (and those left unfinished before) not yet at ``dest``; split them into shards.

    Returns one ``{"index", "count", "runs", "planned_at"}`` per shard (the export tasks map over the list),
    each run as ``"thread_id/run_id"``.
    """
    planned_at = datetime.now(UTC)
    with fail_fast():
        count = Shard(0, shards).count  # refuses a count out of range before any request
        thread_ids = [] if all_threads and threads.empty else resolve_thread_ids(threads, dest)
        # No watermarks: the interval bounds discovery, so a backfill of an old interval sees all of its runs.
        summary = run_export(
            settings,
            Sources(threads=tuple(thread_ids), since=window.since, until=window.until, all_threads=all_threads),
            ExportOptions(dest=dest, dry_run=True, use_watermarks=False),
        )
    if summary.failures:
        for failure in summary.failures:
            log.error("cannot list the runs of thread %s: %s", failure["thread_id"], failure["reason"])
        raise DiscoveryError(
            f"the runs of {len(summary.failures)} of {len(thread_ids)} threads could not be listed (see above)"
        )
    parts = split_runs(summary.planned, count)
    log.info(
        "plan for %s over %d threads: %d runs to export, %d already finished at %s; shard sizes %s",
        window.describe(),
        len(thread_ids),
        len(summary.planned),
        summary.runs_skipped,
        dest,
        [len(part["runs"]) for part in parts],
    )
    return [{**part, "planned_at": iso(planned_at, "microseconds")} for part in parts]


def plan_responses() -> list[dict[str, Any]]:
    """``source: responses``: one export task (responses are read by id, not discovered per interval)."""
    return [{"index": 0, "count": 1, "runs": [], "planned_at": iso(datetime.now(UTC), "microseconds")}]


def export_responses(settings: Settings, dest: str, sources: ResponseSources) -> dict[str, Any]:
    """Export the responses and conversations of ``sources`` into ``dest``: each conversation from its last stored
    item on, finished responses not again. Raises ``PartialExportError`` after writing when some failed."""
    with fail_fast():
        summary = run_responses_export(settings, sources, ExportOptions(dest=dest), LogLines(units=PROGRESS_UNITS))
    for line in summary.lines():
        log.info("%s", line)
    if summary.exit_code:
        raise PartialExportError(
            f"{len(summary.failures)} responses or conversations failed (named above); a retry fetches them"
        )
    return summary.as_dict()


def split_runs(planned: Iterable[str], count: int) -> list[dict[str, Any]]:
    """``thread/run`` strings split into ``count`` shards the way ``--shard I/N`` splits them."""
    shards = [Shard(index, count) for index in range(count)]
    runs: list[list[str]] = [[] for _ in shards]
    for item in planned:
        ref = RunRef.parse(item)
        index = next(shard.index for shard in shards if shard.owns(ref.run_id))
        runs[index].append(item)
    return [{"index": shard.index, "count": shard.count, "runs": runs[shard.index]} for shard in shards]


def export_shard(
    settings: Settings,
    dest: str,
    shard: Mapping[str, Any],
    *,
    progress_every: float = PROGRESS_INTERVAL_S,
    list_threads: bool = False,
) -> dict[str, Any]:
    """Export one shard's planned runs into ``dest``; returns the export's metrics (``ExportSummary.as_dict``).

    ``list_threads``: also write the rows of the listed threads this shard owns (an export of all threads).

    Raises ``PartialExportError`` after writing when some runs failed, so that Airflow retries the rest.
    """
    which = Shard(int(shard["index"]), int(shard["count"]))
    with fail_fast():
        refs = tuple(RunRef.parse(item) for item in shard["runs"])
        if not refs and not list_threads:
            log.info("shard %s: no runs planned, nothing to export", which)
            return ExportSummary(dest=dest, shard=str(which)).as_dict()
        log.info("shard %s: exporting %d runs into %s", which, len(refs), dest)
        summary = run_export(
            settings,
            Sources(runs=refs, list_threads=list_threads),
            ExportOptions(dest=dest, shard=which),
            observer=LogLines(interval=progress_every),
        )
    for line in summary.lines():
        log.info("%s", line)
    if summary.exit_code:
        raise PartialExportError(
            f"shard {which}: {len(summary.failures)} of {len(refs)} runs failed (named above); "
            f"{summary.runs_ok} were written, a retry fetches the others"
        )
    return summary.as_dict()


def load_into_duckdb(
    dest: str, duckdb_path: str, planned_at: str, *, storage_version: str = DUCKDB_STORAGE_VERSION
) -> dict[str, Any]:
    """Bring the DuckDB file up to date with the Parquet partitions written since the plan (all, for a new file).

    The single writer of the DuckDB file; idempotent. Returns the partitions loaded and the rows per table.
    ``storage_version``: the storage format of the file when this creates it.
    """
    from pathlib import Path

    from etl.load.duckdb import load_parquet_into_duckdb
    from etl.load.fs import open_store
    from etl.load.parquet import partitions_changed_since

    with fail_fast():
        if not open_store(dest, must_exist=False).exists():
            log.info("nothing exported into %s yet: nothing to load", dest)
            return {"partitions": [], "rows": {}}
        days: list[date] | None = None
        if Path(duckdb_path).expanduser().exists():
            since = datetime.fromisoformat(planned_at) - CLOCK_MARGIN
            changed = partitions_changed_since(dest, since)
            days = sorted({day for table_days in changed.values() for day in table_days})
            log.info("loading %d partitions changed since %s into %s", len(days), iso(since), duckdb_path)
        else:
            log.info("%s is new: loading every partition of %s", duckdb_path, dest)
        rows = load_parquet_into_duckdb(dest, duckdb_path, days, storage_version=storage_version)
    log.info("loaded into %s: %s", duckdb_path, ", ".join(f"{name} {count}" for name, count in rows.items()))
    return {"partitions": None if days is None else [day.isoformat() for day in days], "rows": rows}


def run_data_checks(dests: Sequence[str]) -> dict[str, dict[str, int]]:
    """Run every check of ``sql/checks`` over each destination; fail on any violated rule of severity error.

    Returns ``{dest: {check name: violations}}``: all zero but for warnings (logged as such), or the task fails.
    """
    from etl.sqlrun import run_checks

    outcome: dict[str, dict[str, int]] = {}
    broken: list[str] = []
    with fail_fast():
        for dest in dests:
            results = run_checks(dest)
            outcome[dest] = {result.name: result.violations for result in results}
            for result in results:
                if result.passed:
                    log.info("check %s over %s: ok (%s)", result.name, dest, result.rule)
                    continue
                if result.failed:
                    broken.append(f"{result.name} over {dest}")
                log.log(
                    logging.ERROR if result.failed else logging.WARNING,
                    "check %s over %s (%s): %d violations of %r; first rows: %s",
                    result.name,
                    dest,
                    result.severity,
                    result.violations,
                    result.rule,
                    result.sample.to_pylist(),
                )
        if broken:
            raise DataCheckError(f"{len(broken)} data checks failed: {', '.join(broken)}")
    return outcome


def write_interval_report(dest: str, window: Window, days: int) -> dict[str, Any]:
    """Write the report of the ``days`` days up to the interval's end to ``<dest>/_reports/<interval date>.html``.

    Returns where it went and its size. The page is the one ``runsteps report`` writes, over the Parquet root.
    """
    from etl.load.fs import open_store
    from etl.report import Scope, render_report

    with fail_fast():
        if days < 1:
            raise InputError(f"report_days is {days}: give 1 or more")
        until = datetime.fromtimestamp(window.until, UTC)
        scope = Scope(since=until - timedelta(days=days), until=until)
        page = render_report(dest, scope).encode("utf-8")
        name = f"{REPORTS_DIR}/{datetime.fromtimestamp(window.since, UTC).date().isoformat()}.html"
        store = open_store(dest)
        store.write_atomic(name, page)
    log.info("report of %s (the %d days up to %s) written to %s", dest, days, until.isoformat(), store.path(name))
    return {
        "report": store.path(name),
        "bytes": len(page),
        "since": scope.params()["since"],
        "until": until.isoformat(),
    }


@contextmanager
def fail_fast(*also: type[EtlError]) -> Iterator[None]:
    """Turn errors that a retry cannot fix into Airflow's fail-without-retry; let the others retry.

    ``also``: more error types that cannot be fixed by a retry where this block runs (the preflight's
    ``DestinationError`` about a path; elsewhere that type may be a store that is briefly unreachable).
    """
    final: tuple[type[EtlError], ...] = (AuthError, InputError, DataCheckError, *also)
    try:
        yield
    except final as exc:
        _fail_without_retry(exc)


def _fail_without_retry(exc: EtlError) -> NoReturn:
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # called outside Airflow: the error itself says it all
        raise exc from None
    # The message of an etl error never holds the key (etl.errors' rule), so it is safe in the task log.
    raise AirflowFailException(f"{type(exc).__name__}: {exc}") from None
