"""The Parquet destination: a Hive-partitioned dataset on a local disk or an object store.

    <root>/<table>/created_date=YYYY-MM-DD/part-b07.parquet   rows of runs in bucket 7 created that UTC day
    <root>/threads/part-b07.parquet                            entity rows (threads, assistants) whose id is in bucket 7
    <root>/_state/...                                         export state (``etl.load.parquet_state``)

One file per (table, day, bucket), and a bucket belongs to exactly one shard, so the files of concurrent shard
writers never meet; the claim (``etl.load.locks``) keeps overlapping shards out. Writing a batch touches each
affected file once: read it, drop the rows being re-written (for a step: the step and all of its children, so
a step with fewer tool calls leaves nothing stale), add the new rows, sort by key, and publish the whole file
atomically (``Store.write_atomic``). Every file is consistent on its own, so at every moment each key is in at
most one place, whatever crashes in between; a rerun of the batch then completes it.

Order of one batch: (1) the state learns which days will hold each run's rows, (2) files that only lose rows
(a row that moved to another day), (3) the other data files, (4) the run records. So the state never claims
more than the files hold, and a re-export can always find every old copy of a row.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from etl.errors import DestinationError, InputError
from etl.load.base import ExportBatch, ItemCursor, RunRecord
from etl.load.fs import Staged, is_temp_name, open_store, store_error
from etl.load.locks import Claim, claim_buckets
from etl.load.parquet_state import STATE_DIR, ParquetState
from etl.schema import ALL_TABLES, ENTITY_TABLES, PARTITIONED_TABLES, WHOLE_TABLES, Table
from etl.sharding import BUCKETS, Shard, bucket_of

if TYPE_CHECKING:
    import pyarrow.dataset as ds

PARTITION = "created_date"
# Files rewritten at once. On an object store latency, not CPU, limits a batch; on a local disk it is CPU, and
# each writer thread holds its own buffers (and malloc arena): 8 writers took 370 MB of RSS where 2 took 300-330
# (20,000-step export, README "Issue 16"), in the same time.
_WRITERS = {True: 2, False: 8}  # by Store.local
_TEMP_OF_BUCKET = re.compile(r"^\.(?:part-b|bucket-)(\d{2})\.")


def data_file(table: str, day: str, bucket: int) -> str:
    """``<table>/created_date=<day>/part-b07.parquet``, relative to the root."""
    return f"{table}/{PARTITION}={day}/part-b{bucket:02d}.parquet"


def entity_file(table: str, bucket: int) -> str:
    """``<table>/part-b07.parquet``: an entity table's rows whose key hashes to the bucket (no day partition)."""
    return f"{table}/part-b{bucket:02d}.parquet"


def table_glob(table: Table) -> str:
    """The glob that matches every data file of ``table`` (and no temp or state file), relative to the root."""
    return f"{table.name}/{PARTITION}=*/*.parquet" if is_partitioned(table) else f"{table.name}/*.parquet"


def is_partitioned(table: Table) -> bool:
    """True for the tables stored by ``created_date`` day (not the entity tables, not those written whole)."""
    return table.name in PARTITIONED_TABLES


@dataclass
class _FileJob:
    """One data file to rewrite: the rows to add, and which ids' old rows to drop."""

    table: Table
    day: str
    bucket: int
    new: pa.Table | None
    drop: pa.Array


