"""Entra ID tokens: refreshed ahead of expiry, renewed once after a refusal, never shown."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import httpx
import pytest

from etl.config import Settings
from etl.errors import AuthError
from etl.extract.auth import TokenSource
from etl.extract.client import ApiClient

PROJECT = "https://res.services.ai.azure.com/api/projects/p1"


class Token(NamedTuple):
    token: str
    expires_on: int


class Clocked:
    """A credential whose tokens live ``lifetime`` seconds of a clock the test moves."""

    def __init__(self, lifetime: int) -> None:
        self.now = 1_000.0
        self.lifetime = lifetime
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.scopes.append(scopes[0])
        return Token(f"tok-{len(self.scopes)}", int(self.now) + self.lifetime)


def test_a_token_is_reused_then_refreshed_a_quarter_of_its_life_before_expiry() -> None:
    credential = Clocked(lifetime=20)
    source = TokenSource(credential, "https://ai.azure.com/.default", clock=lambda: credential.now)

    async def at(offset: float) -> str:
        credential.now = 1_000.0 + offset
        return (await source.token()).reveal()

    async def walk() -> list[str]:
        return [await at(t) for t in (0, 10, 14.9, 15.0, 20, 29.9, 30.1)]

    assert asyncio.run(walk()) == ["tok-1", "tok-1", "tok-1", "tok-2", "tok-2", "tok-2", "tok-3"]
    assert credential.scopes == ["https://ai.azure.com/.default"] * 3
    # An hour-long token is refreshed five minutes ahead (azure-core's margin), not at three quarters.
    hourly = Clocked(lifetime=3600)
    long_lived = TokenSource(hourly, "s", clock=lambda: hourly.now)
    hourly.now = 1_000.0
    asyncio.run(long_lived.token())
    hourly.now = 1_000.0 + 3600 - 301
    assert asyncio.run(long_lived.token()).reveal() == "tok-1"
    hourly.now = 1_000.0 + 3600 - 299
    assert asyncio.run(long_lived.token()).reveal() == "tok-2"


def test_a_refused_token_is_renewed_once_and_a_second_refusal_stops() -> None:
    credential = Clocked(lifetime=3600)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer tok-1":
            return httpx.Response(401, json={"error": {"code": "Unauthorized", "message": "Access token has expired."}})
        return httpx.Response(200, json={"data": [], "has_more": False})

    settings = Settings(base_url=PROJECT, provider="foundry", credential=credential)

    async def go() -> Any:
        async with ApiClient(settings, transport=httpx.MockTransport(handler)) as client:
            return await client.get_json("/threads")

    assert asyncio.run(go()) == {"data": [], "has_more": False}
    assert seen == ["Bearer tok-1", "Bearer tok-2"]

    def always_refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": "Unauthorized", "message": "bad token"}})

    async def refused() -> None:
        async with ApiClient(settings, transport=httpx.MockTransport(always_refuse)) as client:
            await client.get_json("/threads")

    with pytest.raises(AuthError, match="HTTP 401 Unauthorized: bad token") as caught:
        asyncio.run(refused())
    assert "tok-" not in str(caught.value)


def test_a_credential_that_cannot_sign_in_is_an_auth_error_without_its_traceback() -> None:
    class NoSignIn:
        def get_token(self, *scopes: str, **kwargs: Any) -> Token:
            raise RuntimeError("DefaultAzureCredential failed to retrieve a token from the included credentials.\nmore")

    settings = Settings(base_url=PROJECT, provider="foundry", credential=NoSignIn())

    async def go() -> None:
        async with ApiClient(settings, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
            await client.get_json("/threads")

    with pytest.raises(AuthError, match=r"could not get a Microsoft Entra ID token .* failed to retrieve a token"):
        asyncio.run(go())
    assert repr(settings).count("NoSignIn") == 0  # the credential is not in the settings' repr
