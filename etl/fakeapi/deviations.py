"""Every way the fake's payloads knowingly differ from the OpenAPI schemas: the one list, and the schema patch.

Real payloads did not always match the published schema; the fake reproduces what they did so the exporter
is tested against reality. Each deviation below names what differs and the evidence. The schema-validation
tests validate every body against ``spec_for_validation(spec)``: the official components with exactly
these relaxations, and nothing else.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deviation:
    """One known difference between what is served and what the schema says."""

    name: str
    what: str
    evidence: str


LEGACY_STEP_EXPIRES_AT = Deviation(
    "step-expires_at",
    "some runs' steps carry `expires_at` (an int, set even while in_progress) and no `expired_at` and no `metadata`",
    "15 streaming examples inside the spec, a captured live response, the quafadas/dairect fixture",
)
EMPTY_LIST_NULL_IDS = Deviation(
    "empty-list-null-ids",
    "an empty list answers `first_id: null` and `last_id: null` (the schema types them as plain strings)",
    "tjardoo/openai-client PR #59",
)
RUN_INSTRUCTIONS_NULL = Deviation(
    "run-instructions-null",
    "some runs have `instructions: null` (the schema types it as a non-null string)",
    "the spec's own listRuns/getRun examples",
)
OAS30_NULLABLE = Deviation(
    "oas30-nullable",
    "the spec is OpenAPI 3.1 but still marks nullable run fields with the 3.0 keyword `nullable: true`, which JSON "
    "Schema 2020-12 ignores; validation honours it (null is allowed where the spec says nullable)",
    "the spec's own examples send `expires_at: null`, `required_action: null`",
)
FUTURE_VARIANTS = Deviation(
    "future-variants",
    "with --future-variants: a step type and a tool call type that the schema does not know, and extra fields "
    "on known objects (extra fields are allowed by the schema anyway)",
    "forward compatibility: the API added types and fields over time (file_search results, usage, ranker auto)",
)
AZURE_ERRORS = Deviation(
    "azure-error-body",
    "in Azure mode (`api-key` header) a wrong key answers Azure's error body `{error:{code,message}}`",
    "Azure OpenAI answers 401 with its own body, not OpenAI's",
)
BAD_GATEWAY_HTML = Deviation(
    "502-html",
    "the 502 fault answers an HTML page (text/html), as the CDN in front of the API did",
    "Cloudflare 502 pages seen by openai-python users",
)

DEVIATIONS: tuple[Deviation, ...] = (
    LEGACY_STEP_EXPIRES_AT,
    EMPTY_LIST_NULL_IDS,
    RUN_INSTRUCTIONS_NULL,
    OAS30_NULLABLE,
    FUTURE_VARIANTS,
    AZURE_ERRORS,
    BAD_GATEWAY_HTML,
)

# What --future-variants adds (names chosen to look like what the API could plausibly add next).
FUTURE_STEP_TYPE = "reasoning"
FUTURE_TOOL_CALL_TYPE = "web_search"  # not "mcp": Foundry defines that one
FUTURE_RUN_FIELD = "reasoning_effort"
FUTURE_STEP_FIELD = "attempt"
FUTURE_FUNCTION_FIELD = "strict"


def spec_for_validation(spec: dict[str, Any], *, future_variants: bool = False) -> dict[str, Any]:
    """A copy of the OpenAPI document whose component schemas accept exactly the deviations above.

    The future step and tool call types are accepted only when ``future_variants`` is set.
    """
    patched = copy.deepcopy(spec)
    schemas: dict[str, Any] = patched["components"]["schemas"]
    for name in list(schemas):
        schemas[name] = _honour_nullable(schemas[name])

    step = schemas["RunStepObject"]
    step["required"] = [key for key in step["required"] if key not in ("expired_at", "metadata")]
    step["properties"]["expires_at"] = {"type": "integer"}
    # A step has expired_at (spec) or expires_at (legacy payloads), one of the two.
    step["oneOf"] = [{"required": ["expired_at"]}, {"required": ["expires_at"]}]
    for list_name in ("ListRunsResponse", "ListRunStepsResponse"):
        props = schemas[list_name]["properties"]
        for key in ("first_id", "last_id"):
            props[key] = {"type": ["string", "null"]}
    schemas["RunObject"]["properties"]["instructions"] = {"type": ["string", "null"]}
    if not future_variants:
        return patched

    step["properties"]["type"]["enum"].append(FUTURE_STEP_TYPE)
    future_details = {
        "type": "object",
        "properties": {"type": {"const": FUTURE_STEP_TYPE}},
        "required": ["type", FUTURE_STEP_TYPE],
    }
    step["properties"]["step_details"]["oneOf"].append(future_details)
    future_call = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "type": {"const": FUTURE_TOOL_CALL_TYPE}},
        "required": ["id", "type", FUTURE_TOOL_CALL_TYPE],
    }
    schemas["RunStepDetailsToolCallsObject"]["properties"]["tool_calls"]["items"]["oneOf"].append(future_call)
    return patched


def _honour_nullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable: true`` (also inside ``allOf``) as ``anyOf [..., null]``."""
    if isinstance(node, list):
        return [_honour_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    nullable = node.get("nullable") is True
    fields = {key: value for key, value in node.items() if key != "nullable"}
    if "allOf" in fields:
        parts = [part for part in fields["allOf"] if part != {"nullable": True}]
        if len(parts) != len(fields["allOf"]):
            nullable = True
            fields["allOf"] = parts
    fields = {key: _honour_nullable(value) for key, value in fields.items()}
    return {"anyOf": [fields, {"type": "null"}]} if nullable else fields
