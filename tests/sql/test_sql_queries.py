"""Each query of sql/queries, over data exported from the fake API, equals the same figure computed in Python
from the fake's ground truth (the run and step objects it served), for a DuckDB file and a Parquet root alike."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pytest
from costs import PRICES, cached_tokens, run_cost
from sql_export import Exported, calls_of, shared_eras, shared_export

from etl import sqlfiles, sqlrun
from etl.values import Json

Row = dict[str, Any]


def _day(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _usage(step: Json, key: str) -> int:
    return int((step.get("usage") or {}).get(key) or 0)


def _quantile(values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks: DuckDB's quantile_cont."""
    xs = sorted(values)
    position = (len(xs) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return xs[low] + (xs[high] - xs[low]) * (position - low)


def _in_window(step: Json, since: int | None, until: int | None) -> bool:
    return (since is None or step["created_at"] >= since) and (until is None or step["created_at"] < until)


# -- the figures, computed from the ground truth ---------------------------------------------------------


def tokens_by_assistant_day(steps: Iterable[Json], names: Mapping[str, str | None]) -> list[Row]:
    groups: dict[tuple[str, date], list[Json]] = defaultdict(list)
    for step in steps:
        groups[(step["assistant_id"], _day(step["created_at"]))].append(step)
    return [
        {
            "assistant_id": assistant,
            "assistant_name": names.get(assistant),
            "day": day,
            "runs": len({s["run_id"] for s in group}),
            "steps": len(group),
            "prompt_tokens": sum(_usage(s, "prompt_tokens") for s in group),
            "completion_tokens": sum(_usage(s, "completion_tokens") for s in group),
            "total_tokens": sum(_usage(s, "total_tokens") for s in group),
        }
        for (assistant, day), group in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


def tool_usage_by_assistant(steps: Iterable[Json], names: Mapping[str, str | None]) -> list[Row]:
    calls: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
    for step in steps:
        for call in calls_of(step):
            name = call["function"]["name"] if call["type"] == "function" else None
            calls[(step["assistant_id"], call["type"], name)].append(step["id"])
    per_assistant: dict[str, int] = defaultdict(int)
    for (assistant, _, _), step_ids in calls.items():
        per_assistant[assistant] += len(step_ids)
    rows = [
        {
            "assistant_id": assistant,
            "assistant_name": names.get(assistant),
            "tool_type": tool_type,
            "function_name": name,
            "calls": len(step_ids),
            "steps": len(set(step_ids)),
            "share": len(step_ids) / per_assistant[assistant],
        }
        for (assistant, tool_type, name), step_ids in calls.items()
    ]
    return sorted(rows, key=lambda r: (r["assistant_id"], -r["calls"], r["tool_type"], r["function_name"] or ""))


def step_duration_percentiles(steps: Iterable[Json]) -> list[Row]:
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for step in steps:
        if step["status"] != "completed" or step.get("completed_at") is None:
            continue
        seconds = step["completed_at"] - step["created_at"]
        for tool_type in sorted({c["type"] for c in calls_of(step)}) or [None]:
            groups[(step["type"], tool_type)].append(seconds)
    return [
        {
            "step_type": step_type,
            "tool_type": tool_type,
            "steps": len(values),
            "p50_s": _quantile(values, 0.5),
            "p90_s": _quantile(values, 0.9),
            "p99_s": _quantile(values, 0.99),
            "max_s": max(values),
        }
        for (step_type, tool_type), values in sorted(groups.items(), key=lambda i: (i[0][0], i[0][1] or ""))
    ]


def failure_rates_by_day(steps: Iterable[Json]) -> list[Row]:
    steps = list(steps)
    per_day: dict[date, int] = defaultdict(int)
    broken: dict[tuple[date, str, str | None], int] = defaultdict(int)
    for step in steps:
        day = _day(step["created_at"])
        per_day[day] += 1
        if step["status"] in ("failed", "expired"):
            broken[(day, step["status"], (step.get("last_error") or {}).get("code"))] += 1
    return [
        {
            "day": day,
            "status": status,
            "error_code": code,
            "steps": n,
            "day_steps": per_day[day],
            "rate": n / per_day[day],
        }
        for (day, status, code), n in sorted(broken.items(), key=lambda i: (i[0][0], i[0][1], i[0][2] or ""))
    ]


def function_calls_missing_output(steps: Iterable[Json], *, include_in_progress: bool) -> list[Row]:
    rows = [
        {
            "created_at": _at(step["created_at"]),
            "assistant_id": step["assistant_id"],
            "thread_id": step["thread_id"],
            "run_id": step["run_id"],
            "step_id": step["id"],
            "tool_call_index": index,
            "tool_call_id": call["id"],
            "function_name": call["function"]["name"],
            "step_status": step["status"],
            "step_error_code": (step.get("last_error") or {}).get("code"),
        }
        for step in steps
        for index, call in enumerate(calls_of(step))
        if call["type"] == "function"
        and call["function"].get("output") is None
        and (include_in_progress or step["status"] != "in_progress")
    ]
    return sorted(rows, key=lambda r: (r["created_at"], r["step_id"], r["tool_call_index"]))


def _results(steps: Iterable[Json]) -> Iterator[tuple[Json, int, Json]]:
    for step in steps:
        for index, call in enumerate(calls_of(step)):
            if call["type"] == "file_search":
                for result in call["file_search"].get("results") or []:
                    yield step, index, result


def file_search_score_distribution(steps: Iterable[Json], buckets: int) -> list[Row]:
    counts = [0] * buckets
    for _, _, result in _results(steps):
        if result.get("score") is not None:
            counts[max(min(math.floor(result["score"] * buckets), buckets - 1), 0)] += 1
    total = sum(counts)
    return [
        {
            "bucket": b,
            "score_from": b / buckets,
            "score_to": (b + 1) / buckets,
            "results": n,
            "share": n / total if total else 0.0,
        }
        for b, n in enumerate(counts)
    ]


def file_search_top_files(steps: Iterable[Json], limit: int) -> list[Row]:
    files: dict[str, list[tuple[Json, int, Json]]] = defaultdict(list)
    for step, index, result in _results(steps):
        files[result["file_id"]].append((step, index, result))
    rows = [
        {
            "file_id": file_id,
            "file_name": max(r["file_name"] for _, _, r in hits),
            "results": len(hits),
            "tool_calls": len({(s["id"], i) for s, i, _ in hits}),
            "runs": len({s["run_id"] for s, _, _ in hits}),
            "avg_score": sum(r["score"] for _, _, r in hits) / len(hits),
            "max_score": max(r["score"] for _, _, r in hits),
        }
        for file_id, hits in files.items()
    ]
    return sorted(rows, key=lambda r: (-r["results"], r["file_id"]))[:limit]


def top_runs(runs: Iterable[Json], steps: Iterable[Json], *, by: str, limit: int) -> list[Row]:
    runs = list(runs)
    status = {run["id"]: run["status"] for run in runs}
    costs = {run["id"]: run_cost(run) for run in runs}
    per_run: dict[str, list[Json]] = defaultdict(list)
    for step in steps:
        per_run[step["run_id"]].append(step)
    rows = [
        {
            "run_id": run_id,
            "thread_id": group[0]["thread_id"],
            "assistant_id": group[0]["assistant_id"],
            "run_status": status.get(run_id),
            "first_step_at": _at(min(s["created_at"] for s in group)),
            "steps": len(group),
            "tool_calls": sum(len(calls_of(s)) for s in group),
            "prompt_tokens": sum(_usage(s, "prompt_tokens") for s in group),
            "completion_tokens": sum(_usage(s, "completion_tokens") for s in group),
            "total_tokens": sum(_usage(s, "total_tokens") for s in group),
            "cost_usd": costs.get(run_id),
        }
        for run_id, group in per_run.items()
    ]
    # NULL costs (runs without usage yet) come last.
    return sorted(rows, key=lambda r: (r[by] is None, -(r[by] or 0), r["run_id"]))[:limit]


def _cost_rows(runs: Iterable[Json], key: Any) -> dict[Any, list[Json]]:
    groups: dict[Any, list[Json]] = defaultdict(list)
    for run in runs:
        groups[key(run)].append(run)
    return groups


def _sum_cost(group: list[Json]) -> float | None:
    priced = [c for c in map(run_cost, group) if c is not None]
    return sum(priced) if priced else None


def _usage_of(run: Json, key: str) -> int:
    usage = run.get("usage") or {}
    if key == "cached_prompt_tokens":
        return cached_tokens(usage)
    if key == "reasoning_tokens":
        return int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return int(usage.get(key) or 0)


_TOKENS = ("prompt_tokens", "cached_prompt_tokens", "completion_tokens", "reasoning_tokens")


def cost_by_assistant_day(runs: Iterable[Json], names: Mapping[str, str | None]) -> list[Row]:
    groups = _cost_rows(runs, lambda r: (r["assistant_id"], _day(r["created_at"])))
    return [
        {
            "assistant_id": assistant,
            "assistant_name": names.get(assistant),  # the export fetches each assistant the runs name
            "day": day,
            "runs": len(group),
            "unpriced_runs": 0,
            **{key: sum(_usage_of(r, key) for r in group) for key in _TOKENS},
            "cost_usd": _sum_cost(group),
        }
        for (assistant, day), group in sorted(groups.items(), key=lambda i: (i[0][1], i[0][0]))
    ]


def cost_by_model(runs: Iterable[Json]) -> list[Row]:
    rows = []
    for model, group in _cost_rows(runs, lambda r: r["model"]).items():
        terminal = [r for r in group if r.get("usage")]
        parts = {"input_usd": 0.0, "cached_input_usd": 0.0, "output_usd": 0.0}
        for run in terminal:
            price = PRICES[model]
            usage = run["usage"]
            cached = cached_tokens(usage)
            parts["input_usd"] += (usage["prompt_tokens"] - cached) * price[0] / 1e6
            parts["cached_input_usd"] += cached * price[1] / 1e6
            parts["output_usd"] += usage["completion_tokens"] * price[2] / 1e6
        rows.append(
            {
                "model": model,
                "priced_as": model,
                "runs": len(group),
                "unpriced_runs": 0,
                **{key: sum(_usage_of(r, key) for r in group) for key in _TOKENS},
                **{k: (v if terminal else None) for k, v in parts.items()},
                "cost_usd": _sum_cost(group),
            }
        )
    return sorted(rows, key=lambda r: (r["cost_usd"] is None, -(r["cost_usd"] or 0), r["model"]))


def top_threads_by_cost(runs: Iterable[Json], limit: int) -> list[Row]:
    rows = [
        {
            "thread_id": thread,
            "runs": len(group),
            "unpriced_runs": 0,
            "assistants": len({r["assistant_id"] for r in group}),
            "first_run_at": _at(min(r["created_at"] for r in group)),
            "last_run_at": _at(max(r["created_at"] for r in group)),
            "total_tokens": sum(_usage_of(r, "total_tokens") for r in group),
            "cost_usd": _sum_cost(group),
        }
        for thread, group in _cost_rows(runs, lambda r: r["thread_id"]).items()
    ]
    return sorted(rows, key=lambda r: (r["cost_usd"] is None, -(r["cost_usd"] or 0), r["thread_id"]))[:limit]


def steps_by_type_status(steps: Iterable[Json]) -> list[Row]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for step in steps:
        counts[(step["type"], step["status"])] += 1
    return [{"type": t, "status": s, "steps": n} for (t, s), n in sorted(counts.items())]


def tool_calls_by_type(steps: Iterable[Json]) -> list[Row]:
    seen: dict[str, list[Json]] = defaultdict(list)
    for step in steps:
        for call in calls_of(step):
            seen[call["type"]].append(step)
    rows = [
        {
            "type": tool_type,
            "tool_calls": len(group),
            "steps": len({s["id"] for s in group}),
            "runs": len({s["run_id"] for s in group}),
        }
        for tool_type, group in seen.items()
    ]
    return sorted(rows, key=lambda r: (-r["tool_calls"], r["type"]))


def tokens_by_assistant(steps: Iterable[Json], names: Mapping[str, str | None]) -> list[Row]:
    steps = list(steps)
    per_day = tokens_by_assistant_day(steps, names)
    runs: dict[str, set[str]] = defaultdict(set)
    for step in steps:
        runs[step["assistant_id"]].add(step["run_id"])
    totals: dict[str, Row] = {}
    for row in per_day:
        total = totals.setdefault(
            row["assistant_id"],
            {
                "assistant_id": row["assistant_id"],
                "assistant_name": row["assistant_name"],
                "runs": len(runs[row["assistant_id"]]),
                "steps": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
            },
        )
        for key in ("steps", "prompt_tokens", "completion_tokens", "total_tokens"):
            total[key] += row[key]
    return sorted(totals.values(), key=lambda r: (-r["total_tokens"], r["assistant_id"]))


def overview(runs: Iterable[Json], steps: Iterable[Json]) -> Row:
    runs, steps = list(runs), list(steps)
    failed = sum(1 for r in runs if r["status"] in ("failed", "expired"))
    active = sum(1 for r in runs if r["status"] in ("queued", "in_progress", "requires_action", "cancelling"))
    return {
        "first_step_at": _at(min(s["created_at"] for s in steps)) if steps else None,
        "last_step_at": _at(max(s["created_at"] for s in steps)) if steps else None,
        "runs": len(runs),
        "steps": len(steps),
        "threads": len({s["thread_id"] for s in steps}),
        "assistants": len({s["assistant_id"] for s in steps}),
        "tool_calls": sum(len(calls_of(s)) for s in steps),
        "prompt_tokens": sum(_usage(s, "prompt_tokens") for s in steps),
        "completion_tokens": sum(_usage(s, "completion_tokens") for s in steps),
        "total_tokens": sum(_usage(s, "total_tokens") for s in steps),
        "cost_usd": _sum_cost(runs),
        "unpriced_runs": sum(1 for r in runs if r.get("model") not in PRICES),
        "failed_runs": failed,
        "active_runs": active,
        "failure_rate": failed / len(runs) if runs else None,
        "active_share": active / len(runs) if runs else None,
    }


def tool_calls_by_day(steps: Iterable[Json]) -> list[Row]:
    groups: dict[tuple[date, str], list[Json]] = defaultdict(list)
    for step in steps:
        for call in calls_of(step):
            groups[(_day(step["created_at"]), call["type"])].append(step)
    return [
        {
            "day": day,
            "tool_type": tool_type,
            "tool_calls": len(group),
            "steps": len({s["id"] for s in group}),
            "runs": len({s["run_id"] for s in group}),
        }
        for (day, tool_type), group in sorted(groups.items())
    ]


DURATION_EDGES = [0, 1, 2, 5, 10, 30, 60, 120, 300, 600]
DURATION_LABELS = [
    "< 1 s",
    "1-2 s",
    "2-5 s",
    "5-10 s",
    "10-30 s",
    "30-60 s",
    "1-2 min",
    "2-5 min",
    "5-10 min",
    "10 min +",
]


def step_duration_histogram(steps: Iterable[Json]) -> list[Row]:
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for step in steps:
        if step["status"] != "completed" or step.get("completed_at") is None:
            continue
        for tool_type in sorted({c["type"] for c in calls_of(step)}) or [None]:
            groups[(step["type"], tool_type)].append(step["completed_at"] - step["created_at"])
    rows = []
    for (step_type, tool_type), values in sorted(groups.items(), key=lambda i: (i[0][0], i[0][1] or "")):
        counts = [0] * len(DURATION_EDGES)
        for seconds in values:
            counts[max(i for i, edge in enumerate(DURATION_EDGES) if seconds >= edge or i == 0)] += 1
        for bucket, n in enumerate(counts):
            rows.append(
                {
                    "step_type": step_type,
                    "tool_type": tool_type,
                    "bucket": bucket,
                    "label": DURATION_LABELS[bucket],
                    "seconds_from": DURATION_EDGES[bucket] if bucket else None,
                    "seconds_to": DURATION_EDGES[bucket + 1] if bucket + 1 < len(DURATION_EDGES) else None,
                    "steps": n,
                }
            )
    return rows


def top_threads(steps: Iterable[Json], *, by: str, limit: int) -> list[Row]:
    per_thread: dict[str, list[Json]] = defaultdict(list)
    for step in steps:
        per_thread[step["thread_id"]].append(step)
    rows = [
        {
            "thread_id": thread_id,
            "runs": len({s["run_id"] for s in group}),
            "assistants": len({s["assistant_id"] for s in group}),
            "first_step_at": _at(min(s["created_at"] for s in group)),
            "last_step_at": _at(max(s["created_at"] for s in group)),
            "steps": len(group),
            "tool_calls": sum(len(calls_of(s)) for s in group),
            "prompt_tokens": sum(_usage(s, "prompt_tokens") for s in group),
            "completion_tokens": sum(_usage(s, "completion_tokens") for s in group),
            "total_tokens": sum(_usage(s, "total_tokens") for s in group),
        }
        for thread_id, group in per_thread.items()
    ]
    return sorted(rows, key=lambda r: (-r[by], r["thread_id"]))[:limit]


# -- the comparisons ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return shared_export(tmp_path_factory)


@pytest.fixture(scope="module", params=["duckdb", "parquet"])
def con(request: pytest.FixtureRequest, exported: Exported) -> Iterator[duckdb.DuckDBPyConnection]:
    """One connection per kind of destination, shared by the module's tests (every query only reads)."""
    with sqlrun.open_sql_connection(exported.dest(request.param)) as connection:
        yield connection


def _assert_rows(actual: list[Row], expected: list[Row]) -> None:
    assert [list(r) for r in actual[:1]] == [list(r) for r in expected[:1]], "columns differ"
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        # Floats (shares, averages, percentiles) may differ in the last bits with the order of summation.
        assert got == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in want.items()}


def _run(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object] | None = None) -> list[Row]:
    rows: list[Row] = sqlrun.run_query(con, name, params).to_pylist()
    return rows


