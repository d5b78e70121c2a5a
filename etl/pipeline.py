"""The whole journey of a run step: sources -> extract -> transform -> load, and the only module that knows all three.

Read top to bottom:

1. ``run_export`` opens the destination (taking the writer's claim on its shard) and reads the export state.
2. ``_run_refs`` streams the runs to fetch: explicit runs, runs an earlier export left unfinished, and runs
   discovered per thread (the threads given, or with ``all_threads`` every thread ``GET /threads`` lists);
   each run once, only this shard's, and none that an earlier export already finished (unless ``refresh``).
3. ``iter_fetched_runs`` fetches them, many at once, with retries; each comes back whole or failed.
4. A ``Batch`` (``etl.load.batch``) collects finished runs; ``write_batch`` turns it into the tables and lands
   it (rows and run records together) in a worker thread, so fetching goes on while a batch is written and the
   bounded fetch queue pushes back when writing is the bottleneck. Replay and import feed the same path.
5. The threads listed and the assistants the runs name (``_Entities``) ride along in the same batches: threads
   as they are listed, assistants fetched once at the end (a 404 is recorded as gone).
6. Watermarks and the export's summary are recorded last.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from contextlib import ExitStack, aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from etl.config import Settings
from etl.errors import AuthError, DestinationError, EtlError, InputError
from etl.extract import (
    ApiClient,
    Assistants,
    DiscoveredThread,
    Fetched,
    FetchedRun,
    ResponseRecord,
    RunRef,
    fetch_assistants,
    iter_discovered_runs,
    iter_fetched_runs,
    iter_listed_threads,
    list_assistants,
    read_runs_file,
    read_threads_file,
)
from etl.load import DUCKDB_STORAGE_VERSION, open_destination
from etl.load.base import Destination, RunRecord, StateStore
from etl.load.batch import BATCH_RUNS, BATCH_STEPS, Batch, write_batch
from etl.preflight import check_destination, check_host_resolves, check_settings, check_sources
from etl.prices import PriceBook, write_model_prices
from etl.schema import ASSISTANTS
from etl.sharding import Shard
from etl.summary import HIDDEN, LoadSummary
from etl.values import iso

log = logging.getLogger(__name__)
_progress = logging.getLogger("etl.progress")
PROGRESS_INTERVAL_S = 10.0  # LogLines: seconds between progress lines


@dataclass(frozen=True)
class Sources:
    """Where the runs to export come from: explicit runs and files, and threads to discover runs in."""

    runs: tuple[RunRef, ...] = ()
    runs_files: tuple[str, ...] = ()
    threads: tuple[str, ...] = ()
    threads_files: tuple[str, ...] = ()
    since: int | None = None  # unix seconds, inclusive: bounds discovered runs' created_at
    until: int | None = None  # unix seconds, exclusive
    all_threads: bool = False  # discover the runs of every thread the API lists (providers that can list threads)
    list_threads: bool = False  # write a threads row for every thread the API lists, discovering none of their runs
    checked: bool = field(default=False, compare=False)  # every id read and validated (etl.preflight.check_sources)

    @property
    def empty(self) -> bool:
        """True when no source at all was given."""
        listed = self.all_threads or self.list_threads
        return not (self.runs or self.runs_files or self.threads or self.threads_files or listed)

    @property
    def discovers(self) -> bool:
        """True when runs are discovered per thread."""
        return bool(self.threads or self.threads_files or self.all_threads)


@dataclass(frozen=True)
class ExportOptions:
    """How to export: where to, which shard, and what an earlier export already did."""

    dest: str
    shard: Shard = field(default_factory=Shard)
    refresh: bool = False  # fetch runs an earlier export already finished
    dry_run: bool = False  # list the runs that would be fetched; write nothing
    use_watermarks: bool = True  # start discovery where the last export of this shard stopped
    batch_steps: int = BATCH_STEPS
    batch_runs: int = BATCH_RUNS
    on_response: Callable[[ResponseRecord], None] | None = None  # sees every response (the raw archive)
    before_write: Callable[[], None] | None = None  # before each batch lands (the raw archive publishes what it holds)
    s3_endpoint_url: str | None = None  # an S3-compatible store's endpoint (default $AWS_ENDPOINT_URL)
    prices: PriceBook = field(default_factory=PriceBook)  # written to model_prices after the runs
    duckdb_storage_version: str = DUCKDB_STORAGE_VERSION  # the format of a DuckDB file the export creates
    deadline: float | None = None  # seconds for the whole export: then it stops, keeps what it wrote (exit 3)

    def open(self, *, read_only: bool = False) -> Destination:
        """The destination these options name, for this shard."""
        return open_destination(
            self.dest,
            self.shard,
            read_only=read_only,
            s3_endpoint_url=self.s3_endpoint_url,
            duckdb_storage_version=self.duckdb_storage_version,
        )

    @property
    def scope(self) -> str:
        """The name under which this shard's watermarks are kept."""
        return f"shard-{self.shard.index}-of-{self.shard.count}"


