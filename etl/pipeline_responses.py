"""The journey of responses and conversations (``runsteps export --source responses``): sources -> extract ->
transform -> load, through the same ``Batch``, ``write_batch`` and summary as run steps.

Read top to bottom:

1. ``run_responses_export`` opens the destination and reads what it holds: finished responses (never fetched
   again; queued and in-progress ones are) and where each conversation's stored items end.
2. Responses: explicit ids, ids files, and on Foundry every listed response; each once, only this shard's.
   With ``follow_previous`` each fetched response's ``previous_response_id`` is fetched too, until chains end.
3. Conversations: explicit, files, Foundry's listing; each read from its last stored item on
   (``order=asc&after=<last>``), so a daily export fetches only the new items.
4. Large payloads (base64 images, encrypted reasoning) are dropped before the transform unless ``keep_payloads``.
5. Each batch is transformed and written as a unit with its state records; the summary counts it.

A dry run (``options.dry_run``) only reads the destination, if there is one, and lists what steps 2 and 3 would
fetch (Foundry's listings are requested; nothing else is).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from contextlib import ExitStack, aclosing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from etl.config import Settings
from etl.errors import DestinationError, InputError
from etl.extract import ApiClient
from etl.extract.ids import validate_id
from etl.extract.responses import (
    ConversationRef,
    Fetched,
    ResponseRef,
    fetch_conversation,
    fetch_response,
    iter_fetched,
    iter_listed,
    missing_conversations_api,
)
from etl.extract.sources import read_ids_file
from etl.load.base import Destination, ItemCursor
from etl.load.batch import Batch, write_batch
from etl.pipeline import ExportObserver, ExportOptions, ExportSummary
from etl.prices import write_model_prices
from etl.values import Json

_BATCH_UNITS = 500  # responses or conversations per write
# Without these the API leaves search results, sources and code outputs out of the items.
DATA_INCLUDES = ("file_search_call.results", "web_search_call.action.sources", "code_interpreter_call.outputs")
ENCRYPTED_REASONING = "reasoning.encrypted_content"
PROGRESS_UNITS = ("objects", "items")  # what progress lines count: responses and conversations, and their items


@dataclass(frozen=True)
class ResponseSources:
    """Where the responses and conversations to export come from."""

    responses: tuple[str, ...] = ()
    responses_files: tuple[str, ...] = ()
    conversations: tuple[str, ...] = ()
    conversations_files: tuple[str, ...] = ()
    follow_previous: bool = False  # also fetch each response's previous_response_id, to the start of its chain
    all_responses: bool = False  # Foundry: every stored response (GET /responses)
    all_conversations: bool = False  # Foundry: every conversation (GET /conversations)
    keep_payloads: bool = False  # store base64 images and encrypted reasoning as sent

    @property
    def include(self) -> tuple[str, ...]:
        """``include[]`` values sent with every response and item request: the ones that carry data."""
        return DATA_INCLUDES + ((ENCRYPTED_REASONING,) if self.keep_payloads else ())

    @property
    def empty(self) -> bool:
        """True when no source at all was given."""
        return not (
            self.responses
            or self.responses_files
            or self.conversations
            or self.conversations_files
            or self.all_responses
            or self.all_conversations
        )


@dataclass(kw_only=True)
class ResponsesExportSummary(ExportSummary):
    """An export of responses and conversations: the run-step summary, counted per response and conversation."""

    kind: ClassVar[str] = "export"
    source: str = "responses"
    responses_ok: int = 0
    conversations_ok: int = 0
    conversation_items_new: int = 0  # items read past each conversation's last stored one
    payloads_dropped: bool = True

    def head(self) -> list[str]:
        """Responses, conversations and requests."""
        if self.dry_run:
            return [
                f"dry run of responses for {self.dest} (shard {self.shard}): {len(self.planned)} to fetch, "
                f"{self.runs_skipped} responses skipped (finished and exported before); nothing written",
                f"  requests: {self.requests} ({self.retries} retries)",
            ]
        return [
            f"export of responses to {self.dest} (shard {self.shard}) finished in {self.elapsed_s:.1f} s",
            f"  responses: {self.responses_ok} ok, {self.runs_skipped} skipped (finished and exported before)",
            f"  conversations: {self.conversations_ok} ok, {self.conversation_items_new} new items",
            f"  failed: {self.runs_failed}",
            f"  requests: {self.requests} ({self.retries} retries), schema drift: {self.schema_drift} rows",
        ]

    def tail(self) -> list[str]:
        """Each response or conversation that failed."""
        return [f"  FAILED {failure['run_id']}: {failure['reason']}" for failure in self.failures]


def run_responses_export(
    settings: Settings,
    sources: ResponseSources,
    options: ExportOptions,
    observer: ExportObserver | None = None,
    *,
    dest: Destination | None = None,
) -> ResponsesExportSummary:
    """Export the responses and conversations of ``sources`` into ``options.dest``; returns the summary."""
    if sources.empty:
        raise InputError(
            "nothing to export: give --response, --responses-file, --conversation, --conversations-file,"
            " --all-responses or --all-conversations"
        )
    provider = settings.provider_spec
    if (sources.all_responses or sources.all_conversations) and not provider.can_list_responses:
        raise InputError(
            f"--all-responses/--all-conversations need a host that lists them ({provider.name} cannot):"
            " use --provider foundry with a project endpoint, or give the ids"
        )
    response_ids = _ids(sources.responses, sources.responses_files, "response")
    conversation_ids = _ids(sources.conversations, sources.conversations_files, "conversation")
    if not (response_ids or conversation_ids or sources.all_responses or sources.all_conversations):
        raise InputError("nothing to export: the files given hold no response or conversation ids")
    if options.dry_run:
        return asyncio.run(_plan_only(settings, sources, options, response_ids, conversation_ids))
    probe = next((cid for cid in conversation_ids if options.shard.owns(cid)), None)
    if probe is not None:  # before anything is opened: a host without the API is refused, not failed id by id
        asyncio.run(_check_conversations_api(settings, probe))
    observer = observer or ExportObserver()
    if dest is not None:
        return asyncio.run(_export(settings, sources, options, observer, dest, response_ids, conversation_ids))
    with options.open() as opened:
        return asyncio.run(_export(settings, sources, options, observer, opened, response_ids, conversation_ids))


async def _check_conversations_api(settings: Settings, conversation_id: str) -> None:
    """An ``InputError`` when the host has no Conversations API (Azure OpenAI v1 may lack it): probed once."""
    async with ApiClient(settings) as client:
        missing = await missing_conversations_api(client, conversation_id)
    if missing is not None:
        raise InputError(f"this endpoint has no Conversations API ({missing}): export by --response ids instead")


def _ids(given: Iterable[str], files: Iterable[str], kind: str) -> list[str]:
    """Ids from the command line then the files, each once, validated before anything is opened."""
    ids = [validate_id(kind, value) for value in given]
    for path in files:
        ids.extend(read_ids_file(path, kind))
    return list(dict.fromkeys(ids))


@dataclass
class _Run:
    """What one export knows as it goes."""

    settings: Settings
    sources: ResponseSources
    options: ExportOptions
    observer: ExportObserver
    dest: Destination
    summary: ResponsesExportSummary
    finished: set[str]
    seen: set[str] = field(default_factory=set)
    response_of: dict[str, str] = field(default_factory=dict)  # item id -> response id (for conversation items)


async def _export(
    settings: Settings,
    sources: ResponseSources,
    options: ExportOptions,
    observer: ExportObserver,
    dest: Destination,
    response_ids: list[str],
    conversation_ids: list[str],
) -> ResponsesExportSummary:
    started = time.monotonic()
    summary = ResponsesExportSummary(
        dest=options.dest, shard=str(options.shard), payloads_dropped=not sources.keep_payloads
    )
    records = dest.run_records()
    finished = set() if options.refresh else {r.run_id for r in records.values() if r.finished}
    state = _Run(settings, sources, options, observer, dest, summary, finished)
    async with ApiClient(settings, on_response=options.on_response) as client:
        await _responses(client, state, response_ids)
        await _conversations(client, state, conversation_ids)
        summary.requests, summary.retries = client.stats.requests, client.stats.retries
    write_model_prices(dest, options.prices)  # the responses' models priced, as an export of runs does
    summary.elapsed_s = time.monotonic() - started
    dest.record_export(summary.as_dict())
    return summary


# -- responses -------------------------------------------------------------------------------------------------


async def _responses(client: ApiClient, state: _Run, response_ids: list[str]) -> None:
    """Fetch and write the responses, then (``follow_previous``) their predecessors, round by round."""
    refs: list[ResponseRef] = [ResponseRef(rid) for rid in response_ids]
    listed = state.sources.all_responses
    stored_previous: dict[str, str] = {}
    if state.sources.follow_previous:  # a chain goes on past a response exported before: its stored previous id
        stored = state.dest.read_table("responses", ["response_id", "previous_response_id"])
        pairs = zip(stored["response_id"].to_pylist(), stored["previous_response_id"].to_pylist(), strict=True)
        stored_previous = {rid: previous for rid, previous in pairs if previous}
    while refs or listed:
        skipped: list[str] = []
        source: AsyncGenerator[ResponseRef, None] = _wanted_responses(
            client, state, refs, listed=listed, skipped=skipped
        )
        previous = await _fetch_and_write(client, state, source, _fetch_one_response(state), _add_response)
        previous += [stored_previous[rid] for rid in skipped if rid in stored_previous]
        listed = False
        refs = [ResponseRef(rid) for rid in previous if state.sources.follow_previous]


async def _wanted_responses(
    client: ApiClient, state: _Run, refs: list[ResponseRef], *, listed: bool, skipped: list[str]
) -> AsyncGenerator[ResponseRef, None]:
    """The refs (and the listing's responses) not seen in this export, of this shard, not finished before (those
    go to ``skipped``)."""

    def wanted(ref: ResponseRef) -> bool:
        rid = ref.response_id
        if rid in state.seen or not state.options.shard.owns(rid):
            return False
        state.seen.add(rid)
        if rid in state.finished:
            state.summary.runs_skipped += 1
            skipped.append(rid)
            return False
        return True

    for ref in refs:
        if wanted(ref):
            yield ref
    if listed:
        async with aclosing(iter_listed(client, "/responses")) as stream:
            async for obj in stream:
                ref = ResponseRef(str(obj.get("id")), listed=obj)
                if wanted(ref):
                    yield ref


def _fetch_one_response(state: _Run) -> Callable[[ApiClient, ResponseRef], Awaitable[Fetched]]:
    # The transform is imported when an export first needs it, not with the command line (see etl.load.batch).
    from etl.transform.responses import TERMINAL_RESPONSE_STATUSES

    include = state.sources.include

    async def fetch(client: ApiClient, ref: ResponseRef) -> Fetched:
        # A listed response that is still running is fetched again: the listing may predate its end.
        if ref.listed is not None and ref.listed.get("status") not in TERMINAL_RESPONSE_STATUSES:
            ref = ResponseRef(ref.response_id)
        return await fetch_response(client, ref, include)

    return fetch


def _add_response(state: _Run, batch: Batch, fetched: Fetched) -> str | None:
    """One fetched response into the batch; returns its previous_response_id (for ``follow_previous``)."""
    from etl.transform.responses import without_payloads  # loaded lazily, as in _fetch_one_response

    obj = fetched.obj
    if obj is not None and not state.sources.keep_payloads:
        obj = without_payloads(obj)
    error = None if fetched.ok else str(fetched.error)
    conversation = (obj or {}).get("conversation")
    owner = conversation.get("id") if isinstance(conversation, dict) else None
    items = [*(obj or {}).get("input_items", []), *(obj or {}).get("output", [])]
    batch.add_unit(
        "responses", fetched.unit_id, obj, fetched.fetched_at, owner=owner or fetched.unit_id, count=len(items),
        error=error,
    )  # fmt: skip
    if error is None:
        state.summary.responses_ok += 1
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                state.response_of.setdefault(item["id"], fetched.unit_id)
    previous = (obj or {}).get("previous_response_id")
    return previous if isinstance(previous, str) else None


# -- conversations ---------------------------------------------------------------------------------------------


async def _conversations(client: ApiClient, state: _Run, conversation_ids: list[str]) -> None:
    """Read every conversation from its last stored item on, and write what is new."""
    ids = await _conversation_ids(client, state.sources, state.options, conversation_ids)
    if not ids:
        return
    cursors = state.dest.conversation_cursors(ids)
    refs = [_conversation_ref(cid, cursors.get(cid)) for cid in ids]
    include = state.sources.include

    async def fetch(client: ApiClient, ref: ConversationRef) -> Fetched:
        return await fetch_conversation(client, ref, include)

    await _fetch_and_write(client, state, refs, fetch, _add_conversation)


async def _conversation_ids(
    client: ApiClient, sources: ResponseSources, options: ExportOptions, conversation_ids: list[str]
) -> list[str]:
    """This shard's conversations: the ones given, then (Foundry) every listed one; each once."""
    ids = list(conversation_ids)
    if sources.all_conversations:
        async with aclosing(iter_listed(client, "/conversations")) as stream:
            ids += [str(obj.get("id")) async for obj in stream]
    return [cid for cid in dict.fromkeys(ids) if options.shard.owns(cid)]


