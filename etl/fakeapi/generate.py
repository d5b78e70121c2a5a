"""Step and run objects, built from a ``RunPlan`` exactly as the API would send them.

Each run has two independent random streams seeded by its key: the *timeline* (timestamps, statuses,
usage) needed to build the run object, and the *content* (step details) needed only for its steps.
Steps of a run have strictly increasing ``created_at`` (distinct seconds), so any tie-break orders them
the same way; the server orders by (created_at, id).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from etl.fakeapi import deviations as dev
from etl.fakeapi import texts
from etl.fakeapi.plan import LAST_STEP_STATUS, TERMINAL_RUN_STATUSES, FastRandom, RunPlan, make_id
from etl.values import Json

_RUN_EXPIRY_SECONDS = 600

_WEIGHTS: dict[str, int] = {
    "message": 45, "code_logs": 8, "code_image": 4, "code_none": 3, "code_logs_image": 3, "file_search": 10,
    "fs_bare": 2, "fn_short": 10, "fn_unicode": 4, "fn_null": 3, "multi": 8,
}  # fmt: skip
_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini")
_REASONING_MODELS = frozenset({"o3-mini"})
# How a run's usage spells its cached tokens: real payloads say prompt_token_details, Chat Completions
# prompt_tokens_details, and older payloads send no details at all (None).
_DETAIL_KEYS = ("prompt_token_details", "prompt_tokens_details", None)
_DETAILS_SHARE = 0.6  # runs whose usage carries the details
_CACHE_BLOCK = 128  # prompt caching counts whole blocks of 128 tokens
_FUTURE_WEIGHT = 3  # per future recipe, when --future-variants is on
_FUTURE_FIELD_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class StepTimeline:
    """When a step ran, how it ended and what it cost."""

    created_at: int
    ended_at: int
    status: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0  # part of prompt_tokens
    reasoning_tokens: int = 0  # part of completion_tokens
    detail_key: str | None = None  # how usage spells the prompt details; None: no details sent

    @property
    def usage(self) -> Json | None:
        """The step's usage object; null while in progress."""
        if self.status == "in_progress":
            return None
        return usage_object(
            self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.reasoning_tokens, self.detail_key
        )


def usage_object(prompt: int, completion: int, cached: int, reasoning: int, detail_key: str | None) -> Json:
    """A usage object as the API sends it, with the token details when ``detail_key`` names their spelling."""
    usage: Json = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if detail_key is not None:
        usage[detail_key] = {"cached_tokens": cached}
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def run_model(plan: RunPlan) -> str:
    """The run's model (the first showcase run uses a reasoning model)."""
    if plan.coverage_index == 0:
        return "o3-mini"
    return FastRandom(plan.key + "/model").choice(_MODELS)


def _detail_key(plan: RunPlan, rng: random.Random) -> str | None:
    """How the run's usage spells its details: the first showcase runs show each spelling and none."""
    if 0 <= plan.coverage_index < len(_DETAIL_KEYS):
        return _DETAIL_KEYS[plan.coverage_index]
    if plan.legacy_steps or rng.random() >= _DETAILS_SHARE:
        return None
    return _DETAIL_KEYS[0] if rng.random() < 0.8 else _DETAIL_KEYS[1]


def timeline(plan: RunPlan) -> list[StepTimeline]:
    """The run's steps' timestamps, statuses and usage (cheap: no content)."""
    rng = FastRandom(plan.key + "/timeline")
    last_status = LAST_STEP_STATUS[plan.status]
    steps: list[StepTimeline] = []
    clock = plan.created_at + 1
    for index in range(plan.n_steps):
        status = last_status if index == plan.n_steps - 1 else "completed"
        ended_at = clock + rng.randint(1, 20)
        completion = 0 if status == "failed" else rng.randint(1, 800)
        steps.append(StepTimeline(clock, ended_at, status, rng.randint(50, 4000), completion))
        clock = ended_at + rng.randint(1, 3)
    return _with_details(plan, steps)


