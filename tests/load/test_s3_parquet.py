"""The Parquet destination on S3 (a real moto S3 server on 127.0.0.1): the same guarantees as on a local root."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace

import duckdb
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from parquet_support import (
    CRASHING_WRITER,
    S3,
    T0,
    Run,
    Step,
    assert_exactly,
    crash_runs,
    expected_keys,
    free_port,
    hold_claim,
    make_batch,
    moto_server,
    read_dataset,
    runs_in_buckets,
    s3,
    shrunk_runs,
    simple_runs,
    start_child,
)

from etl.errors import AuthError, DestinationBusyError, DestinationError
from etl.load import locks, open_destination
from etl.load.locks import Holder
from etl.load.parquet import ParquetDestination, parquet_dataset
from etl.schema import TABLES
from etl.sharding import Shard, bucket_of

__all__ = ["moto_server", "s3"]  # fixtures, imported for pytest
SECRET = "test-secret-key-never-shown"
DATA_KEY = re.compile(r"^[a-z_]+/created_date=\d{4}-\d{2}-\d{2}/part-b\d{2}\.parquet$")


@pytest.fixture(autouse=True)
def quick_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process leases settle quickly (child processes keep the real settle time)."""
    monkeypatch.setattr(locks, "LEASE_SETTLE_SECONDS", 0.05)


def keys(s3: S3, prefix: str) -> list[str]:
    """Every object key under a prefix, relative to it."""
    infos = s3.fs.get_file_info(pafs.FileSelector(f"{s3.bucket}/{prefix}", recursive=True, allow_not_found=True))
    return sorted(i.path.removeprefix(f"{s3.bucket}/{prefix}/") for i in infos if i.type == pafs.FileType.File)


def test_export_reexport_and_children_on_s3(s3: S3) -> None:
    uri = s3.uri("exports/one")
    runs = simple_runs(12, steps=2, calls=2)
    with open_destination(uri) as dest:
        dest.write(make_batch(runs))
        dest.write(make_batch(runs))
    shrunk = [replace(r, steps=[replace(s, tool_calls=1) for s in r.steps]) for r in runs[:4]]
    with open_destination(uri) as dest:
        dest.write(make_batch(shrunk))
    final = shrunk + runs[4:]
    for name, expected in expected_keys(final).items():
        assert_exactly(read_dataset(uri, name), name, expected)

    listed = keys(s3, "exports/one")
    data = [k for k in listed if not k.startswith("_state/")]
    assert data and all(DATA_KEY.match(k) for k in data), data
    assert not [k for k in listed if ".tmp" in k]
    assert not [k for k in listed if k.startswith("_state/locks/")]  # leases are gone after exit
    meta = pq.ParquetFile(s3.fs.open_input_file(f"{s3.bucket}/exports/one/{data[0]}")).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"

    con = duckdb.connect()  # DuckDB reads S3 through the pyarrow datasets, as `runsteps sql` does
    con.register("run_steps", parquet_dataset(uri, "run_steps"))
    con.register("tool_calls", parquet_dataset(uri, "tool_calls"))
    got = con.execute(
        "SELECT count(*), count(DISTINCT step_id), (SELECT count(*) FROM tool_calls) FROM run_steps"
    ).fetchall()
    assert got == [(24, 24, 4 * 2 * 1 + 8 * 2 * 2)]


def test_state_on_s3_is_readable_by_a_fresh_reader(s3: S3) -> None:
    uri = s3.uri("state")
    runs = simple_runs(5)
    batch = make_batch(runs)
    with open_destination(uri) as dest:
        dest.write(batch)
        dest.set_watermarks("0/1", {"thread_1": 10})
        dest.set_watermarks("0/1", {"thread_1": 5, "thread_2": 7})
        dest.mark_chunk_done("bf", "2026-01-01")
        dest.record_export({"runs_ok": 5})
        dest.record_export({"runs_ok": 6})
    reader = open_destination(uri, read_only=True)
    assert reader.run_records() == {r.run_id: r for r in batch.records}
    assert reader.watermarks("0/1") == {"thread_1": 10, "thread_2": 7}
    assert reader.chunks_done("bf") == {"2026-01-01"}
    assert [e["runs_ok"] for e in reader.exports()] == [6, 5]
    for key in keys(s3, "state"):
        body = s3.fs.open_input_stream(f"{s3.bucket}/state/{key}").read()
        assert SECRET.encode() not in body and b"AKIATESTKEYID000" not in body


