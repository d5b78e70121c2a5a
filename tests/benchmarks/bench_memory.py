"""Peak memory and end-to-end speed of a whole export: ``runsteps export`` in its own process, against an API child.

    .venv/bin/python tests/benchmarks/bench_memory.py [--steps 20000,200000] [--dest duckdb,parquet]
        [--source foreign|fake] [--mix real] [--steps-per-run 500] [--batch-steps N] [--before DIR] [--repeat N]

For each size an API child serves about that many steps with no latency: by default ``foreign_api.py`` (real
payload shapes from ``payloads.py``, runs of ``--steps-per-run`` steps, ten runs a thread), or with ``--source
fake`` the project's ``runsteps fake-api`` (runs of 1 to 30 steps, 100 a thread, 30 days). Then, for each
destination kind, a ``runsteps export --threads-file ...`` child exports all of them into a fresh DuckDB file or
Parquet root. Its peak RSS is the kernel's ``ru_maxrss`` of that one process (``os.wait4``), so the API's memory
never counts; "wall" is that process from start to exit, "export" the export's own steps/s (its summary).
``--before DIR`` also runs each export with the ``etl`` package of another source tree (e.g. ``git archive`` of an
older commit), alternating with this one, for a side-by-side comparison on a loaded machine. ``--repeat N`` runs
each export N times and judges by the medians (a shared machine's single runs vary by 10-20%).
Targets (issue 16): <= 300 MB, the largest export's peak at most 1.2x the smallest's, >= 15,000 steps/s wall.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from children import RUNSTEPS, start_server

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-memory"
TARGET_MB = 300
GROWTH = 1.2
TARGET_RATE = 15_000


@dataclass(frozen=True)
class Export:
    """One measured export."""

    tree: str
    dest: str
    steps: int
    peak_mb: float
    wall: float
    rate: float  # the export's own steps/s


def start_api(args: argparse.Namespace, steps: int, threads_file: Path) -> tuple[subprocess.Popen[str], str]:
    """An API child serving about ``steps`` steps; returns it and its base URL."""
    if args.source == "fake":
        threads = max(1, round(steps / 15.5 / 100))
        command = [*RUNSTEPS, "fake-api", "--port", "0", "--api-key", KEY, "--threads", str(threads),
                   "--runs-per-thread", "100", "--steps-per-run", "1-30", "--no-boundary", "--latency-ms", "0",
                   "--write-threads", str(threads_file)]  # fmt: skip
    else:
        command = [sys.executable, str(HERE / "foreign_api.py"), "--steps", str(steps), "--mix", args.mix,
                   "--steps-per-run", str(args.steps_per_run), "--threads-file", str(threads_file)]  # fmt: skip
    return start_server(command)


def export(base_url: str, threads_file: Path, dest: str, batch_steps: int | None, tree: str | None) -> Export:
    """Run one export child to its end and measure it."""
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    if tree:
        env["PYTHONPATH"] = tree
    logs = Path(dest).with_suffix(".log")
    batch = ["--batch-steps", str(batch_steps)] if batch_steps else []
    started = time.perf_counter()
    # Output goes to files, so that the child can be reaped with os.wait4 (Popen.wait would lose its rusage).
    with open(logs, "w+") as out:
        child = subprocess.Popen(
            [*RUNSTEPS, "export", "--threads-file", str(threads_file), "--dest", dest, "--base-url", base_url,
             *batch, "--no-progress", "--metrics-json", "--allow-insecure-http"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tree or None,
        )  # fmt: skip
        # wait4 gives this one child's own rusage: the API, also our child, is not in it.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        lines = out.read().strip().splitlines()
    if child.returncode != 0:
        raise SystemExit(f"export into {dest} exited {child.returncode}: {lines[-20:]}")
    metrics = json.loads(lines[-1])
    kind = "duckdb" if dest.endswith(".duckdb") else "parquet"
    # ru_maxrss is in KiB on Linux
    return Export("before" if tree else "now", kind, int(metrics["steps"]), usage.ru_maxrss / 1024, wall,
                  float(metrics["steps_per_s"]))  # fmt: skip


def _median(runs: Iterable[Export]) -> Export:
    """One size's runs as one: the median peak and the median wall time."""
    runs = list(runs)
    median = statistics.median
    return replace(runs[0], peak_mb=median(r.peak_mb for r in runs), wall=median(r.wall for r in runs),
                   rate=median(r.rate for r in runs))  # fmt: skip


def main() -> None:
    """Measure every (size, destination, tree) and print the figures and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="20000,200000", help="job sizes, comma separated")
    parser.add_argument("--dest", default="duckdb,parquet", help="destination kinds, comma separated")
    parser.add_argument("--source", default="foreign", choices=["foreign", "fake"])
    parser.add_argument("--mix", default="real")
    parser.add_argument("--steps-per-run", type=int, default=500)
    parser.add_argument("--batch-steps", type=int, default=None, help="default: the export's default")
    parser.add_argument("--before", default=None, help="a source tree of another version, measured alongside")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each export; the verdict uses the medians")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.steps.split(","))
    trees = [None] if args.before is None else [args.before, None]
    results: list[Export] = []
    print(f"load average {os.getloadavg()[0]:.2f}; source {args.source}"
          + (f" ({args.mix}, {args.steps_per_run}-step runs)" if args.source == "foreign" else ""))  # fmt: skip
    print(f"{'tree':7} {'dest':8} {'steps':>8} {'peak RSS':>9} {'wall s':>7} {'wall/s':>8} {'export/s':>9} {'load':>5}")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            threads_file = Path(tmp) / "threads.txt"
            api, base_url = start_api(args, size, threads_file)
            try:
                for kind in args.dest.split(","):
                    for n, tree in enumerate([t for _ in range(args.repeat) for t in trees]):
                        dest = f"{tmp}/out{n}.duckdb" if kind == "duckdb" else f"{tmp}/out{n}-parquet"
                        r = export(base_url, threads_file, dest, args.batch_steps, tree)
                        results.append(r)
                        print(f"{r.tree:7} {kind:8} {r.steps:>8} {r.peak_mb:>6.0f} MB {r.wall:>7.1f} "
                              f"{r.steps / r.wall:>8,.0f} {r.rate:>9,.0f} {os.getloadavg()[0]:>5.2f}",
                              flush=True)  # fmt: skip
            finally:
                api.terminate()
                api.wait()
    for tree in ("before", "now") if args.before else ("now",):
        for kind in args.dest.split(","):
            mine = [_median(r for r in results if r.dest == kind and r.tree == tree and r.steps == n)
                    for n in sorted({r.steps for r in results if r.dest == kind and r.tree == tree})]  # fmt: skip
            small, large = mine[0], mine[-1]
            worst = max(r.peak_mb for r in mine)
            growth = large.peak_mb / small.peak_mb
            slowest = min(r.steps / r.wall for r in mine)
            ok = worst <= TARGET_MB and growth <= GROWTH and slowest >= TARGET_RATE
            label = f"{tree} {kind}" + (" (medians)" if args.repeat > 1 else "")
            print(f"{label}: peak {worst:.0f} MB (target <= {TARGET_MB}); {large.steps} steps use {growth:.2f}x "
                  f"the peak of {small.steps} (target <= {GROWTH}); slowest {slowest:,.0f} steps/s wall "
                  f"(target >= {TARGET_RATE:,}): {'OK' if ok else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
