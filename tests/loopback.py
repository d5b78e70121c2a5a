"""One way to run a small asyncio stream server on a free loopback port in a background thread (tests only)."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextmanager
def serve_streams(handle: Handler, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve ``handle`` on 127.0.0.1 until the block ends; yields the port."""
    loop = asyncio.new_event_loop()
    holder: dict[str, asyncio.Server] = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield holder["server"].sockets[0].getsockname()[1]
    finally:

        async def stop() -> None:
            holder["server"].close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            # Let the handlers run their cleanup (closing their writers) while the loop still runs.
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop)
        thread.join(5)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until either side closes."""
    with suppress(Exception):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with suppress(Exception):
        writer.close()
