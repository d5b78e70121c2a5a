"""The fake's Responses and Conversations data: responses with every item type, chains, conversations that grow.

Deterministic from the seed. What it holds (``ResponsesData.truth`` is exactly what is served):

- conversations, each a few turns: a turn is one response whose input items (a user message, and the outputs of
  the previous turn's tool calls) and output items are appended to the conversation's items;
- chains: responses linked by ``previous_response_id`` (no conversation), and single responses;
- every item type of openai-python's ``ResponseItem`` union that the issue lists at least once (with 3
  conversations and 2 chains), one type this version does not know (``hologram_call``),
  large payloads (a base64 image, encrypted reasoning), and responses in every status (one ``in_progress`` and
  one ``queued`` that ``finish_pending`` completes).

``grow(conversation_id)`` adds a turn to a conversation (a new response and its items), as a user would between
two exports. With ``agents`` (the Foundry flavour) responses name the agent that answered.
"""

from __future__ import annotations

import base64
import random
import threading
from dataclasses import dataclass, field

from etl.values import Json

MODELS = ("gpt-4.1", "gpt-4.1-mini", "o3-mini")
AGENTS = ("support-agent", "research-agent")
FUTURE_ITEM_TYPE = "hologram_call"  # a type this version does not know: kept as raw JSON, counted as drift

# Output item kinds a turn cycles through, so that every kind appears in a few turns.
_OUTPUT_KINDS = (
    "function_call", "file_search_call", "web_search_call", "code_interpreter_call", "computer_call",
    "image_generation_call", "local_shell_call", "shell_call", "apply_patch_call", "mcp_call", "mcp_list_tools",
    "mcp_approval_request", "custom_tool_call", "compaction", "tool_search_call", FUTURE_ITEM_TYPE,
)  # fmt: skip
# The input item that answers each call kind in the next turn.
_ANSWERS = {
    "function_call": "function_call_output",
    "computer_call": "computer_call_output",
    "local_shell_call": "local_shell_call_output",
    "shell_call": "shell_call_output",
    "apply_patch_call": "apply_patch_call_output",
    "mcp_approval_request": "mcp_approval_response",
    "custom_tool_call": "custom_tool_call_output",
    "tool_search_call": "tool_search_output",
}
TINY_PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(600)).decode()


@dataclass
class Truth:
    """Exactly the objects served: responses (with their output), input items and conversation items, oldest first."""

    responses: dict[str, Json] = field(default_factory=dict)
    input_items: dict[str, list[Json]] = field(default_factory=dict)
    conversations: dict[str, Json] = field(default_factory=dict)
    conversation_items: dict[str, list[Json]] = field(default_factory=dict)

    def chains(self) -> list[list[str]]:
        """Response ids linked by previous_response_id, each chain oldest first (conversation turns excluded)."""
        followers = {r["previous_response_id"]: rid for rid, r in self.responses.items() if r["previous_response_id"]}
        heads = [
            rid
            for rid, r in self.responses.items()
            if r["previous_response_id"] is None and r["conversation"] is None and rid in followers
        ]
        out = []
        for head in heads:
            chain = [head]
            while chain[-1] in followers:
                chain.append(followers[chain[-1]])
            out.append(chain)
        return out


