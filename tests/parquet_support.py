"""Shared helpers of the Parquet / S3 / lock tests: batches built as Arrow tables, readers, a moto S3 server.

Holds no tests itself; the test modules import what they need from here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from paths import REPO

from etl.load.base import ExportBatch, RunRecord
from etl.load.parquet import parquet_dataset
from etl.schema import TABLES
from etl.sharding import BUCKETS, bucket_of

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
EXTRACTED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass
class Step:
    """A step to write: its tool calls, each with ``outputs`` code outputs and ``results`` file search results."""

    step_id: str
    created_at: int
    tool_calls: int = 0
    outputs: int = 0
    results: int = 0
    status: str = "completed"


@dataclass
class Run:
    """A run to write, with its steps."""

    run_id: str
    thread_id: str
    created_at: int
    steps: list[Step] = field(default_factory=list)
    status: str = "completed"


def simple_runs(count: int, *, steps: int = 2, calls: int = 2, day_spread: int = 3, prefix: str = "run") -> list[Run]:
    """``count`` runs over a few days, each with ``steps`` steps of ``calls`` tool calls (1 output, 2 results)."""
    runs = []
    for i in range(count):
        created = T0 + (i % day_spread) * DAY + i
        run_id = f"{prefix}_{i:05d}"
        runs.append(
            Run(
                run_id,
                f"thread_{i % 4}",
                created,
                [Step(f"step_{run_id}_{j}", created + j, calls, 1, 2) for j in range(steps)],
            )
        )
    return runs


def make_batch(runs: list[Run], *, extracted_at: datetime = EXTRACTED, records: bool = True) -> ExportBatch:
    """An ExportBatch with rows in every table for ``runs``, and a RunRecord each."""
    rows: dict[str, list[dict[str, object]]] = {name: [] for name in TABLES}
    for run in runs:
        ts = datetime.fromtimestamp(run.created_at, UTC)
        rows["runs"].append(
            {"run_id": run.run_id, "thread_id": run.thread_id, "status": run.status, "created_at": ts,
             "prompt_tokens": 10, "temperature": 0.5, "metadata_json": '{"k": "v"}', "extracted_at": extracted_at}
        )
        for step in run.steps:
            sts = datetime.fromtimestamp(step.created_at, UTC)
            common = {"step_id": step.step_id, "run_id": run.run_id, "thread_id": run.thread_id, "created_at": sts,
                      "extracted_at": extracted_at}
            rows["run_steps"].append(
                {**common, "type": "tool_calls" if step.tool_calls else "message_creation", "status": step.status,
                 "tool_call_count": step.tool_calls, "total_tokens": 2**40, "completed_at": sts}
            )
            for c in range(step.tool_calls):
                call = {**common, "tool_call_index": c, "tool_call_id": f"call_{step.step_id}_{c}"}
                rows["tool_calls"].append({**call, "type": "function", "function_name": f"f{c}",
                                           "file_search_score_threshold": 0.25})
                for o in range(step.outputs):
                    rows["code_interpreter_outputs"].append({**call, "output_index": o, "type": "logs", "logs": "ok"})
                for r in range(step.results):
                    rows["file_search_results"].append({**call, "result_index": r, "score": 0.5 + r / 10})
    tables = {name: pa.Table.from_pylist(r, schema=TABLES[name].schema) for name, r in rows.items()}
    recs = [
        RunRecord(run.run_id, run.thread_id, run.status, run.created_at, len(run.steps), True, None, extracted_at)
        for run in runs
    ] if records else []
    return ExportBatch(tables=tables, records=recs)


def runs_in_buckets(buckets: set[int], count: int, *, prefix: str = "run") -> list[Run]:
    """``count`` runs whose ids hash into ``buckets``."""
    out: list[Run] = []
    i = 0
    while len(out) < count:
        run = simple_runs(1, prefix=f"{prefix}{i}")[0]
        if bucket_of(run.run_id) in buckets:
            out.append(run)
        i += 1
    return out


def read_duckdb(root: str, table: str) -> list[tuple[object, ...]]:
    """All rows of a table through DuckDB's own reader and glob (local roots; none when it has no files)."""
    if not list(Path(root).glob(f"{table}/*/*.parquet")):
        return []  # DuckDB refuses a glob that matches nothing
    con = duckdb.connect()
    try:
        glob = f"{root}/{table}/*/*.parquet"
        return con.execute("SELECT * FROM read_parquet(?, hive_partitioning=true)", [glob]).fetchall()
    finally:
        con.close()


def read_dataset(root: str, table: str, filesystem: pafs.FileSystem | None = None) -> pa.Table:
    """All rows of a table through ``parquet_dataset``."""
    return parquet_dataset(root, table, filesystem).to_table()


def key_counts(rows: pa.Table, table: str) -> dict[tuple[object, ...], int]:
    """How often each key occurs."""
    keys = TABLES[table].key
    counts: dict[tuple[object, ...], int] = {}
    for row in rows.select(list(keys)).to_pylist():
        k = tuple(row[c] for c in keys)
        counts[k] = counts.get(k, 0) + 1
    return counts


def assert_exactly(rows: pa.Table, table: str, expected: set[tuple[object, ...]]) -> None:
    """Every expected key once, and nothing else."""
    counts = key_counts(rows, table)
    dupes = {k: n for k, n in counts.items() if n > 1}
    assert not dupes, f"{table}: duplicated keys {list(dupes)[:5]}"
    assert set(counts) == expected, f"{table}: missing {expected - set(counts)}, extra {set(counts) - expected}"


