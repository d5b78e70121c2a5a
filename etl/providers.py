"""What differs between the hosts of the Assistants protocol, in one place: extract and transform consult it.

    openai   https://api.openai.com/v1                      Bearer key, OpenAI-Beta header, no thread listing
    azure    https://<resource>.openai.azure.com/openai      api-key header (or Entra ID, cognitiveservices scope),
                                                            api-version query (Azure OpenAI)
    foundry  https://<r>.services.ai.azure.com/api/projects/<p>   Entra ID bearer token, api-version query,
                                                            GET /threads and /assistants, more tool call types

A ``Provider`` is plain data: how a request is authenticated (``Auth``), which query parameters and headers every
request carries, what a list page looks like, which step and tool call types the host defines, whether threads
can be listed, and which response headers say how long to wait. Nothing else in the code asks "which provider
is this?": it reads the field it needs. A new provider (or a new API family on one, such as Responses) is one more
``Provider`` value, or a ``dataclasses.replace`` of one, in ``PROVIDERS``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from etl.errors import InputError


class AuthKind(StrEnum):
    """Where the secret of a request comes from."""

    KEY = "key"  # an API key from an environment variable, sent as is
    ENTRA = "entra"  # a Microsoft Entra ID access token for ``token_scope``, refreshed before it expires


@dataclass(frozen=True)
class Auth:
    """How a request proves who sends it: the header, its value's prefix, and where the secret comes from."""

    kind: AuthKind
    header: str = "Authorization"
    prefix: str = "Bearer "
    token_scope: str | None = None  # ENTRA: the scope a token is asked for

    def header_value(self, secret: str) -> str:
        """The header's value for ``secret`` (the only place a secret is put into a request)."""
        return f"{self.prefix}{secret}"


@dataclass(frozen=True)
class Provider:
    """One host of the protocol, described as data (see the module docstring)."""

    name: str
    doc: str
    auth: Auth
    default_base_url: str | None = None
    # Query parameter every request carries (value: --api-version, else ``default_api_version``).
    api_version_param: str | None = None
    default_api_version: str | None = None
    api_version_required: bool = False  # no default: the user must give one
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    sends_openai_account_headers: bool = False  # OpenAI-Organization / OpenAI-Project
    can_list_threads: bool = False  # GET /threads exists
    # Response headers that say how long to wait before a retry, most precise first, with their unit in seconds.
    retry_after_headers: tuple[tuple[str, float], ...] = (("retry-after-ms", 0.001), ("retry-after", 1.0))
    # List pages: whether ``object``/``first_id`` are part of the documented envelope (informational: paging
    # reads only ``data``, ``has_more`` and the last item's id, which every provider sends).
    envelope_keys: frozenset[str] = frozenset({"object", "data", "first_id", "last_id", "has_more"})
    step_types: frozenset[str] = frozenset({"message_creation", "tool_calls"})
    tool_call_types: frozenset[str] = frozenset({"code_interpreter", "file_search", "function"})
    url_pattern: re.Pattern[str] | None = None  # a base URL of this shape implies this provider
    base_url_hint: str = "the API base URL"  # what --base-url must be, when there is no default
    # What a principal lacks when the host answers with error code ``permission_code`` (said in the exit-4 line).
    permission_code: str | None = None
    permission_hint: str = ""
    base_path: str = ""  # appended to --base-url (unless it ends with it already): where this API family lives
    can_list_responses: bool = False  # GET /responses and GET /conversations exist (Foundry's new agents)
    # How the host's 404 reads for a path it does not serve at all (not for an unknown id): OpenAI's
    # "Invalid URL (GET /v1/...)", Azure's "Resource not found". Tells a missing API from a missing object.
    missing_route: re.Pattern[str] = re.compile(r"Invalid URL \(")
    # The Microsoft Entra ID sign-in a key-authenticated host also accepts (--entra-id or --token-env choose it).
    entra_auth: Auth | None = None

    def api_version(self, given: str | None) -> str | None:
        """The api-version to send: ``given``, else the default; an ``InputError`` when one is needed."""
        if self.api_version_param is None:
            if given:
                raise InputError(f"--api-version does not apply to provider {self.name}: leave it out")
            return None
        version = given or self.default_api_version
        if not version and self.api_version_required:
            raise InputError(f"provider {self.name} needs an api version: pass --api-version")
        return version

    def with_entra(self) -> Provider:
        """This provider signing in with Entra ID tokens (its own way, or the one it also accepts)."""
        if self.auth.kind is AuthKind.ENTRA:
            return self
        if self.entra_auth is None:
            raise InputError(
                f"provider {self.name} takes no Microsoft Entra ID tokens: leave out --entra-id and --token-env"
            )
        return replace(self, auth=self.entra_auth)

    def fixed_params(self, api_version: str | None) -> tuple[tuple[str, str], ...]:
        """Query parameters every request carries."""
        if self.api_version_param is None or not api_version:
            return ()
        return ((self.api_version_param, api_version),)


