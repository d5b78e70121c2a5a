"""The DuckDB destination: one file, one writer process, each batch one transaction with its state rows.

Each key is kept once by the writer, not by a primary-key index: a batch deletes every row it replaces (a
re-written step's children all go with it) and inserts its rows, in one transaction. DuckDB keeps primary-key
indexes (ART) in memory, growing with the file, so an export's memory grew with its destination (200k steps: 1.8x
the peak of 20k), and capping DuckDB's memory made large files fail to write. Without them every page DuckDB
holds can be evicted: the writer caps DuckDB at ``WRITER_MEMORY`` and an export's peak stays flat, and deletes
cost no index maintenance. ``runsteps sql check duplicate_keys`` checks the keys. A file an older version wrote
with primary keys is rebuilt without them when a writer first opens it (``_drop_keys``); figures: README,
Benchmarks, Memory.

Crash safety comes from DuckDB itself: a transaction reaches the write-ahead log only at commit, so a process
killed at any point leaves a file that opens with the whole batch or none of it.

A new file is written in the storage format of ``storage_version`` (default ``v1.2.0``: DuckDB 1.2 and later
open it, not only the DuckDB that wrote it); an existing file keeps the format it has.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from etl.errors import DestinationBusyError, DestinationError, storage_full
from etl.load import DUCKDB_STORAGE_VERSION, parse_storage_version
from etl.load.base import ExportBatch, ItemCursor
from etl.load.duckdb_state import (
    DuckDBStateStore,
    check_schema_version,
    create_state_tables,
    schema_version,
    upsert_run_records,
)
from etl.schema import ALL_TABLES, TABLES, WHOLE_TABLES, Table, duckdb_ddl, duckdb_type
from etl.sharding import Shard

if TYPE_CHECKING:
    import pyarrow.dataset as ds

_LOCK_ERROR = "Could not set lock on file"
# What a writer lets DuckDB hold (buffer pool and operators); beyond it DuckDB spills to a temp file beside the
# destination. 64 MB keeps an export's peak flat and writes as fast as no cap (bench_memory, issue 16).
WRITER_MEMORY = "64MB"
CHECKPOINT_AFTER = "256MB"
_CONFIG_CLASH = "different configuration"
# Never fetch an extension: a SQLite file named *.duckdb would otherwise make DuckDB download sqlite_scanner.
NO_AUTO_EXTENSIONS: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
_HEADER_BYTES = 3 * 4096  # a DuckDB file: one main header and two database headers before the blocks

# DuckDB shares one database instance between the connections of a process, so its file lock cannot tell two
# writers in the same process apart: this set does.
_writers_lock = threading.Lock()
_writers: set[Path] = set()


class DuckDBDestination(DuckDBStateStore):
    """A DuckDB database file holding the five tables and the ``_runsteps_*`` state tables."""

    def __init__(
        self,
        uri: str,
        shard: Shard | None = None,
        *,
        read_only: bool = False,
        storage_version: str = DUCKDB_STORAGE_VERSION,
    ) -> None:
        if "://" in uri:
            raise DestinationError(f"{uri}: a DuckDB destination must be a local file path")
        self.uri = uri
        self.shard = shard or Shard()
        self.read_only = read_only
        self.storage_version = parse_storage_version(storage_version)
        self.path = Path(uri).expanduser().resolve()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._claimed = False  # this object holds the process's writer claim on the file

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection, for SQL over the tables (use from one thread at a time)."""
        if self._con is None:
            raise DestinationError(f"{self.uri} is not open: use the destination as a context manager")
        return self._con

    def _writable(self) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            raise DestinationError(f"{self.uri} was opened read-only")
        return self.connection

    def __enter__(self) -> DuckDBDestination:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Take the file (the writer's lock unless read-only) and make sure its tables exist."""
        if self._con is not None:
            return
        if self.read_only:
            if not self.path.is_file():
                raise DestinationError(f"{self.uri} does not exist")
            self._con = _connect(self.uri, self.path, read_only=True)
            try:
                _check_readable(self._con, self.uri)
            except BaseException:
                self.close()
                raise
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _writers_lock:
            if self.path in _writers:
                raise DestinationBusyError(f"{self.uri} is busy: this process is already writing to it")
            _writers.add(self.path)
            self._claimed = True
        try:
            if not self.path.exists():
                _create_file(self.uri, self.path, self.storage_version)
            self._con = _connect(self.uri, self.path, read_only=False)
            _create_tables(self._con, self.uri)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the file and release it for other writers."""
        con, self._con = self._con, None
        if con is not None:
            con.close()
        if self._claimed:
            with _writers_lock:
                _writers.discard(self.path)
            self._claimed = False

    def write(self, batch: ExportBatch) -> None:
        """Land one batch in one transaction: replace its steps (and their children) and runs, then its state."""
        con = self._writable()
        tables = _complete_tables(batch)
        with _transaction(con, f"writing to {self.uri}"), _registered(con, tables) as views:
            _replace_batch_rows(con, tables, views)
            upsert_run_records(con, batch.records)

    def conversation_cursors(self, conversation_ids: Iterable[str]) -> dict[str, ItemCursor]:
        """Where each conversation's stored items end (conversations with none stored are left out)."""
        ids = list(conversation_ids)
        if not ids:
            return {}
        rows = self.connection.execute(
            "SELECT conversation_id, max(position) + 1, arg_max(item_id, position) FROM conversation_items"
            " WHERE list_contains(?, conversation_id) GROUP BY conversation_id",
            [ids],
        ).fetchall()
        return {conversation: ItemCursor(int(count), last) for conversation, count, last in rows}

    def read_table(self, name: str, columns: Sequence[str]) -> pa.Table:
        """Some columns of a table as the file holds it now (empty, typed, when the file lacks the table)."""
        spec = WHOLE_TABLES.get(name) or ALL_TABLES[name]
        con = self.connection
        if not _has_table(con, name):
            return spec.schema.empty_table().select(list(columns))
        return con.sql(f"SELECT {', '.join(spec.schema.field(c).name for c in columns)} FROM {name}").to_arrow_table()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file now (C++ work without the interpreter lock), not when it closes."""
        try:
            self._writable().execute("CHECKPOINT")
        except duckdb.Error as exc:  # what is written stays in the log: the next open folds it in
            doing = f"folding the write-ahead log into {self.uri}"
            raise storage_full(f"{doing} failed", exc) or DestinationError(f"{doing} failed: {exc}") from exc

    def replace_table(self, table: Table, rows: pa.Table) -> None:
        """Make a table that is written whole hold exactly ``rows``, in one transaction."""
        con = self._writable()
        with _transaction(con, f"writing {table.name} to {self.uri}"):
            _replace_whole(con, table, rows)


def load_parquet_into_duckdb(
    parquet_root: str,
    duckdb_path: str,
    partitions: Iterable[date] | None = None,
    *,
    s3_endpoint_url: str | None = None,
    storage_version: str = DUCKDB_STORAGE_VERSION,
) -> dict[str, int]:
    """Make the DuckDB file hold exactly the Parquet root's rows for some ``created_date`` partitions (None: all).

    One transaction; idempotent. Also copies the Parquet destination's run records (a newer record in the
    DuckDB file is kept). Returns the rows loaded per table, and the run records copied as ``_runsteps_runs``.
    """
    # Imported here: an export into DuckDB needs none of the Parquet side (nor pyarrow.fs and pyarrow.parquet).
    from etl.load.fs import open_store
    from etl.load.parquet import ParquetDestination, parquet_dataset, whole_table_dataset

    days = None if partitions is None else sorted(set(partitions))
    # must_exist: loading "nothing" from a mistyped root would empty the tables.
    store = open_store(parquet_root, endpoint_url=s3_endpoint_url, must_exist=True)
    with ParquetDestination(parquet_root, read_only=True, s3_endpoint_url=s3_endpoint_url) as source:
        records = source.run_records()
    counts: dict[str, int] = {}
    with DuckDBDestination(duckdb_path, storage_version=storage_version) as dest:
        con = dest.connection
        scope = "TRUE"
        if days is not None:
            con.register("_runsteps_days", pa.table({"day": pa.array(days, pa.date32())}))
            # The session time zone is UTC (see _connect), so this is the UTC date the Parquet layout uses.
            scope = "CAST(t.created_at AS DATE) IN (SELECT day FROM _runsteps_days)"
        with _transaction(con, f"loading {store.display} into {duckdb_path}"):
            for table in ALL_TABLES.values():
                dataset = parquet_dataset(store.root, table.name, filesystem=store.fs)
                # Entity rows (threads, assistants) have no day of their own in the Parquet layout: all of them.
                rows = _scan(dataset, table, None if table.entity else days)
                loaded = _load_table(con, table, rows, "TRUE" if table.entity else scope)
                if loaded or table.name in TABLES:  # the other tables only when they hold rows
                    counts[table.name] = loaded
            for whole in WHOLE_TABLES.values():
                dataset = whole_table_dataset(store.root, whole, store.fs)
                if dataset.files:  # a root that never wrote prices leaves the file's own
                    counts[whole.name] = _replace_whole(con, whole, dataset.to_table())
            counts["_runsteps_runs"] = upsert_run_records(con, records.values(), keep_newer=True)
    return counts


def _create_file(uri: str, path: Path, storage_version: str) -> None:
    """Create an empty database file in ``storage_version``'s format; the file keeps that format from then on."""
    # Only the creating connection carries the setting: a connection with a setting of its own cannot share the
    # file with this process's other connections (DuckDB refuses "a different configuration").
    _open(uri, path, read_only=False, storage_version=storage_version).close()