class ParquetDestination:
    """A Parquet dataset root as a ``Destination`` (see ``etl.load.base``)."""

    def __init__(
        self,
        uri: str,
        shard: Shard | None = None,
        *,
        read_only: bool = False,
        s3_endpoint_url: str | None = None,
    ) -> None:
        self.uri = uri
        self.shard = shard or Shard()
        self.read_only = read_only
        self._store = open_store(uri, endpoint_url=s3_endpoint_url, must_exist=read_only)
        self._state = ParquetState(self._store)
        self._claim: Claim | None = None
        self._layout_recorded = False

    # -- the claim -------------------------------------------------------------------------------------

    def __enter__(self) -> ParquetDestination:
        if not self.read_only:
            # A root this version cannot write is refused before a lock file is created in it (and checked again
            # under the claim, where it counts).
            self._state.check_layout()
            claim = claim_buckets(self._store, self.shard.buckets)
            claim.acquire()
            self._claim = claim
            try:
                self._layout_recorded = self._state.check_layout()
                self._remove_stale_temp_files()
            except BaseException:
                self._release()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        if self._claim is not None:
            claim, self._claim = self._claim, None
            claim.release()

    def _writable(self) -> Claim:
        if self.read_only:
            raise DestinationError(f"destination {self._store.display} was opened read-only")
        if self._claim is None:
            raise DestinationError("write to a Parquet destination inside `with open_destination(...) as dest:`")
        self._claim.check()
        return self._claim

    def _remove_stale_temp_files(self) -> None:
        """Delete temp files a crashed writer of our buckets left (object stores never have any)."""
        if not self._store.local:
            return
        ours = set(self.shard.buckets)
        for top in [*ALL_TABLES, f"{STATE_DIR}/runs"]:
            for info in self._store.list_files(top):
                match = _TEMP_OF_BUCKET.match(info.base_name)
                if is_temp_name(info.base_name) and match and int(match.group(1)) in ours:
                    self._store.delete(info.path)

    # -- writing ---------------------------------------------------------------------------------------

    def write(self, batch: ExportBatch) -> None:
        """Land one batch: replace its steps (with their children) and runs, then its state."""
        self._writable()
        unknown = set(batch.tables) - set(ALL_TABLES)
        if unknown:
            raise DestinationError(f"batch has unknown tables: {', '.join(sorted(unknown))}")
        given = {name: t for name, t in batch.tables.items() if t is not None and t.num_rows}
        partitioned = PARTITIONED_TABLES
        tables = {name: _conform(t, partitioned[name]) for name, t in given.items() if name in partitioned}
        entities = {name: _conform(t, ENTITY_TABLES[name]) for name, t in given.items() if name in ENTITY_TABLES}
        threads = _threads_of(tables)
        entity_ids = [key for name, rows in entities.items() for key in rows[ENTITY_TABLES[name].key[0]].to_pylist()]
        self._check_buckets({*threads, *(r.run_id for r in batch.records), *entity_ids})
        if not self._layout_recorded:
            self._state.record_layout()
            self._layout_recorded = True

        old_days = self._state.partitions(threads)
        new_days = _days_by_run(tables)
        self._note_days(new_days, old_days, threads)
        jobs = _plan(tables, old_days)
        # All or nothing: every file of the batch is read and its new version staged before any is replaced, so
        # a file that cannot be read (a corrupt part) or written stops the batch with the destination as it was.
        staged: list[list[Staged]] = []
        try:
            staged.append(self._stage_jobs([j for j in jobs if j.new is None]))
            staged.append(self._stage_jobs([j for j in jobs if j.new is not None]))
            staged.append(
                [s for name, rows in entities.items() for s in self._stage_entities(ENTITY_TABLES[name], rows)]
            )
        except BaseException:
            for group in staged:
                for file in group:
                    file.discard()
            raise
        # Rows leave their old files before they appear in new ones: never twice, even for a moment.
        for group in staged:
            self._publish(group)
        self._settle(batch.records)

    def _stage_entities(self, table: Table, rows: pa.Table) -> list[Staged]:
        """Stage the given rows of an entity table: each bucket's file once, old rows of the same key dropped."""
        (key,) = table.key
        rows = _last_per_key(rows, table).cast(_file_schema(table.name))
        buckets = _buckets(rows[key])
        staged: list[Staged] = []
        for bucket in sorted(set(buckets.to_pylist())):
            new = rows.filter(pc.equal(buckets, bucket))
            path = entity_file(table.name, bucket)
            old = self._store.read_table(path)
            parts = [new]
            if old is not None:
                old = _conform(old, table, _file_schema(table.name))
                parts.insert(0, old.filter(pc.invert(pc.is_in(old[key], value_set=new[key].combine_chunks()))))
            self._writable()
            staged.append(self._store.stage_parquet(path, pa.concat_tables(parts).sort_by([(key, "ascending")])))
        return staged

    def _check_buckets(self, run_ids: Iterable[str]) -> None:
        owned = set(self.shard.buckets)
        foreign = sorted(r for r in run_ids if bucket_of(r) not in owned)
        if foreign:
            raise DestinationError(
                f"batch holds runs outside shard {self.shard} (for example {foreign[0]}); nothing was written"
            )

    def _note_days(
        self, new_days: Mapping[str, set[str]], old_days: Mapping[str, set[str]], threads: Mapping[str, str]
    ) -> None:
        by_bucket: dict[int, dict[str, tuple[str, set[str]]]] = defaultdict(dict)
        for run_id, days in new_days.items():
            if not days <= old_days.get(run_id, set()):
                by_bucket[bucket_of(run_id)][run_id] = (threads[run_id], days)
        for bucket, partitions in sorted(by_bucket.items()):
            self._writable()
            self._state.update_runs(bucket, partitions=partitions)

    def _settle(self, records: list[RunRecord]) -> None:
        by_bucket: dict[int, list[RunRecord]] = defaultdict(list)
        for record in records:
            by_bucket[bucket_of(record.run_id)].append(record)
        for bucket, bucket_records in sorted(by_bucket.items()):
            self._writable()
            self._state.update_runs(bucket, records=bucket_records, partitions={})

    def _stage_jobs(self, jobs: list[_FileJob]) -> list[Staged]:
        """Every job's new file staged (none replaced); on any failure the others are discarded and it is raised."""
        if not jobs:
            return []
        writers = min(_WRITERS[self._store.local], len(jobs))
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="parquet") as pool:
            futures = [pool.submit(self._rewrite, job) for job in jobs]
            wait(futures)
        staged = [f.result() for f in futures if f.exception() is None]
        failed = [f.exception() for f in futures if f.exception() is not None]
        if failed:
            for file in staged:
                if file is not None:
                    file.discard()
            raise failed[0]  # type: ignore[misc]
        return [file for file in staged if file is not None]

    def _publish(self, staged: list[Staged]) -> None:
        """Replace the staged files (uploads to an object store side by side)."""
        if len(staged) < 2 or self._store.local:
            for file in staged:
                file.publish()
            return
        writers = min(_WRITERS[self._store.local], len(staged))
        with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="parquet") as pool:
            list(pool.map(Staged.publish, staged))

    def _rewrite(self, job: _FileJob) -> Staged | None:
        """Stage one data file's new version: old rows minus the dropped ids, plus the new rows, sorted by key."""
        table = job.table
        path = data_file(table.name, job.day, job.bucket)
        old = self._store.read_table(path)
        parts: list[pa.Table] = []
        changed = job.new is not None
        if old is not None:
            old = _conform(old, table, _file_schema(table.name))
            kept = old.filter(pc.invert(pc.is_in(old[table.replaces], value_set=job.drop))) if len(job.drop) else old
            changed = changed or kept.num_rows != old.num_rows
            parts.append(kept)
        if not changed:
            return None
        if job.new is not None:
            parts.append(job.new)
        parts = [part for part in parts if part.num_rows]
        self._writable()
        if not parts:
            return Staged(self._store, path, delete=True)
        # One part is in key order already (a file is written sorted, and so are a batch's new rows).
        sort = [(k, "ascending") for k in table.key]
        return self._store.stage_parquet(path, parts[0] if len(parts) == 1 else pa.concat_tables(parts).sort_by(sort))

    def conversation_cursors(self, conversation_ids: Iterable[str]) -> dict[str, ItemCursor]:
        """Where each conversation's stored items end (conversations with none stored are left out)."""
        ids = sorted(set(conversation_ids))
        if not ids:
            return {}
        import pyarrow.dataset as ds  # 43 MB of libraries that only reading needs

        dataset = parquet_dataset(self._store.root, "conversation_items", filesystem=self._store.fs)
        rows = dataset.to_table(
            columns=["conversation_id", "position", "item_id"], filter=ds.field("conversation_id").isin(ids)
        )
        out: dict[str, ItemCursor] = {}
        for row in rows.sort_by([("conversation_id", "ascending"), ("position", "ascending")]).to_pylist():
            out[row["conversation_id"]] = ItemCursor(row["position"] + 1, row["item_id"])
        return out

    def checkpoint(self) -> None:
        """Nothing to fold: each file is published whole when written."""
        self._writable()

    def replace_table(self, table: Table, rows: pa.Table) -> None:
        """Make a table that is written whole hold exactly ``rows``: one file, published atomically."""
        self._writable()
        self._store.write_parquet(whole_table_file(table.name), _conform(rows, table, _file_schema(table.name)))

    def read_table(self, name: str, columns: Sequence[str]) -> pa.Table:
        """Some columns of a table as the root holds it now (empty, typed, when it has none yet)."""
        spec = WHOLE_TABLES.get(name)
        if spec is not None:
            rows = self._store.read_table(whole_table_file(name))
            return _conform(rows if rows is not None else spec.schema.empty_table(), spec).select(list(columns))
        with store_error(self._store, f"read {name}"):
            return parquet_dataset(self._store.root, name, self._store.fs).to_table(columns=list(columns))

    # -- the state store -------------------------------------------------------------------------------

    def run_records(self, run_ids: Iterable[str] | None = None) -> dict[str, RunRecord]:
        """Records for the given runs (all runs when None)."""
        return self._state.run_records(run_ids)

    def watermark(self, thread_id: str, scope: str) -> int | None:
        """Highest settled run created_at (unix s) of a thread, for one scope."""
        return self._state.watermark(thread_id, scope)

    def watermarks(self, scope: str) -> dict[str, int]:
        """Every thread's watermark for one scope."""
        return self._state.watermarks(scope)

    def set_watermarks(self, scope: str, marks: Mapping[str, int]) -> None:
        """Advance the watermarks of some threads (never moves one back)."""
        self._writable()
        self._state.set_watermarks(scope, marks)

    def chunks_done(self, job: str) -> set[str]:
        """The chunk labels a backfill job has finished."""
        return self._state.chunks_done(job)

    def mark_chunk_done(self, job: str, chunk: str) -> None:
        """Record one finished backfill chunk."""
        self._writable()
        self._state.mark_chunk_done(job, chunk)

    def record_export(self, summary: Mapping[str, object]) -> None:
        """Append one export's summary to the destination's history."""
        self._writable()
        self._state.record_export(summary)

    def exports(self, limit: int = 10) -> list[dict[str, object]]:
        """The latest export summaries, newest first."""
        return self._state.exports(limit)


