"""Extract efficiency of a whole ``runsteps export`` process, start to exit, against the fake API at 100 ms.

    .venv/bin/python tests/benchmarks/bench_export_process.py [--runs 600] [--concurrency 32] [--latency-ms 100]
                                                              [--repeat 3] [--before DIR]

A ``runsteps fake-api`` child serves ``--runs`` runs of 1 to 30 steps with ``--latency-ms`` per response; a
``runsteps export --runs-file ... --dest x.duckdb`` child fetches them (two requests a run: the run, its one page
of steps) and writes them. With ``C`` requests in flight and latency ``L`` the best possible time is
``requests / (C / L)``; efficiency = that / the export process's wall time from spawn to exit, so start-up
(imports, opening the destination), the last batch's write and shut-down all count. ``bench_extract.py`` measures
the extract loop alone. ``--before DIR`` alternates with the ``etl`` package of another source tree.
Each pass also runs ``bare_client.py`` (row ``floor``): the same requests from a process that only fetches (plain
httpx, bodies parsed, nothing kept), the efficiency no export process can pass on this machine and server.
Target (issue 16): >= 0.85 for 600 runs at 100 ms, concurrency 32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from children import RUNSTEPS, start_server

KEY = "sk-bench-process"
TARGET = 0.85


def start_fake(runs: int, latency_ms: float, truth: Path) -> tuple[subprocess.Popen[str], str]:
    """The fake API child; returns it and its base URL."""
    return start_server([
        *RUNSTEPS, "fake-api", "--port", "0", "--api-key", KEY, "--threads", str(-(-runs // 20)),
        "--runs-per-thread", "20", "--steps-per-run", "1-30", "--no-boundary", "--long-output-bytes", "0",
        "--latency-ms", str(latency_ms), "--dump-truth", str(truth),
    ])  # fmt: skip


def export(base_url: str, runs_file: Path, dest: str, concurrency: int, tree: str | None) -> tuple[float, int, int]:
    """One export child, spawn to exit: (seconds, requests, steps)."""
    env = {**os.environ, "OPENAI_API_KEY": KEY, **({"PYTHONPATH": tree} if tree else {})}
    started = time.perf_counter()
    done = subprocess.run(
        [*RUNSTEPS, "export", "--runs-file", str(runs_file), "--dest", dest, "--base-url", base_url,
         "--concurrency", str(concurrency), "--no-progress", "--metrics-json"],
        capture_output=True, text=True, env=env, cwd=tree or None,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"export exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    metrics = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, int(metrics["requests"]), int(metrics["steps"])


def bare_client(base_url: str, runs_file: Path, concurrency: int) -> tuple[float, int]:
    """The floor child (``bare_client.py``), spawn to exit: (seconds, requests)."""
    script = Path(__file__).resolve().parent / "bare_client.py"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), base_url, KEY, str(runs_file), str(concurrency)], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bare client exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds, int(done.stdout.strip())


def main() -> None:
    """Serve, export ``--repeat`` times per tree, print each pass and the best."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default=None, help="a source tree of another version, measured alongside")
    args = parser.parse_args()
    trees = [None] if args.before is None else [args.before, None]
    best: dict[str, float] = {}
    ideal_s = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-process-") as tmp:
        truth = Path(tmp) / "truth.jsonl"
        fake, base_url = start_fake(args.runs, args.latency_ms, truth)
        try:
            # The fake writes the file before it prints its URL. Lines end in "\n" only (text may hold U+2028).
            runs = [json.loads(line) for line in truth.read_text().split("\n") if line]
            refs = [f"{r['thread_id']},{r['id']}" for r in runs if r.get("object") == "thread.run"][: args.runs]
            runs_file = Path(tmp) / "runs.csv"
            runs_file.write_text("thread_id,run_id\n" + "\n".join(refs) + "\n")
            ideal_rate = args.concurrency / (args.latency_ms / 1000)
            print(f"{len(refs)} runs, concurrency {args.concurrency}, latency {args.latency_ms:.0f} ms")
            print(f"{'tree':7} {'wall s':>7} {'requests':>8} {'ideal s':>7} {'efficiency':>10} {'load':>5}")
            for i in range(args.repeat):
                for tree in [*trees, "floor"]:
                    name = "floor" if tree == "floor" else "before" if tree else "now"
                    dest = f"{tmp}/out-{name}-{i}.duckdb"
                    if tree == "floor":
                        seconds, requests = bare_client(base_url, runs_file, args.concurrency)
                    else:
                        seconds, requests, _ = export(base_url, runs_file, dest, args.concurrency, tree)
                    ideal_s = requests / ideal_rate
                    efficiency = ideal_s / seconds
                    best[name] = max(best.get(name, 0.0), efficiency)
                    print(f"{name:7} {seconds:>7.2f} {requests:>8} {requests / ideal_rate:>7.2f} {efficiency:>10.3f} "
                          f"{os.getloadavg()[0]:>5.2f}", flush=True)  # fmt: skip
        finally:
            fake.terminate()
            fake.wait()
    floor = best.pop("floor")
    print(f"floor: best efficiency {floor:.3f}: a process that only fetches (the time left for everything else an"
          f" export does, at the target: {(1 / TARGET - 1 / floor) * ideal_s:.2f} s)")  # fmt: skip
    for name, value in best.items():
        print(f"{name}: best efficiency {value:.3f} (target >= {TARGET}): {'OK' if value >= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