def _connect(uri: str, path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open the file in UTC, without insertion order, DuckDB's memory capped for a writer; refuse a truncated file."""
    had_wal = wal_exists(path)
    con = _open(uri, path, read_only=read_only)
    try:
        check_intact(con, uri, path, had_wal=had_wal)
    except BaseException:
        con.close()
        raise
    # Timestamps come back in UTC, and CAST(created_at AS DATE) is the UTC date of the Parquet layout.
    con.execute("SET TimeZone = 'UTC'")
    # Insertion order is not needed: every table has a key.
    con.execute("SET preserve_insertion_order = false")
    if not read_only:  # readers keep DuckDB's default: their queries may need the memory
        con.execute(f"SET memory_limit = '{WRITER_MEMORY}'")
        # DuckDB checkpoints at the commit that takes its write-ahead log past this; at the default (16 MB) nearly
        # every batch paid a checkpoint that rewrote the row groups its deletes touched (a re-write of 10,000
        # steps: commit 0.87 s, with 256 MB 0.17 s). The file is checkpointed when the writer closes it.
        con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_AFTER}'")
    return con


def wal_exists(path: Path) -> bool:
    """True when the file has a write-ahead log: ask before connecting, as opening replays and may remove it."""
    return Path(f"{path}.wal").exists()


