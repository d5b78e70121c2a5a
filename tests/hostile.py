"""A small hostile HTTP server on loopback: it answers each GET with whatever a test's ``Reply`` says, including
bodies that drip one byte at a time or never end. Plain asyncio streams in a background thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from loopback import serve_streams


@dataclass(frozen=True)
class Reply:
    """One answer: status, headers, body; ``drip_s`` sends the body a byte at a time; ``endless`` never ends it."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    drip_s: float | None = None
    endless: bool = False
    length: int | None = None  # Content-Length to announce (default: the body's)


Handler = Callable[[str], Reply]  # path (with query) -> reply


@dataclass
class Hostile:
    """The running server: its base URL and the paths it was asked for."""

    base_url: str
    paths: list[str]


@contextmanager
def serve_hostile(handler: Handler) -> Iterator[Hostile]:
    """Serve ``handler`` on 127.0.0.1 (a free port) until the block ends."""
    paths: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1].decode()
            path = urlsplit(target).path + ("?" + urlsplit(target).query if urlsplit(target).query else "")
            paths.append(path)
            reply = handler(path)
            headers = dict(reply.headers)
            if reply.endless:
                headers["transfer-encoding"] = "chunked"
            else:
                headers["content-length"] = str(reply.length if reply.length is not None else len(reply.body))
            headers["connection"] = "close"
            lines = [f"HTTP/1.1 {reply.status} X", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
            writer.write("\r\n".join(lines).encode())
            await writer.drain()
            if reply.endless:
                chunk = b"x" * 65536
                while True:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
            elif reply.drip_s is not None:
                for byte in reply.body:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(reply.drip_s)
            else:
                writer.write(reply.body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    with serve_streams(answer) as port:
        yield Hostile(f"http://127.0.0.1:{port}/v1", paths)