@dataclass(kw_only=True)
class ExportSummary(LoadSummary):
    """What an export did; ``as_dict`` is the ``--metrics-json`` object."""

    kind: ClassVar[str] = "export"
    shard: str
    dry_run: bool = False
    runs_skipped: int = 0  # finished by an earlier export: not fetched
    failures: list[dict[str, str]] = field(default_factory=list)
    server_anomalies: list[str] = field(default_factory=list)  # e.g. a step listed twice in one run (kept once)
    requests: int = 0
    retries: int = 0
    started_at: str = field(default_factory=iso)
    planned: list[str] = field(default_factory=list, metadata=HIDDEN)  # dry run: the runs that would be fetched

    @property
    def steps_per_s(self) -> float:
        """Steps exported per second of wall time."""
        return self.steps / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 when every run was exported, 3 when some failed (each one is in ``failures``)."""
        return 3 if self.failures else 0

    def derived(self) -> dict[str, Any]:
        """The planned count of a dry run, the rate and the exit code."""
        return {
            "runs_planned": len(self.planned) if self.dry_run else None,
            "steps_per_s": round(self.steps_per_s, 1),
            "exit_code": self.exit_code,
        }

    def failed(self, record: RunRecord) -> None:
        """Name the run and why it failed."""
        self.failures.append({"thread_id": record.thread_id, "run_id": record.run_id, "reason": record.error or ""})

    def head(self) -> list[str]:
        """Runs, steps and requests."""
        return [
            f"export to {self.dest} (shard {self.shard}) finished in {self.elapsed_s:.1f} s",
            f"  runs: {self.runs_ok} ok, {self.runs_failed} failed, {self.runs_skipped} skipped (exported before)",
            f"  steps: {self.steps} ({self.steps_per_s:,.0f} steps/s)",
            f"  requests: {self.requests} ({self.retries} retries), schema drift: {self.schema_drift} rows",
        ]

    def tail(self) -> list[str]:
        """Each failed run, or thread whose runs could not be listed."""
        lines = [f"  SERVER ANOMALY {anomaly}" for anomaly in self.server_anomalies]
        for failure in self.failures:
            run, thread = failure["run_id"], failure["thread_id"]
            where = f" {thread}/{run}" if run else f" thread {thread}" if thread else ""
            lines.append(f"  FAILED{where}: {failure['reason']}")
        return lines


class ExportObserver:
    """Hears what an export does, for progress bars and log lines; the default hears nothing."""

    units: tuple[str, str] = ("runs", "steps")  # what is counted: runs and steps, or responses and items

    def discovered(self, runs: int) -> None:
        """``runs`` more runs are queued to fetch."""

    def run_done(self, fetched: FetchedRun) -> None:
        """One run was fetched (or failed)."""
        self.unit_done(fetched.ok, len(fetched.steps))

    def unit_done(self, ok: bool, items: int) -> None:
        """One unit (a run, a response, a conversation) was fetched with ``items`` items, or failed."""

    def batch_written(self, summary: ExportSummary) -> None:
        """A batch landed at the destination."""


class LogLines(ExportObserver):
    """Every ``interval`` seconds one plain line: units and items done, rates (for Airflow and CI logs)."""

    def __init__(self, interval: float = PROGRESS_INTERVAL_S, *, units: tuple[str, str] = ("runs", "steps")) -> None:
        self.interval = interval
        self.units = units
        self.started = self.last = time.monotonic()
        self.runs = self.steps = self.failed = self.queued = 0

    def discovered(self, runs: int) -> None:
        self.queued += runs

    def unit_done(self, ok: bool, items: int) -> None:
        self.runs += 1
        self.steps += items
        self.failed += 0 if ok else 1
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            elapsed = now - self.started
            unit, item = self.units
            _progress.info(
                "progress: %d %s (%d failed), %d %s, %.1f %s/s, %.1f %s/s",
                self.runs,
                unit,
                self.failed,
                self.steps,
                item,
                self.runs / elapsed,
                unit,
                self.steps / elapsed,
                item,
            )


def run_export(
    settings: Settings,
    sources: Sources,
    options: ExportOptions,
    observer: ExportObserver | None = None,
    *,
    dest: Destination | None = None,
) -> ExportSummary:
    """Export the runs of ``sources`` into ``options.dest``; returns the summary (failed runs are in it).

    ``dest``: a destination the caller already holds open (a backfill keeps one across its chunks).
    """
    check_provider(settings, sources)
    if dest is None:  # a caller holding the destination open checked everything before opening it
        check_settings(settings)
        if not options.dry_run:
            check_destination(options.dest)
        sources = check_sources(sources)
        if sources.empty:
            raise InputError("nothing to export: the files given hold no thread or run ids")
        check_host_resolves(settings)
    observer = observer or ExportObserver()
    if options.dry_run:
        return asyncio.run(_plan_only(settings, sources, options))
    if dest is not None:
        return asyncio.run(_export(settings, sources, options, observer, dest))
    with options.open() as opened:
        return asyncio.run(_export(settings, sources, options, observer, opened))


def check_provider(settings: Settings, sources: Sources) -> None:
    """Refuse no sources at all, or sources the provider cannot serve (``InputError``), before anything is opened."""
    if sources.empty:
        raise InputError("nothing to export: give --run, --runs-file, --thread, --threads-file or --all-threads")
    provider = settings.provider_spec
    if (sources.all_threads or sources.list_threads) and not provider.can_list_threads:
        raise InputError(
            f"--all-threads needs a provider that can list threads (foundry); {provider.name} cannot: "
            "give --thread or --threads-file instead"
        )


async def _export(
    settings: Settings, sources: Sources, options: ExportOptions, observer: ExportObserver, dest: Destination
) -> ExportSummary:
    started = time.monotonic()
    summary = ExportSummary(dest=options.dest, shard=str(options.shard))
    threads = thread_ids(sources)
    plan = _Plan.read(dest, None if sources.all_threads else threads, options)
    deadline_at = None if options.deadline is None else asyncio.get_running_loop().time() + options.deadline
    listed = sources.all_threads or sources.list_threads
    async with ApiClient(settings, on_response=options.on_response) as client:
        # Assistants nothing will list are fetched as soon as a run names them, while runs are still fetched.
        entities = _Entities(options.shard, fetch_with=None if listed else client)
        try:
            refs = _run_refs(client, sources, threads, options, plan, summary, entities)
            finished = await _fetch_and_write(client, refs, dest, options, observer, summary, entities, deadline_at)
            if finished:  # past the deadline, the threads' and assistants' rows wait for the next export
                if sources.list_threads and not sources.all_threads:  # the threads' rows, without their runs
                    await entities.drain(entities.listed_thread_ids(client, (), summary))
                last = await entities.last_batch(client, dest, listed=listed)
                await _write(dest, last, summary, observer, options.before_write)
        finally:
            await entities.close()
        summary.requests, summary.retries = client.stats.requests, client.stats.retries
    # Every model the destination's runs use, priced at their dates (the cost views read it).
    write_model_prices(dest, options.prices)
    _name_discovery_failures(plan.discovered, summary)
    summary.elapsed_s = time.monotonic() - started
    if finished:
        dest.set_watermarks(options.scope, _new_watermarks(plan.discovered, sources.since, plan.watermarks))
    else:
        # Runs listed but never fetched have no record: a watermark past them would hide them from the next export.
        summary.failures.append(
            {
                "thread_id": "",
                "run_id": "",
                "reason": f"--deadline of {options.deadline:g} s reached: the export stopped with the batches "
                "written so far kept; run it again to export the rest",
            }
        )
    dest.record_export(summary.as_dict())
    return summary


async def _plan_only(settings: Settings, sources: Sources, options: ExportOptions) -> ExportSummary:
    """A dry run: the runs an export would fetch now (discovery requests only), nothing written."""
    started = time.monotonic()
    summary = ExportSummary(dest=options.dest, shard=str(options.shard), dry_run=True)
    threads = thread_ids(sources)
    plan = _Plan.read_existing(options, None if sources.all_threads else threads)
    async with ApiClient(settings, on_response=options.on_response) as client:
        refs = _run_refs(client, sources, threads, options, plan, summary, _Entities(options.shard))
        async with aclosing(refs):
            summary.planned.extend([f"{ref.thread_id}/{ref.run_id}" async for ref in refs])
        summary.requests, summary.retries = client.stats.requests, client.stats.retries
    _name_discovery_failures(plan.discovered, summary)
    summary.elapsed_s = time.monotonic() - started
    return summary


@dataclass(frozen=True)
class _ListedThread:
    """What an export keeps of a thread whose runs it listed: where its watermark may move, or why listing failed."""

    newest_created_at: int | None
    error: EtlError | None


@dataclass
class _Plan:
    """What the destination's state says about this export, and what discovery finds along the way."""

    records: dict[str, RunRecord]  # every run an earlier export settled or tried
    finished: set[str]  # runs not to fetch again
    watermarks: dict[str, int]  # where discovery may start, per thread
    discovered: dict[str, _ListedThread] = field(default_factory=dict)

    @classmethod
    def read(cls, state: StateStore | None, threads: Iterable[str] | None, options: ExportOptions) -> _Plan:
        """Read the state once, before fetching anything (``None``: a destination that does not exist yet).

        ``threads``: the threads whose watermarks matter (None: every thread, for an export of all threads).
        """
        if state is None:
            return cls({}, set(), {})
        records = state.run_records()
        finished = set() if options.refresh else {r.run_id for r in records.values() if r.finished}
        watermarks: dict[str, int] = {}
        if options.use_watermarks and not options.refresh:
            marks = state.watermarks(options.scope)
            watermarks = marks if threads is None else {t: m for t in set(threads) if (m := marks.get(t)) is not None}
        return cls(records, finished, watermarks)

    @classmethod
    def read_existing(cls, options: ExportOptions, threads: Iterable[str] | None) -> _Plan:
        """For a dry run: the plan from the destination's state read-only, or an empty one if there is none yet."""
        with ExitStack() as stack:
            try:
                state = stack.enter_context(options.open(read_only=True))
            except DestinationError:
                return cls.read(None, threads, options)
            return cls.read(state, threads, options)