def expected_keys(runs: list[Run]) -> dict[str, set[tuple[object, ...]]]:
    """The keys each table must hold for ``runs``."""
    batch = make_batch(runs, records=False)
    return {name: set(key_counts(t, name)) for name, t in batch.tables.items()}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_child(code: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in a fresh interpreter (this test module importable), output captured."""
    prelude = f"import sys; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )


@dataclass
class S3:
    """A running moto S3 server and a bucket on it."""

    endpoint: str
    bucket: str
    fs: pafs.S3FileSystem

    def uri(self, prefix: str) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{prefix}"


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A real S3 API (moto) on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> S3:
    """Credentials and endpoint in the environment, and a fresh bucket for this test."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIATESTKEYID000",
        "AWS_SECRET_ACCESS_KEY": "test-secret-key-never-shown",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fs = pafs.S3FileSystem(endpoint_override=moto_server, region="us-east-1", allow_bucket_creation=True)
    bucket = "b-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40] + f"-{free_port()}"
    fs.create_dir(bucket)
    return S3(moto_server, bucket, fs)


def all_buckets() -> set[int]:
    """Every bucket."""
    return set(range(BUCKETS))


def start_child(code: str, *, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a Python snippet in a fresh interpreter with pipes on stdin and stdout."""
    prelude = f"import sys; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]\n"
    return subprocess.Popen(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


HOLD_CLAIM = """
    import sys
    from etl.load import open_destination
    from etl.sharding import Shard
    with open_destination({root!r}, Shard.parse({shard!r})) as dest:
        print("ready", flush=True)
        sys.stdin.readline()
        print("done", flush=True)
"""


def hold_claim(root: str, shard: str, *, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A child process that holds a writer's claim on ``root`` for ``shard`` until its stdin gets a line."""
    child = start_child(HOLD_CLAIM.format(root=root, shard=shard), env=env)
    assert child.stdout is not None
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        raise AssertionError(f"holder did not start: {line!r} {child.communicate()[1][-2000:]}")
    return child


CRASHING_WRITER = """
    import os, signal
    from etl.load.fs import Store
    from etl.load import open_destination
    from parquet_support import crash_runs, make_batch, shrunk_runs

    seen = 0
    def hook(path):
        global seen
        if {match!r} in path:
            seen += 1
            if seen == {at}:
                os.kill(os.getpid(), signal.SIGKILL)

    # Every file is written through Store.stage (a batch stages all its files, then publishes them).
    stage, publish = Store.stage, Store._publish
    def stage_hooked(self, relative, data):
        if {where!r} == "write":
            hook(relative)
        return stage(self, relative, data)
    def publish_hooked(self, temp, final):
        if {where!r} == "publish":
            hook(final)
        publish(self, temp, final)
    Store.stage, Store._publish = stage_hooked, publish_hooked

    with open_destination({root!r}) as dest:
        while True:
            dest.write(make_batch(shrunk_runs()))
            dest.write(make_batch(crash_runs()))
"""


def crash_runs() -> list[Run]:
    """The export the crash tests repeat: small, so that a writer loop passes many kill points quickly."""
    return simple_runs(12, steps=2, calls=2)


def shrunk_runs() -> list[Run]:
    """``crash_runs()`` re-exported: fewer tool calls, one step moved a week, statuses changed, 3 new runs."""
    runs = crash_runs()
    out = []
    for i, run in enumerate(runs):
        steps = [replace(s, tool_calls=1, results=0) if (i + j) % 2 else s for j, s in enumerate(run.steps)]
        if i == 0:
            steps[0] = replace(steps[0], created_at=steps[0].created_at + 7 * DAY)
        out.append(replace(run, steps=steps, status="completed" if i % 3 else "failed"))
    return out + simple_runs(3, steps=2, prefix="extra")


def crash_writer(root: str, *, match: str, at: int, where: str = "write", env: dict[str, str] | None = None) -> int:
    """Run a writer that SIGKILLs itself at the ``at``-th write (or publish) of a path containing ``match``."""
    result = run_child(CRASHING_WRITER.format(root=root, match=match, at=at, where=where), env=env)
    return result.returncode


def duckdb_keys(root: str, table: str) -> list[tuple[object, ...]]:
    """The key of every row DuckDB's glob reader sees."""
    if not list(Path(root).glob(f"{table}/*/*.parquet")):
        return []
    con = duckdb.connect()
    try:
        columns = ", ".join(TABLES[table].key)
        glob = f"{root}/{table}/*/*.parquet"
        return con.execute(f"SELECT {columns} FROM read_parquet(?, hive_partitioning=true)", [glob]).fetchall()
    finally:
        con.close()


def assert_at_most_once(root: str, allowed: dict[str, set[tuple[object, ...]]]) -> None:
    """Both readers see no key twice and no key outside ``allowed`` (what some export could have written)."""
    for name in TABLES:
        for keys in (list(key_counts(read_dataset(root, name), name)), duckdb_keys(root, name)):
            assert len(keys) == len(set(keys)), f"{name}: a key is there twice"
            assert set(keys) <= allowed[name], f"{name}: unexpected keys {set(keys) - allowed[name]}"
