"""The export state of a Parquet root, kept under ``<root>/_state/`` so any machine that reaches it can go on.

    _state/runs/bucket-07.parquet        one row per run of that bucket: its RunRecord, and the partitions
                                         holding its rows (so a re-export can find and replace them)
    _state/watermarks/<scope>.json       {thread_id: highest settled run created_at}, one file per scope
    _state/backfill/<job>/<chunk>.done   one object per finished chunk: marking never rewrites shared state
    _state/exports/<ts>-<uuid>.json      one object per export summary
    _state/layout.json                   {"buckets": 8}: the hash buckets the data files are split by

Bucket files and a scope's watermarks are only written under the writer's claim on those buckets (a scope
is meant to be one shard spec); chunk marks and summaries are new objects, so concurrent writers never lose
each other's updates. Every write is atomic (``Store.write_atomic``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc

from etl.errors import DestinationError
from etl.load.base import RunRecord
from etl.load.fs import Store
from etl.sharding import BUCKETS, bucket_of
from etl.values import iso

STATE_DIR = "_state"
LAYOUT_FILE = f"{STATE_DIR}/layout.json"
_LEGACY_BUCKETS = 32  # roots written before layout.json existed
RUNS_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("thread_id", pa.string(), nullable=False),
        pa.field("run_status", pa.string()),
        pa.field("run_created_at", pa.int64()),
        pa.field("step_count", pa.int64(), nullable=False),
        pa.field("exported", pa.bool_(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("exported_at", pa.timestamp("us", tz="UTC"), nullable=False),
        # False for a run whose rows were written but that no batch has settled yet: it has partitions only.
        pa.field("recorded", pa.bool_(), nullable=False),
        pa.field("partitions", pa.list_(pa.string()), nullable=False),
    ]
)
_RECORD_FIELDS = [f.name for f in RUNS_SCHEMA if f.name not in ("recorded", "partitions")]


def _name(text: str) -> str:
    """A caller's label (scope, job, chunk) as one safe path segment."""
    return quote(text, safe="-_.=") or "%00"


def _runs_file(bucket: int) -> str:
    return f"{STATE_DIR}/runs/bucket-{bucket:02d}.parquet"