# -- planning a batch ----------------------------------------------------------------------------------


def _conform(rows: pa.Table, table: Table, schema: pa.Schema | None = None) -> pa.Table:
    """Rows in exactly ``schema`` (default the table's): columns in order, types cast, later columns as nulls."""
    schema = schema or table.schema
    if rows.schema.equals(schema, check_metadata=False):
        return rows  # the usual case (our own files, the pipeline's batches): no per-column work
    try:
        columns = [
            rows[f.name].cast(f.type) if f.name in rows.column_names else pa.nulls(rows.num_rows, f.type)
            for f in schema
        ]
        return pa.Table.from_arrays(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise DestinationError(f"rows for {table.name} do not fit its schema: {exc}") from None


@cache
def _file_schema(name: str) -> pa.Schema:
    """The table's schema as its Parquet files hold it: Parquet has no seconds, so timestamps are in ms.

    New rows are cast to it once per batch, so that the old rows read back from each file need no cast.
    """
    return pa.schema(
        [
            f.with_type(pa.timestamp("ms", f.type.tz)) if pa.types.is_timestamp(f.type) else f
            for f in (ALL_TABLES.get(name) or WHOLE_TABLES[name]).schema
        ]
    )


def _threads_of(tables: Mapping[str, pa.Table]) -> dict[str, str]:
    """unit -> owner (run_id -> thread_id; a response or conversation owns itself) of every unit in the batch."""
    out: dict[str, str] = {}
    for name, rows in tables.items():
        table = PARTITIONED_TABLES[name]
        if table.owner is None:
            out.update((unit, unit) for unit in pc.unique(rows[table.unit]).to_pylist())
            continue
        pairs = rows.select([table.unit, table.owner]).group_by([table.unit, table.owner]).aggregate([])
        out.update(zip(pairs[table.unit].to_pylist(), pairs[table.owner].to_pylist(), strict=True))
    return out


def _days(rows: pa.Table) -> pa.ChunkedArray:
    return pc.strftime(pc.cast(rows["created_at"], pa.date32()), "%Y-%m-%d")


def _days_by_run(tables: Mapping[str, pa.Table]) -> dict[str, set[str]]:
    """The days each unit's (run's, response's, conversation's) rows are written to."""
    out: dict[str, set[str]] = defaultdict(set)
    for name, rows in tables.items():
        units = rows[PARTITIONED_TABLES[name].unit]
        pairs = pa.table({"unit": units, "day": _days(rows)}).group_by(["unit", "day"]).aggregate([])
        for unit, day in zip(pairs["unit"].to_pylist(), pairs["day"].to_pylist(), strict=True):
            out[unit].add(day)
    return out


def _buckets(run_ids: pa.ChunkedArray) -> pa.Array:
    """The bucket of every row, hashing each distinct run id once."""
    distinct = pc.unique(run_ids)
    of_distinct = pa.array([bucket_of(r) for r in distinct.to_pylist()], pa.int64())
    return of_distinct.take(pc.index_in(run_ids, value_set=distinct).combine_chunks())


def _split(rows: pa.Table, table: Table) -> dict[tuple[str, int], pa.Table]:
    """Rows grouped by the (day, bucket) file they belong to, each group sorted by key."""
    days = pc.cast(pc.cast(pc.cast(rows["created_at"], pa.date32()), pa.int32()), pa.int64())
    file_key = pc.add(pc.multiply(days.combine_chunks(), BUCKETS), _buckets(rows[table.unit]))
    # One sort for the whole batch, so that a file with no old rows to merge needs none of its own.
    order = pc.sort_indices(
        rows.select(list(table.key)).append_column("__file", file_key),
        sort_keys=[("__file", "ascending"), *((k, "ascending") for k in table.key)],
    )
    rows, file_key = rows.take(order), file_key.take(order)
    runs = pc.run_end_encode(file_key)
    out: dict[tuple[str, int], pa.Table] = {}
    start = 0
    for end, key in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
        day = date.fromordinal(date(1970, 1, 1).toordinal() + key // BUCKETS).isoformat()
        out[(day, key % BUCKETS)] = rows.slice(start, end - start)
        start = end
    return out


def _last_per_key(rows: pa.Table, table: Table) -> pa.Table:
    """Rows with each key once (the last one given), so a batch never brings its own duplicates."""
    numbered = rows.append_column("__row", pa.array(range(rows.num_rows), pa.int64()))
    last = numbered.group_by(list(table.key), use_threads=False).aggregate([("__row", "max")])
    if last.num_rows == rows.num_rows:
        return rows
    keep = last["__row_max"].combine_chunks()
    return rows.take(keep.take(pc.array_sort_indices(keep)))


def _plan(tables: Mapping[str, pa.Table], old_days: Mapping[str, set[str]]) -> list[_FileJob]:
    """The data files a batch rewrites, each once, with the rows it adds and the ids whose rows it drops.

    Tables replaced by the same id form a family (a step and its children; a response and its items): every file
    of a family's rewritten (day, bucket) is rewritten in each of its tables, since children may have gone.
    """
    rewritten: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))  # family -> bucket -> ids
    family_files: dict[str, set[tuple[str, int]]] = defaultdict(set)
    new: dict[str, dict[tuple[str, int], pa.Table]] = {}
    for name, rows in tables.items():
        table = PARTITIONED_TABLES[name]
        new[name] = _split(_last_per_key(rows, table).cast(_file_schema(table.name)), table)
        for (day, bucket), part in new[name].items():
            rewritten[table.replaces][bucket].update(v for v in part[table.replaces].to_pylist() if v is not None)
            family_files[table.replaces].add((day, bucket))
    moved: dict[str, set[tuple[str, int]]] = defaultdict(set)  # old days of the units being rewritten
    for name, rows in tables.items():
        table = PARTITIONED_TABLES[name]
        for unit in pc.unique(rows[table.unit]).to_pylist():
            moved[table.replaces].update((day, bucket_of(unit)) for day in old_days.get(unit, ()))

    # One array of ids per family and bucket, shared by its files (ids are unique across buckets).
    drops = {family: _id_arrays(ids) for family, ids in rewritten.items()}
    no_ids = pa.array([], pa.string())
    jobs: list[_FileJob] = []
    for table in PARTITIONED_TABLES.values():
        files = family_files[table.replaces] | moved[table.replaces]
        drop = drops.get(table.replaces, {})
        rows_of = new.get(table.name, {})
        for day, bucket in sorted(files):
            jobs.append(_FileJob(table, day, bucket, rows_of.get((day, bucket)), drop.get(bucket, no_ids)))
    return jobs


