"""Extract: fetch runs and their steps from the API, concurrently, with retries, never losing or repeating a step.

    ids.py       validate_id, RunRef (a validated thread/run pair and its URL paths)
    retry.py     when to retry and how long to wait (pure functions)
    limiter.py   the pause every request of a client honours after a 429 or an empty rate-limit budget
    client.py    ApiClient: one httpx transport (lanes.py), headers, safety checks, bounded bodies, retries
    lanes.py     LaneTransport: keep-alive connections, one request at a time each
    paging.py    iter_pages: cursor paging over a list endpoint
    sources.py   runs/threads files, run discovery per thread
    streams.py   stream_map: bounded concurrency with backpressure
    runs.py      iter_fetched_runs: many runs in flight, each as a FetchedRun
    entities.py  threads (GET /threads) and assistants around the runs
    auth.py      Entra ID tokens, refreshed before they expire (etl.providers says who needs them)

Typical use::

    async with ApiClient(settings) as client:
        async with aclosing(iter_fetched_runs(client, refs)) as runs:
            async for fetched in runs:
                ...
"""

from etl.extract.client import ApiClient, ClientStats, ResponseRecord
from etl.extract.entities import Assistants, Fetched, fetch_assistants, iter_listed_threads, list_assistants
from etl.extract.ids import RunRef, validate_id
from etl.extract.paging import iter_pages
from etl.extract.runs import FetchedRun, fetch_run, iter_fetched_runs
from etl.extract.sources import (
    DiscoveredThread,
    discover_thread,
    iter_discovered_runs,
    iter_discovered_threads,
    parse_instant,
    read_runs_file,
    read_threads_file,
)

__all__ = [
    "ApiClient",
    "Assistants",
    "ClientStats",
    "DiscoveredThread",
    "Fetched",
    "FetchedRun",
    "ResponseRecord",
    "RunRef",
    "discover_thread",
    "fetch_assistants",
    "fetch_run",
    "iter_discovered_runs",
    "iter_discovered_threads",
    "iter_fetched_runs",
    "iter_listed_threads",
    "iter_pages",
    "list_assistants",
    "parse_instant",
    "read_runs_file",
    "read_threads_file",
    "validate_id",
]