def check_intact(con: duckdb.DuckDBPyConnection, uri: str, path: Path, *, had_wal: bool) -> None:
    """Refuse a truncated file before any of its blocks is read: DuckDB would fail later, mid-export."""
    if had_wal:
        # The log (of a crashed writer, say) was replayed when the file opened: blocks it added may not be in the
        # file yet, so its size says nothing.
        return
    try:
        # used_blocks, not total_blocks: a checkpoint cuts free blocks off the end of the file while total_blocks
        # still counts them, so only the blocks in use must all be in the file.
        block_size, blocks = con.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchall()[0]
        size = path.stat().st_size
    except (duckdb.Error, OSError) as exc:
        raise DestinationError(f"cannot open {uri}: {exc}") from None
    if size < _HEADER_BYTES + block_size * blocks:
        raise DestinationError(
            f"{uri} is damaged: its header lists {blocks} blocks in use of {block_size} bytes but the file has"
            f" {size} bytes (truncated?): restore it from a copy, or export into a new file"
        )


def _open(uri: str, path: Path, *, read_only: bool, storage_version: str | None = None) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, turning DuckDB's lock errors into one clear line."""
    config = dict(NO_AUTO_EXTENSIONS)
    if storage_version is not None:
        config["storage_compatibility_version"] = storage_version
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        text = str(exc)
        if _LOCK_ERROR in text:
            pid = re.search(r"PID (\d+)", text)
            holder = f"process {pid.group(1)}" if pid else "another process"
            raise DestinationBusyError(
                f"{uri} is busy: {holder} has it open, and a DuckDB file takes one writer at a time"
            ) from None
        if _CONFIG_CLASH in text:
            raise DestinationBusyError(f"{uri} is busy: this process has it open in another mode") from None
        raise DestinationError(f"cannot open {uri}: {text}") from exc