async def _run_refs(
    client: ApiClient,
    sources: Sources,
    threads: list[str],
    options: ExportOptions,
    plan: _Plan,
    summary: ExportSummary,
    entities: _Entities,
) -> AsyncGenerator[RunRef, None]:
    """Every run to fetch, once: explicit, then left unfinished by an earlier export, then discovered."""
    seen: set[str] = set()

    def wanted(ref: RunRef) -> bool:
        if ref.run_id in seen or not options.shard.owns(ref.run_id):
            return False
        seen.add(ref.run_id)
        if ref.run_id in plan.finished:
            summary.runs_skipped += 1
            return False
        return True

    for ref in _explicit_refs(sources):
        if wanted(ref):
            yield ref
    if not threads and not sources.all_threads:
        return
    # Runs that an earlier export of these threads saw active, or failed to export: look at them again.
    in_threads = set(threads)
    for record in plan.records.values():
        if not record.finished and (sources.all_threads or record.thread_id in in_threads):
            ref = RunRef(record.thread_id, record.run_id)
            if wanted(ref):
                yield ref

    def on_thread(thread: DiscoveredThread) -> None:
        # Not the thread itself: its run objects, kept to the end, would grow the export's memory with the job.
        plan.discovered[thread.thread_id] = _ListedThread(thread.newest_created_at, thread.error)

    to_discover = entities.listed_thread_ids(client, threads, summary) if sources.all_threads else threads
    runs = iter_discovered_runs(
        client, to_discover, since=sources.since, until=sources.until, watermarks=plan.watermarks, on_thread=on_thread
    )
    async with aclosing(runs) as stream:
        async for ref in stream:
            if wanted(ref):
                yield ref


