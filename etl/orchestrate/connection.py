"""API settings from an Airflow Connection laid out like the OpenAI provider's (``openai_default``), or an Azure one.

OpenAI (and Azure OpenAI): password = the API key, host = the base URL; extras ``organization``, ``project``,
``azure_api_version``. The provider's own extras are read too: ``openai_client_kwargs`` (the kwargs of
``openai.OpenAI`` / ``openai.AzureOpenAI``: ``organization``, ``project``, ``base_url``, ``api_version``,
``api_key``). The key goes straight into a ``Secret``: it is never logged, returned or put into XCom.

Foundry (the extra ``provider: foundry``, a connection of type ``azure``, or a project endpoint as host): host =
the project endpoint; a service principal as the Azure provider keeps it (login = client id, password = client
secret, extra ``tenantId`` or ``tenant_id``; or all three in the extras ``tenant_id``, ``client_id``,
``client_secret``), or a managed identity (extra ``managed_identity_client_id``), or with neither the worker's
own identity (``DefaultAzureCredential``); extra ``api_version`` (default v1). No secret reaches the settings'
repr, a log line or XCom: it goes straight into the azure-identity credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from etl.config import DEFAULT_BASE_URL, Secret, Settings
from etl.errors import InputError
from etl.providers import FOUNDRY, AuthKind, Provider, get_provider, infer_provider


class ConnectionLike(Protocol):
    """The fields of an Airflow Connection this module reads."""

    @property
    def conn_id(self) -> str | None: ...

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def settings_from_connection(conn: ConnectionLike, **overrides: Any) -> Settings:
    """Settings from a connection's key, host and extras, then ``overrides`` (``None`` values ignored)."""
    extra = conn.extra_dejson or {}
    provider = _provider(conn, extra)
    if provider.auth.kind is AuthKind.ENTRA:
        return _entra_settings(conn, extra, provider, overrides)
    client_kwargs = extra.get("openai_client_kwargs")
    kwargs: Mapping[str, Any] = client_kwargs if isinstance(client_kwargs, Mapping) else {}
    key = conn.password or _text(kwargs.get("api_key"))
    if not key:
        raise InputError(f"connection {conn.conn_id!r} has no API key: put it in the connection's password")
    values: dict[str, Any] = {
        "api_key": Secret(key),
        "base_url": _base_url(conn) or _text(kwargs.get("base_url")) or DEFAULT_BASE_URL,
        "organization": _text(extra.get("organization")) or _text(kwargs.get("organization")),
        "project": _text(extra.get("project")) or _text(kwargs.get("project")),
        "azure_api_version": _text(extra.get("azure_api_version")) or _text(kwargs.get("api_version")),
    }
    values.update({name: value for name, value in overrides.items() if value is not None})
    return Settings(**values)


def _provider(conn: ConnectionLike, extra: Mapping[str, Any]) -> Provider:
    """The provider a connection names (extra ``provider``), its type implies (``azure``), or its host implies."""
    named = _text(extra.get("provider"))
    if named:
        return get_provider(named)
    if getattr(conn, "conn_type", None) == "azure":
        return FOUNDRY
    return infer_provider(_base_url(conn), azure_api_version=_text(extra.get("azure_api_version")))


def _entra_settings(
    conn: ConnectionLike, extra: Mapping[str, Any], provider: Provider, overrides: Mapping[str, Any]
) -> Settings:
    """Settings for a provider that takes Entra ID tokens: the project endpoint and a credential, no key."""
    from etl.extract.auth import entra_credential

    base_url = _base_url(conn)
    if not base_url:
        raise InputError(f"connection {conn.conn_id!r} has no host: set it to the project endpoint")
    credential = entra_credential(
        tenant_id=_text(extra.get("tenantId")) or _text(extra.get("tenant_id")),
        client_id=_text(getattr(conn, "login", None)) or _text(extra.get("client_id")),
        client_secret=conn.password or _text(extra.get("client_secret")),
        managed_identity_client_id=_text(extra.get("managed_identity_client_id")),
    )
    values: dict[str, Any] = {
        "provider": provider.name,
        "base_url": base_url,
        "api_version": _text(extra.get("api_version")),
        "credential": credential,
    }
    values.update({name: value for name, value in overrides.items() if value is not None})
    return Settings(**values)


def connection_settings(conn_id: str, **overrides: Any) -> Settings:
    """Settings from the Airflow Connection ``conn_id`` (inside a running task), then ``overrides``."""
    from airflow.sdk import BaseHook  # only Airflow workers import Airflow

    return settings_from_connection(BaseHook.get_connection(conn_id), **overrides)


def _base_url(conn: ConnectionLike) -> str | None:
    """The host as a base URL: kept whole when it has a scheme (the provider's layout), else https."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        return None
    if "://" in host:
        return host
    name, slash, path = host.partition("/")
    netloc = f"{name}:{conn.port}" if conn.port else name
    return f"https://{netloc}{slash}{path}"


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
