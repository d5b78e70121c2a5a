"""One writer per DuckDB file: a second export stops with a one-line DestinationBusyError; read-only opens."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from duckdb_batches import make_batch
from paths import TESTS

from etl.errors import DestinationBusyError, DestinationError
from etl.load.duckdb import DuckDBDestination

# Opens the file as a second export would; a busy file is reported the way the CLI reports EtlErrors.
_TRY_OPEN = textwrap.dedent(
    """
    import sys
    from etl.errors import DestinationBusyError
    from etl.load.duckdb import DuckDBDestination
    try:
        with DuckDBDestination(sys.argv[1], read_only=sys.argv[2] == "ro") as dest:
            print("opened")
    except DestinationBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    """
)

# Writes one batch and holds the file open until its stdin closes.
_HOLD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from duckdb_batches import make_batch
    from etl.load.duckdb import DuckDBDestination
    with DuckDBDestination(sys.argv[1]) as dest:
        dest.write(make_batch(["run_held"]))
        print("holding", flush=True)
        sys.stdin.read()
    """
)


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_second_process_gets_a_one_line_busy_error(tmp_path: Path, mode: str) -> None:
    path = str(tmp_path / "x.duckdb")
    with DuckDBDestination(path) as dest:
        dest.write(make_batch(["run_1"]))
        done = subprocess.run(
            [sys.executable, "-c", _TRY_OPEN, path, mode], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert done.stderr == (
            f"error: {path} is busy: process {os.getpid()} has it open,"
            " and a DuckDB file takes one writer at a time\n"
        )
        assert list(dest.run_records()) == ["run_1"]


def test_export_waits_for_the_process_holding_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "x.duckdb")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, path, str(TESTS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        with pytest.raises(DestinationBusyError, match=f"busy: process {holder.pid} has it open"):
            DuckDBDestination(path).open()
        with pytest.raises(DestinationBusyError), DuckDBDestination(path, read_only=True):
            pass
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    with DuckDBDestination(path) as dest:
        assert list(dest.run_records()) == ["run_held"]


def test_second_writer_in_the_same_process_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = str(tmp_path / "x.duckdb")
    (tmp_path / "sub").mkdir()
    with DuckDBDestination(path) as first:
        refused = DuckDBDestination(str(tmp_path / "sub" / ".." / "x.duckdb"))
        with pytest.raises(DestinationBusyError, match="this process is already writing"):
            refused.open()
        refused.close()  # closing the refused one must not release the first one's claim
        with pytest.raises(DestinationBusyError, match="this process is already writing"):
            DuckDBDestination(path).open()
        first.write(make_batch(["run_1"]))
    with DuckDBDestination(path) as second:
        assert list(second.run_records()) == ["run_1"]


def test_read_only_missing_file_fails_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.duckdb"
    with pytest.raises(DestinationError, match="does not exist"), DuckDBDestination(str(path), read_only=True):
        pass
    assert not path.exists()


def test_read_only_refuses_a_file_that_is_not_a_destination(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(DestinationError, match="not a run-steps-etl destination"):
        DuckDBDestination(str(path), read_only=True).open()


def test_object_store_uri_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DestinationError, match="local file"):
        DuckDBDestination("s3://bucket/x.duckdb")
