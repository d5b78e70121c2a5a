"""A connection pool of lanes: one keep-alive connection each, lent to one request at a time.

Why not httpx's own pool: httpcore 1.0's pool hands every request queued in the same pass the same idle
connection; all but one then fail with ``ConnectionNotAvailable`` and queue again. An API answering at a
steady latency returns responses in bursts, so the next requests arrive together and this goes quadratic,
capping the export far below what the latency allows (figures: README, Benchmarks, "Measurements behind the
design"). Here a request takes a free lane from a stack (the most recently used first, so warm connections
stay warm) and gives it back when its response is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx


class LaneTransport(httpx.AsyncBaseTransport):
    """``lanes`` single-connection transports; each request holds one lane until its response is closed."""

    def __init__(self, lanes: int, *, proxy: str | None = None) -> None:
        if lanes < 1:
            raise ValueError("at least one lane is needed")
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # One TLS context for all lanes: loading the CA bundle costs tens of milliseconds each time. It honours
        # SSL_CERT_FILE / SSL_CERT_DIR (--ca-bundle sets the first), else certifi's bundle.
        tls = httpx.create_ssl_context()
        self._lanes = [httpx.AsyncHTTPTransport(verify=tls, limits=one, proxy=proxy) for _ in range(lanes)]
        self._free: asyncio.LifoQueue[httpx.AsyncHTTPTransport] = asyncio.LifoQueue()
        for lane in reversed(self._lanes):
            self._free.put_nowait(lane)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on a free lane (waiting for one if all are busy)."""
        lane = await self._free.get()
        total = request.extensions.get("total_timeout")
        deadline = None if total is None else asyncio.get_running_loop().time() + float(total)
        try:
            async with asyncio.timeout_at(deadline):
                response = await lane.handle_async_request(request)
        except TimeoutError:
            self._free.put_nowait(lane)
            raise _timed_out(request, total) from None
        except BaseException:
            self._free.put_nowait(lane)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_LaneStream(response.stream, lambda: self._free.put_nowait(lane), request, deadline, total),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every lane's connection."""
        for lane in self._lanes:
            await lane.aclose()


def _timed_out(request: httpx.Request, total: object) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(f"no complete response within {total} s", request=request)


class _LaneStream(httpx.AsyncByteStream):
    """A response body that gives its lane back, once, when it is closed, and ends at the request's deadline."""

    def __init__(
        self,
        stream: httpx.AsyncByteStream,
        release: Callable[[], None],
        request: httpx.Request,
        deadline: float | None,
        total: object,
    ) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release
        self._request = request
        self._deadline = deadline
        self._total = total

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._stream.__aiter__()
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _timed_out(self._request, self._total) from None
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()
