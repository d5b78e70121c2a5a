"""A minimal Assistants-shaped HTTP source serving ``payloads`` mixes: an API the project's fake did not write.

    .venv/bin/python tests/benchmarks/foreign_api.py --steps 200000 --steps-per-run 500 --mix real \
        --threads-file threads.txt [--latency-ms 0]

Prints its base URL on the first stdout line, then serves until killed. Only what an export asks for:
``GET /v1/threads/{t}/runs`` (newest first), ``/v1/threads/{t}/runs/{r}`` and ``/v1/threads/{t}/runs/{r}/steps``
(``limit``, ``order=asc``, ``after``). Every page is serialized before the first request, so serving costs
little CPU and the exporter under test gets the machine. No key check: it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path

import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from payloads import MIXES, make_run

RUNS_PER_THREAD = 10


class Store:
    """Every run and its steps' list pages, as bytes."""

    def __init__(self, mix: str, steps: int, steps_per_run: int, page_size: int = 100) -> None:
        rng, maker = random.Random(23), MIXES[mix]
        self.runs: dict[str, bytes] = {}
        self.thread_runs: dict[str, list[dict[str, object]]] = {}
        self.pages: dict[tuple[str, str | None], bytes] = {}  # (run id, after) -> page
        n = 0
        for r in range((steps + steps_per_run - 1) // steps_per_run):
            run_id, thread_id = f"run_{r:024x}", f"thread_{r // RUNS_PER_THREAD:022x}"
            created = 1_735_000_000 + 3_600 * r  # one run an hour: 200k steps in 500-step runs span 17 days
            run = make_run(run_id, thread_id, created, r)
            self.runs[run_id] = orjson.dumps(run)
            self.thread_runs.setdefault(thread_id, []).insert(0, run)  # newest first
            count = min(steps_per_run, steps - n)
            steps_of_run = [maker(rng, n + i, run_id, thread_id, created + i) for i in range(count)]
            n += count
            after: str | None = None
            for start in range(0, count, page_size):
                data = steps_of_run[start : start + page_size]
                page = {"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"],
                        "has_more": start + page_size < count}  # fmt: skip
                self.pages[(run_id, after)] = orjson.dumps(page)
                after = data[-1]["id"]


def app(store: Store, latency: float) -> web.Application:
    """The three endpoints over ``store``."""

    async def reply(body: bytes) -> web.Response:
        if latency:
            await asyncio.sleep(latency)
        return web.Response(body=body, content_type="application/json")

    async def list_runs(request: web.Request) -> web.Response:
        runs = store.thread_runs.get(request.match_info["thread"])
        if runs is None:
            raise web.HTTPNotFound()
        after = request.query.get("after")
        start = 0 if after is None else 1 + next(i for i, run in enumerate(runs) if run["id"] == after)
        limit = int(request.query.get("limit", "20"))
        data = runs[start : start + limit]
        page = {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None, "has_more": start + limit < len(runs)}  # fmt: skip
        return await reply(orjson.dumps(page))

    async def get_run(request: web.Request) -> web.Response:
        body = store.runs.get(request.match_info["run"])
        if body is None:
            raise web.HTTPNotFound()
        return await reply(body)

    async def list_steps(request: web.Request) -> web.Response:
        body = store.pages.get((request.match_info["run"], request.query.get("after")))
        if body is None:
            raise web.HTTPNotFound()
        return await reply(body)

    application = web.Application()
    application.router.add_get("/v1/threads/{thread}/runs", list_runs)
    application.router.add_get("/v1/threads/{thread}/runs/{run}", get_run)
    application.router.add_get("/v1/threads/{thread}/runs/{run}/steps", list_steps)
    return application


async def serve(store: Store, latency: float) -> None:
    """Serve on a free loopback port; print the base URL; run until cancelled."""
    runner = web.AppRunner(app(store, latency), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    """Build the data, write the thread ids, serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--steps-per-run", type=int, default=500)
    parser.add_argument("--mix", default="real", choices=sorted(MIXES))
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--threads-file", required=True)
    args = parser.parse_args()
    store = Store(args.mix, args.steps, args.steps_per_run)
    Path(args.threads_file).write_text("".join(f"{t}\n" for t in store.thread_runs))
    asyncio.run(serve(store, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