def _check_readable(con: duckdb.DuckDBPyConnection, uri: str) -> None:
    if schema_version(con) is None:
        raise DestinationError(f"{uri} is not a run-steps-etl destination (it has no _runsteps_meta table)")
    check_schema_version(con, uri)


def _create_tables(con: duckdb.DuckDBPyConnection, uri: str) -> None:
    """Create the data and state tables if missing, and add columns a newer schema brought (one transaction)."""
    check_schema_version(con, uri)
    with _transaction(con, f"preparing {uri}"):
        keyed, columns = _file_shape(con)
        for table in ALL_TABLES.values():
            _conform(con, table, keyed, columns)
        create_state_tables(con)


def _file_shape(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict[str, set[str]]]:
    """The tables the file holds with a primary key, and every table's columns (asked once: a query per table cost
    more than the rest of opening a file)."""
    keyed = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_constraints() WHERE schema_name = 'main' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    }
    columns: defaultdict[str, set[str]] = defaultdict(set)
    query = "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'"
    for table_name, column_name in con.execute(query).fetchall():
        columns[table_name].add(column_name)
    return keyed, columns


def _conform(con: duckdb.DuckDBPyConnection, table: Table, keyed: set[str], columns: dict[str, set[str]]) -> None:
    """Create ``table`` if missing; an older file's table loses its primary key or gains the newer columns."""
    con.execute(duckdb_ddl(table))
    if table.name in keyed:
        _drop_keys(con, table)
    elif table.name in columns:
        _add_missing_columns(con, table, columns[table.name])


