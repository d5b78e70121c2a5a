"""Bounded concurrent mapping over a stream: many items in flight, results out as they finish, memory bounded.

At most ``concurrency`` workers run at once and at most ``buffer`` finished results wait for the consumer;
a worker with a result holds its slot until the result is taken, so a slow consumer slows the source down
(backpressure) instead of letting results pile up. Items are pulled from the source only when a slot is
free: an unbounded iterable is never materialised. An exception escaping a worker (or the source) cancels
everything still in flight, drops unread results and is raised to the consumer on its next read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class _End:
    """The last message on the queue: the stream ended, with the exception that ended it, if any."""

    error: BaseException | None = None


@dataclass(frozen=True)
class _Item(Generic[R]):
    value: R


async def aiter_any(source: AsyncIterable[T] | Iterable[T]) -> AsyncGenerator[T, None]:
    """Iterate a sync or async iterable asynchronously; closing this closes an async source too."""
    if isinstance(source, AsyncIterable):
        iterator = aiter(source)
        try:
            async for item in iterator:
                yield item
        finally:
            # An abandoned async generator would otherwise be finalised later, outside any error handling.
            if isinstance(iterator, AsyncGenerator):
                await iterator.aclose()
    else:
        for item in source:
            yield item


async def stream_map(
    source: AsyncIterable[T] | Iterable[T],
    worker: Callable[[T], Awaitable[R]],
    *,
    concurrency: int,
    buffer: int | None = None,
) -> AsyncGenerator[R, None]:
    """Yield ``await worker(item)`` for every item of ``source``, in completion order, bounded as described above."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    queue: asyncio.Queue[_Item[R] | _End] = asyncio.Queue(maxsize=buffer or concurrency)
    slots = asyncio.Semaphore(concurrency)

    async def run_one(item: T) -> None:
        try:
            await queue.put(_Item(await worker(item)))
        finally:
            slots.release()

    async def feed() -> None:
        try:
            async with asyncio.TaskGroup() as group, aclosing(aiter_any(source)) as items:
                async for item in items:
                    await slots.acquire()
                    group.create_task(run_one(item))
        except BaseException as exc:  # handed to the consumer, who re-raises it
            # Results still queued belong to an export that is stopping: drop them so the error is read next.
            while not queue.empty():
                queue.get_nowait()
            await queue.put(_End(_first_error(exc)))
            return
        await queue.put(_End())

    feeder = asyncio.create_task(feed())
    try:
        while True:
            message = await queue.get()
            if isinstance(message, _End):
                if message.error is not None:
                    raise message.error
                return
            yield message.value
    finally:
        feeder.cancel()
        # The feeder may end by putting its _End message; either way wait for it to finish tidying up.
        await asyncio.gather(feeder, return_exceptions=True)


def _first_error(exc: BaseException) -> BaseException:
    """The first real exception inside (possibly nested) exception groups from the task group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