class ResponsesData:
    """The served responses and conversations (thread-safe: a test may grow it while the server runs)."""

    def __init__(
        self, seed: int, start_ts: int, *, conversations: int = 3, chains: int = 2, agents: bool = False
    ) -> None:
        self._rng = random.Random(seed * 7919 + 19)
        self._clock = start_ts + 3600
        self._agents = agents
        self._lock = threading.Lock()
        self._turn = 0
        self._ids = 0
        self._sent_calls = 0
        self.truth = Truth()
        for _ in range(conversations):
            conversation_id = self._new_conversation()
            for _ in range(3):
                self._add_turn(conversation_id, None)
        for _ in range(chains):
            previous = None
            for _ in range(3):
                previous = self._add_turn(None, previous)
        self._add_turn(None, None)  # a single response
        self._add_turn(None, None, status="failed")
        self._add_turn(None, None, status="incomplete")
        self._add_turn(None, None, status="in_progress")
        self._add_turn(None, None, status="queued")

    # -- changes while serving ---------------------------------------------------------------------------------

    def grow(self, conversation_id: str) -> str:
        """Add one turn to a conversation (a new response and its items); returns the new response's id."""
        with self._lock:
            return self._add_turn(conversation_id, None)

    def finish_pending(self) -> list[str]:
        """Complete every queued or in-progress response (output and usage appear); returns their ids."""
        with self._lock:
            done = []
            for response_id, response in self.truth.responses.items():
                if response["status"] in ("queued", "in_progress"):
                    self._finish(response, "completed")
                    done.append(response_id)
            return done

    # -- reading -----------------------------------------------------------------------------------------------

    def response(self, response_id: str) -> Json | None:
        """The response object as served, or None."""
        with self._lock:
            return self.truth.responses.get(response_id)

    def input_items(self, response_id: str) -> list[Json] | None:
        """A response's input items, oldest first, or None for an unknown response."""
        with self._lock:
            items = self.truth.input_items.get(response_id)
            return None if items is None else list(items)

    def conversation(self, conversation_id: str) -> Json | None:
        """The conversation object, or None."""
        with self._lock:
            return self.truth.conversations.get(conversation_id)

    def conversation_items(self, conversation_id: str) -> list[Json] | None:
        """A conversation's items, oldest first, or None for an unknown conversation."""
        with self._lock:
            items = self.truth.conversation_items.get(conversation_id)
            return None if items is None else list(items)

    def responses_listed(self, conversation_id: str | None, agent_name: str | None) -> list[Json]:
        """Every response (Foundry's GET /responses), oldest first, optionally of one conversation or agent."""
        with self._lock:
            out = []
            for response in self.truth.responses.values():
                conversation = response["conversation"]
                if conversation_id and (conversation or {}).get("id") != conversation_id:
                    continue
                if agent_name and (response.get("agent") or {}).get("name") != agent_name:
                    continue
                out.append(response)
            return out

    def conversations_listed(self) -> list[Json]:
        """Every conversation (Foundry's GET /conversations), oldest first."""
        with self._lock:
            return list(self.truth.conversations.values())

    # -- making objects ----------------------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_{self._rng.getrandbits(64):016x}{self._ids:05d}"

    def _tick(self, seconds: int) -> int:
        self._clock += seconds
        return self._clock

    def _new_conversation(self) -> str:
        conversation_id = self._id("conv")
        created = self._tick(60)
        self.truth.conversations[conversation_id] = {
            "id": conversation_id,
            "object": "conversation",
            "created_at": created,
            "metadata": {"topic": f"topic-{len(self.truth.conversations)}"},
        }
        self.truth.conversation_items[conversation_id] = []
        return conversation_id

    def _add_turn(self, conversation_id: str | None, previous: str | None, *, status: str = "completed") -> str:
        turn = self._turn
        self._turn += 1
        response_id = self._id("resp")
        created = self._tick(self._rng.randint(30, 3 * 3600))
        inputs = [self._message("user", "input_text", f"question {turn}: what happened on day {turn % 7}?")]
        # The previous turn's tool calls are answered in this turn's input.
        history = self.truth.conversation_items.get(conversation_id or "", [])
        if previous is not None:
            history = self.truth.input_items[previous] + self.truth.responses[previous]["output"]
        answered = {item.get("call_id") for item in history if item["type"] in _ANSWERS.values()}
        for item in history:
            answer = _ANSWERS.get(item["type"])
            if answer and item.get("call_id") not in answered:
                inputs.append(self._answer(answer, item))
        if len(inputs) == 1:  # no state on the server: the client sends an earlier call and its output itself
            kind = list(_ANSWERS)[self._sent_calls % len(_ANSWERS)]
            self._sent_calls += 1
            call = self._output(kind, turn)
            inputs += [call, self._answer(_ANSWERS[kind], call)]
        model = MODELS[turn % len(MODELS)]
        response: Json = {
            "id": response_id,
            "object": "response",
            "created_at": created + self._rng.choice((0, 0.25, 0.5)),  # the API sends fractional seconds too
            "status": status,
            "model": model,
            "output": [],
            "conversation": {"id": conversation_id} if conversation_id else None,
            "previous_response_id": previous,
            "instructions": "You are a careful analyst." if turn % 2 else None,
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": True}],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "metadata": {"turn": str(turn)},
            "temperature": 1.0,
            "top_p": 1.0,
            "max_output_tokens": None,
            "error": None,
            "incomplete_details": None,
            "usage": None,
            "completed_at": None,
            "service_tier": None,
            "background": status in ("queued", "in_progress"),
            "store": True,
        }
        if self._agents:
            response["agent"] = {"type": "agent_reference", "name": AGENTS[turn % 2], "version": "1"}
        elif turn % 3 == 0:
            response["prompt"] = {"id": f"pmpt_{turn:04d}", "version": "2", "variables": None}
        self.truth.responses[response_id] = response
        self.truth.input_items[response_id] = inputs
        if conversation_id is not None:
            self.truth.conversation_items[conversation_id].extend(inputs)
        if status not in ("queued", "in_progress"):
            self._finish(response, status)  # its output joins the conversation
        return response_id

    def _finish(self, response: Json, status: str) -> None:
        turn = int(response["metadata"]["turn"])
        kind = _OUTPUT_KINDS[turn % len(_OUTPUT_KINDS)]
        output = [self._reasoning(turn)] if response["model"] == "o3-mini" else []
        if status != "failed":
            output.append(self._output(kind, turn))
            output.append(self._message("assistant", "output_text", f"answer {turn}", status="completed"))
        response["output"] = output
        response["status"] = status
        input_tokens = 200 + 37 * turn
        output_tokens = 40 + 11 * turn
        reasoning = min(16 * turn, output_tokens) if response["model"] == "o3-mini" else 0  # part of output_tokens
        cached = 64 if turn % 2 else 0
        response["usage"] = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens,
        }
        response["service_tier"] = "default"
        response["completed_at"] = int(response["created_at"]) + 2 + turn % 9 if status == "completed" else None
        if status == "failed":
            response["error"] = {"code": "server_error", "message": "The model failed to answer."}
        if status == "incomplete":
            response["incomplete_details"] = {"reason": "max_output_tokens"}
            response["max_output_tokens"] = 64
        conversation = response["conversation"]
        if conversation is not None:  # a pending turn's output joins its conversation when it finishes
            items = self.truth.conversation_items[conversation["id"]]
            known = {item["id"] for item in items}
            items.extend(item for item in output if item["id"] not in known)

    def _message(self, role: str, part: str, text: str, *, status: str | None = None) -> Json:
        content: list[Json] = [{"type": part, "text": text}]
        if part == "output_text":
            content[0]["annotations"] = []
            content[0]["logprobs"] = []
        elif self._turn % 4 == 1:  # an inline image beside the text: a large payload
            content.append({"type": "input_image", "detail": "auto", "image_url": TINY_PNG, "file_id": None})
        message: Json = {"id": self._id("msg"), "type": "message", "role": role, "content": content}
        message["status"] = status or "completed"
        return message

    def _reasoning(self, turn: int) -> Json:
        return {
            "id": self._id("rs"),
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": f"thinking about question {turn}"}],
            "encrypted_content": base64.b64encode(bytes(self._rng.getrandbits(8) for _ in range(300))).decode(),
        }

    def _output(self, kind: str, turn: int) -> Json:
        """One output item of ``kind``, shaped as openai-python 3.3.1's types."""
        call_id = self._id("call")
        item_id = self._id(kind.split("_")[0][:3])
        done = "completed"
        shapes: dict[str, Json] = {
            "function_call": {
                "call_id": call_id,
                "name": "lookup",
                "arguments": f'{{"day": {turn % 7}}}',
                "status": done,
            },
            "file_search_call": {
                "queries": [f"report {turn}"],
                "status": done,
                "results": [
                    {
                        "file_id": "file-abc",
                        "filename": "report.pdf",
                        "score": 0.83,
                        "text": "quarterly numbers",
                        "attributes": {},
                    }
                ],
            },
            "web_search_call": {"status": done, "action": {"type": "search", "query": f"news {turn}"}},
            "code_interpreter_call": {
                "code": "print(1 + 1)",
                "container_id": "cntr_1",
                "status": done,
                "outputs": [{"type": "logs", "logs": "2"}, {"type": "image", "url": TINY_PNG}],
            },
            "computer_call": {
                "call_id": call_id,
                "status": done,
                "pending_safety_checks": [],
                "action": {"type": "click", "button": "left", "x": 10, "y": 20},
            },
            "image_generation_call": {"status": done, "result": TINY_PNG.split(",", 1)[1]},
            "local_shell_call": {
                "call_id": call_id,
                "status": done,
                "action": {"type": "exec", "command": ["ls"], "env": {}},
            },
            "shell_call": {"call_id": call_id, "status": done, "action": {"commands": ["ls -la"]}},
            "apply_patch_call": {
                "call_id": call_id,
                "status": done,
                "operation": {"type": "update_file", "path": "a.py", "diff": "-a\n+b"},
            },
            "mcp_call": {
                "server_label": "docs",
                "name": "search",
                "arguments": '{"q": "x"}',
                "output": "found 3",
                "status": done,
            },
            "mcp_list_tools": {
                "server_label": "docs",
                "tools": [{"name": "search", "input_schema": {"type": "object"}}],
            },
            "mcp_approval_request": {"server_label": "docs", "name": "delete", "arguments": '{"id": 1}'},
            "custom_tool_call": {"call_id": call_id, "name": "grammar", "input": "SELECT 1", "status": done},
            "compaction": {"encrypted_content": "ZmFrZS1jb21wYWN0aW9u"},
            "tool_search_call": {
                "call_id": call_id,
                "status": done,
                "execution": "server",
                "arguments": {"query": "calendar"},
            },
            FUTURE_ITEM_TYPE: {"call_id": call_id, "source": "print('hi')", "status": done},
        }
        return {"id": item_id, "type": kind, **shapes[kind]}

    def _answer(self, kind: str, call: Json) -> Json:
        """The input item that answers a call of the previous turn."""
        call_id = call.get("call_id")
        shapes: dict[str, Json] = {
            "function_call_output": {"call_id": call_id, "output": '{"rows": 3}', "status": "completed"},
            "computer_call_output": {
                "call_id": call_id,
                "status": "completed",
                "output": {"type": "computer_screenshot", "image_url": TINY_PNG},
            },
            "local_shell_call_output": {"call_id": call_id, "output": "a.py\n", "status": "completed"},
            "shell_call_output": {
                "call_id": call_id,
                "status": "completed",
                "output": [{"stdout": "a.py\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}],
            },
            "apply_patch_call_output": {"call_id": call_id, "status": "completed", "output": "patched"},
            "mcp_approval_response": {"approval_request_id": call["id"], "approve": True, "reason": None},
            "custom_tool_call_output": {"call_id": call_id, "output": "1", "status": "completed"},
            "tool_search_output": {"call_id": call_id, "status": "completed", "execution": "server", "tools": []},
        }
        return {"id": self._id("out"), "type": kind, **shapes[kind]}