def _drop_keys(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Rebuild a table that an older version created with a primary key, without it (see the module docstring)."""
    con.execute(f"ALTER TABLE {table.name} RENAME TO _runsteps_keyed")
    con.execute(duckdb_ddl(table))
    # The old table may lack columns added since: BY NAME leaves them NULL (as _add_missing_columns would).
    con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM _runsteps_keyed")
    con.execute("DROP TABLE _runsteps_keyed")


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: Table, have: set[str]) -> None:
    """Columns may be added to the schemas, never renamed: an older file gains them as NULLable columns."""
    for field in table.schema:
        if field.name not in have:
            con.execute(f"ALTER TABLE {table.name} ADD COLUMN {field.name} {duckdb_type(field.type)}")


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, doing: str) -> Iterator[None]:
    """BEGIN ... COMMIT; on any error ROLLBACK, and DuckDB errors become one ``DestinationError``."""
    con.begin()
    try:
        yield
        con.commit()
    except BaseException as exc:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
            con.rollback()
        if isinstance(exc, duckdb.Error):
            full = storage_full(f"{doing} failed, this batch was not written", exc)
            if full is not None:
                raise full from None
            raise DestinationError(f"{doing} failed, nothing was written: {exc}") from exc
        raise


def _complete_tables(batch: ExportBatch) -> dict[str, pa.Table]:
    """Every table of the batch, an empty one for each it lacks; refuse tables or columns the schemas lack."""
    unknown = set(batch.tables) - set(ALL_TABLES)
    if unknown:
        raise ValueError(f"ExportBatch holds tables the schema does not know: {sorted(unknown)}")
    tables: dict[str, pa.Table] = {}
    for name, spec in ALL_TABLES.items():
        tbl = batch.tables.get(name)
        if tbl is None and spec.entity:
            continue  # most batches bring no threads or assistants
        if tbl is None:
            tbl = spec.schema.empty_table()
        extra = set(tbl.column_names) - set(spec.schema.names)
        if extra:
            raise ValueError(f"ExportBatch table {name} has columns the schema does not know: {sorted(extra)}")
        # An upsert keeps the old value of a column it is not given: a missing column must replace with NULL.
        for field in spec.schema:
            if field.name not in tbl.column_names:
                tbl = tbl.append_column(field, pa.nulls(tbl.num_rows, field.type))
        tables[name] = tbl
    return tables


@contextlib.contextmanager
def _registered(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> Iterator[dict[str, str]]:
    """Expose Arrow tables to SQL as views named ``_runsteps_new_<table>`` (no copy), for one block."""
    views = {name: f"_runsteps_new_{name}" for name in tables}
    for name, tbl in tables.items():
        con.register(views[name], tbl)
    try:
        yield views
    finally:
        for view in views.values():
            con.unregister(view)


def _replace_batch_rows(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table], views: dict[str, str]) -> None:
    """Delete every row the batch replaces, then insert the batch's rows.

    Tables replaced by the same id form a family (a step and its children, a response and its items): the rows of
    each id the batch brings go from every table of its family, so a re-written id leaves no stale child row.
    A row whose key the batch brings goes too (entity tables, and keys that do not contain the family's id).
    """
    families: dict[str, list[Table]] = {}
    for name in tables:
        table = ALL_TABLES[name]
        if (table.entity or table.replaces not in table.key) and tables[name].num_rows:
            _delete_keys(con, table, views[name])
        if not table.entity:
            families.setdefault(table.replaces, []).append(table)
    for column, members in families.items():
        chunks = [chunk for t in members for chunk in tables[t.name][column].chunks]
        ids = pa.chunked_array(chunks, pa.string()).unique().drop_null()
        if not len(ids):
            continue
        con.register("_runsteps_new_ids", pa.table({"id": ids}))
        try:
            for table in members:
                con.execute(f"DELETE FROM {table.name} WHERE {column} IN (SELECT id FROM _runsteps_new_ids)")
        finally:
            con.unregister("_runsteps_new_ids")
    for name, tbl in tables.items():
        if tbl.num_rows:
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {views[name]}")


def _delete_keys(con: duckdb.DuckDBPyConnection, table: Table, source: str, scope: str = "FALSE") -> None:
    """Delete the rows of ``table`` whose key ``source`` holds, and those within ``scope`` (a condition on ``t``)."""
    same_key = " AND ".join(f"n.{k} = t.{k}" for k in table.key)
    con.execute(
        f"DELETE FROM {table.name} AS t WHERE ({scope}) OR EXISTS (SELECT 1 FROM {source} AS n WHERE {same_key})"
    )


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?", [name]
    ).fetchall()
    return bool(found[0][0])


def _replace_whole(con: duckdb.DuckDBPyConnection, table: Table, rows: pa.Table) -> int:
    """Make ``table`` hold exactly ``rows`` (inside the caller's transaction); returns the rows written."""
    _conform(con, table, *_file_shape(con))
    con.register("_runsteps_whole", rows.select(table.schema.names).cast(table.schema))
    try:
        con.execute(f"DELETE FROM {table.name}")
        if rows.num_rows:
            con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM _runsteps_whole")
    finally:
        con.unregister("_runsteps_whole")
    written: int = rows.num_rows
    return written


def _load_table(con: duckdb.DuckDBPyConnection, table: Table, rows: pa.RecordBatchReader, scope: str) -> int:
    """Make ``table`` hold exactly ``rows`` within ``scope``; returns how many rows were loaded."""
    # Staged once (DuckDB spills to disk if it must): the rows are read twice, and a reader only once. The stage
    # has every column of the table, so a column older files lack replaces with NULL rather than keeping a value.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _runsteps_stage AS SELECT * FROM main.{table.name} LIMIT 0")
    con.register("_runsteps_parquet", rows)
    try:
        con.execute("INSERT INTO _runsteps_stage BY NAME SELECT * FROM _runsteps_parquet")
    finally:
        con.unregister("_runsteps_parquet")
    _delete_keys(con, table, "_runsteps_stage", scope)
    con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM _runsteps_stage")
    loaded: int = con.execute("SELECT count(*) FROM _runsteps_stage").fetchall()[0][0]
    con.execute("DROP TABLE _runsteps_stage")
    return loaded


def _scan(dataset: ds.Dataset, table: Table, days: list[date] | None) -> pa.RecordBatchReader:
    """The dataset's rows in the table's columns (only the given partitions), as a stream."""
    import pyarrow.dataset as ds

    from etl.load.parquet import PARTITION

    where = None if days is None else ds.field(PARTITION).isin(days)
    return dataset.scanner(columns=table.schema.names, filter=where).to_reader()