def _with_details(plan: RunPlan, steps: list[StepTimeline]) -> list[StepTimeline]:
    """The steps with cached and reasoning tokens, from their own stream (the timeline's stays as it was)."""
    rng = FastRandom(plan.key + "/usage")
    key = _detail_key(plan, rng)
    if key is None:
        return steps
    reasoning = run_model(plan) in _REASONING_MODELS
    return [
        replace(
            step,
            cached_tokens=_CACHE_BLOCK * rng.randint(0, step.prompt_tokens // _CACHE_BLOCK),
            reasoning_tokens=rng.randint(0, step.completion_tokens) if reasoning else 0,
            detail_key=key,
        )
        for step in steps
    ]


def build_steps(
    plan: RunPlan, steps: Sequence[StepTimeline], *, future_variants: bool, long_output_bytes: int
) -> list[Json]:
    """The run's step objects in created_at order, file-search content included."""
    rng = FastRandom(plan.key + "/content")
    showcase = dict(plan.showcase)
    weights = dict(_WEIGHTS)
    if future_variants:
        weights.update(future_step=_FUTURE_WEIGHT, future_call=_FUTURE_WEIGHT)
    recipes, cumulative = list(weights), list(itertools.accumulate(weights.values()))
    # Step ids come from their own stream: a step keeps its id when its run later changes status.
    id_rng = FastRandom(plan.key + "/ids")
    builder = _ContentBuilder(rng, future_variants, long_output_bytes)
    objects: list[Json] = []
    for index, step in enumerate(steps):
        recipe = showcase.get(index) or rng.choices(recipes, cum_weights=cumulative)[0]
        if step.status == "failed" and plan.empty_failed_step:
            recipe = "empty"
        elif step.status == "in_progress" and plan.status == "requires_action":
            recipe = "fn_pending"
        details = builder.details(recipe)
        step_id = make_id(id_rng, "step_")
        objects.append(_step_object(plan, step, step_id, details, rng, future_field=future_variants and (
            index in showcase or rng.random() < _FUTURE_FIELD_SHARE)))
    return objects


def build_run(plan: RunPlan, steps: Sequence[StepTimeline], pending_calls: Sequence[Json] = (),
              *, future_variants: bool = False) -> Json:
    """The run object, consistent with its steps' timeline (usage is their sum once the run is terminal)."""
    rng = FastRandom(plan.key + "/run")
    status = plan.status
    last_end = steps[-1].ended_at if steps else plan.created_at + 1
    terminal = status in TERMINAL_RUN_STATUSES
    ended = last_end + 1
    run: Json = {
        "id": plan.run_id,
        "object": "thread.run",
        "created_at": plan.created_at,
        "assistant_id": plan.assistant_id,
        "thread_id": plan.thread_id,
        "status": status,
        "started_at": None if status == "queued" else plan.created_at + 1,
        "expires_at": None if terminal and status != "expired" else max(plan.created_at + _RUN_EXPIRY_SECONDS, ended),
        "cancelled_at": ended if status == "cancelled" else None,
        "failed_at": ended if status == "failed" else None,
        "completed_at": ended if status == "completed" else None,
        "required_action": _required_action(pending_calls) if status == "requires_action" else None,
        "last_error": _run_error(rng) if status == "failed" else None,
        "model": run_model(plan),
        # Real payloads sent null instructions although the schema says string (deviations.py).
        "instructions": None if rng.random() < 0.1 else "You are a helpful assistant. Answer briefly.",
        "tools": [
            {"type": "code_interpreter"},
            {"type": "file_search", "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 0.0}}},
            *({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
              for name, _ in texts.FUNCTIONS),
        ],
        "tool_resources": {},
        "metadata": rng.choice(({}, {"customer": "acme", "env": "prod"})),
        "temperature": 1.0,
        "top_p": 1.0,
        "max_completion_tokens": None,
        "max_prompt_tokens": rng.choice((None, 20_000)),
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "incomplete_details": {"reason": "max_completion_tokens"} if status == "incomplete" else None,
        "usage": _sum_usage(steps) if terminal else None,
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }
    if future_variants and (plan.coverage_index == 0 or rng.random() < _FUTURE_FIELD_SHARE):
        run[dev.FUTURE_RUN_FIELD] = "medium"
    return run


def pending_function_calls(last_step: Json) -> list[Json]:
    """The function calls of a step still waiting for outputs, as ``required_action`` lists them."""
    calls = last_step["step_details"].get("tool_calls") or []
    return [
        {"id": call["id"], "type": "function",
         "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}}
        for call in calls
        if call.get("type") == "function" and call["function"].get("output") is None
    ]


def _step_object(plan: RunPlan, step: StepTimeline, step_id: str, details: Json, rng: random.Random, *,
                 future_field: bool) -> Json:
    status = step.status
    obj: Json = {
        "id": step_id,
        "object": "thread.run.step",
        "created_at": step.created_at,
        "run_id": plan.run_id,
        "assistant_id": plan.assistant_id,
        "thread_id": plan.thread_id,
        "type": details["type"],
        "status": status,
        "cancelled_at": step.ended_at if status == "cancelled" else None,
        "completed_at": step.ended_at if status == "completed" else None,
    }
    if plan.legacy_steps:
        # Older real payloads: expires_at (set even while in progress), no expired_at, no metadata.
        obj["expires_at"] = step.ended_at if status == "expired" else plan.created_at + _RUN_EXPIRY_SECONDS
    else:
        obj["expired_at"] = step.ended_at if status == "expired" else None
    obj["failed_at"] = step.ended_at if status == "failed" else None
    obj["last_error"] = _step_error(rng) if status == "failed" else None
    obj["step_details"] = details
    obj["usage"] = step.usage
    if not plan.legacy_steps:
        obj["metadata"] = {} if rng.random() < 0.6 else dict(rng.choice(texts.MESSAGES_METADATA))
    if future_field:
        obj[dev.FUTURE_STEP_FIELD] = 1
    return obj


class _ContentBuilder:
    """Builds ``step_details`` for a recipe from one random stream."""

    def __init__(self, rng: random.Random, future_variants: bool, long_output_bytes: int) -> None:
        self.rng = rng
        self.future_variants = future_variants
        self.long_output_bytes = long_output_bytes

    def details(self, recipe: str) -> Json:
        rng = self.rng
        if recipe == "message":
            return {"type": "message_creation", "message_creation": {"message_id": make_id(rng, "msg_")}}
        if recipe == "future_step":
            text = rng.choice(texts.PASSAGES)
            return {"type": dev.FUTURE_STEP_TYPE, dev.FUTURE_STEP_TYPE: {"summary": [{"type": "text", "text": text}]}}
        return {"type": "tool_calls", "tool_calls": self.tool_calls(recipe)}

    def tool_calls(self, recipe: str) -> list[Json]:
        rng = self.rng
        match recipe:
            case "empty":
                return []
            case "code_logs" | "code_image" | "code_none" | "code_logs_image":
                return [self.code(recipe.removeprefix("code_"))]
            case "file_search":
                return [self.file_search(bare=False)]
            case "fs_bare":
                return [self.file_search(bare=True)]
            case "fn_null" | "fn_short" | "fn_unicode" | "fn_long" | "fn_pending":
                return [self.function(recipe.removeprefix("fn_"))]
            case "future_call":
                return [self.function("short"), self.future_call()]
            case "multi":
                makers = (lambda: self.code("logs"), lambda: self.file_search(bare=False),
                          lambda: self.function("short"), lambda: self.function("unicode"))
                return [rng.choice(makers)() for _ in range(rng.randint(2, 4))]
        raise ValueError(f"unknown recipe {recipe}")

    def code(self, outputs: str) -> Json:
        rng = self.rng
        made: list[Json] = []
        if "logs" in outputs:
            made.append({"type": "logs", "logs": rng.choice(texts.CODE_LOGS)})
        if "image" in outputs:
            made.append({"type": "image", "image": {"file_id": make_id(rng, "file-", 22)}})
        return {"id": make_id(rng, "call_"), "type": "code_interpreter",
                "code_interpreter": {"input": rng.choice(texts.CODE_INPUTS), "outputs": made}}

    def file_search(self, *, bare: bool) -> Json:
        rng = self.rng
        call_id = make_id(rng, "call_")
        if bare:
            # Calls made before results existed in the API send an empty object.
            return {"id": call_id, "type": "file_search", "file_search": {}}
        threshold = round(rng.uniform(0.0, 0.5), 2)
        results = [
            {
                "file_id": make_id(rng, "file-", 22),
                "file_name": rng.choice(texts.FILE_NAMES),
                "score": round(rng.uniform(threshold, 1.0), 4),
                "content": [{"type": "text", "text": rng.choice(texts.PASSAGES)} for _ in range(rng.randint(1, 3))],
            }
            for _ in range(0 if rng.random() < 0.1 else rng.randint(1, 4))
        ]
        ranking = {"ranker": rng.choice(("auto", "default_2024_08_21")), "score_threshold": threshold}
        return {"id": call_id, "type": "file_search", "file_search": {"ranking_options": ranking, "results": results}}

    def function(self, output: str) -> Json:
        rng = self.rng
        name, arguments = texts.function_arguments(rng)
        value: str | None
        match output:
            case "null" | "pending":
                value = None
            case "unicode":
                value = rng.choice(texts.UNICODE_OUTPUTS)
            case "long":
                value = texts.long_output(self.long_output_bytes)
            case _:
                value = rng.choice(texts.SHORT_OUTPUTS)
        function: Json = {"name": name, "arguments": arguments, "output": value}
        if self.future_variants and rng.random() < _FUTURE_FIELD_SHARE:
            function[dev.FUTURE_FUNCTION_FIELD] = True
        return {"id": make_id(rng, "call_"), "type": "function", "function": function}

    def future_call(self) -> Json:
        rng = self.rng
        name, arguments = texts.function_arguments(rng)
        body = {"server_label": "docs", "name": name, "arguments": arguments, "output": rng.choice(texts.PASSAGES)}
        return {"id": make_id(rng, "call_"), "type": dev.FUTURE_TOOL_CALL_TYPE, dev.FUTURE_TOOL_CALL_TYPE: body}


def _required_action(calls: Sequence[Json]) -> Json:
    return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": list(calls)}}


def _run_error(rng: random.Random) -> Json:
    code = rng.choice(("server_error", "rate_limit_exceeded", "invalid_prompt"))
    return {"code": code, "message": "Sorry, something went wrong." if code == "server_error" else f"{code}."}


def _step_error(rng: random.Random) -> Json:
    code = rng.choice(("server_error", "rate_limit_exceeded"))
    return {"code": code, "message": "Sorry, something went wrong." if code == "server_error" else
            "Rate limit reached for gpt-4o. Please try again in 6ms."}


def _sum_usage(steps: Sequence[StepTimeline]) -> Json:
    done = [step for step in steps if step.status != "in_progress"]
    return usage_object(
        sum(step.prompt_tokens for step in done),
        sum(step.completion_tokens for step in done),
        sum(step.cached_tokens for step in done),
        sum(step.reasoning_tokens for step in done),
        steps[0].detail_key if steps else None,
    )


def strip_content(step: Json) -> Json:
    """The step as served without include[]: file-search results lose their ``content``."""
    details = step.get("step_details")
    if not isinstance(details, dict):
        return step
    calls = details.get("tool_calls")
    if not calls or not any(_has_content(call) for call in calls):
        return step
    stripped_calls = []
    for call in calls:
        if _has_content(call):
            results = [{k: v for k, v in result.items() if k != "content"} for result in call["file_search"]["results"]]
            call = {**call, "file_search": {**call["file_search"], "results": results}}
        stripped_calls.append(call)
    return {**step, "step_details": {**details, "tool_calls": stripped_calls}}


def _has_content(call: Any) -> bool:
    if not isinstance(call, dict) or call.get("type") != "file_search":
        return False
    results = (call.get("file_search") or {}).get("results") or []
    return any(isinstance(result, dict) and "content" in result for result in results)
