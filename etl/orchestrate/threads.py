"""Which threads a scheduled export looks at: a list, a file, and/or a SQL query over a destination."""

from __future__ import annotations

from dataclasses import dataclass

from etl.errors import InputError
from etl.extract import read_threads_file
from etl.extract.ids import validate_id


@dataclass(frozen=True)
class ThreadSource:
    """Thread ids given inline, in a file, or as the ``thread_id`` column of a query (any may be combined)."""

    ids: tuple[str, ...] = ()
    file: str | None = None  # one id a line, or CSV with a thread_id column
    query: str | None = None  # SQL returning a thread_id column
    query_source: str | None = None  # DuckDB file or Parquet root the query runs over (None: the destination)

    @property
    def empty(self) -> bool:
        """True when no source of thread ids was given."""
        return not (self.ids or self.file or self.query)


def resolve_thread_ids(source: ThreadSource, default_query_source: str) -> list[str]:
    """Every thread id of ``source``, each once, in the order given: list, then file, then query."""
    if source.empty:
        raise InputError("no threads to export: set the thread_ids, threads_file or threads_query param")
    ids = [validate_id("thread", tid.strip()) for tid in source.ids]
    if source.file:
        ids.extend(read_threads_file(source.file))
    if source.query:
        ids.extend(query_thread_ids(source.query, source.query_source or default_query_source))
    return list(dict.fromkeys(ids))


def query_thread_ids(query: str, dest: str) -> list[str]:
    """The non-null ``thread_id`` values a query returns over a destination (DuckDB file or Parquet root)."""
    from etl.sqlrun import open_sql_connection, run_sql  # DuckDB only for those who query

    with open_sql_connection(dest) as con:
        rows = run_sql(con, query)
    if "thread_id" not in rows.column_names:
        raise InputError(f"the threads query must return a thread_id column; it returned {rows.column_names}")
    values = rows.column("thread_id").drop_null().to_pylist()
    return [validate_id("thread", value) for value in values]
