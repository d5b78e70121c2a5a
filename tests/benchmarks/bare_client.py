"""The floor of ``bench_export_process.py``: a process that only fetches what an export fetches, and keeps nothing.

    python bare_client.py BASE_URL API_KEY RUNS_FILE CONCURRENCY

Each run of RUNS_FILE (``thread_id,run_id`` lines after a header): GET the run, then its one page of steps, each
body parsed; ``CONCURRENCY`` runs in flight over one ``httpx.AsyncClient``. No transform, no destination, no
prices: its efficiency is what any Python export process can reach against the same server on the same machine.
Prints the number of requests.
"""

from __future__ import annotations

import asyncio
import sys

import httpx
import orjson


async def fetch_all(base_url: str, key: str, refs: list[tuple[str, str]], concurrency: int) -> int:
    """Fetch every run and its steps; returns the number of requests."""
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:

        async def one(thread_id: str, run_id: str) -> int:
            run = f"/threads/{thread_id}/runs/{run_id}"
            async with slots:
                for path, params in ((run, {}), (f"{run}/steps", {"limit": 100})):
                    response = await client.get(path, params=params)
                    response.raise_for_status()
                    orjson.loads(response.content)
            return 2

        return sum(await asyncio.gather(*(one(thread_id, run_id) for thread_id, run_id in refs)))


def main() -> None:
    base_url, key, runs_file, concurrency = sys.argv[1:5]
    with open(runs_file, encoding="utf-8") as lines:
        refs = [(t, r) for t, r in (line.strip().split(",") for line in list(lines)[1:] if line.strip())]
    print(asyncio.run(fetch_all(base_url, key, refs, int(concurrency))))


if __name__ == "__main__":
    main()
