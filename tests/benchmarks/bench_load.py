"""Load throughput: steps/s writing, then re-writing, batches into DuckDB and Parquet.

    .venv/bin/python tests/benchmarks/bench_load.py [--steps 60000] [--batch-steps 20000] [--days 1,30]
                                                    [--dest duckdb,parquet] [--profile OUT.prof]

The batches are the fake API's data (``Dataset(FakeConfig(...)).truth()``, runs of 1 to 30 steps whose
``created_at`` spreads over ``--days`` days) turned into Arrow tables by ``etl.transform``, whole runs per batch
as the pipeline cuts them (``--batch-steps``). Only ``Destination.write`` is timed (opening, the claim and the
transform are not). "write" lands every batch into an empty destination; "re-write" lands the same batches
again into the now full one, so each replaces rows that exist (a re-export). Figures are wall-clock steps/s.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from etl.fakeapi import FakeConfig
from etl.fakeapi.dataset import Dataset
from etl.load import open_destination
from etl.load.base import ExportBatch, RunRecord
from etl.schema import TABLES
from etl.transform import to_runs_table, to_step_tables

EXTRACTED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RUNS_PER_THREAD = 50
MEAN_STEPS_PER_RUN = 15.5  # "1-30"


@dataclass(frozen=True)
class Figures:
    """One timed pass over all batches."""

    steps: int
    files: int  # data files in the destination afterwards (Parquet only)
    seconds: float

    @property
    def rate(self) -> float:
        """Steps per second."""
        return self.steps / self.seconds


def make_batches(steps: int, days: int, batch_steps: int) -> list[ExportBatch]:
    """About ``steps`` steps of the fake's data over ``days`` days, cut into batches of whole runs."""
    threads = max(1, round(steps / MEAN_STEPS_PER_RUN / RUNS_PER_THREAD))
    config = FakeConfig(threads=threads, runs_per_thread=RUNS_PER_THREAD, boundary_sizes=(), days=days)
    truth = Dataset(config).truth()
    steps_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for step in truth.steps:
        steps_of[step["run_id"]].append(step)
    batches: list[ExportBatch] = []
    runs: list[dict[str, Any]] = []
    count = 0
    for run in truth.runs:
        runs.append(run)
        count += len(steps_of[run["id"]])
        if count >= batch_steps:
            batches.append(_batch(runs, steps_of))
            runs, count = [], 0
    if runs:
        batches.append(_batch(runs, steps_of))
    return batches


def _batch(runs: list[dict[str, Any]], steps_of: dict[str, list[dict[str, Any]]]) -> ExportBatch:
    steps = [step for run in runs for step in steps_of[run["id"]]]
    tables = {"runs": pa.Table.from_batches([to_runs_table(runs, EXTRACTED)])}
    tables |= {name: pa.Table.from_batches([part]) for name, part in to_step_tables(steps, EXTRACTED).tables.items()}
    records = [
        RunRecord(run["id"], run["thread_id"], run["status"], run["created_at"], len(steps_of[run["id"]]), True, None,
                  EXTRACTED)
        for run in runs
    ]  # fmt: skip
    assert set(tables) == set(TABLES)
    return ExportBatch(tables=tables, records=records)


def timed_pass(dest_uri: str, batches: list[ExportBatch], profiler: cProfile.Profile | None) -> Figures:
    """Write every batch in one session; only ``write`` is timed."""
    seconds = 0.0
    with open_destination(dest_uri) as dest:
        for batch in batches:
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            dest.write(batch)
            if profiler is not None:
                profiler.disable()
            seconds += time.perf_counter() - started
    steps = sum(b.tables["run_steps"].num_rows for b in batches)
    files = sum(1 for _ in Path(dest_uri).glob("[!_]*/*/*.parquet")) if not dest_uri.endswith(".duckdb") else 0
    return Figures(steps, files, seconds)


def main() -> None:
    """Build the batches, time write and re-write per destination kind and day spread, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60_000, help="steps in all (approximately)")
    parser.add_argument("--batch-steps", type=int, default=20_000)
    parser.add_argument("--days", default="1,30", help="created_at spreads to try, comma separated")
    parser.add_argument("--dest", default="duckdb,parquet", help="destination kinds, comma separated")
    parser.add_argument("--profile", help="write a cProfile of the Parquet writes to this file")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    print(f"{'dest':8} {'days':>4} {'batches':>7} {'steps':>7} {'files':>6} {'write/s':>9} {'re-write/s':>10}")
    for days in (int(d) for d in args.days.split(",")):
        batches = make_batches(args.steps, days, args.batch_steps)
        for kind in args.dest.split(","):
            with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
                uri = f"{tmp}/bench.duckdb" if kind == "duckdb" else f"{tmp}/root"
                prof = profiler if kind == "parquet" else None
                first = timed_pass(uri, batches, prof)
                again = timed_pass(uri, batches, prof)
            print(
                f"{kind:8} {days:>4} {len(batches):>7} {first.steps:>7} {again.files:>6} "
                f"{first.rate:>9,.0f} {again.rate:>10,.0f}",
                flush=True,
            )
    if profiler is not None:
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
