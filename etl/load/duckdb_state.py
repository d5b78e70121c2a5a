"""The export state of a DuckDB destination: the ``_runsteps_*`` tables beside the data, and their versioning.

    _runsteps_meta        key -> value; ``schema_version`` lets a later version migrate the file
    _runsteps_runs        one ``RunRecord`` per run, upserted in the same transaction as the run's rows
    _runsteps_watermarks  (scope, thread_id) -> highest run created_at discovered and settled; never moves back
    _runsteps_chunks      (job, chunk) -> when a backfill chunk finished
    _runsteps_exports     one JSON summary per export, numbered in order

Timestamps are ``TIMESTAMP WITH TIME ZONE`` like the data tables, so ``status`` queries read them directly;
the ``StateStore`` methods convert them to the unix seconds the protocol speaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from etl.errors import DestinationError
from etl.load.base import RunRecord

# 2: the data tables have no primary keys (the writer keeps each key once; see etl.load.duckdb).
SCHEMA_VERSION = 2

STATE_DDL: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS _runsteps_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);""",
    """CREATE TABLE IF NOT EXISTS _runsteps_runs (
    run_id VARCHAR PRIMARY KEY,
    thread_id VARCHAR NOT NULL,
    run_status VARCHAR,
    run_created_at TIMESTAMP WITH TIME ZONE,
    step_count BIGINT NOT NULL,
    exported BOOLEAN NOT NULL,
    error VARCHAR,
    exported_at TIMESTAMP WITH TIME ZONE NOT NULL
);""",
    """CREATE TABLE IF NOT EXISTS _runsteps_watermarks (
    scope VARCHAR NOT NULL,
    thread_id VARCHAR NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (scope, thread_id)
);""",
    """CREATE TABLE IF NOT EXISTS _runsteps_chunks (
    job VARCHAR NOT NULL,
    chunk VARCHAR NOT NULL,
    done_at TIMESTAMP WITH TIME ZONE NOT NULL,
    PRIMARY KEY (job, chunk)
);""",
    """CREATE TABLE IF NOT EXISTS _runsteps_exports (
    export_id BIGINT PRIMARY KEY,
    recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
    summary JSON NOT NULL
);""",
)

_RECORDS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("thread_id", pa.string()),
        ("run_status", pa.string()),
        ("run_created_at", pa.timestamp("s", tz="UTC")),
        ("step_count", pa.int64()),
        ("exported", pa.bool_()),
        ("error", pa.string()),
        ("exported_at", pa.timestamp("us", tz="UTC")),
    ]
)
_RECORD_COLUMNS = (
    "run_id, thread_id, run_status, CAST(epoch(run_created_at) AS BIGINT), step_count, exported, error, exported_at"
)


def schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The file's state schema version; None when it holds no runsteps state at all."""
    has_meta = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = '_runsteps_meta'"
    ).fetchall()[0][0]
    if not has_meta:
        return None
    rows = con.execute("SELECT value FROM _runsteps_meta WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else None


def check_schema_version(con: duckdb.DuckDBPyConnection, uri: str) -> None:
    """Refuse a file that a newer version of this tool has written (it may hold state this one misreads)."""
    found = schema_version(con)
    if found is not None and found > SCHEMA_VERSION:
        raise DestinationError(
            f"{uri} was written by a newer run-steps-etl (state schema {found}, this one knows {SCHEMA_VERSION}):"
            " upgrade run-steps-etl to use it"
        )


def create_state_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the state tables if missing and stamp the schema version (inside the caller's transaction, after
    the data tables were brought to this version)."""
    for ddl in STATE_DDL:
        con.execute(ddl)
    con.execute(
        "INSERT INTO _runsteps_meta VALUES ('schema_version', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [str(SCHEMA_VERSION)],
    )


def upsert_run_records(
    con: duckdb.DuckDBPyConnection, records: Iterable[RunRecord], *, keep_newer: bool = False
) -> int:
    """Insert or replace run records in one statement; with ``keep_newer`` an older record never replaces a newer one.

    Returns the number of records given (after keeping the last one per run).
    """
    latest = {r.run_id: r for r in records}  # one statement may not touch the same key twice
    if not latest:
        return 0
    rows = pa.Table.from_pylist(
        [
            {
                "run_id": r.run_id,
                "thread_id": r.thread_id,
                "run_status": r.run_status,
                "run_created_at": r.run_created_at,
                "step_count": r.step_count,
                "exported": r.exported,
                "error": r.error,
                "exported_at": r.exported_at,
            }
            for r in latest.values()
        ],
        schema=_RECORDS_SCHEMA,
    )
    guard = "WHERE excluded.exported_at >= _runsteps_runs.exported_at" if keep_newer else ""
    con.register("_runsteps_new_records", rows)
    try:
        con.execute(
            f"""INSERT INTO _runsteps_runs BY NAME SELECT * FROM _runsteps_new_records
            ON CONFLICT (run_id) DO UPDATE SET
                thread_id = excluded.thread_id, run_status = excluded.run_status,
                run_created_at = excluded.run_created_at, step_count = excluded.step_count,
                exported = excluded.exported, error = excluded.error, exported_at = excluded.exported_at
            {guard}"""
        )
    finally:
        con.unregister("_runsteps_new_records")
    return len(latest)


def _record(row: tuple[Any, ...]) -> RunRecord:
    run_id, thread_id, run_status, run_created_at, step_count, exported, error, exported_at = row
    return RunRecord(
        run_id=run_id,
        thread_id=thread_id,
        run_status=run_status,
        run_created_at=run_created_at,
        step_count=step_count,
        exported=exported,
        error=error,
        exported_at=exported_at.astimezone(UTC),
    )


class DuckDBStateStore:
    """The ``StateStore`` protocol over the ``_runsteps_*`` tables; subclasses provide the open connection."""

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection (subclasses provide it)."""
        raise NotImplementedError

    def _writable(self) -> duckdb.DuckDBPyConnection:
        """The connection, when state may be written through it (subclasses refuse read-only)."""
        return self.connection

    def run_records(self, run_ids: Iterable[str] | None = None) -> dict[str, RunRecord]:
        """Records for the given runs (all runs when None)."""
        con = self.connection
        if run_ids is None:
            rows = con.execute(f"SELECT {_RECORD_COLUMNS} FROM _runsteps_runs").fetchall()
        else:
            wanted = pa.table({"run_id": pa.array(sorted(set(run_ids)), pa.string())})
            if not wanted.num_rows:
                return {}
            con.register("_runsteps_wanted", wanted)
            try:
                rows = con.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM _runsteps_runs SEMI JOIN _runsteps_wanted USING (run_id)"
                ).fetchall()
            finally:
                con.unregister("_runsteps_wanted")
        return {row[0]: _record(row) for row in rows}

    def watermark(self, thread_id: str, scope: str) -> int | None:
        """Highest run created_at (unix s) discovered and settled for a thread, for one scope (shard spec)."""
        rows = self.connection.execute(
            "SELECT CAST(epoch(created_at) AS BIGINT) FROM _runsteps_watermarks WHERE scope = ? AND thread_id = ?",
            [scope, thread_id],
        ).fetchall()
        return int(rows[0][0]) if rows else None

    def watermarks(self, scope: str) -> dict[str, int]:
        """Every thread's watermark for one scope."""
        rows = self.connection.execute(
            "SELECT thread_id, CAST(epoch(created_at) AS BIGINT) FROM _runsteps_watermarks WHERE scope = ?", [scope]
        ).fetchall()
        return {thread_id: int(mark) for thread_id, mark in rows}

    def set_watermarks(self, scope: str, marks: Mapping[str, int]) -> None:
        """Advance the watermarks of some threads (never moves one back)."""
        if not marks:
            return
        con = self._writable()
        rows = pa.table(
            {
                "scope": pa.array([scope] * len(marks), pa.string()),
                "thread_id": pa.array(list(marks), pa.string()),
                "created_at": pa.array(list(marks.values()), pa.timestamp("s", tz="UTC")),
            }
        )
        con.register("_runsteps_new_marks", rows)
        try:
            con.execute(
                """INSERT INTO _runsteps_watermarks BY NAME SELECT * FROM _runsteps_new_marks
                ON CONFLICT (scope, thread_id) DO UPDATE SET created_at = greatest(created_at, excluded.created_at)"""
            )
        finally:
            con.unregister("_runsteps_new_marks")

    def chunks_done(self, job: str) -> set[str]:
        """The chunk labels a backfill job has finished."""
        rows = self.connection.execute("SELECT chunk FROM _runsteps_chunks WHERE job = ?", [job]).fetchall()
        return {row[0] for row in rows}

    def mark_chunk_done(self, job: str, chunk: str) -> None:
        """Record one finished backfill chunk (marking it again keeps the first time)."""
        self._writable().execute(
            "INSERT INTO _runsteps_chunks VALUES (?, ?, now()) ON CONFLICT (job, chunk) DO NOTHING", [job, chunk]
        )

    def record_export(self, summary: Mapping[str, object]) -> None:
        """Append one export's summary (no secrets in it) to the destination's history."""
        # default=str: summaries may carry datetimes or paths; a summary must never fail the export.
        text = orjson.dumps(dict(summary), default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        self._writable().execute(
            """INSERT INTO _runsteps_exports
            SELECT coalesce(max(export_id), 0) + 1, now(), CAST(? AS JSON) FROM _runsteps_exports""",
            [text],
        )

    def exports(self, limit: int = 10) -> list[dict[str, object]]:
        """The latest export summaries, newest first."""
        rows = self.connection.execute(
            "SELECT CAST(summary AS VARCHAR) FROM _runsteps_exports ORDER BY export_id DESC LIMIT ?", [limit]
        ).fetchall()
        return [orjson.loads(row[0]) for row in rows]