def _explicit_refs(sources: Sources) -> Iterable[RunRef]:
    """Explicit runs: from the command line, then from each runs file (read lazily)."""
    yield from sources.runs
    for path in sources.runs_files:
        yield from read_runs_file(path)


def thread_ids(sources: Sources) -> list[str]:
    """Threads to discover runs in, each once, in the order given."""
    ids = list(sources.threads)
    for path in sources.threads_files:
        ids.extend(read_threads_file(path))
    return list(dict.fromkeys(ids))


async def _fetch_and_write(
    client: ApiClient,
    refs: AsyncGenerator[RunRef, None],
    dest: Destination,
    options: ExportOptions,
    observer: ExportObserver,
    summary: ExportSummary,
    entities: _Entities,
    deadline_at: float | None = None,
) -> bool:
    """Fetch every run and write them in batches; a batch is written (in a thread) while the next one is fetched.

    Returns False when the event loop's clock passed ``deadline_at`` first: the runs in flight are dropped (no
    record, so the next export fetches them), and every run already fetched is still written.
    """

    async def counted() -> AsyncGenerator[RunRef, None]:
        async with aclosing(refs) as stream:
            async for ref in stream:
                observer.discovered(1)
                yield ref

    # The transform's imports (~50 ms; and pandas, when pyarrow may load it: not in the runsteps command, see
    # etl.cli.process) run on this thread once the first requests are out, while their responses are awaited. In a
    # thread of their own they took 0.6 s against a busy fetch loop (each import's file access gives the GIL
    # away, and getting it back waits for the loop's switch interval), and the first batch waited for them.
    asyncio.get_running_loop().call_later(_WARM_AFTER, _load_transform)
    # At most one batch is being written while the next one fills: fetching waits only when that one is full too.
    writing: asyncio.Future[None] | None = None
    try:
        batch = Batch()
        finished = True
        async with aclosing(iter_fetched_runs(client, counted())) as fetched_runs:
            while True:
                try:
                    async with asyncio.timeout_at(deadline_at):
                        fetched = await anext(fetched_runs)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if deadline_at is None or asyncio.get_running_loop().time() < deadline_at:
                        raise
                    finished = False
                    break
                observer.run_done(fetched)
                summary.server_anomalies.extend(fetched.anomalies)
                _add(batch, fetched)
                entities.referenced(fetched)
                if _due(batch, options, idle=writing is None or writing.done()):
                    entities.add_threads(batch)
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(_write(dest, batch, summary, observer, options.before_write))
                    batch = Batch()
        if writing is not None:
            await writing
        if batch:
            entities.add_threads(batch)
            await _write(dest, batch, summary, observer, options.before_write)
        return finished
    finally:
        if writing is not None:
            # Leaving on an error: the batch being written lands whole or not at all first, and this error goes on.
            await asyncio.wait([writing])
            if not writing.cancelled():
                writing.exception()  # seen: not reported again as "never retrieved"


