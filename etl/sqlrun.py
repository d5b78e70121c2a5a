"""Run SQL over either kind of destination: the tables under their own names, the views of ``sql/views``.

A DuckDB file is opened read-only, so nothing here can change the user's data; the views are TEMP views,
living only as long as the connection. Once the tables and views are in place the connection is locked down
with DuckDB's own settings (no file or network access, no extension installs or loads, no spilling to disk,
configuration locked), and ``run_sql`` runs only statements that read (``SELECT``, ``EXPLAIN``), so no
statement a user writes can create, change, attach, install or download anything. A Parquet root (local or
object store) is read through pyarrow datasets registered in an in-memory DuckDB, because DuckDB extensions
(httpfs) cannot be installed here.
Either way a table that holds no rows yet is still there, empty, with the columns of ``etl.schema``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from etl import sqlfiles
from etl.errors import DestinationError, InputError
from etl.load import is_duckdb_uri
from etl.load.duckdb import NO_AUTO_EXTENSIONS, check_intact, wal_exists
from etl.schema import ALL_TABLES, WHOLE_TABLES

_MAIN_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
# Applied in this order, the last one freezing the others: a statement cannot turn any of them back.
_LOCKDOWN = (
    "SET temp_directory = ''",  # no spill files: `sql` creates no file at all
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",  # no COPY TO, ATTACH, INSTALL, read_*() of other files, no network
    "SET lock_configuration = true",
)
_READING = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})


@contextmanager
def open_sql_connection(dest: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection over ``dest`` with the five tables and the TEMP views of ``sql/views`` in place."""
    con = _connect_duckdb_file(dest) if is_duckdb_uri(dest) else _connect_parquet(dest)
    try:
        # Day boundaries and casts of date strings must not depend on the machine's time zone.
        con.execute("SET TimeZone = 'UTC'")
        _create_views(con, dest)
        for setting in _LOCKDOWN:
            con.execute(setting)
        yield con
    finally:
        con.close()


def _connect_duckdb_file(dest: str) -> duckdb.DuckDBPyConnection:
    from etl.preflight import check_destination

    if not os.path.isfile(dest):
        raise DestinationError(f"no DuckDB file at {dest}")
    check_destination(dest, read_only=True)
    had_wal = wal_exists(Path(dest))
    try:
        con = duckdb.connect(dest, read_only=True, config=NO_AUTO_EXTENSIONS)
    except duckdb.Error as exc:
        raise DestinationError(f"cannot open {dest} read-only: {_first_line(exc)}") from exc
    try:
        check_intact(con, dest, Path(dest), had_wal=had_wal)
    except DestinationError:
        con.close()
        raise
    # A file from an older version or another tool may lack a table: show it empty, with its columns.
    present = {row[0] for row in con.execute(_MAIN_TABLES).fetchall()}
    for name, table in (ALL_TABLES | WHOLE_TABLES).items():
        if name not in present:
            con.register(name, table.schema.empty_table())
    return con


def _connect_parquet(dest: str) -> duckdb.DuckDBPyConnection:
    from etl.load.fs import open_store, store_error
    from etl.load.parquet import parquet_dataset, whole_table_dataset  # only Parquet users pay for importing the writer

    store = open_store(dest)  # one check of the root (and one S3 probe), shared by the five tables
    con = duckdb.connect(config=NO_AUTO_EXTENSIONS)
    with store_error(store, "list the tables"):
        for name in ALL_TABLES:
            # Registration is lazy: DuckDB scans the dataset (projection and filters pushed down) per query.
            con.register(name, parquet_dataset(store.root, name, store.fs))
        for table in WHOLE_TABLES.values():
            con.register(table.name, whole_table_dataset(store.root, table, store.fs))
    return con


