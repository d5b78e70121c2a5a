"""Crash safety of Parquet writes: a writer SIGKILLed anywhere leaves each key at most once; a rerun fixes all."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from parquet_support import (
    CRASHING_WRITER,
    assert_at_most_once,
    assert_exactly,
    crash_runs,
    expected_keys,
    make_batch,
    read_dataset,
    shrunk_runs,
    start_child,
)

from etl.load import open_destination
from etl.schema import TABLES

ORIGINAL = crash_runs()


def allowed_keys() -> dict[str, set[tuple[object, ...]]]:
    """Keys either version of the export may leave."""
    first, second = expected_keys(ORIGINAL), expected_keys(shrunk_runs())
    return {name: first[name] | second[name] for name in TABLES}


def rerun_and_check(root: Path) -> None:
    """What a crashed export must look like after the export runs again to its end."""
    assert_at_most_once(str(root), allowed_keys())
    assert not [p for p in root.glob("*/*/*.parquet") if p.name.startswith(".")]
    with open_destination(str(root)) as dest:
        dest.write(make_batch(shrunk_runs()))
    for name, keys in expected_keys(shrunk_runs()).items():
        assert_exactly(read_dataset(str(root), name), name, keys)
    assert not list(root.glob("**/.*.tmp")), "temp files of a crashed writer must be gone after the rerun"
    records = open_destination(str(root), read_only=True).run_records()
    assert {r.run_status for r in records.values()} == {"completed", "failed"}
    assert set(records) == {r.run_id for r in shrunk_runs()}


@pytest.mark.parametrize(
    ("where", "match", "at"),
    [
        ("write", "part-", 1),  # before the first data file of the re-export
        ("write", "part-", 23),  # amid the files of one batch
        ("write", "part-", 140),  # inside a later batch
        ("publish", "part-", 9),  # temp file written, not renamed into place
        ("write", "_state/runs", 1),  # before the state learns the new days of a run
        ("write", "_state/runs", 8),  # between the data files and the run records
        ("publish", "_state/runs", 30),  # a state temp file, in a later batch
    ],
)
def test_sigkill_at_a_point_then_rerun(tmp_path: Path, where: str, match: str, at: int) -> None:
    with open_destination(str(tmp_path)) as dest:
        dest.write(make_batch(ORIGINAL))
    child = start_child(CRASHING_WRITER.format(root=str(tmp_path), match=match, at=at, where=where))
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err[-2000:]
    rerun_and_check(tmp_path)


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    rng = random.Random(7)
    with open_destination(str(tmp_path)) as dest:
        dest.write(make_batch(ORIGINAL))
    for _ in range(3):
        child = start_child(CRASHING_WRITER.format(root=str(tmp_path), match="never", at=1, where="write"))
        time.sleep(rng.uniform(0.8, 2.0))  # the interpreter start takes part of this
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
        assert_at_most_once(str(tmp_path), allowed_keys())
    rerun_and_check(tmp_path)