_WARM_AFTER = 0.01  # seconds after the fetching starts: time enough to send the first requests


def _due(batch: Batch, options: ExportOptions, *, idle: bool) -> bool:
    """Whether to write ``batch`` now: when it is full, or once the writer is idle and it holds a quarter of that.

    An export that waits on the API then keeps its writer busy, and its last batch, written after the last response
    came, stays small (``bench_export_process.py``: from the last response to the end of the last write 0.09-0.22
    s before, 0.04 s after).
    """
    steps, runs = batch.count("steps"), batch.runs_settled
    if steps >= options.batch_steps or runs >= options.batch_runs:
        return True
    return idle and (steps >= options.batch_steps // 4 or runs >= options.batch_runs // 4)


def _load_transform() -> None:
    """Import the transform, and what pyarrow imports on its first conversion of Python objects."""
    import pyarrow as pa

    import etl.transform  # noqa: F401

    pa.array([None], pa.string())


def _add(batch: Batch, fetched: FetchedRun) -> None:
    """One fetched run into the batch: whole, stamped with its fetch second, or failed and why."""
    ref = fetched.ref
    error = None if fetched.ok else str(fetched.error)
    batch.add_run(ref.thread_id, ref.run_id, fetched.run, fetched.steps, fetched.fetched_at, error=error)


async def _write(
    dest: Destination,
    batch: Batch,
    summary: ExportSummary,
    observer: ExportObserver,
    before: Callable[[], None] | None = None,
) -> None:
    """Transform and land one batch in a worker thread, so fetching goes on meanwhile; then count it."""
    if not batch:
        return
    summary.count(await asyncio.to_thread(write_batch, dest, batch, before=before))
    observer.batch_written(summary)


class _Entities:
    """The threads and assistants of an export (this shard's: an entity's id hashes to a bucket like a run's)."""

    def __init__(self, shard: Shard, *, fetch_with: ApiClient | None = None) -> None:
        self.shard = shard
        self._threads: list[Fetched] = []  # listed, not yet written
        self._assistants: dict[str, None] = {}  # named by the runs exported, in order
        # fetch_with: fetch each assistant as soon as a run names it (the export's tail is then one request shorter)
        self._client = fetch_with
        self._fetching: list[asyncio.Future[Assistants]] = []

    async def listed_thread_ids(
        self, client: ApiClient, given: Iterable[str], summary: ExportSummary
    ) -> AsyncGenerator[str, None]:
        """The threads given, then every thread the API lists (kept to be written as ``threads`` rows)."""
        for thread_id in given:
            yield thread_id
        try:
            async with aclosing(iter_listed_threads(client)) as listed:
                async for thread in listed:
                    if self.shard.owns(thread.obj["id"]):
                        self._threads.append(thread)
                    yield thread.obj["id"]
        except AuthError:
            raise
        except EtlError as exc:  # the threads listed so far are still exported; the export ends partial
            log.warning("listing the threads failed: %s", exc)
            summary.failures.append({"thread_id": "", "run_id": "", "reason": f"listing the threads failed: {exc}"})

    async def drain(self, thread_ids: AsyncGenerator[str, None]) -> None:
        """List the threads (kept to be written) without discovering anything in them."""
        async with aclosing(thread_ids) as listed:
            async for _ in listed:
                pass

    def add_threads(self, batch: Batch) -> None:
        """Put the threads listed since the last batch into ``batch``."""
        for thread in self._threads:
            batch.add("threads", thread.obj, thread.fetched_at)
        self._threads.clear()

    def referenced(self, fetched: FetchedRun) -> None:
        """Note the assistant a fetched run names."""
        assistant_id = (fetched.run or {}).get("assistant_id")
        if isinstance(assistant_id, str) and assistant_id and self.shard.owns(assistant_id):
            if self._client is not None and assistant_id not in self._assistants:
                self._fetching.append(asyncio.ensure_future(fetch_assistants(self._client, [assistant_id])))
            self._assistants[assistant_id] = None

    async def last_batch(self, client: ApiClient, dest: Destination, *, listed: bool) -> Batch:
        """The threads still unwritten and the assistants: listed (``listed``), then each one named but not listed.

        An assistant the API no longer has keeps what ``dest`` knew of it, marked gone.
        """
        batch = Batch()
        self.add_threads(batch)
        found = [a for a in await list_assistants(client) if self.shard.owns(a.obj["id"])] if listed else []
        have = {a.obj["id"] for a in found}
        if self._client is None:
            fetched = [await fetch_assistants(client, [a for a in self._assistants if a not in have])]
        else:
            fetched = list(await asyncio.gather(*self._fetching))
        for assistant in [*found, *(a for result in fetched for a in result.found)]:
            batch.add("assistants", assistant.obj, assistant.fetched_at)
        gone = [(assistant_id, at) for result in fetched for assistant_id, at in result.gone]
        known = _known_assistants(dest, [assistant_id for assistant_id, _ in gone])
        for assistant_id, fetched_at in gone:
            from etl.transform.entities import gone_assistant  # the transform loads lazily (see etl.load.batch)

            batch.add("assistants", gone_assistant(assistant_id, known.get(assistant_id)), fetched_at)
        return batch

    async def close(self) -> None:
        """Stop fetching assistants (leaving early): cancelled, their errors seen."""
        for task in self._fetching:
            task.cancel()
        if self._fetching:
            await asyncio.wait(self._fetching)
            for task in self._fetching:
                if not task.cancelled():
                    task.exception()


def _known_assistants(dest: Destination, assistant_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The ``assistants`` rows ``dest`` holds for these ids, as an earlier export wrote them."""
    if not assistant_ids:
        return {}
    import pyarrow.compute as pc  # loaded with the transform, after the first requests (start-up)

    rows = dest.read_table("assistants", ASSISTANTS.schema.names)
    wanted = rows.filter(pc.is_in(rows["assistant_id"], value_set=pa.array(assistant_ids, pa.string())))
    return {row["assistant_id"]: row for row in wanted.to_pylist()}


def _new_watermarks(
    discovered: Mapping[str, _ListedThread], since: int | None, marks: Mapping[str, int]
) -> dict[str, int]:
    """Each fully listed thread's newest run: discovery may start there next time.

    A mark says every run up to it was listed, so it moves only where this listing left no gap below: with
    ``--since``, only for a thread whose mark (``marks``) already reached ``since``. Otherwise an export of the last
    week would hide every older run from the exports after it.
    """
    moved: dict[str, int] = {}
    for thread_id, thread in discovered.items():
        newest = thread.newest_created_at
        if thread.error is not None or newest is None:
            continue
        if since is not None and marks.get(thread_id, since - 1) < since:
            continue
        moved[thread_id] = newest
    return moved


def _name_discovery_failures(discovered: Mapping[str, _ListedThread], summary: ExportSummary) -> None:
    """Threads whose runs could not be listed count as failures of the export."""
    for thread_id, thread in discovered.items():
        if thread.error is not None:
            summary.failures.append({"thread_id": thread_id, "run_id": "", "reason": str(thread.error)})