def _id_arrays(ids: Mapping[int, set[str]]) -> dict[int, pa.Array]:
    return {bucket: pa.array(sorted(values), pa.string()) for bucket, values in ids.items()}


# -- reading -------------------------------------------------------------------------------------------


def _table(name: str) -> Table:
    try:
        return ALL_TABLES[name]
    except KeyError:
        raise InputError(f"unknown table {name!r}; the tables are {', '.join(ALL_TABLES)}") from None


def whole_table_file(name: str) -> str:
    """``model_prices/model_prices.parquet``: the one file of a table written whole."""
    return f"{name}/{name}.parquet"


def whole_table_dataset(root: str, table: Table, filesystem: pafs.FileSystem) -> ds.Dataset:
    """A table written whole as a dataset (empty when it was never written); ``root`` is a path in ``filesystem``."""
    import pyarrow.dataset as ds  # 43 MB of libraries that only reading needs

    path = f"{root.rstrip('/')}/{whole_table_file(table.name)}"
    files = [path] if filesystem.get_file_info(path).type == pafs.FileType.File else []
    return ds.dataset(files, schema=table.schema, format="parquet", filesystem=filesystem)


def parquet_dataset(root: str, table: str, filesystem: pafs.FileSystem | None = None) -> ds.Dataset:
    """One table of a Parquet root as a dataset: its schema plus ``created_date`` (a date, from the path).

    ``root`` is a path or URI (``s3://bucket/prefix``); with ``filesystem`` it is a path inside that.
    A table with no files yet is an empty dataset.
    """
    import pyarrow.dataset as ds  # 43 MB of libraries that only reading needs

    spec = _table(table)
    if filesystem is None:
        store = open_store(root)
        filesystem, base = store.fs, store.path(table)
    else:
        base = f"{root.rstrip('/')}/{table}"
    if spec.entity:  # one file per bucket, no day partition
        return ds.dataset(_data_files(filesystem, base), schema=spec.schema, format="parquet", filesystem=filesystem)
    schema = spec.schema.append(pa.field(PARTITION, pa.date32()))
    partitioning = ds.partitioning(pa.schema([pa.field(PARTITION, pa.date32())]), flavor="hive")
    return ds.dataset(
        _data_files(filesystem, base),
        schema=schema,
        format="parquet",
        filesystem=filesystem,
        partitioning=partitioning,
        partition_base_dir=base,
    )