OPENAI_TOOL_CALL_TYPES = frozenset({"code_interpreter", "file_search", "function"})
# Foundry's own types (azure-ai-agents models); the payload sits under the type's name, except mcp's (top level).
FOUNDRY_MAP_TOOL_TYPES = frozenset(
    {"bing_grounding", "bing_custom_search", "azure_ai_search", "openapi", "sharepoint_grounding", "fabric_dataagent"}
)
FOUNDRY_TOOL_CALL_TYPES = (
    OPENAI_TOOL_CALL_TYPES
    | FOUNDRY_MAP_TOOL_TYPES
    | {"azure_function", "connected_agent", "deep_research", "mcp", "browser_automation", "computer_use_preview"}
)

OPENAI = Provider(
    name="openai",
    doc="OpenAI's Assistants API (v2)",
    auth=Auth(AuthKind.KEY),
    default_base_url="https://api.openai.com/v1",
    headers=MappingProxyType({"OpenAI-Beta": "assistants=v2"}),
    sends_openai_account_headers=True,
)

AZURE = Provider(
    name="azure",
    doc="Azure OpenAI Assistants (an Azure OpenAI resource's /openai path, api-key header)",
    auth=Auth(AuthKind.KEY, header="api-key", prefix=""),
    # Azure OpenAI's resource scope (Foundry projects use https://ai.azure.com/.default instead).
    entra_auth=Auth(AuthKind.ENTRA, token_scope="https://cognitiveservices.azure.com/.default"),
    api_version_param="api-version",
    api_version_required=True,
    headers=MappingProxyType({"OpenAI-Beta": "assistants=v2"}),
)

FOUNDRY = Provider(
    name="foundry",
    doc="Azure AI Foundry Agent Service, classic agents (a project endpoint, Entra ID tokens)",
    auth=Auth(AuthKind.ENTRA, token_scope="https://ai.azure.com/.default"),
    api_version_param="api-version",
    default_api_version="v1",
    can_list_threads=True,
    retry_after_headers=(("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)),
    envelope_keys=frozenset({"data", "last_id", "has_more"}),
    step_types=frozenset({"message_creation", "tool_calls", "activities"}),
    tool_call_types=FOUNDRY_TOOL_CALL_TYPES,
    base_url_hint="the project endpoint, https://<resource>.services.ai.azure.com/api/projects/<project>",
    permission_code="PermissionDenied",
    permission_hint=(
        'the identity needs the "Azure AI User" role on the Foundry project '
        "(data action Microsoft.CognitiveServices/accounts/AIServices/agents/read)"
    ),
    url_pattern=re.compile(r"^https?://[^/]+\.services\.ai\.azure\.com/api/projects/[^/?#]+/?$", re.IGNORECASE),
)

PROVIDERS: Mapping[str, Provider] = MappingProxyType({p.name: p for p in (OPENAI, AZURE, FOUNDRY)})

# The same hosts' Responses and Conversations APIs (``--source responses``): no OpenAI-Beta header, and on Azure
# the v1 path (no api-version). Foundry's new agents live under the project endpoint's /openai/v1 and can list.
_RESPONSES_ALL = frozenset({"object", "data", "first_id", "last_id", "has_more"})
_AZURE_MISSING_ROUTE = re.compile(r"Invalid URL \(|Resource not found")
RESPONSES_PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        "openai": replace(OPENAI, doc="OpenAI's Responses and Conversations APIs", headers=MappingProxyType({})),
        "azure": replace(
            AZURE,
            doc="Azure OpenAI v1 Responses and Conversations (https://<resource>.openai.azure.com/openai/v1/, api-key "
            "or Entra ID)",
            headers=MappingProxyType({}),
            api_version_param=None,
            api_version_required=False,
            base_path="/v1",
            base_url_hint="https://<resource>.openai.azure.com/openai/v1/",
            missing_route=_AZURE_MISSING_ROUTE,
            url_pattern=re.compile(r"^https?://[^/]+\.openai\.azure\.com(/openai(/v1)?)?/?$", re.IGNORECASE),
        ),
        "foundry": replace(
            FOUNDRY,
            doc="Azure AI Foundry new agents: Responses and Conversations under the project endpoint's /openai/v1",
            api_version_param=None,
            default_api_version=None,
            base_path="/openai/v1",
            envelope_keys=_RESPONSES_ALL,
            can_list_threads=False,
            can_list_responses=True,
            missing_route=_AZURE_MISSING_ROUTE,
        ),
    }
)


def for_responses(provider: Provider) -> Provider:
    """The Responses and Conversations flavour of a provider (``--source responses``)."""
    return RESPONSES_PROVIDERS.get(provider.name, provider)


# What the transform types as known: whatever any provider defines. Anything else is schema drift.
KNOWN_STEP_TYPES = frozenset().union(*(p.step_types for p in PROVIDERS.values()))
KNOWN_TOOL_CALL_TYPES = frozenset().union(*(p.tool_call_types for p in PROVIDERS.values()))


def get_provider(name: str) -> Provider:
    """The provider called ``name``; an ``InputError`` listing the choices otherwise."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise InputError(f"unknown provider {name!r}: use one of {', '.join(PROVIDERS)}") from None


def infer_provider(
    base_url: str | None, *, azure_api_version: str | None = None, family: Mapping[str, Provider] = PROVIDERS
) -> Provider:
    """The provider a base URL implies (``--azure-api-version`` implies azure); openai when nothing does."""
    if azure_api_version:
        return AZURE
    for provider in family.values():
        if base_url and provider.url_pattern is not None and provider.url_pattern.match(base_url):
            return provider
    return OPENAI
