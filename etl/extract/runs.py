"""Fetch many runs at once: each run's object and all of its steps, as a stream with backpressure.

``iter_fetched_runs`` keeps up to ``concurrency`` runs in flight over the one client and yields a
``FetchedRun`` as each finishes (completion order; the pages of one run are fetched in order). A run that
fails (404, paging broken, retries spent) comes out with ``error`` set and the others go on; an
``AuthError`` (bad key, no permission, no quota) cancels everything in flight and is raised.
Close the iterator when leaving early: ``async with contextlib.aclosing(iter_fetched_runs(...)) as runs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from etl.config import FILE_SEARCH_CONTENT_INCLUDE
from etl.errors import AuthError, EtlError, FatalApiError
from etl.extract.client import ApiClient, last_fetched_at
from etl.extract.ids import RunRef
from etl.extract.paging import iter_pages
from etl.extract.streams import aiter_any, stream_map

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedRun:
    """One run as fetched: its object (None when that failed), its steps in order, or why it failed."""

    ref: RunRef
    run: dict[str, Any] | None
    steps: list[dict[str, Any]] = field(repr=False)
    error: EtlError | None
    requests: int  # successful requests spent on this run (retries are counted in ApiClient.stats)
    fetched_at: datetime  # when the run's last page arrived: the rows' extracted_at
    anomalies: tuple[str, ...] = ()  # what the server sent that it should not have, kept apart and reported

    @property
    def ok(self) -> bool:
        """True when the run object and every step were fetched."""
        return self.error is None


async def fetch_run(client: ApiClient, ref: RunRef) -> FetchedRun:
    """Fetch one run's object (unless the ref carries it) and all its steps; failures but auth go in ``error``."""
    settings = client.settings
    include = [FILE_SEARCH_CONTENT_INCLUDE] if settings.include_file_search_content else []
    run = ref.run
    steps: list[dict[str, Any]] = []
    requests = 0
    try:
        if run is None:
            run = await client.get_json(ref.run_path)
            requests += 1
            _check_run(run, ref)
        async for page in iter_pages(client, ref.steps_path, limit=settings.page_size, order="asc", include=include):
            requests += 1
            steps.extend(page)
    except AuthError:
        raise
    except EtlError as exc:
        log.warning("run %s failed: %s", ref, exc)
        return FetchedRun(ref, run if isinstance(run, dict) else None, steps, exc, requests, _arrival())
    steps, anomalies = _one_per_id(ref, steps)
    return FetchedRun(ref, run, steps, None, requests, _arrival(), anomalies)


def _one_per_id(ref: RunRef, steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Each step id once, at its first place with its latest copy; every repeat named as a server anomaly.

    The API never lists a step twice in one run; a server that does would make the summary and the run record
    count more steps than the tables hold.
    """
    where: dict[str, int] = {}
    kept: list[dict[str, Any]] = []
    repeats: dict[str, int] = {}
    for step in steps:
        step_id = step["id"]  # paging checked that every item has an id
        if step_id in where:
            kept[where[step_id]] = step
            repeats[step_id] = repeats.get(step_id, 1) + 1
        else:
            where[step_id] = len(kept)
            kept.append(step)
    anomalies = tuple(f"run {ref}: step {step_id!r} was listed {n} times; kept one" for step_id, n in repeats.items())
    for anomaly in anomalies:
        log.warning("server anomaly: %s", anomaly)
    return kept, anomalies


def _arrival() -> datetime:
    """When this run's last response arrived (its rows' extracted_at); now, if no response came at all."""
    return last_fetched_at() or datetime.now(UTC)


async def iter_fetched_runs(
    client: ApiClient,
    refs: AsyncIterable[RunRef] | Iterable[RunRef],
    *,
    concurrency: int | None = None,
    buffer: int = 1,
) -> AsyncGenerator[FetchedRun, None]:
    """Fetch every run of ``refs`` (each run id once), ``concurrency`` at a time, yielding each as it finishes.

    ``refs`` may be unbounded: it is read only as slots free up, and at most ``buffer`` finished runs wait for
    the consumer, besides the ones whose workers hold their slots. One is enough to keep the consumer fed; more
    only holds more parsed steps while the consumer waits on its writer (bench_memory, 200k steps in 500-step
    runs into DuckDB, medians of 3 side by side: a buffer of ``concurrency``, 16, peaked at 306 MB, a buffer of 1 at
    288 MB). When the consumer falls behind, fetching pauses once every slot holds a finished run.
    """
    limit = concurrency or client.settings.concurrency
    fetched = stream_map(_unique(refs), lambda ref: fetch_run(client, ref), concurrency=limit, buffer=buffer)
    async with aclosing(fetched):
        async for run in fetched:
            yield run


async def _unique(refs: AsyncIterable[RunRef] | Iterable[RunRef]) -> AsyncGenerator[RunRef, None]:
    """Each run id once (the first ref wins); remembers only the ids."""
    seen: set[str] = set()
    async with aclosing(aiter_any(refs)) as items:
        async for ref in items:
            if ref.run_id not in seen:
                seen.add(ref.run_id)
                yield ref


def _check_run(run: Any, ref: RunRef) -> None:
    """Refuse a run object that is not the run asked for (a misrouted or malformed response)."""
    if not isinstance(run, dict) or run.get("id") != ref.run_id:
        got = run.get("id") if isinstance(run, dict) else type(run).__name__
        raise FatalApiError(f"GET {ref.run_path} returned {got!r}, not run {ref.run_id!r}")
