"""Benchmark data unlike the fake API's generator: run steps shaped like real payloads, in named mixes.

Each mix builds steps from templates taken from the API's examples and captured payloads (``tests/fixtures``):
``expires_at`` instead of ``expired_at`` and no ``metadata`` (what live responses send), the SDK's explicit
nulls, unicode-heavy text, unknown step and tool call types (Foundry's and newer ones), extra keys, usage with
token details, and big outputs. ``MIXES`` maps a name to a step maker; ``REAL`` blends them in proportions like
production traffic. Used by ``bench_transform.py`` (every mix) and ``foreign_api.py`` (an HTTP source for the
end-to-end and memory benchmarks), so that no figure is measured only on the project's own data.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import orjson

from etl.values import Json

StepMaker = Callable[[random.Random, int, str, str, int], Json]  # (rng, n, run_id, thread_id, created) -> step

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
_UNICODE = [
    "Zürich: 21 °C ☀️ 東京は晴れ",
    "Привет, мир! Ответ: 42",
    "مرحبا بالعالم — نتيجة البحث",
    "🙂🚀✨ résumé naïve façade coöperate",
    "한국어 텍스트와 数字 12345 và tiếng Việt",
    "ℕ ⊆ ℤ ⊆ ℚ ⊆ ℝ ⊆ ℂ; ∀x ∈ ℝ: x² ≥ 0",
]
_UNKNOWN_CALLS: list[Json] = [
    {"type": "bing_grounding", "bing_grounding": {"requesturl": "https://api.bing.microsoft.com/v7.0/search?q=x"}},
    {"type": "azure_ai_search", "azure_ai_search": {"input": "query", "output": "3 documents"}},
    {"type": "mcp", "name": "search", "arguments": '{"q": "docs"}', "output": "ok", "server_label": "docs"},
    {"type": "connected_agent", "connected_agent": {"name": "helper", "arguments": "{}", "output": "done"}},
    {"type": "browser_automation", "browser_automation": {"input": "open", "output": "ok", "steps": []}},
]


def _fixture_steps() -> list[Json]:
    """Every run step object in the fixtures (the API reference's examples and captured shapes)."""
    steps = [orjson.loads(line) for line in (FIXTURES / "run_steps.jsonl").read_bytes().splitlines() if line]
    for name in ("steps_variants_page.json", "list_run_steps_page.json"):
        steps += orjson.loads((FIXTURES / name).read_bytes())["data"]
    return steps


_TEMPLATES = _fixture_steps()


def _base(rng: random.Random, n: int, run_id: str, thread_id: str, created: int, *, live: bool = True) -> Json:
    """The common part of a step; ``live``: as live responses send it (``expires_at``, no ``metadata``)."""
    step: Json = {
        "id": f"step_{n:024x}", "object": "thread.run.step", "created_at": created, "run_id": run_id,
        "assistant_id": f"asst_{rng.getrandbits(60):015x}", "thread_id": thread_id, "type": "message_creation",
        "status": "completed", "cancelled_at": None, "completed_at": created + rng.randint(1, 30),
        "failed_at": None, "last_error": None,
    }  # fmt: skip
    if live:
        step["expires_at"] = created + 600
    else:
        step["expired_at"] = None
        step["metadata"] = {}
    prompt, completion = rng.randint(20, 9000), rng.randint(1, 900)
    step["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return step


def _message(step: Json, n: int) -> Json:
    step["type"] = "message_creation"
    step["step_details"] = {"type": "message_creation", "message_creation": {"message_id": f"msg_{n:024x}"}}
    return step


def _calls(step: Json, calls: list[Json]) -> Json:
    step["type"] = "tool_calls"
    step["step_details"] = {"type": "tool_calls", "tool_calls": calls}
    return step


def _function(rng: random.Random, n: int, i: int, text: str, output_bytes: int = 0) -> Json:
    output = (text * (output_bytes // max(1, len(text.encode())) + 1))[: output_bytes or None]
    arguments = orjson.dumps({"query": text, "limit": rng.randint(1, 50)}).decode()
    return {"id": f"call_{n:020x}{i}", "type": "function",
            "function": {"name": "lookup", "arguments": arguments, "output": output}}  # fmt: skip


def _code(rng: random.Random, n: int, i: int, logs: str) -> Json:
    outputs: list[Json] = [{"type": "logs", "logs": logs}]
    if rng.random() < 0.3:
        outputs.append({"type": "image", "image": {"file_id": f"file-{rng.getrandbits(64):016x}"}})
    return {"id": f"call_{n:020x}{i}", "type": "code_interpreter",
            "code_interpreter": {"input": "import pandas as pd\ndf = pd.read_csv('x.csv')\nprint(df.describe())",
                                 "outputs": outputs}}  # fmt: skip


def _search(rng: random.Random, n: int, i: int, name: str) -> Json:
    results = [{"file_id": f"file-{rng.getrandbits(64):016x}", "file_name": f"{name}-{k}.pdf", "score": rng.random()}
               for k in range(rng.randint(1, 5))]  # fmt: skip
    return {
        "id": f"call_{n:020x}{i}",
        "type": "file_search",
        "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 0.0}, "results": results},
    }


def examples(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """The fixtures' steps as they are (every shape they show), with fresh ids and times."""
    step = orjson.loads(orjson.dumps(_TEMPLATES[n % len(_TEMPLATES)]))
    step.update(id=f"step_{n:024x}", run_id=run_id, thread_id=thread_id, created_at=created)
    for key in ("completed_at", "failed_at", "cancelled_at"):
        if step.get(key) is not None:
            step[key] = created + 3
    for key in ("expires_at", "expired_at"):
        if step.get(key) is not None:
            step[key] = created + 600
    return step


def unicode_heavy(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """Every text field in several scripts and emoji: arguments, outputs, logs, file names, metadata."""
    text = " ".join(rng.sample(_UNICODE, 3))
    step = _base(rng, n, run_id, thread_id, created)
    step["metadata"] = {"user": rng.choice(_UNICODE)[:12], "Projekt": "Große Übung", "チーム": "分析"}
    if n % 3 == 0:
        return _message(step, n)
    calls = [_function(rng, n, 0, text, 400), _code(rng, n, 1, text + "\n"), _search(rng, n, 2, text[:20])]
    return _calls(step, calls[: rng.randint(1, 3)])


def many_nulls(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """In-progress and failed steps, the SDK's explicit nulls, empty tool call lists, null usage."""
    step = _base(rng, n, run_id, thread_id, created, live=False)
    kind = n % 4
    if kind == 0:
        step.update(status="in_progress", completed_at=None, usage=None)
        return _calls(step, [])
    if kind == 1:
        step.update(status="failed", completed_at=None, failed_at=created + 5, usage=None, metadata=None,
                    last_error={"code": "server_error", "message": "The server had an error."})  # fmt: skip
        return _message(step, n)
    if kind == 2:
        call = {"id": f"call_{n:020x}0", "type": "function", "function": {"name": "f", "arguments": "", "output": None}}
        return _calls(step, [call, {"id": f"call_{n:020x}1", "type": "file_search", "file_search": {}}])
    return _message(step, n)


def unknown_types(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """Step and tool call types this version may not know (Foundry's, newer OpenAI ones) and extra keys."""
    step = _base(rng, n, run_id, thread_id, created)
    step["attempt"] = 1 + n % 3
    if n % 5 == 0:
        step["type"] = "activities"
        step["step_details"] = {"type": "activities", "activities": [
            {"type": "mcp_list_tools", "id": f"act_{n}", "server_label": "docs",
             "tools": {"search": {"description": "Search the docs", "parameters": {"type": "object"}}}}]}  # fmt: skip
        return step
    calls = []
    for i in range(rng.randint(1, 3)):
        call = dict(rng.choice(_UNKNOWN_CALLS), id=f"call_{n:020x}{i}")
        calls.append(call)
    calls.append(_function(rng, n, len(calls), "x") | {"strict": True})
    return _calls(step, calls)


def metadata_mixed(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """Metadata on half the steps (up to 16 keys), absent on the rest; runs of messages and function calls."""
    step = _base(rng, n, run_id, thread_id, created)
    if n % 2:
        step["metadata"] = {f"key_{k}": f"value {k} {rng.getrandbits(32):08x}" for k in range(rng.randint(1, 16))}
    return _message(step, n) if n % 3 else _calls(step, [_function(rng, n, 0, "Paris")])


def usage_details(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """Usage with cached and reasoning token details (newer models and Foundry)."""
    step = _base(rng, n, run_id, thread_id, created)
    usage = step["usage"]
    usage["prompt_token_details"] = {"cached_tokens": rng.randint(0, usage["prompt_tokens"])}
    usage["completion_tokens_details"] = {"reasoning_tokens": rng.randint(0, usage["completion_tokens"])}
    return _message(step, n) if n % 2 else _calls(step, [_function(rng, n, 0, "Berlin")])


def big_outputs(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """Function outputs of 2-40 kB and long code logs (documents, tables, stack traces)."""
    step = _base(rng, n, run_id, thread_id, created)
    if n % 4 == 0:
        return _message(step, n)
    logs = "".join(f"row {k:05d}: {rng.random():.6f} {rng.random():.6f}\n" for k in range(rng.randint(20, 200)))
    calls = [_function(rng, n, 0, "The quick brown fox. ", rng.randint(2_000, 40_000)), _code(rng, n, 1, logs)]
    return _calls(step, calls[: rng.randint(1, 2)])


def project_like(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """Short ASCII messages and tool calls, every key sent (the kind mix the project's own benchmark used)."""
    step = _base(rng, n, run_id, thread_id, created)
    recipe = n % 10
    if recipe < 5:
        return _message(step, n)
    if recipe < 7:
        return _calls(step, [_function(rng, n, 0, "Paris", 40)])
    if recipe < 9:
        return _calls(step, [_code(rng, n, 0, "4\n")])
    return _calls(step, [_search(rng, n, 0, "report")])


MIXES: dict[str, StepMaker] = {
    "project-like": project_like,
    "examples": examples,
    "unicode": unicode_heavy,
    "nulls": many_nulls,
    "unknown-types": unknown_types,
    "metadata": metadata_mixed,
    "usage-details": usage_details,
    "big-outputs": big_outputs,
}
_REAL_WEIGHTS = {"project-like": 40, "examples": 10, "unicode": 15, "nulls": 10, "unknown-types": 5,
                 "metadata": 10, "usage-details": 8, "big-outputs": 2}  # fmt: skip


def real(rng: random.Random, n: int, run_id: str, thread_id: str, created: int) -> Json:
    """A blend of every mix, in proportions like production traffic."""
    name = rng.choices(list(_REAL_WEIGHTS), weights=list(_REAL_WEIGHTS.values()))[0]
    return MIXES[name](rng, n, run_id, thread_id, created)


MIXES["real"] = real


def make_steps(
    mix: str, count: int, *, steps_per_run: int = 30, seed: int = 11, start: int = 1_735_000_000
) -> list[Json]:
    """``count`` steps of one mix, ``steps_per_run`` to a run, ten runs to a thread."""
    rng, maker = random.Random(seed), MIXES[mix]
    steps = []
    for n in range(count):
        run = n // steps_per_run
        created = start + 60 * run + n % steps_per_run
        steps.append(maker(rng, n, f"run_{run:024x}", f"thread_{run // 10:022x}", created))
    return steps


def make_run(run_id: str, thread_id: str, created: int, n: int) -> Json:
    """A run object shaped like the API reference's examples (tools, truncation strategy, metadata)."""
    return {
        "id": run_id, "object": "thread.run", "created_at": created, "assistant_id": "asst_abc123",
        "thread_id": thread_id, "status": "completed", "started_at": created + 1, "expires_at": None,
        "cancelled_at": None, "failed_at": None, "completed_at": created + 50, "required_action": None,
        "last_error": None, "model": "gpt-4o", "instructions": "Answer in the user's language. 日本語も可。",
        "tools": [{"type": "file_search"}, {"type": "function", "function": {"name": "lookup", "parameters": {}}}],
        "tool_resources": {}, "metadata": {"n": str(n)} if n % 2 else {}, "temperature": 1.0, "top_p": 1.0,
        "max_completion_tokens": None, "max_prompt_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None}, "incomplete_details": None,
        "usage": {"prompt_tokens": 5000, "completion_tokens": 700, "total_tokens": 5700},
        "response_format": "auto", "tool_choice": "auto", "parallel_tool_calls": True,
    }  # fmt: skip
