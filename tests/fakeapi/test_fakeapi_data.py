"""The synthetic dataset: deterministic from the seed, every variant present, consistent timestamps and usage."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import date
from pathlib import Path

import orjson
import pytest

from etl.fakeapi import BOUNDARY_SIZES, Dataset, FakeConfig, FakeServer, Truth
from etl.fakeapi.config import StepsSpec
from etl.values import Json


@pytest.fixture(scope="module")
def small() -> Truth:
    return Dataset(FakeConfig.small()).truth()


def calls(step: Json) -> list[Json]:
    return list(step["step_details"].get("tool_calls") or []) if step["type"] == "tool_calls" else []


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert Dataset(FakeConfig.small(seed=5)).truth() == Dataset(FakeConfig.small(seed=5)).truth()
    assert Dataset(FakeConfig.small(seed=5)).truth().steps != Dataset(FakeConfig.small(seed=6)).truth().steps


def test_every_status_and_variant_is_present(small: Truth) -> None:
    assert {r["status"] for r in small.runs} == {
        "queued", "in_progress", "requires_action", "cancelling", "cancelled", "failed", "completed",
        "incomplete", "expired"}
    assert {s["status"] for s in small.steps} == {"in_progress", "cancelled", "failed", "completed", "expired"}
    assert {s["type"] for s in small.steps} == {"message_creation", "tool_calls"}
    all_calls = [c for s in small.steps_with_content for c in calls(s)]
    assert {c["type"] for c in all_calls} == {"code_interpreter", "file_search", "function"}
    outputs = [c["code_interpreter"]["outputs"] for c in all_calls if c["type"] == "code_interpreter"]
    assert [] in outputs
    assert {o["type"] for out in outputs for o in out} == {"logs", "image"}
    searches = [c["file_search"] for c in all_calls if c["type"] == "file_search"]
    assert {} in searches  # older calls: an empty object
    with_results = [fs for fs in searches if fs.get("results")]
    assert with_results
    assert all(fs["ranking_options"]["ranker"] in ("auto", "default_2024_08_21") for fs in with_results)
    assert all(r["content"] for fs in with_results for r in fs["results"])
    functions = [c["function"]["output"] for c in all_calls if c["type"] == "function"]
    assert None in functions
    assert any(o and not o.isascii() for o in functions)
    assert [len(o) for o in functions if o and len(o) > 10_000] == [1_048_576]
    assert any(len(calls(s)) >= 2 for s in small.steps)
    assert any(s["status"] == "failed" and calls(s) == [] and s["type"] == "tool_calls" for s in small.steps)
    assert any("expires_at" in s for s in small.steps) and any("expired_at" in s for s in small.steps)
    assert any("metadata" not in s for s in small.steps) and any(s.get("metadata") for s in small.steps)


def test_statuses_timestamps_usage_and_errors_are_consistent(small: Truth) -> None:
    runs = {r["id"]: r for r in small.runs}
    by_run: dict[str, list[Json]] = {}
    for step in small.steps:
        by_run.setdefault(step["run_id"], []).append(step)
        run = runs[step["run_id"]]
        assert (step["thread_id"], step["assistant_id"]) == (run["thread_id"], run["assistant_id"])
        assert (step["usage"] is None) == (step["status"] == "in_progress")
        assert (step["last_error"] is not None) == (step["status"] == "failed")
        ended = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at",
                 "expired": "expired_at" if "expired_at" in step else "expires_at"}.get(step["status"])
        for field in ("completed_at", "failed_at", "cancelled_at", "expired_at"):
            if field in step:
                assert (step[field] is not None) == (field == ended), (field, step["status"])
        if ended:
            assert step[ended] > step["created_at"] > run["created_at"]
    for run_id, steps in by_run.items():
        run = runs[run_id]
        created = [s["created_at"] for s in steps]
        assert created == sorted(set(created))
        assert all(s["status"] == "completed" for s in steps[:-1])
        if run["usage"] is not None:
            assert run["usage"]["total_tokens"] == sum(s["usage"]["total_tokens"] for s in steps if s["usage"])
    for run in small.runs:
        terminal = run["status"] in ("cancelled", "failed", "completed", "incomplete", "expired")
        assert (run["usage"] is not None) == terminal
        assert (run["last_error"] is not None) == (run["status"] == "failed")
        assert (run["required_action"] is not None) == (run["status"] == "requires_action")
        assert (run["status"] == "queued") == (run["started_at"] is None)
        if run["status"] == "queued":
            assert run["id"] not in by_run
    pending = next(r for r in small.runs if r["status"] == "requires_action")
    waiting = [c["id"] for c in calls(by_run[pending["id"]][-1]) if c["function"]["output"] is None]
    assert [c["id"] for c in pending["required_action"]["submit_tool_outputs"]["tool_calls"]] == waiting


def test_usage_details_in_both_spellings_and_absent(small: Truth) -> None:
    """Some runs and their steps send cached and reasoning tokens (both spellings), some send none; sums agree."""
    runs = [r for r in small.runs if r["usage"] is not None]
    spellings = {
        next((k for k in ("prompt_token_details", "prompt_tokens_details") if k in r["usage"]), None) for r in runs
    }
    assert spellings == {"prompt_token_details", "prompt_tokens_details", None}
    assert any(r["usage"].get("completion_tokens_details", {}).get("reasoning_tokens") for r in runs)
    for run in runs:
        steps = [s["usage"] for s in small.steps if s["run_id"] == run["id"] and s["usage"]]
        for key, inner in (
            ("prompt_token_details", "cached_tokens"),
            ("prompt_tokens_details", "cached_tokens"),
            ("completion_tokens_details", "reasoning_tokens"),
        ):
            if key in run["usage"]:
                assert run["usage"][key][inner] == sum(u[key][inner] for u in steps)
        for usage in steps:
            details = usage.get("prompt_token_details") or usage.get("prompt_tokens_details")
            if details:
                assert 0 <= details["cached_tokens"] <= usage["prompt_tokens"]
                assert 0 <= usage["completion_tokens_details"]["reasoning_tokens"] <= usage["completion_tokens"]


def test_ids_look_like_the_apis(small: Truth) -> None:
    alnum24 = "[A-Za-z0-9]{24}"
    assert all(re.fullmatch(f"thread_{alnum24}", t) for t in small.thread_ids)
    assert all(re.fullmatch(f"run_{alnum24}", r["id"]) for r in small.runs)
    assert all(re.fullmatch(f"asst_{alnum24}", r["assistant_id"]) for r in small.runs)
    assert all(re.fullmatch(f"step_{alnum24}", s["id"]) for s in small.steps)
    assert all(re.fullmatch(f"call_{alnum24}", c["id"]) for s in small.steps for c in calls(s))
    ids = [r["id"] for r in small.runs] + [s["id"] for s in small.steps]
    assert len(ids) == len(set(ids))


def test_created_at_spreads_over_the_window() -> None:
    config = FakeConfig.small(threads=4, runs_per_thread=10, start=date(2026, 3, 1), days=3)
    created = [r["created_at"] for r in Dataset(config).truth().runs]
    assert min(created) >= config.start_ts and max(created) < config.start_ts + 3 * 86_400
    assert len({(c - config.start_ts) // 86_400 for c in created}) == 3


def test_sizes_follow_the_options() -> None:
    config = FakeConfig.small(threads=3, runs_per_thread=4, steps_per_run="2,5", boundary_sizes=BOUNDARY_SIZES)
    truth = Dataset(config).truth()
    assert len(truth.thread_ids) == 3 and len(truth.runs) == 3 * 4 + len(BOUNDARY_SIZES)
    sizes = Counter(s["run_id"] for s in truth.steps)
    first_thread = Counter(sizes[r["id"]] for r in truth.runs if r["thread_id"] == truth.thread_ids[0])
    assert first_thread >= Counter(BOUNDARY_SIZES)
    others = Counter(sizes[r["id"]] for r in truth.runs if r["thread_id"] != truth.thread_ids[0])
    queued = [r for r in truth.runs if r["status"] == "queued" and r["thread_id"] != truth.thread_ids[0]]
    assert set(others) <= {0, 2, 5} and others[0] == len(queued)
    assert StepsSpec.parse("3") == StepsSpec(3, 3) and StepsSpec.parse("1-30") == StepsSpec(1, 30)
    for bad in ("x", "5-1", "-1", "1,a"):
        with pytest.raises(ValueError):
            StepsSpec.parse(bad)


def test_future_variants_only_when_asked() -> None:
    plain = Dataset(FakeConfig.small(seed=2)).truth()
    future = Dataset(FakeConfig.small(seed=2, future_variants=True)).truth()

    def oddities(truth: Truth) -> set[str]:
        found = {s["type"] for s in truth.steps} | {c["type"] for s in truth.steps for c in calls(s)}
        found |= {key for s in truth.steps for key in s if key == "attempt"}
        found |= {key for r in truth.runs for key in r if key == "reasoning_effort"}
        return found - {"message_creation", "tool_calls", "code_interpreter", "file_search", "function"}
    assert oddities(plain) == set()
    assert oddities(future) == {"reasoning", "web_search", "attempt", "reasoning_effort"}


def test_long_output_can_be_switched_off() -> None:
    truth = Dataset(FakeConfig.small(long_output_bytes=0)).truth()
    outputs = [c["function"]["output"] or "" for s in truth.steps for c in calls(s) if c["type"] == "function"]
    assert outputs and max(map(len, outputs)) < 1000


def test_dump_truth_and_write_threads(tmp_path: Path) -> None:
    dataset = Dataset(FakeConfig.small())
    truth = dataset.truth()
    lines = dataset.dump_truth(tmp_path / "truth.jsonl")
    dumped = [orjson.loads(line) for line in (tmp_path / "truth.jsonl").read_bytes().splitlines()]
    assert lines == len(dumped) == len(truth.runs) + len(truth.steps)
    assert [o for o in dumped if o["object"] == "thread.run"] == list(truth.runs)
    assert [o for o in dumped if o["object"] == "thread.run.step"] == list(truth.steps_with_content)
    dataset.write_threads(tmp_path / "threads.txt")
    assert (tmp_path / "threads.txt").read_text().splitlines() == list(truth.thread_ids)


def start_seconds(config: FakeConfig) -> float:
    started = time.perf_counter()
    with FakeServer(config):
        return time.perf_counter() - started


def test_small_starts_fast_and_big_starts_lazily() -> None:
    assert min(start_seconds(FakeConfig.small()) for _ in range(3)) < 0.3
    big = FakeConfig(threads=2000, runs_per_thread=1, steps_per_run="1-30")
    started = time.perf_counter()
    dataset = Dataset(big)
    assert time.perf_counter() - started < 1.5
    assert len(dataset.thread_ids) == 2000
