"""Extract throughput against the fake API at 100 ms latency: how close to what the latency allows?

Run: ``python tests/benchmarks/bench_extract.py [--runs 2000] [--concurrency 32] [--latency-ms 100]``.

The fake serves ``--runs`` runs of 1 to 30 steps from a child process (no shared GIL: the client is what is
measured). The runs are given explicitly, so each costs two requests (the run object, then its one page
of steps). With ``C`` requests in flight and a latency of ``L`` seconds the best possible rate is ``C / L``
requests per second; efficiency = (requests / (C / L)) / elapsed, 1.0 meaning the latency is the only cost.
The speed-up over concurrency 1 uses a timed subset of ``--serial-runs`` runs at concurrency 1, extrapolated
to all runs (a full serial pass at 100 ms would take minutes and tell nothing more).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from contextlib import aclosing
from dataclasses import dataclass

from etl.config import Secret, Settings
from etl.extract import ApiClient, RunRef, iter_fetched_runs
from etl.fakeapi import FakeConfig, serve_in_process

RUNS_PER_THREAD = 20


@dataclass(frozen=True)
class Pass:
    """One timed extract pass."""

    runs: int
    steps: int
    requests: int
    retries: int
    elapsed: float
    cpu: float  # this process's CPU seconds during the pass


async def extract(base_url: str, key: str, refs: list[RunRef], concurrency: int) -> Pass:
    """Fetch ``refs`` at ``concurrency`` and time it."""
    settings = Settings(api_key=Secret(key), base_url=base_url, concurrency=concurrency)
    steps = runs = 0
    cpu, started = time.process_time(), time.perf_counter()
    async with ApiClient(settings) as client, aclosing(iter_fetched_runs(client, refs)) as fetched_runs:
        async for fetched in fetched_runs:
            if fetched.error is not None:
                raise SystemExit(f"run {fetched.ref} failed: {fetched.error}")
            runs += 1
            steps += len(fetched.steps)
    elapsed = time.perf_counter() - started
    return Pass(runs, steps, client.stats.requests, client.stats.retries, elapsed, time.process_time() - cpu)


def main() -> None:
    """Serve the fake, time a concurrent pass and a serial subset, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--serial-runs", type=int, default=40, help="runs timed at concurrency 1 (0: skip)")
    args = parser.parse_args()

    threads = -(-args.runs // RUNS_PER_THREAD)
    config = FakeConfig(
        seed=7,
        threads=threads,
        runs_per_thread=RUNS_PER_THREAD,
        steps_per_run="1-30",
        boundary_sizes=(),
        long_output_bytes=0,
        latency_ms=args.latency_ms,
    )
    with serve_in_process(config) as fake:
        refs = [RunRef(t, r) for t in fake.thread_ids for r in fake.dataset.run_ids(t)][: args.runs]
        # Warm the fake's step cache and the connection setup path, so the timed pass measures steady state.
        asyncio.run(extract(fake.base_url, config.api_key, refs[: args.concurrency], args.concurrency))
        full = asyncio.run(extract(fake.base_url, config.api_key, refs, args.concurrency))
        serial = (
            asyncio.run(extract(fake.base_url, config.api_key, refs[-args.serial_runs :], 1))
            if args.serial_runs
            else None
        )

    latency = args.latency_ms / 1000
    ideal_rate = args.concurrency / latency
    efficiency = (full.requests / ideal_rate) / full.elapsed
    figures = {
        "runs": full.runs,
        "steps": full.steps,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "requests": full.requests,
        "retries": full.retries,
        "elapsed_s": round(full.elapsed, 2),
        "steps_per_s": round(full.steps / full.elapsed, 1),
        "requests_per_s": round(full.requests / full.elapsed, 1),
        "efficiency": round(efficiency, 3),
        "client_cpu_s": round(full.cpu, 2),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"extract: {full.runs} runs, {full.steps} steps, {full.requests} requests in {full.elapsed:.2f} s "
        f"at concurrency {args.concurrency}, latency {args.latency_ms:.0f} ms"
    )
    print(f"  steps/s      {full.steps / full.elapsed:10.1f}")
    print(f"  requests/s   {full.requests / full.elapsed:10.1f}   (ideal {ideal_rate:.0f})")
    print(f"  efficiency   {efficiency:10.3f}   (target >= 0.85)")
    print(f"  client CPU   {full.cpu:10.2f} s")
    if serial is not None:
        per_run = serial.elapsed / serial.runs
        extrapolated = per_run * full.runs
        figures |= {
            "serial_runs_timed": serial.runs,
            "serial_s_per_run": round(per_run, 4),
            "serial_extrapolated_s": round(extrapolated, 1),
            "speedup": round(extrapolated / full.elapsed, 1),
        }
        print(
            f"  concurrency 1: {serial.runs} runs in {serial.elapsed:.2f} s ({per_run * 1000:.0f} ms a run), "
            f"extrapolated to {full.runs} runs: {extrapolated:.0f} s"
        )
        print(f"  speed-up     {extrapolated / full.elapsed:10.1f}x")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
