"""The cross-era views (era_units, era_daily, era_tool_calls, response_costs) over run steps and responses exported
from the fake into one destination equal the same totals worked out by hand from the fake's truth and the stored
model_prices, on DuckDB and Parquet."""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from etl.config import Secret, Settings
from etl.fakeapi import FakeServer
from etl.pipeline import ExportOptions, Sources, run_export
from etl.pipeline_responses import ResponseSources, run_responses_export
from etl.sqlrun import open_sql_connection, run_sql

FAILED = {"failed", "cancelled", "expired", "incomplete"}
Json = dict[str, Any]


@pytest.fixture(params=["duckdb", "parquet"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / ("eras.duckdb" if request.param == "duckdb" else "eras"))


def _unit(era: str, uid: str, agent: str | None, model: str, status: str, created: float, completed: int | None,
          usage: Json | None, *, cached: int | None) -> Json:  # fmt: skip
    usage = usage or {}
    inp = usage.get("prompt_tokens", usage.get("input_tokens"))
    out = usage.get("completion_tokens", usage.get("output_tokens"))
    created_at = datetime.fromtimestamp(int(created), UTC)
    return {
        "era": era, "unit_id": uid, "agent": agent, "model": model, "status": status, "created_at": created_at,
        "day": created_at.date(), "failed": status in FAILED, "input_tokens": inp, "output_tokens": out,
        "cached": cached, "duration_s": None if completed is None else completed - int(created),
    }  # fmt: skip


def _units(server: FakeServer) -> list[Json]:
    """Every run and response of the truth, with what era_units says of it."""
    units = []
    for run in server.truth.runs:
        usage = run.get("usage") or {}
        details = usage.get("prompt_token_details") or usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens")
        units.append(_unit("assistants", run["id"], run["assistant_id"], run["model"], run["status"],
                           run["created_at"], run.get("completed_at"), usage, cached=cached))  # fmt: skip
    for rid, response in server.responses.truth.responses.items():
        usage = response["usage"] or {}
        agent = response.get("agent") or response.get("prompt") or {}
        units.append(_unit("responses", rid, agent.get("name") or agent.get("id"), response["model"],
                           response["status"], response["created_at"], response["completed_at"], usage,
                           cached=(usage.get("input_tokens_details") or {}).get("cached_tokens")))  # fmt: skip
    return units


def _cost(unit: Json, prices: list[Json]) -> float | None:
    """The unit's cost at the stored price of its model on its date, as the README's Costs section defines it."""
    unit["priced"] = False
    for price in prices:
        valid_to = price["valid_to"]
        if (
            price["model"] == unit["model"]
            and price["valid_from"] <= unit["created_at"]
            and (valid_to is None or unit["created_at"] < valid_to)
        ):
            unit["priced"] = True
            if unit["input_tokens"] is None:
                return None
            cached = unit["cached"] or 0
            cached_price = price["cached_input_usd_per_mtok"] or price["input_usd_per_mtok"]
            return float(
                (unit["input_tokens"] - cached) * price["input_usd_per_mtok"] / 1e6
                + cached * cached_price / 1e6
                + unit["output_tokens"] * price["output_usd_per_mtok"] / 1e6
            )
    return None


def test_cross_era_views_equal_the_truth_worked_out_by_hand(
    fake_api_factory: Callable[..., FakeServer], dest: str
) -> None:
    server = fake_api_factory(fault_rate=0.2, fault_kinds=("429-ms", "500", "drop"), retry_after_ms=1)
    settings = Settings(api_key=Secret("sk-fake"), base_url=server.base_url, max_retries=8)
    runs = run_export(settings, Sources(threads=server.thread_ids), ExportOptions(dest=dest))
    assert runs.exit_code == 0
    successors = server.responses.truth
    sources = ResponseSources(responses=tuple(successors.responses), conversations=tuple(successors.conversations))
    responses = run_responses_export(dataclasses.replace(settings, api="responses"), sources, ExportOptions(dest=dest))
    assert responses.exit_code == 0

    with open_sql_connection(dest) as con:
        prices = run_sql(con, "SELECT * FROM model_prices").to_pylist()
        era_units = run_sql(con, "SELECT * FROM era_units").to_pylist()
        era_daily = run_sql(con, "SELECT * FROM era_daily").to_pylist()
        tools = run_sql(con, "SELECT era, tool, count(*) AS n FROM era_tool_calls GROUP BY era, tool").to_pylist()
    units = _units(server)
    for unit in units:
        unit["cost_usd"] = _cost(unit, prices)
    assert any(u["cost_usd"] for u in units if u["era"] == "responses")
    assert any(u["cost_usd"] for u in units if u["era"] == "assistants")

    # one row per unit, with what the truth says of it
    got = {(u["era"], u["unit_id"]): u for u in era_units}
    assert set(got) == {(u["era"], u["unit_id"]) for u in units}
    for unit in units:
        row = got[(unit["era"], unit["unit_id"])]
        for column in ("agent", "model", "status", "day", "failed", "input_tokens", "output_tokens", "duration_s"):
            assert row[column] == unit[column], (unit["unit_id"], column)
        assert row["cost_usd"] == pytest.approx(unit["cost_usd"]), unit["unit_id"]
        assert row["priced"] == (unit["cost_usd"] is not None or (unit["input_tokens"] is None and row["priced"]))

    # per era, day and agent: units, failures, tokens, cost, durations
    by_group: defaultdict[tuple[Any, ...], list[Json]] = defaultdict(list)
    for unit in units:
        by_group[(unit["era"], unit["day"], unit["agent"])].append(unit)
    assert {(r["era"], r["day"], r["agent"]) for r in era_daily} == set(by_group)
    for row in era_daily:
        group = by_group[(row["era"], row["day"], row["agent"])]
        costs = [u["cost_usd"] for u in group if u["cost_usd"] is not None]
        durations = [u["duration_s"] for u in group if u["duration_s"] is not None]
        assert row["units"] == len(group)
        assert row["failed"] == sum(u["failed"] for u in group)
        assert row["input_tokens"] == (sum(u["input_tokens"] for u in group if u["input_tokens"] is not None)
                                       if any(u["input_tokens"] is not None for u in group) else None)  # fmt: skip
        assert row["cost_usd"] == (pytest.approx(sum(costs)) if costs else None)
        assert row["median_duration_s"] == (pytest.approx(statistics.median(durations)) if durations else None)
    for era in ("assistants", "responses"):
        total = sum(u["cost_usd"] or 0 for u in units if u["era"] == era)
        assert sum(r["cost_usd"] or 0 for r in era_daily if r["era"] == era) == pytest.approx(total)

    # the tool call mix: run step tool calls and the tool call items responses output, one name per tool
    expected_tools: Counter[tuple[str, str]] = Counter()
    for step in server.truth.steps:
        for call in (step.get("step_details") or {}).get("tool_calls") or []:
            expected_tools[("assistants", call["type"])] += 1
    for response in successors.responses.values():
        for item in response["output"]:
            kind = item["type"]
            if kind.endswith("_call") or kind in ("mcp_list_tools", "mcp_approval_request"):
                expected_tools[("responses", kind.removesuffix("_call"))] += 1
    assert {(r["era"], r["tool"]): r["n"] for r in tools} == dict(expected_tools)
    assert expected_tools[("assistants", "function")] and expected_tools[("responses", "function")]
