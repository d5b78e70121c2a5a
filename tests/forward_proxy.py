"""A small real forward proxy on loopback (HTTP absolute-form requests and CONNECT tunnels), counting the
targets it was asked for; plain asyncio in a background thread."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from loopback import pipe, serve_streams


@dataclass
class Proxy:
    """The running proxy: its URL and the ``host:port`` of every connection it opened for a client."""

    url: str
    targets: list[str] = field(default_factory=list)


@contextmanager
def serve_proxy() -> Iterator[Proxy]:
    """A forward proxy on 127.0.0.1 (a free port) until the block ends."""
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
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    with serve_streams(handle) as port:
        proxy.url = f"http://127.0.0.1:{port}"
        yield proxy
