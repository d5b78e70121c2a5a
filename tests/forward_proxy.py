"""A small real forward proxy on loopback (HTTP absolute-form requests and CONNECT tunnels), counting the
targets it was asked for; plain asyncio in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Proxy:
    """The running proxy: its URL and the ``host:port`` of every connection it opened for a client."""

    url: str
    targets: list[str] = field(default_factory=list)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with suppress(Exception):
        writer.close()


@contextmanager
def serve_proxy() -> Iterator[Proxy]:
    """A forward proxy on 127.0.0.1 (a free port) until the block ends."""
    loop = asyncio.new_event_loop()
    holder: dict[str, asyncio.Server] = {}
    started = threading.Event()
    proxy = Proxy("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        method, target, rest = head.split(b" ", 2)
        if method == b"CONNECT":
            host, _, port = target.decode().rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            proxy.targets.append(target.decode())
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            parts = urlsplit(target.decode())
            up_reader, up_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            proxy.targets.append(f"{parts.hostname}:{parts.port or 80}")
            origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            up_writer.write(b" ".join([method, origin.encode(), rest]))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(5)
    proxy.url = f"http://127.0.0.1:{holder['server'].sockets[0].getsockname()[1]}"
    try:
        yield proxy
    finally:

        def stop() -> None:
            holder["server"].close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.stop()

        loop.call_soon_threadsafe(stop)
        thread.join(5)