class ParquetState:
    """The ``StateStore`` of a Parquet root (writes are allowed only while ``writable`` says so)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- layout ----------------------------------------------------------------------------------------

    def check_layout(self) -> bool:
        """Refuse a root whose files are split by another bucket count; True when the root records ours.

        A run's rows and state live in the files of its bucket: written with another count, a re-export
        would look for them in the wrong files and leave the old copies in place.
        """
        data = self._store.read_bytes(LAYOUT_FILE)
        if data is not None:
            try:
                buckets = json.loads(data)["buckets"]
            except (ValueError, KeyError, TypeError):
                raise DestinationError(f"{self._store.display}: {LAYOUT_FILE} is unreadable") from None
        elif any(f.base_name.startswith("bucket-") for f in self._store.list_files(f"{STATE_DIR}/runs")):
            buckets = _LEGACY_BUCKETS
        else:
            return False
        if buckets != BUCKETS:
            raise DestinationError(
                f"destination {self._store.display} splits its files into {buckets} hash buckets (an earlier "
                f"version wrote it); this version writes {BUCKETS}: export or replay into a new root"
            )
        return True

    def record_layout(self) -> None:
        """Note the bucket count, before the first data file of a new root."""
        self._store.write_atomic(LAYOUT_FILE, json.dumps({"buckets": BUCKETS}).encode())

    # -- runs ------------------------------------------------------------------------------------------

    def _bucket_table(self, bucket: int) -> pa.Table | None:
        return self._store.read_table(_runs_file(bucket))

    def _bucket_rows(self, bucket: int, ids: set[str] | None = None) -> dict[str, dict[str, object]]:
        """The rows of one bucket's runs (only ``ids`` when given: a bucket holds every run ever exported)."""
        table = self._bucket_table(bucket)
        if table is None:
            return {}
        if ids is not None:
            table = table.filter(_among(table, ids))
        return {row["run_id"]: row for row in table.to_pylist()}

    def _buckets_for(self, run_ids: Iterable[str] | None) -> dict[int, set[str] | None]:
        if run_ids is None:
            return dict.fromkeys(range(BUCKETS))
        wanted: dict[int, set[str] | None] = {}
        for run_id in run_ids:
            ids = wanted.setdefault(bucket_of(run_id), set())
            assert ids is not None
            ids.add(run_id)
        return wanted

    def run_records(self, run_ids: Iterable[str] | None = None) -> dict[str, RunRecord]:
        """Records for the given runs (all runs when None); runs never settled have none."""
        out: dict[str, RunRecord] = {}
        for bucket, ids in self._buckets_for(run_ids).items():
            for run_id, row in self._bucket_rows(bucket, ids).items():
                if row["recorded"]:
                    out[run_id] = RunRecord(**{k: row[k] for k in _RECORD_FIELDS})  # type: ignore[arg-type]
        return out

    def partitions(self, run_ids: Iterable[str]) -> dict[str, set[str]]:
        """The partitions (``YYYY-MM-DD``) known to hold rows of each run."""
        out: dict[str, set[str]] = {}
        for bucket, ids in self._buckets_for(run_ids).items():
            for run_id, row in self._bucket_rows(bucket, ids).items():
                out[run_id] = set(row["partitions"])  # type: ignore[call-overload]
        return out

    def update_runs(
        self,
        bucket: int,
        *,
        partitions: Mapping[str, tuple[str, set[str]]],
        records: Iterable[RunRecord] = (),
    ) -> None:
        """Add partitions (run_id -> (thread_id, dates)) and replace records of one bucket's runs."""
        records = list(records)
        touched = set(partitions) | {record.run_id for record in records}
        # Only the touched runs go through Python; the bucket's other rows are carried over as Arrow.
        table = self._bucket_table(bucket)
        rows: dict[str, dict[str, object]] = {}
        kept: list[pa.Table] = []
        if table is not None:
            mask = _among(table, touched)
            rows = {row["run_id"]: row for row in table.filter(mask).to_pylist()}
            kept.append(table.filter(pc.invert(mask)))
        now = datetime.now(UTC)
        for run_id, (thread_id, dates) in partitions.items():
            row = rows.setdefault(run_id, _placeholder(run_id, thread_id, now))
            row["partitions"] = sorted(set(row["partitions"]) | dates)  # type: ignore[call-overload]
        for record in records:
            old = rows.get(record.run_id)
            row = {k: getattr(record, k) for k in _RECORD_FIELDS}
            row["recorded"] = True
            row["partitions"] = old["partitions"] if old else []
            rows[record.run_id] = row
        changed = pa.Table.from_pylist(list(rows.values()), schema=RUNS_SCHEMA)
        merged = pa.concat_tables([*kept, changed]).sort_by("run_id")
        self._store.write_parquet(_runs_file(bucket), merged)

    # -- watermarks ------------------------------------------------------------------------------------

    def watermarks(self, scope: str) -> dict[str, int]:
        """Every thread's watermark for one scope."""
        data = self._store.read_bytes(f"{STATE_DIR}/watermarks/{_name(scope)}.json")
        if data is None:
            return {}
        marks: dict[str, int] = json.loads(data)["threads"]
        return marks

    def watermark(self, thread_id: str, scope: str) -> int | None:
        """Highest settled run created_at (unix s) of a thread in one scope."""
        return self.watermarks(scope).get(thread_id)

    def set_watermarks(self, scope: str, marks: Mapping[str, int]) -> None:
        """Advance some threads' watermarks; a lower value never moves one back."""
        current = self.watermarks(scope)
        for thread_id, mark in marks.items():
            current[thread_id] = max(mark, current.get(thread_id, mark))
        body = {"scope": scope, "threads": dict(sorted(current.items()))}
        self._store.write_atomic(f"{STATE_DIR}/watermarks/{_name(scope)}.json", json.dumps(body).encode())

    # -- backfill chunks -------------------------------------------------------------------------------

    def chunks_done(self, job: str) -> set[str]:
        """The chunk labels a backfill job has finished."""
        files = self._store.list_files(f"{STATE_DIR}/backfill/{_name(job)}", recursive=False)
        return {unquote(f.base_name.removesuffix(".done")) for f in files if f.base_name.endswith(".done")}

    def mark_chunk_done(self, job: str, chunk: str) -> None:
        """Record one finished chunk."""
        body = json.dumps({"job": job, "chunk": chunk, "done_at": iso()})
        self._store.write_atomic(f"{STATE_DIR}/backfill/{_name(job)}/{_name(chunk)}.done", body.encode())

    # -- export history --------------------------------------------------------------------------------

    def record_export(self, summary: Mapping[str, object]) -> None:
        """Store one export's summary as a new object (sortable by time in its name)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        try:
            body = json.dumps(dict(summary), default=str, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise DestinationError(f"export summary cannot be stored as JSON: {exc}") from None
        self._store.write_atomic(f"{STATE_DIR}/exports/{stamp}-{uuid.uuid4().hex[:12]}.json", body.encode())

    def exports(self, limit: int = 10) -> list[dict[str, object]]:
        """The latest export summaries, newest first."""
        listed = self._store.list_files(f"{STATE_DIR}/exports", recursive=False)
        files = sorted((f for f in listed if f.base_name.endswith(".json")), key=lambda f: f.base_name, reverse=True)
        out: list[dict[str, object]] = []
        for info in files[:limit]:
            data = self._store.read_bytes(info.path)
            if data is not None:
                out.append(json.loads(data))
        return out


def _among(table: pa.Table, ids: set[str]) -> pa.ChunkedArray:
    """The mask of ``table``'s rows whose run_id is in ``ids``."""
    return pc.is_in(table["run_id"], value_set=pa.array(list(ids), pa.string()))


def _placeholder(run_id: str, thread_id: str, now: datetime) -> dict[str, object]:
    """The row of a run whose rows are being written before any batch settled it."""
    return {
        "run_id": run_id,
        "thread_id": thread_id,
        "run_status": None,
        "run_created_at": None,
        "step_count": 0,
        "exported": False,
        "error": None,
        "exported_at": now,
        "recorded": False,
        "partitions": [],
    }