def test_tokens_by_assistant_day(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = tokens_by_assistant_day(exported.steps, exported.names)
    assert all(r["assistant_name"] for r in expected), "the fake names its assistants"
    assert sum(r["total_tokens"] for r in expected) > 0
    _assert_rows(_run(con, "tokens_by_assistant_day"), expected)


def test_tokens_by_assistant_day_within_a_window(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    days = sorted({_day(s["created_at"]) for s in exported.steps})
    assert len(days) >= 2, "the fake's data should span several days"
    since = datetime.combine(days[1], datetime.min.time(), UTC)
    until = datetime.combine(days[-1], datetime.min.time(), UTC)
    window = [s for s in exported.steps if _in_window(s, int(since.timestamp()), int(until.timestamp()))]
    params = {"since": days[1].isoformat(), "until": days[-1].isoformat()}
    _assert_rows(_run(con, "tokens_by_assistant_day", params), tokens_by_assistant_day(window, exported.names))


def test_tool_usage_by_assistant(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = tool_usage_by_assistant(exported.steps, exported.names)
    assert {r["tool_type"] for r in expected} >= {"function", "code_interpreter", "file_search"}
    _assert_rows(_run(con, "tool_usage_by_assistant"), expected)


def test_step_duration_percentiles(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = step_duration_percentiles(exported.steps)
    assert any(r["steps"] > 3 for r in expected)
    _assert_rows(_run(con, "step_duration_percentiles"), expected)


def test_failure_rates_by_day(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = failure_rates_by_day(exported.steps)
    assert {r["status"] for r in expected} == {"failed", "expired"}
    _assert_rows(_run(con, "failure_rates_by_day"), expected)


@pytest.mark.parametrize("include_in_progress", [False, True])
def test_function_calls_missing_output(
    exported: Exported, con: duckdb.DuckDBPyConnection, include_in_progress: bool
) -> None:
    expected = function_calls_missing_output(exported.steps, include_in_progress=include_in_progress)
    assert expected
    params = {"include_in_progress": str(include_in_progress).lower()}
    _assert_rows(_run(con, "function_calls_missing_output", params), expected)


@pytest.mark.parametrize("buckets", [10, 4])
def test_file_search_score_distribution(exported: Exported, con: duckdb.DuckDBPyConnection, buckets: int) -> None:
    expected = file_search_score_distribution(exported.steps, buckets)
    assert sum(r["results"] for r in expected) > 0
    _assert_rows(_run(con, "file_search_score_distribution", {"buckets": str(buckets)}), expected)


def test_file_search_top_files(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = file_search_top_files(exported.steps, 5)
    assert expected
    _assert_rows(_run(con, "file_search_top_files", {"limit": "5"}), expected)


@pytest.mark.parametrize("by", ["steps", "tokens", "cost"])
def test_top_runs(exported: Exported, con: duckdb.DuckDBPyConnection, by: str) -> None:
    key = {"tokens": "total_tokens", "cost": "cost_usd"}.get(by, "steps")
    expected = top_runs(exported.runs, exported.steps, by=key, limit=7)
    assert len(expected) == 7
    _assert_rows(_run(con, "top_runs", {"by": by, "limit": "7"}), expected)


def test_steps_by_type_status(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = steps_by_type_status(exported.steps)
    assert {r["type"] for r in expected} == {"message_creation", "tool_calls"}
    _assert_rows(_run(con, "steps_by_type_status"), expected)


def test_tool_calls_by_type(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    _assert_rows(_run(con, "tool_calls_by_type"), tool_calls_by_type(exported.steps))


def test_tokens_by_assistant(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = tokens_by_assistant(exported.steps, exported.names)
    assert len(expected) > 1
    _assert_rows(_run(con, "tokens_by_assistant"), expected)


def test_cost_by_assistant_day(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = cost_by_assistant_day(exported.runs, exported.names)
    assert any(r["cached_prompt_tokens"] for r in expected) and any(r["reasoning_tokens"] for r in expected)
    assert any(r["assistant_name"] for r in expected), "the assistants table should name the assistants"
    _assert_rows(_run(con, "cost_by_assistant_day"), expected)


def test_cost_by_model(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = cost_by_model(exported.runs)
    assert {r["model"] for r in expected} == set(PRICES)
    _assert_rows(_run(con, "cost_by_model"), expected)


def test_top_threads_by_cost(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = top_threads_by_cost(exported.runs, 3)
    assert len(expected) == 3 and all(r["cost_usd"] for r in expected)
    _assert_rows(_run(con, "top_threads_by_cost", {"limit": "3"}), expected)


def test_overview(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = overview(exported.runs, exported.steps)
    assert expected["failed_runs"] and expected["active_runs"], "the fake's runs should fail and stay active too"
    _assert_rows(_run(con, "overview"), [expected])


def test_overview_of_nothing(con: duckdb.DuckDBPyConnection) -> None:
    rows = _run(con, "overview", {"since": "2001-01-01", "until": "2001-01-02"})
    _assert_rows(rows, [overview([], [])])


def test_tool_calls_by_day(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = tool_calls_by_day(exported.steps)
    assert len({r["day"] for r in expected}) > 1
    _assert_rows(_run(con, "tool_calls_by_day"), expected)


def test_step_duration_histogram(exported: Exported, con: duckdb.DuckDBPyConnection) -> None:
    expected = step_duration_histogram(exported.steps)
    assert sum(r["steps"] for r in expected) == sum(r["steps"] for r in step_duration_percentiles(exported.steps))
    assert sum(1 for r in expected if r["steps"]) > 4, "durations should fall into several buckets"
    _assert_rows(_run(con, "step_duration_histogram"), expected)


@pytest.mark.parametrize("by", ["steps", "tokens"])
def test_top_threads(exported: Exported, con: duckdb.DuckDBPyConnection, by: str) -> None:
    key = "total_tokens" if by == "tokens" else "steps"
    expected = top_threads(exported.steps, by=key, limit=3)
    assert len(expected) == 3
    _assert_rows(_run(con, "top_threads", {"by": by, "limit": "3"}), expected)


# Each query that takes an assistants filter, and its figure over the chosen assistants' steps (and runs).
FILTERED: dict[str, Any] = {
    "overview": lambda runs, steps, names: [overview(runs, steps)],
    "tokens_by_assistant_day": lambda runs, steps, names: tokens_by_assistant_day(steps, names),
    "tokens_by_assistant": lambda runs, steps, names: tokens_by_assistant(steps, names),
    "steps_by_type_status": lambda runs, steps, names: steps_by_type_status(steps),
    "tool_calls_by_day": lambda runs, steps, names: tool_calls_by_day(steps),
    "tool_usage_by_assistant": lambda runs, steps, names: tool_usage_by_assistant(steps, names),
    "step_duration_percentiles": lambda runs, steps, names: step_duration_percentiles(steps),
    "step_duration_histogram": lambda runs, steps, names: step_duration_histogram(steps),
    "failure_rates_by_day": lambda runs, steps, names: failure_rates_by_day(steps),
    "function_calls_missing_output": lambda runs, steps, names: function_calls_missing_output(
        steps, include_in_progress=False
    ),
    "file_search_top_files": lambda runs, steps, names: file_search_top_files(steps, 20),
    "file_search_score_distribution": lambda runs, steps, names: file_search_score_distribution(steps, 10),
    "top_runs": lambda runs, steps, names: top_runs(runs, steps, by="steps", limit=20),
    "top_threads": lambda runs, steps, names: top_threads(steps, by="steps", limit=20),
    "cost_by_assistant_day": lambda runs, steps, names: cost_by_assistant_day(runs, names),
    "cost_by_model": lambda runs, steps, names: cost_by_model(runs),
    "top_threads_by_cost": lambda runs, steps, names: top_threads_by_cost(runs, 20),
}


@pytest.mark.parametrize("name", sorted(FILTERED))
def test_assistants_filter(exported: Exported, con: duckdb.DuckDBPyConnection, name: str) -> None:
    assistants = sorted({s["assistant_id"] for s in exported.steps})
    assert len(assistants) > 2
    chosen = set(assistants[:2])
    runs = [r for r in exported.runs if r["assistant_id"] in chosen]
    steps = [s for s in exported.steps if s["assistant_id"] in chosen]
    expected = FILTERED[name](runs, steps, exported.names)
    assert expected != FILTERED[name](exported.runs, exported.steps, exported.names), "the filter should change it"
    got = _run(con, name, {"assistants": ",".join(sorted(chosen))})
    _assert_rows(got, expected)


def test_every_query_takes_the_assistants_filter_it_can() -> None:
    takes = {f.name for f in sqlfiles.sql_files("queries").values() if "assistants" in f.params}
    assert takes == set(FILTERED) | {"era_by_day", "era_tool_mix"}  # the era queries: their own tests below


def test_every_query_is_compared() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert set(sqlfiles.sql_files("queries")) <= tested


# -- the two eras side by side: aggregates of the cross-era views (test_era_views checks those against the truth) --


@pytest.fixture(scope="module", params=["duckdb", "parquet"])
def eras_con(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with sqlrun.open_sql_connection(shared_eras(tmp_path_factory).dest(request.param)) as connection:
        yield connection


def era_by_day(units: Iterable[Row]) -> list[Row]:
    groups: dict[tuple[str, date], list[Row]] = defaultdict(list)
    for unit in units:
        groups[(unit["era"], unit["day"])].append(unit)
    rows = []
    for (era, day), group in sorted(groups.items(), key=lambda i: (i[0][1], i[0][0])):
        costs = [u["cost_usd"] for u in group if u["cost_usd"] is not None]
        rows.append(
            {
                "era": era,
                "day": day,
                "units": len(group),
                "failed": sum(1 for u in group if u["failed"]),
                **{k: sum(u[k] or 0 for u in group) for k in ("input_tokens", "output_tokens", "total_tokens")},
                "cost_usd": sum(costs) if costs else None,
                "unpriced_units": sum(1 for u in group if not u["priced"]),
            }
        )
    return rows


def era_tool_mix(calls: Iterable[Row]) -> list[Row]:
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for call in calls:
        groups[(call["era"], call["tool"])].append(call["unit_id"])
    rows = [
        {"era": era, "tool": tool, "calls": len(ids), "units": len(set(ids))} for (era, tool), ids in groups.items()
    ]
    return sorted(rows, key=lambda r: (r["era"], -r["calls"], r["tool"]))


def test_era_by_day(eras_con: duckdb.DuckDBPyConnection) -> None:
    units = sqlrun.run_sql(eras_con, "SELECT * FROM era_units").to_pylist()
    expected = era_by_day(units)
    assert {r["era"] for r in expected} == {"assistants", "responses"}
    _assert_rows(_run(eras_con, "era_by_day"), expected)
    agents = sorted({u["agent"] for u in units if u["era"] == "responses" and u["agent"]})[:1]
    agents += sorted({u["agent"] for u in units if u["era"] == "assistants"})[:1]
    chosen = era_by_day([u for u in units if u["agent"] in agents])
    assert chosen != expected and {r["era"] for r in chosen} == {"assistants", "responses"}
    _assert_rows(_run(eras_con, "era_by_day", {"assistants": ",".join(agents)}), chosen)


def test_era_tool_mix(eras_con: duckdb.DuckDBPyConnection) -> None:
    calls = sqlrun.run_sql(eras_con, "SELECT * FROM era_tool_calls").to_pylist()
    expected = era_tool_mix(calls)
    assert {r["era"] for r in expected} == {"assistants", "responses"}
    _assert_rows(_run(eras_con, "era_tool_mix"), expected)
    days = sorted({c["day"] for c in calls})
    assert len(days) > 2
    window = {"since": days[1].isoformat(), "until": days[-1].isoformat()}
    _assert_rows(
        _run(eras_con, "era_tool_mix", window), era_tool_mix(c for c in calls if days[1] <= c["day"] < days[-1])
    )
