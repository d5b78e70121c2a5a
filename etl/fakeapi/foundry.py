"""The fake's Foundry flavor: project-endpoint data, Entra ID-style tokens that expire, and the test token helper.

Data: the OpenAI-shaped objects of ``generate`` are turned into what the Foundry Agent Service (classic agents)
sends (``azure-ai-agents`` models): function calls without ``output``, some tool calls replaced by Foundry's own
types (every one of them), some message steps by preview ``activities`` steps, some steps without ``usage``,
runs whose ``model`` is a deployment name; threads and assistants (agents) as objects, one assistant deleted.
Each change is drawn from a stream seeded by the object's id, so the data stays the same across requests.

Tokens: ``TokenIssuer`` signs ``{audience, principal, expiry}``; the API accepts a token for the Foundry
audience that has not expired, and answers a principal without the agents data action with Foundry's 401
``PermissionDenied``. Tests get tokens from ``/_fake/identity/token``, an App Service managed-identity endpoint
that azure-identity's ``DefaultAzureCredential`` uses when ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` point at it,
or from ``FakeCredential`` (a ``TokenCredential`` over the same endpoint).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
import orjson

from etl.fakeapi.plan import FastRandom, make_id

Json = dict[str, Any]

AUDIENCE = "https://ai.azure.com"
AZURE_OPENAI_AUDIENCE = "https://cognitiveservices.azure.com"  # Azure OpenAI resources' tokens
TOKEN_PREFIX = "fk1."
NO_ROLE_PRINCIPAL = "no-role"  # a principal without the "Azure AI User" role: every request is PermissionDenied
IDENTITY_PATH = "/_fake/identity/token"
PROJECT = "fake-project"
DATA_ACTION = "Microsoft.CognitiveServices/accounts/AIServices/agents/read"

MAP_TOOL_TYPES = (
    "bing_grounding", "bing_custom_search", "azure_ai_search", "openapi", "sharepoint_grounding", "fabric_dataagent",
)  # fmt: skip
TOOL_TYPES = (
    *MAP_TOOL_TYPES,
    "azure_function", "connected_agent", "deep_research", "mcp", "browser_automation", "computer_use_preview",
)  # fmt: skip
_FOUNDRY_CALL_SHARE = 0.4  # tool calls replaced by a Foundry tool type
_ACTIVITIES_SHARE = 0.1  # message steps served as activities steps instead
_NO_USAGE_SHARE = 0.25  # steps sent without a usage key at all
_DEPLOYMENTS = {"gpt-4o": "gpt-4o-prod", "gpt-4o-mini": "mini-eu", "gpt-4.1": "gpt41-agents", "o3-mini": "o3-mini-dz"}


# -- tokens ------------------------------------------------------------------------------------------


class AccessToken(NamedTuple):
    """What ``TokenCredential.get_token`` returns (azure-core's ``AccessToken`` shape)."""

    token: str
    expires_on: int


class TokenIssuer:
    """Signs and checks the fake's access tokens (a per-server secret: tokens of another fake never pass)."""

    def __init__(self, lifetime: float, *, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self._secret = os.urandom(32)
        self._clock = clock
        self.issued = 0

    def issue(
        self, *, audience: str = AUDIENCE, principal: str = "agent-user", lifetime: float | None = None
    ) -> AccessToken:
        """A new token for ``principal`` that expires ``lifetime`` seconds from now (default: the server's)."""
        expires_on = int(self._clock() + (self.lifetime if lifetime is None else lifetime))
        claims = base64.urlsafe_b64encode(orjson.dumps({"aud": audience, "sub": principal, "exp": expires_on}))
        self.issued += 1
        return AccessToken(f"{TOKEN_PREFIX}{claims.decode()}.{self._sign(claims)}", expires_on)

    def check(self, token: str, *, audience: str = AUDIENCE) -> str | None:
        """Why ``token`` is refused ("invalid", "audience", "expired", "denied"), or None when it is good."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "fk1" or not hmac.compare_digest(parts[2], self._sign(parts[1].encode())):
            return "invalid"
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1]))
        if claims["aud"] != audience:
            return "audience"
        if claims["exp"] <= self._clock():
            return "expired"
        return "denied" if claims["sub"] == NO_ROLE_PRINCIPAL else None

    def _sign(self, claims: bytes) -> str:
        return hmac.new(self._secret, claims, hashlib.sha256).hexdigest()


def identity_body(issuer: TokenIssuer, resource: str, principal: str, lifetime: float) -> bytes:
    """The App Service managed-identity endpoint's answer: a token for ``resource``."""
    audience = resource.removesuffix("/.default").rstrip("/")
    access = issuer.issue(audience=audience, principal=principal, lifetime=lifetime)
    return orjson.dumps(
        {
            "access_token": access.token,
            "expires_on": str(access.expires_on),
            "resource": resource,
            "token_type": "Bearer",
        }
    )


@dataclass
class FakeCredential:
    """A ``TokenCredential`` that gets tokens from a fake's identity endpoint (the token helper for tests).

    ``FakeCredential("http://127.0.0.1:PORT")`` hands out the server's short-lived tokens; ``principal`` set to
    ``NO_ROLE_PRINCIPAL`` gives tokens that the API refuses with ``PermissionDenied``.
    """

    server: str  # the fake's root URL, http://127.0.0.1:PORT
    principal: str = "agent-user"
    calls: int = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A token for the first scope, fresh from the fake."""
        self.calls += 1
        resource = scopes[0].removesuffix("/.default")
        response = httpx.get(
            self.server.rstrip("/") + IDENTITY_PATH,
            params={"api-version": "2019-08-01", "resource": resource, "client_id": self.principal},
            headers={"X-IDENTITY-HEADER": "fake"},
        )
        response.raise_for_status()
        body = response.json()
        return AccessToken(body["access_token"], int(body["expires_on"]))

    def close(self) -> None:
        """Nothing to close (the TokenCredential protocol has it)."""


# -- data ----------------------------------------------------------------------------------------------


def foundry_run(run: Json) -> Json:
    """A run as Foundry sends it: the model is the deployment's name."""
    return run | {"model": _DEPLOYMENTS.get(run["model"], run["model"] + "-deployment")}


def foundry_steps(steps: list[Json], assistant_ids: tuple[str, ...]) -> list[Json]:
    """A run's steps as Foundry sends them (see the module docstring)."""
    return [_foundry_step(step, assistant_ids) for step in steps]


def _foundry_step(step: Json, assistant_ids: tuple[str, ...]) -> Json:
    rng = FastRandom(step["id"] + "/foundry")
    step = dict(step)
    details = step["step_details"]
    if details.get("type") == "tool_calls":
        calls = [_foundry_call(call, rng, step, assistant_ids) for call in details.get("tool_calls") or []]
        step["step_details"] = details | {"tool_calls": calls}
    elif details.get("type") == "message_creation" and rng.random() < _ACTIVITIES_SHARE:
        step["type"] = "activities"
        step["step_details"] = {"type": "activities", "activities": [_activity(rng)]}
    if rng.random() < _NO_USAGE_SHARE:
        del step["usage"]  # Foundry's usage is optional, not only nullable
    return step


def _foundry_call(call: Json, rng: FastRandom, step: Json, assistant_ids: tuple[str, ...]) -> Json:
    if rng.random() < _FOUNDRY_CALL_SHARE:
        return foundry_tool_call(rng.choice(TOOL_TYPES), rng, step, assistant_ids)
    if call.get("type") == "function":
        # Foundry's function tool call has no output field at all.
        return call | {"function": {k: v for k, v in call["function"].items() if k != "output"}}
    return call


def foundry_tool_call(kind: str, rng: FastRandom, step: Json, assistant_ids: tuple[str, ...]) -> Json:
    """One tool call of a Foundry type, shaped as ``azure-ai-agents`` deserializes it."""
    call: Json = {"id": make_id(rng, "call_"), "type": kind}
    words = ("weather", "quarterly revenue", "onboarding", "invoice 4411", "release notes")
    topic = rng.choice(words)
    if kind in MAP_TOOL_TYPES:
        call[kind] = {
            "requesturl": f"https://search.example/{kind}?q={topic.replace(' ', '+')}",
            "response_metadata": orjson.dumps({"status": 200, "hits": rng.randint(0, 9)}).decode(),
        }
    elif kind == "azure_function":
        call[kind] = {"name": "get_stock", "arguments": orjson.dumps({"sku": topic}).decode(), "output": "12"}
    elif kind == "connected_agent":
        call[kind] = {
            "name": "researcher",
            "arguments": orjson.dumps({"task": topic}).decode(),
            "output": f"summary of {topic}",
            "run_id": make_id(rng, "run_"),
            "thread_id": make_id(rng, "thread_"),
            "assistant_id": rng.choice(assistant_ids),
        }
    elif kind == "deep_research":
        call[kind] = {"input": f"research {topic}", "output": f"a report on {topic}"}
    elif kind == "mcp":
        call |= {
            "name": "search_docs",
            "arguments": orjson.dumps({"q": topic}).decode(),
            "output": f"3 pages about {topic}",
            "server_label": rng.choice(("docs", "github")),
        }
    elif kind == "browser_automation":
        steps = [
            {
                "last_step_result": "page loaded",
                "current_state": f"on results for {topic}",
                "next_step": "open the first result",
            }
            for _ in range(rng.randint(1, 3))
        ]
        call[kind] = {"input": f"find {topic}", "output": f"found {topic}", "steps": steps}
    elif kind == "computer_use_preview":
        call[kind] = {
            "action": {"type": "click", "button": "left", "x": rng.randint(0, 1280), "y": rng.randint(0, 800)},
            "pending_safety_checks": [],
            "output": {"type": "computer_screenshot", "file_id": make_id(rng, "assistant-", 22)},
        }
    else:
        raise ValueError(f"not a Foundry tool type: {kind}")
    return call


def _activity(rng: FastRandom) -> Json:
    return {
        "type": "mcp_list_tools",
        "id": make_id(rng, "mcpl_"),
        "server_label": "docs",
        "tools": {
            "search_docs": {
                "description": "Search the documentation",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        },
    }


def thread_object(thread_id: str, created_at: int) -> Json:
    """A thread as ``GET /threads`` lists it."""
    rng = FastRandom(thread_id + "/thread")
    metadata = {} if rng.random() < 0.5 else {"channel": rng.choice(("web", "teams", "email"))}
    return {
        "id": thread_id,
        "object": "thread",
        "created_at": created_at,
        "metadata": metadata,
        "tool_resources": {"code_interpreter": {"file_ids": []}},
    }


def assistant_object(assistant_id: str, index: int, created_at: int) -> Json:
    """An agent as ``GET /assistants`` lists it."""
    names = ("Support agent", "Research agent", "Billing agent", "Ops agent")
    return {
        "id": assistant_id, "object": "assistant", "created_at": created_at, "name": names[index % len(names)],
        "description": None if index % 2 else f"{names[index % len(names)]} for the fake project",
        "model": list(_DEPLOYMENTS.values())[index % len(_DEPLOYMENTS)],
        "instructions": "Answer briefly and cite your sources.",
        "tools": [{"type": "code_interpreter"},
                  {"type": "bing_grounding", "bing_grounding": {"search_configurations": []}}],
        "tool_resources": {}, "temperature": 1.0, "top_p": 1.0, "response_format": "auto",
        "metadata": {"team": "agents"},
    }  # fmt: skip


def list_body(items: list[bytes], ids: list[str], has_more: bool) -> bytes:
    """Foundry's documented list envelope: ``data``, ``last_id``, ``has_more`` (no ``object``, no ``first_id``)."""
    last = orjson.dumps(ids[-1] if ids else None)
    return b"".join((b'{"data":[', b",".join(items), b'],"last_id":', last,
                     b',"has_more":', b"true" if has_more else b"false", b"}"))  # fmt: skip
