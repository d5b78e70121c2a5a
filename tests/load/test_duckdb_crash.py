"""Crash safety: a process killed at any point of a write leaves a file that opens with the whole batch or none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from duckdb_batches import make_batch, rows_of
from paths import TESTS

from etl.load.base import ExportBatch
from etl.load.duckdb import DuckDBDestination
from etl.schema import TABLES

# The crashing child imports this module (its folder) and the shared helpers (tests/).
SEARCH_PATH = os.pathsep.join((str(TESTS), str(Path(__file__).parent)))

FIRST = make_batch(["run_1", "run_2"], steps=3, calls=3, version=1)
SECOND = make_batch(["run_1", "run_3"], steps=3, calls=1, version=2)  # run_1 re-exported with fewer tool calls

# Writes FIRST, then SECOND through a connection that dies (os._exit: no cleanup, as under SIGKILL) before its
# statement number argv[2] (execute and commit calls, counted from 0); exits 18 right after SECOND commits.
_CRASH_AT_STATEMENT = textwrap.dedent(
    """
    import os, sys
    sys.path[:0] = sys.argv[3].split(os.pathsep)  # tests/ (helpers) and this test's folder
    from test_duckdb_crash import FIRST, SECOND
    from etl.load.duckdb import DuckDBDestination

    class DiesAt:
        def __init__(self, con, countdown):
            self._con, self._countdown = con, countdown

        def __getattr__(self, name):
            attr = getattr(self._con, name)
            if name not in ("execute", "commit"):
                return attr
            def call(*args, **kwargs):
                self._countdown -= 1
                if self._countdown < 0:
                    os._exit(17)
                return attr(*args, **kwargs)
            return call

    dest = DuckDBDestination(sys.argv[1])
    dest.open()
    dest.write(FIRST)
    dest._con = DiesAt(dest._con, int(sys.argv[2]))
    dest.write(SECOND)
    os._exit(18)
    """
)


def _contents(path: str) -> dict[str, object]:
    with DuckDBDestination(path, read_only=True) as dest:
        tables = {name: rows_of(dest.connection.sql(f"SELECT * FROM {name}").to_arrow_table()) for name in TABLES}
        return {"tables": tables, "records": dest.run_records()}


def _expected(*batches: ExportBatch) -> dict[str, object]:
    """What a file holds after these batches landed in order: a batch replaces its runs, and its steps' rows."""
    rows: dict[str, list[dict[str, object]]] = {name: [] for name in TABLES}
    for batch in batches:
        runs = set(batch.tables["runs"].column("run_id").to_pylist())
        steps = set(batch.tables["run_steps"].column("step_id").to_pylist())
        for name in TABLES:
            replaced = runs if name == "runs" else steps
            kept = [r for r in rows[name] if r["run_id" if name == "runs" else "step_id"] not in replaced]
            rows[name] = kept + batch.tables[name].to_pylist()
    tables = {name: sorted(r, key=lambda row: [str(v) for v in row.values()]) for name, r in rows.items()}
    return {"tables": tables, "records": {r.run_id: r for batch in batches for r in batch.records}}


# 10 calls: 5 deletes (runs, run_steps and its 3 child tables), 3 inserts (runs, run_steps, tool_calls), the run
# records, COMMIT
@pytest.mark.parametrize("statement", [0, 2, 4, 6, 8, 9, 10])
def test_killed_inside_a_write_the_file_holds_the_batch_whole_or_not_at_all(tmp_path: Path, statement: int) -> None:
    path = str(tmp_path / "x.duckdb")
    died = subprocess.run(
        [sys.executable, "-c", _CRASH_AT_STATEMENT, path, str(statement), SEARCH_PATH], capture_output=True, timeout=120
    )
    assert died.returncode in (17, 18), died.stderr.decode()
    landed = died.returncode == 18
    assert landed == (statement >= 10)
    assert _contents(path) == (_expected(FIRST, SECOND) if landed else _expected(FIRST))
    with DuckDBDestination(path) as dest:  # and the export can go on
        dest.write(SECOND)
    assert _contents(path) == _expected(FIRST, SECOND)


# Batch 0 writes runs R0; batch i >= 1 adds runs Ri and re-exports R0 as version i + 1 with i % 3 + 1 tool calls
# a step. Prints i after batch i committed, and goes on until killed.
_WRITE_LOOP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from duckdb_batches import make_batch, merge
    from etl.load.duckdb import DuckDBDestination

    def runs(i):
        return [f"run_{i}_{n}" for n in range(100)]

    with DuckDBDestination(sys.argv[1]) as dest:
        dest.write(make_batch(runs(0), steps=10, calls=1))
        print(0, flush=True)
        for i in range(1, 500):
            again = make_batch(runs(0), steps=10, calls=i % 3 + 1, version=i + 1)
            dest.write(merge(make_batch(runs(i), steps=10, calls=3), again))
            print(i, flush=True)
    """
)


@pytest.mark.parametrize(("committed", "delay"), [(1, 0.0), (2, 0.03), (3, 0.08), (4, 0.15)])
def test_sigkill_during_a_write_loop_loses_and_repeats_nothing(tmp_path: Path, committed: int, delay: float) -> None:
    path = str(tmp_path / "x.duckdb")
    writer = subprocess.Popen([sys.executable, "-c", _WRITE_LOOP, path, str(TESTS)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    for _ in range(committed + 1):
        last = int(writer.stdout.readline())
    time.sleep(delay)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    # Batches committed while this test slept were reported too: the last one printed is the last committed.
    last = max([last, *(int(line) for line in writer.stdout.read().split())])

    with DuckDBDestination(path, read_only=True) as dest:
        con = dest.connection
        per_batch = dict(
            con.execute(
                "SELECT CAST(split_part(run_id, '_', 2) AS INTEGER) AS i, count(*) FROM run_steps GROUP BY i"
            ).fetchall()
        )
        top = max(per_batch)
        assert top in (last, last + 1)  # the batch in flight at the kill landed whole or not at all
        assert per_batch == {i: 1000 for i in range(top + 1)}
        calls = con.execute(
            "SELECT CAST(split_part(run_id, '_', 2) AS INTEGER) AS i, count(*) FROM tool_calls GROUP BY i"
        ).fetchall()
        r0_calls = 1000 * (top % 3 + 1) if top else 1000
        assert dict(calls) == {0: r0_calls, **{i: 3000 for i in range(1, top + 1)}}
        r0_versions = con.execute("SELECT DISTINCT status FROM run_steps WHERE run_id LIKE 'run\\_0\\_%' ESCAPE '\\'")
        assert r0_versions.fetchall() == [(f"completed-v{top + 1}",)]
        records = dest.run_records()
    assert set(records) == {f"run_{i}_{n}" for i in range(top + 1) for n in range(100)}