def test_lease_refuses_a_second_writer_and_is_deleted_on_exit(s3: S3) -> None:
    uri = s3.uri("leases")
    with open_destination(uri, Shard(0, 2)):
        with pytest.raises(DestinationBusyError) as caught:
            open_destination(uri, Shard(0, 4)).__enter__()
        assert f"host {socket.gethostname()}, pid {os.getpid()}, since " in str(caught.value)
        with open_destination(uri, Shard(1, 2)):  # disjoint buckets: no conflict
            pass
    assert keys(s3, "leases") == []


def _plant_lease(s3: S3, prefix: str, bucket: int, **fields: object) -> None:
    """A lease of a writer on another machine."""
    holder = Holder(
        **{"token": "other", "host": "elsewhere", "pid": 1, "since": time.time() - 60, "buckets": [bucket], **fields}
    )
    with s3.fs.open_output_stream(f"{s3.bucket}/{prefix}/_state/locks/lease-other.json") as out:
        out.write(holder.to_json())


def test_a_live_foreign_lease_blocks_and_an_expired_one_does_not(s3: S3) -> None:
    _plant_lease(s3, "foreign", 3, expires_at=time.time() + 600)
    with pytest.raises(DestinationBusyError, match="bucket 3 is being written by host elsewhere, pid 1"):
        open_destination(s3.uri("foreign")).__enter__()
    _plant_lease(s3, "foreign", 3, expires_at=time.time() - 1)
    with open_destination(s3.uri("foreign")) as dest:
        dest.write(make_batch(runs_in_buckets({3}, 2)))
    assert keys(s3, "foreign/_state/locks") == ["lease-other.json"]  # the expired lease of the other one stays


def test_racing_writers_agree_the_older_lease_wins(s3: S3) -> None:
    claims = [locks.LeaseClaim(open_destination(s3.uri("race"))._store, (1, 2)) for _ in range(2)]
    # Both wrote before either confirmed: simulate by planting the rival's (older) lease during the settle time.
    _plant_lease(s3, "race", 2, since=time.time() - 1, expires_at=time.time() + 600)
    with pytest.raises(DestinationBusyError, match="host elsewhere"):
        claims[0].acquire()
    s3.fs.delete_file(f"{s3.bucket}/race/_state/locks/lease-other.json")
    claims[1].acquire()
    try:
        _plant_lease(s3, "race", 1, since=time.time() + 60, expires_at=time.time() + 600)  # a younger rival
        claims[1].check()  # the younger one withdraws on its own confirmation; ours stands
    finally:
        claims[1].release()
    assert keys(s3, "race/_state/locks") == ["lease-other.json"]


def test_lease_of_a_sigkilled_process_on_this_host_is_free(s3: S3) -> None:
    uri = s3.uri("killed")
    holder = hold_claim(uri, "0/1", env=dict(os.environ))
    assert keys(s3, "killed/_state/locks")  # the lease is there
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    with open_destination(uri) as dest:
        dest.write(make_batch(simple_runs(3)))
    assert read_dataset(uri, "runs").num_rows == 3


def test_lease_check_stops_writes_once_it_could_have_expired(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "LEASE_SECONDS", 0.2)  # renewals every 0.05 s; now make them fail
    dest = open_destination(s3.uri("expiring"))
    with dest:
        monkeypatch.setattr(locks.LeaseClaim, "_write", lambda self: (_ for _ in ()).throw(OSError("down")))
        time.sleep(0.4)
        with pytest.raises(DestinationBusyError, match="lease could not be renewed"):
            dest.write(make_batch(simple_runs(1)))
    assert keys(s3, "expiring") == []


