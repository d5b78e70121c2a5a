"""Lanes: keep-alive connections reused, no more in flight than lanes, a lane freed however its response ends."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from etl.extract.lanes import LaneTransport

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingServer:
    """A minimal keep-alive HTTP/1.1 server on 127.0.0.1 that counts connections and requests in flight."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.connections = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                self.requests += 1
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                await asyncio.sleep(self.delay)
                self.in_flight -= 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_lanes_bound_and_reuse_connections() -> None:
    server = CountingServer(delay=0.01)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener, httpx.AsyncClient(transport=LaneTransport(4), base_url=f"http://127.0.0.1:{port}") as client:

        async def get(n: int) -> bytes:
            return (await client.get(f"/r/{n}")).content

        bodies = await asyncio.gather(*(get(n) for n in range(40)))
        assert server.connections == 4 and server.most_in_flight == 4
        # A response closed unread gives its lane back too (its connection is dropped, not reused).
        for _ in range(8):
            async with client.stream("GET", "/abandoned"):
                pass
        assert (await client.get("/after")).content == b"{}"
    assert bodies == [b"{}"] * 40
    assert server.requests == 49
    assert server.most_in_flight == 4


async def test_a_failed_request_frees_its_lane() -> None:
    transport = LaneTransport(1)
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):  # with one lane, a lane kept by a failure would hang the second attempt
            with pytest.raises(httpx.ConnectError):
                await asyncio.wait_for(client.get("http://127.0.0.1:1/"), timeout=5)


def test_at_least_one_lane() -> None:
    with pytest.raises(ValueError, match="at least one lane"):
        LaneTransport(0)