def _conversation_ref(conversation_id: str, cursor: ItemCursor | None) -> ConversationRef:
    if cursor is None:
        return ConversationRef(conversation_id)
    return ConversationRef(conversation_id, cursor.next_position, cursor.last_item_id)


def _add_conversation(state: _Run, batch: Batch, fetched: Fetched) -> str | None:
    """One conversation with its new items into the batch (items linked to the responses exported with them)."""
    from etl.transform.responses import without_payloads  # loaded lazily, as in _fetch_one_response

    obj = fetched.obj
    error = None if fetched.ok else str(fetched.error)
    count = 0
    if obj is not None:
        if not state.sources.keep_payloads:
            obj = without_payloads(obj)
        items = obj.get("items", [])
        wanted = {item.get("id") for item in items if isinstance(item, dict)}
        obj["response_of"] = {i: r for i, r in state.response_of.items() if i in wanted}
        count = int(obj.get("item_count", 0))
        if error is None:
            state.summary.conversations_ok += 1
            state.summary.conversation_items_new += len(items)
    batch.add_unit(
        "conversations", fetched.unit_id, obj, fetched.fetched_at, owner=fetched.unit_id, count=count, error=error
    )
    return None


# -- a dry run ---------------------------------------------------------------------------------------------------


async def _plan_only(
    settings: Settings,
    sources: ResponseSources,
    options: ExportOptions,
    response_ids: list[str],
    conversation_ids: list[str],
) -> ResponsesExportSummary:
    """What an export would fetch now (listing requests only): responses not finished before, and each
    conversation from the item after its last stored one; the destination is only read, if it exists."""
    started = time.monotonic()
    summary = ResponsesExportSummary(dest=options.dest, shard=str(options.shard), dry_run=True)
    with ExitStack() as stack:
        try:
            stored: Destination | None = stack.enter_context(options.open(read_only=True))
        except DestinationError:
            stored = None  # nothing exported there yet
        records = stored.run_records() if stored is not None and not options.refresh else {}
        finished = {r.run_id for r in records.values() if r.finished}
        async with ApiClient(settings, on_response=options.on_response) as client:
            ids = list(response_ids)
            if sources.all_responses:
                ids += [str(obj.get("id")) async for obj in iter_listed(client, "/responses")]
            chain = " and the responses before it (--follow-previous)" if sources.follow_previous else ""
            for rid in dict.fromkeys(ids):
                if not options.shard.owns(rid):
                    continue
                if rid in finished:
                    summary.runs_skipped += 1
                else:
                    summary.planned.append(f"response {rid}{chain}")
            conversations = await _conversation_ids(client, sources, options, conversation_ids)
            cursors = stored.conversation_cursors(conversations) if stored is not None and conversations else {}
            for cid in conversations:
                cursor = cursors.get(cid)
                if cursor is None or cursor.last_item_id is None:
                    summary.planned.append(f"conversation {cid} from its first item")
                else:
                    summary.planned.append(
                        f"conversation {cid} after stored item {cursor.last_item_id} (position {cursor.next_position})"
                    )
            summary.requests, summary.retries = client.stats.requests, client.stats.retries
    summary.elapsed_s = time.monotonic() - started
    return summary


