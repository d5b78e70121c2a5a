"""Peak memory of a whole export: ``runsteps export`` in its own process, against the fake API in another one.

    .venv/bin/python tests/benchmarks/bench_memory.py [--steps 20000,200000] [--dest duckdb,parquet]
                                                      [--batch-steps 20000] [--runs-per-thread 100]

For each size, a ``runsteps fake-api`` child (latency 0) serves about that many steps (runs of 1 to 30 steps,
``--runs-per-thread`` runs per thread, created over 30 days); then, for each destination kind, a
``runsteps export --threads-file ...`` child exports all of them into a fresh DuckDB file or Parquet root.
Its peak RSS is the kernel's ``ru_maxrss`` of that one process (``os.wait4``), so the fake's memory never
counts. Targets (issue 4): <= 300 MB, and the largest export's peak no more than 20% above the smallest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MEAN_STEPS_PER_RUN = 15.5  # "1-30"
KEY = "sk-bench-memory"
TARGET_MB = 300
GROWTH = 1.2
RUNSTEPS = [sys.executable, "-m", "etl"]


@dataclass(frozen=True)
class Export:
    """One measured export."""

    dest: str
    steps: int
    peak_mb: float
    seconds: float


def start_fake(steps: int, runs_per_thread: int, threads_file: Path) -> tuple[subprocess.Popen[str], str]:
    """A fake API child serving about ``steps`` steps; returns it and its base URL."""
    threads = max(1, round(steps / MEAN_STEPS_PER_RUN / runs_per_thread))
    fake = subprocess.Popen(
        [*RUNSTEPS, "fake-api", "--port", "0", "--api-key", KEY, "--threads", str(threads),
         "--runs-per-thread", str(runs_per_thread), "--steps-per-run", "1-30", "--no-boundary",
         "--latency-ms", "0", "--write-threads", str(threads_file)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert fake.stdout is not None
    base_url = fake.stdout.readline().strip()
    if not base_url.startswith("http"):
        fake.kill()
        raise SystemExit(f"the fake API did not start: {base_url!r}")
    return fake, base_url


def export(base_url: str, threads_file: Path, dest: str, batch_steps: int) -> tuple[int, float, float]:
    """Run one export child to its end; returns (steps exported, peak RSS in MB, seconds)."""
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    logs = Path(dest).with_suffix(".log")
    started = time.perf_counter()
    # Output goes to files, so that the child can be reaped with os.wait4 (Popen.wait would lose its rusage).
    with open(logs, "w+") as out:
        child = subprocess.Popen(
            [*RUNSTEPS, "export", "--threads-file", str(threads_file), "--dest", dest, "--base-url", base_url,
             "--batch-steps", str(batch_steps), "--no-progress", "--metrics-json"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        # wait4 gives this one child's own rusage: the fake, also our child, is not in it.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        lines = out.read().strip().splitlines()
    if child.returncode != 0:
        raise SystemExit(f"export into {dest} exited {child.returncode}: {lines[-20:]}")
    metrics = json.loads(lines[-1])
    return int(metrics["steps"]), usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    """Measure every (size, destination) pair and print the figures and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="20000,200000", help="job sizes, comma separated")
    parser.add_argument("--dest", default="duckdb,parquet", help="destination kinds, comma separated")
    parser.add_argument("--batch-steps", type=int, default=20_000)
    parser.add_argument("--runs-per-thread", type=int, default=100)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.steps.split(","))
    results: list[Export] = []
    print(f"{'dest':8} {'steps':>8} {'peak RSS':>9} {'seconds':>8} {'steps/s':>8}")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            threads_file = Path(tmp) / "threads.txt"
            fake, base_url = start_fake(size, args.runs_per_thread, threads_file)
            try:
                for kind in args.dest.split(","):
                    dest = f"{tmp}/out.duckdb" if kind == "duckdb" else f"{tmp}/out-parquet"
                    steps, peak, seconds = export(base_url, threads_file, dest, args.batch_steps)
                    results.append(Export(kind, steps, peak, seconds))
                    print(f"{kind:8} {steps:>8} {peak:>6.0f} MB {seconds:>8.1f} {steps / seconds:>8,.0f}", flush=True)
            finally:
                fake.terminate()
                fake.wait()
    for kind in args.dest.split(","):
        mine = [r for r in results if r.dest == kind]
        small, large = mine[0], mine[-1]
        worst = max(r.peak_mb for r in mine)
        growth = large.peak_mb / small.peak_mb
        ok = worst <= TARGET_MB and growth <= GROWTH
        print(
            f"{kind}: peak {worst:.0f} MB (target <= {TARGET_MB}); {large.steps} steps use {growth:.2f}x the peak "
            f"of {small.steps} (target <= {GROWTH}): {'OK' if ok else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