def _create_views(con: duckdb.DuckDBPyConnection, dest: str) -> None:
    """Create every view of ``sql/views``; a view built on others (era_daily on era_units) waits for them."""
    pending = list(sqlfiles.sql_files("views").values())
    while pending:
        failed: list[tuple[sqlfiles.SqlFile, duckdb.Error]] = []
        for view in pending:
            try:
                # view.name is a plain identifier (sqlfiles checks file names), so it can stand in the statement.
                con.execute(f"CREATE OR REPLACE TEMP VIEW {view.name} AS {view.body}")
            except duckdb.Error as exc:
                failed.append((view, exc))
        if len(failed) == len(pending):  # no progress: name a view that fails for a reason of its own
            waiting = {view.name for view, _ in failed}
            first, error = next(((v, e) for v, e in failed if not any(name in str(e) for name in waiting)), failed[0])
            raise DestinationError(
                f"view {first.name} does not fit the tables at {dest}: {_first_line(error)}"
            ) from error
        pending = [view for view, _ in failed]


def run_sql(con: duckdb.DuckDBPyConnection, statement: str, params: Mapping[str, object] | None = None) -> pa.Table:
    """Run one statement with named parameters (``$name``) and return its rows; SQL errors become ``InputError``."""
    _check_reads_only(con, statement)
    try:
        relation = con.sql(statement, params=dict(params) if params else None)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    except duckdb.IOException as exc:
        raise DestinationError(_first_line(exc)) from exc
    except duckdb.Error as exc:
        raise InputError(_first_line(exc)) from exc


def _check_reads_only(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """Refuse anything but one statement that reads, before DuckDB runs any of it."""
    try:
        kinds = [parsed.type for parsed in con.extract_statements(statement)]
    except duckdb.Error as exc:
        raise InputError(_first_line(exc)) from exc
    if len(kinds) != 1:
        raise InputError(f"give exactly one SQL statement, not {len(kinds)}")
    if kinds[0] not in _READING:
        kind = "an INSTALL or LOAD" if kinds[0].name == "LOAD" else f"a {kinds[0].name}"  # DuckDB parses both as LOAD
        raise InputError(f"runsteps sql is read-only: {kind} statement is refused (use SELECT or EXPLAIN)")


def run_query(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object] | None = None) -> pa.Table:
    """Run the query ``sql/queries/<name>.sql``; ``params`` override its declared defaults."""
    query = sqlfiles.sql_file("queries", name)
    return run_sql(con, query.body, query.bind(params))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one data check: how many rows break its rule, and the first of them."""

    name: str
    rule: str
    violations: int
    sample: pa.Table
    severity: sqlfiles.Severity = "error"

    @property
    def passed(self) -> bool:
        """True when no row breaks the rule."""
        return self.violations == 0

    @property
    def failed(self) -> bool:
        """True when rows break a rule of severity ``error``: the run fails (a ``warning`` is only reported)."""
        return not self.passed and self.severity == "error"

    @property
    def verdict(self) -> str:
        """``ok``, ``WARN`` (a broken warning) or ``FAIL`` (a broken error), as the CLI and task logs print it."""
        return "ok" if self.passed else "FAIL" if self.failed else "WARN"


def check(con: duckdb.DuckDBPyConnection, name: str, *, sample_size: int = 5) -> CheckResult:
    """Run the check ``sql/checks/<name>.sql``: count the rows that break its rule and keep a sample of them."""
    rule = sqlfiles.sql_file("checks", name)
    count = run_sql(con, f"SELECT count(*) AS n FROM ({rule.body})").column("n")[0].as_py()
    sample = run_sql(con, f"SELECT * FROM ({rule.body}) LIMIT {int(sample_size)}")
    return CheckResult(name, rule.description, int(count), sample, rule.severity)


def run_checks(dest: str, names: Sequence[str] | None = None, *, sample_size: int = 5) -> list[CheckResult]:
    """Run the data checks (all of ``sql/checks`` unless ``names``) over a destination."""
    chosen = list(names) if names else list(sqlfiles.sql_files("checks"))
    for name in chosen:
        sqlfiles.sql_file("checks", name)  # an unknown name fails before any query runs
    with open_sql_connection(dest) as con:
        return [check(con, name, sample_size=sample_size) for name in chosen]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
