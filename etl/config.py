"""Settings: one frozen dataclass, and the only place that reads ``os.environ``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment  # type: ignore[attr-defined]

from etl import __version__
from etl.errors import InputError
from etl.providers import RESPONSES_PROVIDERS, Provider, for_responses, get_provider, infer_provider

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
FILE_SEARCH_CONTENT_INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
USER_AGENT = f"run-steps-etl/{__version__}"


# Every secret value this process has held, so the last-resort error message can mask them (``redact``).
_HELD: set[str] = set()
_MIN_MASKED = 4  # shorter values would mask ordinary words


class Secret:
    """A string that never shows itself in repr, str or logs; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        if len(value) >= _MIN_MASKED:
            _HELD.add(value)

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        # Pickling would write the key into files (Airflow XCom, multiprocessing): refuse.
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class Settings:
    """How to reach the API and how hard to push it."""

    api_key: Secret = field(default_factory=lambda: Secret(""))
    base_url: str = DEFAULT_BASE_URL
    organization: str | None = None
    project: str | None = None
    azure_api_version: str | None = None
    provider: str | None = None  # openai, azure or foundry (etl.providers); None: inferred from the base URL
    api_version: str | None = None  # the provider's api-version query value (foundry default v1)
    api: str = "assistants"  # the API family: assistants (runs, run steps) or responses (responses, conversations)
    entra: bool = False  # sign in with Entra ID tokens where the provider also accepts them (azure)
    # An azure-identity TokenCredential for providers that authenticate with Entra ID (built from the
    # environment by etl.extract.auth when None); never shown, compared or copied into output.
    credential: Any = field(default=None, repr=False, compare=False)
    concurrency: int = 16
    page_size: int = 100
    max_retries: int = 5
    timeout: float = 60.0
    connect_timeout: float = 5.0
    include_file_search_content: bool = False
    allow_insecure_http: bool = False
    max_body_bytes: int = 64 * 1024 * 1024
    user_agent: str = USER_AGENT

    @property
    def provider_spec(self) -> Provider:
        """The provider described in ``etl.providers``: the one named, else the one the base URL implies (signing in
        with Entra ID when ``entra`` asks for it)."""
        spec = self._named_provider()
        return spec.with_entra() if self.entra else spec

    def _named_provider(self) -> Provider:
        if self.api == "responses":
            if self.provider:
                return for_responses(get_provider(self.provider))
            return for_responses(infer_provider(self.base_url, family=RESPONSES_PROVIDERS))
        if self.provider:
            return get_provider(self.provider)
        return infer_provider(self.base_url, azure_api_version=self.azure_api_version)

    @property
    def api_version_value(self) -> str | None:
        """The api-version every request carries (``InputError`` when the provider needs one and has none)."""
        return self.provider_spec.api_version(self.api_version or self.azure_api_version)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        api_key_env: str | None = DEFAULT_API_KEY_ENV,
        **overrides: Any,
    ) -> Settings:
        """Settings from the environment (key, base URL, organization, project), then ``overrides``.

        An override of ``None`` means "not given" and leaves the environment's value in place.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "api_key": Secret(env.get(api_key_env, "") if api_key_env else ""),
            "base_url": env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
            "organization": env.get("OPENAI_ORG_ID") or None,
            "project": env.get("OPENAI_PROJECT_ID") or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values["api_key"], str):
            values["api_key"] = Secret(values["api_key"])
        return cls(**values)


# How servers show a key or token they refuse: its first and last characters around asterisks (OpenAI
# "sk-ab***yz", an Entra ID token "eyJhb***ig"). A fragment of a secret is still one: the whole word is masked.
# Anchored at a word's start: unanchored, a long run of word characters was rescanned from each of its positions.
_SHOWN_FRAGMENT = re.compile(r"(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]*\*{3,}[A-Za-z0-9_\-]*")  # not a sentence's "."
_SHOWN_FRAGMENT_BYTES = re.compile(_SHOWN_FRAGMENT.pattern.encode())


def mask_fragments(text: str) -> str:
    """``text`` with every word shaped like a masked secret (``sk-ab***yz``) replaced by ``***``."""
    return _SHOWN_FRAGMENT.sub("***", text) if "***" in text else text


def mask_fragments_in(body: bytes) -> bytes:
    """``mask_fragments`` for a response body (UTF-8 JSON: the fragments are ASCII, the rest stays as it was)."""
    return _SHOWN_FRAGMENT_BYTES.sub(b"***", body) if b"***" in body else body


def redact(text: str) -> str:
    """``text`` with every secret this process holds (and any line of one) replaced by ``***``."""
    for value in sorted(_HELD, key=len, reverse=True):
        text = text.replace(value, "***")
        # A key with a line break would otherwise leak the part after it in a one-line message.
        for part in value.splitlines():
            if len(part) >= _MIN_MASKED:
                text = text.replace(part, "***")
    return text


def check_secret(value: str, what: str) -> None:
    """Refuse a key or token no HTTP header can carry as is (``InputError``), naming ``what`` but no character of it.

    Keys and tokens are printable ASCII without spaces; a line break or a quote pasted along, or a non-ASCII
    character, would otherwise fail every request (or be retried) with the value in the error text.
    """
    problem = None
    if value != value.strip():
        problem = "starts or ends with whitespace or a line break"
    elif any(ch in "\r\n" for ch in value):
        problem = "contains a line break"
    elif not value.isascii():
        problem = "contains a non-ASCII character"
    elif not value.isprintable() or " " in value:
        problem = "contains a space or a control character"
    elif len(value) > 8192:
        problem = "is longer than 8192 characters"
    if problem is not None:
        raise InputError(f"{what} {problem}: set it to the key or token alone (no quotes, spaces or line breaks)")


def proxy_for(url: str) -> str | None:
    """The forward proxy for ``url`` from ``HTTPS_PROXY``/``HTTP_PROXY`` (either case), unless ``NO_PROXY`` covers
    its host; None for a direct connection. API requests and object-store requests alike use it."""
    parts = urlsplit(url)
    proxies = getproxies_environment()
    proxy = proxies.get(parts.scheme)
    if not proxy or not parts.hostname or proxy_bypass_environment(parts.hostname, proxies):
        return None
    return proxy


def env_value(name: str, default: str | None = None) -> str | None:
    """One environment variable, for the few settings that are not API settings (AWS endpoint, ...)."""
    return os.environ.get(name, default)


def set_env_value(name: str, value: str) -> None:
    """Set one environment variable for libraries that read only the environment (SSL_CERT_FILE for httpx and S3)."""
    os.environ[name] = value
