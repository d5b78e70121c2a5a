"""A whole Foundry project exported: ``runsteps export --provider foundry --all-threads`` against the fake.

    .venv/bin/python tests/benchmarks/bench_foundry.py [--threads 500] [--runs-per-thread 10] [--latency-ms 200]
                                                       [--fault-rate 0] [--token-lifetime 3600] [--concurrency 32]
                                                       [--dest duckdb|parquet]

A ``runsteps fake-api --flavor foundry`` child serves the project (runs of 1 to 30 steps, the given latency on
every response, tokens from its managed-identity endpoint that live ``--token-lifetime`` seconds); an export child
gets its tokens through azure-identity's ``DefaultAzureCredential`` (``IDENTITY_ENDPOINT``), lists every thread
and exports everything into a fresh destination, then runs again (nothing new: the repeat must change nothing).
Prints the project's size, the export's wall time and rates, the requests it took, and whether the destination
holds every thread, run, step, tool call and agent of the fake exactly once (compared with the fake's truth).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
from children import RUNSTEPS, start_server

from etl.fakeapi import FakeConfig, Truth
from etl.fakeapi.dataset import Dataset
from etl.sqlrun import open_sql_connection


def start_fake(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    """The fake Foundry project in a child process; returns it and its project endpoint."""
    return start_server([
        *RUNSTEPS, "fake-api", "--port", "0", "--flavor", "foundry", "--threads", str(args.threads),
        "--runs-per-thread", str(args.runs_per_thread), "--steps-per-run", "1-30", "--no-boundary",
        "--latency-ms", str(args.latency_ms), "--fault-rate", str(args.fault_rate),
        "--slow-seconds", "2", "--token-lifetime", str(args.token_lifetime), "--seed", "1",
    ])  # fmt: skip


def export(base_url: str, dest: str, args: argparse.Namespace) -> tuple[dict[str, Any], float]:
    """One export child to its end; returns its --metrics-json and its wall time."""
    root = base_url.split("/api/")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    env |= {"IDENTITY_ENDPOINT": f"{root}/_fake/identity/token", "IDENTITY_HEADER": "bench"}
    # "slow" faults answer after 2 s: a 1 s timeout makes them the retried timeouts they stand for.
    command = [*RUNSTEPS, "export", "--provider", "foundry", "--base-url", base_url, "--all-threads", "--dest", dest,
               "--concurrency", str(args.concurrency), "--timeout", "1", "--max-retries", "8", "--no-progress",
               "--metrics-json"]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"export failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), seconds


def counts(dest: str) -> dict[str, tuple[int, int]]:
    """(rows, distinct keys) of every table at ``dest``."""
    keys = {"threads": "thread_id", "assistants": "assistant_id", "runs": "run_id", "run_steps": "step_id",
            "tool_calls": "step_id || '/' || tool_call_index"}  # fmt: skip
    with open_sql_connection(dest) as con:
        assert isinstance(con, duckdb.DuckDBPyConnection)
        return {
            name: tuple(con.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {name}").fetchall()[0])  # type: ignore[misc]
            for name, key in keys.items()
        }


def truth_counts(truth: Truth) -> dict[str, int]:
    """What the fake serves, per table."""
    calls = sum(len(s["step_details"].get("tool_calls") or []) for s in truth.steps if s["type"] == "tool_calls")
    agents = len(truth.assistants) + len(truth.gone_assistant_ids)
    return {"threads": len(truth.threads), "assistants": agents, "runs": len(truth.runs),
            "run_steps": len(truth.steps), "tool_calls": calls}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=500)
    parser.add_argument("--runs-per-thread", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--token-lifetime", type=float, default=3600)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--dest", choices=["duckdb", "parquet"], default="duckdb")
    args = parser.parse_args()
    config = FakeConfig(flavor="foundry", threads=args.threads, runs_per_thread=args.runs_per_thread,
                        steps_per_run="1-30", boundary_sizes=(), seed=1)  # fmt: skip
    want = truth_counts(Dataset(config).truth())
    fake, base_url = start_fake(args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dest = str(Path(tmp) / ("x.duckdb" if args.dest == "duckdb" else "root"))
            first, seconds = export(base_url, dest, args)
            got = counts(dest)
            again, again_seconds = export(base_url, dest, args)
            repeat = counts(dest)
    finally:
        fake.terminate()
        fake.wait(10)
    print(f"project: {want['threads']} threads, {want['runs']} runs, {want['run_steps']} steps, "
          f"{want['tool_calls']} tool calls, {want['assistants']} agents; latency {args.latency_ms:.0f} ms, "
          f"faults {args.fault_rate}, tokens live {args.token_lifetime:.0f} s, "
          f"concurrency {args.concurrency}")  # fmt: skip
    print(f"export: {seconds:.1f} s wall, {first['requests']} requests ({first['retries']} retries), "
          f"{first['steps'] / seconds:,.0f} steps/s, {first['runs_ok'] / seconds:,.1f} runs/s, "
          f"drift {first['schema_drift']} rows, exit {first['exit_code']}")  # fmt: skip
    print(f"repeat: {again_seconds:.1f} s wall, {again['requests']} requests, {again['runs_ok']} runs fetched again "
          f"(not yet finished), {again['runs_skipped']} skipped")  # fmt: skip
    exact = all(got[name] == (n, n) for name, n in want.items())
    print(f"every row exactly once: {exact}; unchanged by the repeat: {repeat == got}")
    for name, n in want.items():
        print(f"  {name}: fake {n}, destination {got[name][0]} rows / {got[name][1]} keys")


if __name__ == "__main__":
    main()