WRITE_SHARD = """
    from etl.load import open_destination
    from etl.sharding import Shard
    from parquet_support import make_batch, runs_in_buckets
    shard = Shard.parse({shard!r})
    with open_destination({uri!r}, shard) as dest:
        dest.write(make_batch(runs_in_buckets(set(shard.buckets), 8, prefix=f"s{{shard.index}}-")))
"""


def test_disjoint_shards_on_s3_write_at_the_same_time(s3: S3) -> None:
    uri = s3.uri("shards")
    children = [start_child(WRITE_SHARD.format(uri=uri, shard=f"{i}/2"), env=dict(os.environ)) for i in range(2)]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
    runs = [r for i in range(2) for r in runs_in_buckets(set(Shard(i, 2).buckets), 8, prefix=f"s{i}-")]
    for name in TABLES:
        assert_exactly(read_dataset(uri, name), name, expected_keys(runs)[name])


@pytest.mark.parametrize("at", [25])
def test_sigkill_mid_write_on_s3_then_rerun(s3: S3, at: int) -> None:
    uri = s3.uri(f"crash{at}")
    with open_destination(uri) as dest:
        dest.write(make_batch(crash_runs()))
    child = start_child(CRASHING_WRITER.format(root=uri, match="part-", at=at, where="write"), env=dict(os.environ))
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err[-2000:]
    for name in TABLES:
        ids = [tuple(r.values()) for r in read_dataset(uri, name).select(list(TABLES[name].key)).to_pylist()]
        assert len(ids) == len(set(ids))
    with open_destination(uri) as dest:  # the crashed writer's lease: same host, dead pid, so free
        dest.write(make_batch(shrunk_runs()))
    for name, expected in expected_keys(shrunk_runs()).items():
        assert_exactly(read_dataset(uri, name), name, expected)
    assert not [k for k in keys(s3, f"crash{at}") if ".tmp" in k or "/locks/" in k]


def test_wrong_endpoint_is_a_clear_error_and_writes_nothing(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(DestinationError) as caught:
        ParquetDestination(s3.uri("x"), s3_endpoint_url=dead)  # overrides the environment's (working) endpoint
    assert time.monotonic() - started < 20
    assert "cannot use bucket" in str(caught.value) and dead in str(caught.value)
    assert SECRET not in str(caught.value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    with pytest.raises(DestinationError, match="cannot use bucket"):
        open_destination(s3.uri("x"))
    assert keys(s3, "x") == []


def test_missing_bucket_and_missing_prefix(s3: S3) -> None:
    with pytest.raises(DestinationError, match=re.escape("bucket 'no-such-bucket' does not exist at http://127.0.0.1")):
        open_destination("s3://no-such-bucket/p")
    with pytest.raises(DestinationError, match="does not exist"):
        open_destination(s3.uri("nothing/here"), read_only=True)
    assert "no-such-bucket" not in [i.path for i in s3.fs.get_file_info(pafs.FileSelector("/"))]


@pytest.fixture
def auth_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server that checks credentials (ours are unknown to it): every request is refused."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # ready when it answers HTTP (a refusal is an answer), not merely when it listens
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTKEYID000")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_refused_credentials_are_an_auth_error(auth_moto: str) -> None:
    with pytest.raises(AuthError) as caught:
        ParquetDestination("s3://bucket/prefix", s3_endpoint_url=auth_moto)
    assert caught.value.exit_code == 4
    assert "access refused" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_created_date_partitions_on_s3(s3: S3) -> None:
    run = Run("run_d", "t", T0 + 86_399, [Step("step_d", T0 + 86_399, 1), Step("step_e", T0 + 86_400, 1)])
    with open_destination(s3.uri("days")) as dest:
        dest.write(make_batch([run]))
    rows = read_dataset(s3.uri("days"), "run_steps").to_pylist()
    assert {(r["step_id"], r["created_date"].isoformat()) for r in rows} == {
        ("step_d", "2026-01-01"), ("step_e", "2026-01-02")
    }
    assert f"part-b{bucket_of('run_d'):02d}.parquet" in json.dumps(keys(s3, "days"))