# -- the shared loop ---------------------------------------------------------------------------------------------


async def _fetch_and_write(
    client: ApiClient,
    state: _Run,
    refs: AsyncIterable[Any] | Iterable[Any],
    fetch: Callable[[ApiClient, Any], Awaitable[Fetched]],
    add: Callable[[_Run, Batch, Fetched], str | None],
) -> list[str]:
    """Fetch every ref, add each to a batch, write a batch every ``_BATCH_UNITS``; returns what ``add`` returned."""
    found: list[str] = []
    batch = Batch()
    async with aclosing(iter_fetched(client, refs, fetch)) as stream:
        async for fetched in stream:
            state.observer.unit_done(fetched.ok, _item_count(fetched.obj))
            followed = add(state, batch, fetched)
            if followed is not None:
                found.append(followed)
            if batch.runs_settled >= _BATCH_UNITS:
                await _write(state, batch)
                batch = Batch()
    if batch:
        await _write(state, batch)
    return found


async def _write(state: _Run, batch: Batch) -> None:
    """Transform and land one batch in a worker thread; then count it."""
    written = await asyncio.to_thread(write_batch, state.dest, batch, before=state.options.before_write)
    state.summary.count(written)
    state.observer.batch_written(state.summary)


def _item_count(obj: Json | None) -> int:
    """The items a fetched response (input and output) or conversation (new items) brought."""
    if obj is None:
        return 0
    return sum(len(obj.get(key) or ()) for key in ("input_items", "output", "items"))