def _data_files(filesystem: pafs.FileSystem, base: str) -> list[str]:
    """The ``*.parquet`` files under ``base``: not temp files or ``_state``, nor whatever else someone put there
    (a notes.txt in a partition would make every read of the table fail)."""
    if filesystem.get_file_info(base).type != pafs.FileType.Directory:
        return []
    infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    return sorted(
        info.path
        for info in infos
        if info.type == pafs.FileType.File
        and info.base_name.endswith(".parquet")
        and not any(part.startswith((".", "_")) for part in info.path[len(base) + 1 :].split("/"))
    )


def partitions_changed_since(
    root: str, since: datetime, *, s3_endpoint_url: str | None = None
) -> dict[str, list[date]]:
    """The days of each table with a data file written at or after ``since`` (cheap: one listing per table)."""
    store = open_store(root, endpoint_url=s3_endpoint_url)
    out: dict[str, list[date]] = {}
    for name in PARTITIONED_TABLES:
        days = {
            date.fromisoformat(info.path.split("/")[1].removeprefix(f"{PARTITION}="))
            for info in store.list_files(name)
            if info.base_name.endswith(".parquet")
            and not is_temp_name(info.base_name)
            and info.mtime is not None
            and info.mtime >= since
        }
        if days:
            out[name] = sorted(days)
    return out
