"""Writer claims on a local Parquet root: overlapping shards are refused before writing, disjoint ones both land."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
from parquet_support import (
    assert_exactly,
    expected_keys,
    hold_claim,
    make_batch,
    read_dataset,
    run_child,
    runs_in_buckets,
    start_child,
)

from etl.errors import DestinationBusyError
from etl.load import open_destination
from etl.schema import TABLES
from etl.sharding import Shard


def test_second_process_on_the_same_buckets_is_refused_before_writing(tmp_path: Path) -> None:
    holder = hold_claim(str(tmp_path), "0/1")
    try:
        with pytest.raises(DestinationBusyError) as caught, open_destination(str(tmp_path), Shard(1, 4)) as dest:
            dest.write(make_batch(runs_in_buckets(set(Shard(1, 4).buckets), 3)))
        message = str(caught.value)
        assert f"host {socket.gethostname()}, pid {holder.pid}, since 20" in message
        assert "\n" not in message
        assert not list(tmp_path.glob("[!_]*/*/*.parquet"))
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0


def test_same_process_twice_is_refused_and_free_after_exit(tmp_path: Path) -> None:
    with open_destination(str(tmp_path), Shard(0, 2)), pytest.raises(DestinationBusyError, match="bucket 0"):
        open_destination(str(tmp_path), Shard(0, 4)).__enter__()
    with open_destination(str(tmp_path), Shard(0, 4)):
        pass


def test_lock_is_released_when_the_holder_is_sigkilled(tmp_path: Path) -> None:
    holder = hold_claim(str(tmp_path), "0/1")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    runs = runs_in_buckets({3, 4}, 4)
    with open_destination(str(tmp_path)) as dest:
        dest.write(make_batch(runs))
    assert_exactly(read_dataset(str(tmp_path), "runs"), "runs", expected_keys(runs)["runs"])


WRITE_SHARD = """
    from etl.load import open_destination
    from etl.sharding import Shard
    from parquet_support import make_batch, runs_in_buckets
    shard = Shard.parse({shard!r})
    with open_destination({root!r}, shard) as dest:
        for i in range(3):
            dest.write(make_batch(runs_in_buckets(set(shard.buckets), 6, prefix=f"s{{shard.index}}-{{i}}-")))
"""


def test_disjoint_shards_write_at_the_same_time(tmp_path: Path) -> None:
    children = [start_child(WRITE_SHARD.format(root=str(tmp_path), shard=f"{i}/2")) for i in range(2)]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
    runs = [
        run
        for i in range(2)
        for n in range(3)
        for run in runs_in_buckets(set(Shard(i, 2).buckets), 6, prefix=f"s{i}-{n}-")
    ]
    for name in TABLES:
        assert_exactly(read_dataset(str(tmp_path), name), name, expected_keys(runs)[name])


def test_busy_child_exits_with_a_clear_error(tmp_path: Path) -> None:
    holder = hold_claim(str(tmp_path), "1/2")
    try:
        result = run_child(
            f"""
            from etl.errors import DestinationBusyError
            from etl.load import open_destination
            from etl.sharding import Shard
            try:
                with open_destination({str(tmp_path)!r}, Shard(1, 4)):
                    print("entered")
            except DestinationBusyError as exc:
                print("busy:", exc)
            """
        )
    finally:
        holder.communicate("\n", timeout=30)
    assert result.stdout.startswith("busy: destination ")
    assert f"pid {holder.pid}" in result.stdout
