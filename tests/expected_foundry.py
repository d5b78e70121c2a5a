"""The tables an export of the fake's Foundry flavor must produce, row by row from its ground truth.

Starts from ``expected.expected_tables`` (the OpenAI contract) and applies what Foundry adds, written here
independently of ``etl.transform``: activities steps, Foundry's typed tool calls, threads and assistants.
"""

from __future__ import annotations

import os
from typing import Any

import duckdb
from expected import Row, _read, expected_tables

from etl import sqlrun
from etl.fakeapi import FakeServer, Truth

MAP_TYPES = {"bing_grounding", "bing_custom_search", "azure_ai_search", "openapi", "sharepoint_grounding",
             "fabric_dataagent"}  # fmt: skip
NAMED = {"azure_function", "connected_agent"}  # name/arguments/output under the type's key
ENTITY_KEYS = {"threads": ("thread_id",), "assistants": ("assistant_id",)}


def foundry_tables(truth: Truth) -> dict[str, dict[tuple[Any, ...], Row]]:
    """Every table, the entity tables included, for what the fake's Foundry flavor serves."""
    tables = expected_tables(truth.runs, truth.steps, content=False)
    for step in truth.steps:
        row = tables["run_steps"][(step["id"],)]
        details = step["step_details"]
        if step["type"] == "activities":
            row |= {"raw_json": None, "details_json": details["activities"], "tool_call_count": 0}
        else:
            row["details_json"] = None
        for index, call in enumerate(details.get("tool_calls") or [] if step["type"] == "tool_calls" else []):
            tables["tool_calls"][(step["id"], index)] |= _typed_call(call)
    tables["threads"] = {
        (t["id"],): {"thread_id": t["id"], "created_at": t["created_at"], "metadata_json": t["metadata"],
                     "tool_resources_json": t["tool_resources"]}
        for t in truth.threads
    }  # fmt: skip
    tables["assistants"] = {
        (a["id"],): {"assistant_id": a["id"], "name": a["name"], "description": a["description"], "model": a["model"],
                     "instructions": a["instructions"], "tools_json": a["tools"], "metadata_json": a["metadata"],
                     "created_at": a["created_at"], "gone": False}
        for a in truth.assistants
    }  # fmt: skip
    for gone in truth.gone_assistant_ids:
        tables["assistants"][(gone,)] = {"assistant_id": gone, "name": None, "model": None, "gone": True}
    return tables


def _typed_call(call: Row) -> Row:
    kind = call["type"]
    body = call.get(kind) or {}
    named = call if kind == "mcp" else body if kind in NAMED | {"function"} else {}
    return {
        "raw_json": None,
        "function_name": named.get("name"),
        "function_arguments": named.get("arguments"),
        "function_output": named.get("output"),
        "mcp_server_label": call.get("server_label") if kind == "mcp" else None,
        "connected_run_id": body.get("run_id") if kind == "connected_agent" else None,
        "connected_thread_id": body.get("thread_id") if kind == "connected_agent" else None,
        "connected_assistant_id": body.get("assistant_id") if kind == "connected_agent" else None,
        "tool_input": body.get("input") if kind in ("deep_research", "browser_automation") else None,
        "tool_output": body.get("output") if kind in ("deep_research", "browser_automation") else None,
        "details_json": body if kind in MAP_TYPES | {"browser_automation", "computer_use_preview"} else None,
    }


def actual_entity_tables(dest: str) -> dict[str, dict[tuple[Any, ...], Row]]:
    """The threads and assistants tables at ``dest`` as {key: row}; raises if a key appears twice."""
    with sqlrun.open_sql_connection(dest) as con:
        assert isinstance(con, duckdb.DuckDBPyConnection)
        return {name: _read(con, name, key) for name, key in ENTITY_KEYS.items()}


def identity_env(fake: FakeServer, **extra: str) -> dict[str, str]:
    """The environment in which DefaultAzureCredential gets its tokens from the fake (App Service identity)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "OPENAI_"))}
    return env | {"IDENTITY_ENDPOINT": f"{fake.root_url}/_fake/identity/token", "IDENTITY_HEADER": "x"} | extra
