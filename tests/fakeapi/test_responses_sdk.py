"""The official ``openai`` SDK as the reference client of the fake's Responses and Conversations endpoints, and its
pydantic types as the schema every body the fake serves must fit (the openai-openapi YAML is not in the repo)."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pydantic
from openai.types.conversations import Conversation, ConversationItem
from openai.types.responses import Response, ResponseItem

from etl.fakeapi import FakeServer
from etl.fakeapi.responses_data import FUTURE_ITEM_TYPE


def test_sdk_auto_paging_returns_exactly_the_fakes_truth(fake_api_factory: Callable[..., FakeServer]) -> None:
    server = fake_api_factory(fault_rate=0.2, fault_kinds=("429-ms", "500", "503"), retry_after_ms=1)
    truth = server.responses.truth
    client = openai.OpenAI(api_key="sk-fake", base_url=server.base_url, max_retries=8)
    server.responses.grow(next(iter(truth.conversations)))  # conversation lists longer than one small page
    for response_id, response in truth.responses.items():
        got = client.responses.retrieve(response_id)
        assert got.id == response_id and got.status == response["status"]
        assert [item.id for item in got.output] == [item["id"] for item in response["output"]]
        # the default order is newest first; small pages make the SDK follow after = data[-1].id
        listed = [item.id for item in client.responses.input_items.list(response_id, limit=2)]
        assert listed == [item["id"] for item in reversed(truth.input_items[response_id])]
        oldest_first = [item.id for item in client.responses.input_items.list(response_id, limit=1, order="asc")]
        assert oldest_first == [item["id"] for item in truth.input_items[response_id]]
    for conversation_id, items in truth.conversation_items.items():
        assert len(items) > 3
        listed = [item.id for item in client.conversations.items.list(conversation_id, limit=3, order="asc")]
        assert listed == [item["id"] for item in items]
        newest_first = [item.id for item in client.conversations.items.list(conversation_id, limit=4)]
        assert newest_first == [item["id"] for item in reversed(items)]
        assert (
            client.conversations.retrieve(conversation_id).created_at
            == truth.conversations[conversation_id]["created_at"]
        )


def test_every_body_fits_the_sdks_pydantic_types(fake_api: FakeServer) -> None:
    truth = fake_api.responses.truth
    items = pydantic.TypeAdapter(ResponseItem)
    conversation_items = pydantic.TypeAdapter(ConversationItem)
    types_seen: set[str] = set()
    for response_id, response in truth.responses.items():
        if any(item["type"] == FUTURE_ITEM_TYPE for item in response["output"]):
            known = {**response, "output": [i for i in response["output"] if i["type"] != FUTURE_ITEM_TYPE]}
            Response.model_validate(known)
        else:
            Response.model_validate(response)
        for item in truth.input_items[response_id]:
            items.validate_python(item)
        types_seen |= {item["type"] for item in [*truth.input_items[response_id], *response["output"]]}
    for conversation_id, listed in truth.conversation_items.items():
        Conversation.model_validate(truth.conversations[conversation_id])
        for item in listed:
            if item["type"] != FUTURE_ITEM_TYPE:
                conversation_items.validate_python(item)
    assert {
        "message", "function_call", "function_call_output", "file_search_call", "web_search_call",
        "code_interpreter_call", "computer_call", "computer_call_output", "reasoning", "image_generation_call",
        "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
        "apply_patch_call_output", "mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response",
        "custom_tool_call", "custom_tool_call_output", "compaction", "tool_search_call", "tool_search_output",
        FUTURE_ITEM_TYPE,
    } <= types_seen  # fmt: skip


def test_reasoning_tokens_are_part_of_the_output_tokens(fake_api: FakeServer) -> None:
    """Reasoning tokens count inside output_tokens, so never more than them (late turns had 16 per turn, more)."""
    usages = [r["usage"] for r in fake_api.responses.truth.responses.values() if r.get("usage")]
    reasoning = [u["output_tokens_details"]["reasoning_tokens"] for u in usages]
    assert any(reasoning)
    assert all(r <= u["output_tokens"] for r, u in zip(reasoning, usages, strict=True))
