"""Entra ID access tokens for providers that authenticate with them (``etl.providers.AuthKind.ENTRA``).

``credential_for(settings)`` builds azure-identity's ``DefaultAzureCredential`` (service principal variables,
workload identity, managed identity, Azure CLI) unless a token was given as is (``--token-env``: it is then the
settings' secret and never refreshed) or a credential was injected. It runs before anything is opened, so a
missing ``[azure]`` extra is an ``InputError`` (exit 2) that says how to install it.

``TokenSource`` hands the client the current token and asks the credential for a new one before the old one
expires: a quarter of its lifetime ahead, at most five minutes, so an export of hours never sends a stale token,
and tokens that live seconds (the fake's) are refreshed too. A token is a secret like a key: it is kept only in a
``Secret`` and never logged or put into an error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from etl.config import Secret, Settings, check_secret, env_value
from etl.errors import AuthError, InputError, certificate_refusal
from etl.providers import AuthKind

REFRESH_MARGIN_MAX = 300.0  # seconds: azure-core's own refresh margin for long-lived tokens
INSTALL_HINT = "pip install 'run-steps-etl[azure]'"


def needs_credential(settings: Settings) -> bool:
    """True when requests need Entra ID tokens that no given secret or injected credential supplies."""
    return settings.provider_spec.auth.kind is AuthKind.ENTRA and not settings.api_key and settings.credential is None


def with_credential(settings: Settings) -> Settings:
    """``settings`` with the default Entra ID credential when it needs one (``InputError`` if it cannot be built)."""
    if not needs_credential(settings):
        return settings
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise InputError(
            f"provider {settings.provider_spec.name} authenticates with Microsoft Entra ID through azure-identity, "
            f"which is not installed: {INSTALL_HINT} (or pass --token-env NAME with an access token)"
        ) from None
    # Interactive sign-in would wait for a person: an export runs unattended.
    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True, **_tls_options())
    return dataclasses.replace(settings, credential=credential)


def entra_credential(
    *,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    managed_identity_client_id: str | None = None,
) -> Any:
    """A service principal's credential when tenant, client id and secret are all given; a user-assigned managed
    identity's when its client id is; else ``DefaultAzureCredential`` (an Airflow worker's own identity)."""
    try:
        from azure import identity
    except ImportError:
        raise InputError(f"Entra ID authentication needs azure-identity: {INSTALL_HINT}") from None
    tls = _tls_options()
    if tenant_id and client_id and client_secret:
        return identity.ClientSecretCredential(tenant_id, client_id, client_secret, **tls)
    if managed_identity_client_id:
        return identity.ManagedIdentityCredential(client_id=managed_identity_client_id, **tls)
    return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True, **tls)


def _tls_options() -> dict[str, Any]:
    """The CA bundle (``--ca-bundle``, ``$SSL_CERT_FILE``) for azure-identity's token requests too.

    Its HTTP client (requests, through azure-core) reads neither variable, so behind a TLS-inspecting proxy the token
    requests failed where the API's succeeded. (The Azure CLI, when it is the credential, reads REQUESTS_CA_BUNDLE.)
    """
    bundle = env_value("SSL_CERT_FILE") or env_value("SSL_CERT_DIR")
    return {"connection_verify": bundle} if bundle else {}


class TokenSource:
    """The current access token of one credential and scope, refreshed ahead of its expiry."""

    def __init__(self, credential: Any, scope: str, *, clock: Callable[[], float] = time.time) -> None:
        self._credential = credential
        self._scope = scope
        self._clock = clock
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._lock: asyncio.Lock | None = None
        self._refused: Secret | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"TokenSource(scope={self._scope!r})"

    async def token(self) -> Secret:
        """A token that is not about to expire (one credential call at a time, shared by every request)."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                await self._refresh()
        assert self._token is not None
        return self._token

    def invalidate(self, token: Secret) -> None:
        """Forget ``token`` (the server refused it as expired): the next request asks for a new one."""
        if self._token == token:
            self._refresh_at = 0.0
            self._refused = token

    async def _refresh(self) -> None:
        access = await self._get()
        if self._refused is not None and access.token == self._refused.reveal():
            # azure-identity hands out its cached token until the token's own expiry: wait that out (briefly).
            await asyncio.sleep(min(max(float(access.expires_on) - self._clock(), 0.0) + 1.0, 5.0))
            access = await self._get()
        self._refused = None
        try:
            check_secret(str(access.token), "the Microsoft Entra ID token the credential returned")
        except InputError as exc:  # a credential's fault, not the user's input: refused like a bad token (exit 4)
            raise AuthError(str(exc)) from None
        now = self._clock()
        expires_on = float(access.expires_on)
        lifetime = max(expires_on - now, 0.0)
        self._token = Secret(access.token)
        self._refresh_at = expires_on - min(REFRESH_MARGIN_MAX, lifetime / 4)
        self.refreshes += 1

    async def _get(self) -> Any:
        try:
            # azure-identity's credentials are blocking (they may call a token endpoint): not on the event loop.
            return await asyncio.to_thread(self._credential.get_token, self._scope)
        except Exception as exc:
            refused = certificate_refusal(exc)
            if refused is not None:  # a TLS-inspecting proxy between the worker and Entra ID, most likely
                raise AuthError(
                    f"could not get a Microsoft Entra ID token for {self._scope}: a token endpoint's TLS certificate"
                    f" was refused {refused}"
                ) from None
            # The credential's own message says which sources it tried; it carries no token.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AuthError(
                f"could not get a Microsoft Entra ID token for {self._scope}: {first} "
                "(sign in with `az login`, set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, "
                "use a managed identity, or pass --token-env NAME)"
            ) from None
