"""Capacity of the fake API: with --latency-ms 100, how much do 64 concurrent requests add on top of 100 ms?

Run: ``python tests/benchmarks/bench_fakeapi_capacity.py [--concurrency 64] [--rounds 20] [--in-thread]``.
The server runs in a child process (``serve_in_process``) unless ``--in-thread`` (``FakeServer``, sharing
this process's GIL, as tests and the demo do). The client is aiohttp with keep-alive connections, warmed up
first; each request fetches the 100-step page of a different run. Also prints the throughput with no
latency and the server's CPU time per request, to show the fake is not what limits other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

from etl.fakeapi import FakeConfig, FakeServer, serve_in_process

HEADERS = {"Authorization": "Bearer sk-fake", "OpenAI-Beta": "assistants=v2"}


@contextmanager
def fake(latency_ms: float, in_thread: bool) -> Iterator[tuple[list[str], int, str]]:
    """Serve the benchmark dataset; yields a steps-page URL per run, the serving process id and the stats URL."""
    config = FakeConfig(seed=1, threads=64, runs_per_thread=4, steps_per_run="1-30", latency_ms=latency_ms)
    if in_thread:
        with FakeServer(config) as server:
            urls = page_urls(server.base_url, server.thread_ids, server.dataset.run_ids)
            yield urls, os.getpid(), server.base_url.removesuffix("/v1") + "/_fake/stats"
    else:
        with serve_in_process(config) as child:
            urls = page_urls(child.base_url, child.thread_ids, child.dataset.run_ids)
            yield urls, child.pid, child.base_url.removesuffix("/v1") + "/_fake/stats"


async def server_times(stats_url: str, last: int) -> dict[str, float]:
    """The fake's own arrival-to-last-byte times (ms) over its last ``last`` requests."""
    async with aiohttp.ClientSession() as session, session.get(stats_url, params={"last": last}) as response:
        times: dict[str, float] = (await response.json())["elapsed_ms"]
        return times


def page_urls(base_url: str, thread_ids: tuple[str, ...], run_ids: object) -> list[str]:
    assert callable(run_ids)
    return [f"{base_url}/threads/{tid}/runs/{rid}/steps?limit=100&order=asc" for tid in thread_ids
            for rid in run_ids(tid)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed_get(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url, headers=HEADERS) as response:
        await response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - started


async def bursts(urls: list[str], concurrency: int, rounds: int) -> list[float]:
    """Seconds per request over ``rounds`` bursts of ``concurrency`` simultaneous requests (after a warm-up)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for start in range(0, len(urls), concurrency):  # warm up: connections open, every page generated
            await asyncio.gather(*(timed_get(session, url) for url in urls[start:start + concurrency]))
        samples: list[float] = []
        for round_number in range(rounds):
            burst = [urls[(round_number * concurrency + i) % len(urls)] for i in range(concurrency)]
            samples += await asyncio.gather(*(timed_get(session, url) for url in burst))
        return samples


async def throughput(urls: list[str], concurrency: int, seconds: float) -> int:
    """How many requests ``concurrency`` workers complete in ``seconds`` with no added latency."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await timed_get(session, urls[index % len(urls)])
            done += 1
            index += concurrency

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(session, i) for i in range(concurrency)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the throughput run")
    parser.add_argument("--in-thread", action="store_true", help="serve from a thread of this process")
    args = parser.parse_args()
    where = "in-thread" if args.in_thread else "child process"

    with fake(args.latency_ms, args.in_thread) as (urls, _, stats_url):
        samples = asyncio.run(bursts(urls, args.concurrency, args.rounds))
        server = asyncio.run(server_times(stats_url, args.concurrency * args.rounds))
    added = sorted((sample * 1000 - args.latency_ms) for sample in samples)
    p95 = added[max(int(len(added) * 0.95) - 1, 0)]
    print(f"fake API capacity ({where}): {args.concurrency} concurrent requests x {args.rounds} rounds "
          f"at --latency-ms {args.latency_ms:g}")
    print("  added by the fake (its own arrival-to-last-byte time minus the latency), ms: "
          + "  ".join(f"{name} {value - args.latency_ms:.1f}" for name, value in server.items())
          + f"  -> {'OK' if server['p95'] - args.latency_ms <= 10 else 'OVER'} (target p95 <= 10)")
    print(f"  added as the client saw it (client and machine load included), ms: median "
          f"{statistics.median(added):.1f}  p95 {p95:.1f}  max {added[-1]:.1f}")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    with fake(0, args.in_thread) as (urls, pid, _):
        asyncio.run(bursts(urls, args.concurrency, 0))
        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        done = asyncio.run(throughput(urls, args.concurrency, args.seconds))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
    print(f"  without latency: {done / elapsed:,.0f} step pages/s with {args.concurrency} in flight; "
          f"server CPU {cpu / done * 1000:.2f} ms per page" + (" (client included)" if args.in_thread else ""))


if __name__ == "__main__":
    main()
