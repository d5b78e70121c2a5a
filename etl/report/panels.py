"""What the report shows: each panel names the query of ``sql/queries`` it draws and how (a Vega-Lite spec).

A spec holds no data and computes nothing: it reads the named dataset ``rows`` (the query's result, filled in
by the page) and only encodes its columns. A panel whose query this version lacks (cost before prices are
there, say) is shown with its ``missing`` sentence instead of a chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Spec = dict[str, Any]

_DAY = {
    "field": "day",
    "type": "temporal",
    "timeUnit": "utcyearmonthdate",
    "title": None,
    "axis": {"format": "%b %d", "labelAngle": -45, "grid": False},
}
# The states of runs and steps in colours that say good, bad and still going, the same in every chart.
_STATUS_SCALE = {
    "domain": [
        "completed", "in_progress", "queued", "requires_action", "cancelling",
        "cancelled", "incomplete", "expired", "failed",
    ],
    "range": [
        "#59a14f", "#4e79a7", "#a0cbe8", "#76b7b2", "#bab0ac",
        "#9d9d9d", "#edc948", "#f28e2b", "#e15759",
    ],
}  # fmt: skip
_ASSISTANT_COLOR = {"field": "assistant", "type": "nominal", "title": "assistant", "legend": {"orient": "bottom"}}
# An assistant's label: its name where the query gives one, else its id.
_ASSISTANT_LABEL = {"calculate": "datum.assistant_name || datum.assistant_id || '(none)'", "as": "assistant"}
# A duration group's label: its tool type, or its step type for steps without tools.
_KIND = {"calculate": "datum.tool_type || datum.step_type", "as": "kind"}
_COST_VIEW = "run_costs"
_NOT_PRICED = "Not priced: this version has no cost views or queries yet."
UNPRICED = "Not priced: no run here has a price for its model (runsteps prices lists what is missing)."


@dataclass(frozen=True)
class Panel:
    """One chart or table of the report, drawn from one query of ``sql/queries``."""

    id: str
    section: str
    title: str
    query: str
    spec: Spec | None = None  # Vega-Lite, without data
    params: Mapping[str, str] = field(default_factory=dict)  # besides since/until/assistants
    table: tuple[str, ...] = ()  # columns listed in a table under the chart (or instead of it)
    max_rows: int = 2000  # a longer result is cut (the page says so); top-N queries stay far below
    missing: str = "This version has no query {query}."
    needs: str | None = None  # a view of sql/views the query relies on (the cost views, say)
    measure: str | None = None  # the column drawn; all NULL (no run priced) shows ``unmeasured`` instead of a chart
    only_if: tuple[str, str] | None = None  # (column, value): left out unless some row holds it (a second era)
    wide: bool = False


def _bars(y: Spec, x: Spec, color: Spec | None = None, **extra: Any) -> Spec:
    encoding: Spec = {"x": x, "y": y}
    if color is not None:
        encoding["color"] = color
    return {"mark": {"type": "bar", "tooltip": True}, "encoding": encoding, **extra}


def _top(by: str, label: str, title: str, color: Spec | None = None) -> Spec:
    """Horizontal bars of a top-N query, longest first (the query's order), one 22-pixel row each."""
    return _bars(
        height={"step": 22},
        y={"field": label, "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 260}},
        x={"field": by, "type": "quantitative", "title": title},
        color=color,
    )


def _whole(value: str) -> Spec:
    """Axis ticks of whole numbers, except for amounts of money."""
    return {} if value.endswith("_usd") else {"tickMinStep": 1}


def _per_day(value: str, title: str, color: Spec) -> Spec:
    """Bars per UTC day stacked by ``color``, a gap between days."""
    return {
        **_bars(
            x=_DAY,
            y={"field": value, "type": "quantitative", "title": title, "stack": "zero", "axis": _whole(value)},
            color=color,
        ),
        "mark": {"type": "bar", "tooltip": True, "width": {"band": 0.82}},
    }


PANELS: tuple[Panel, ...] = (
    Panel(
        "tokens_per_day",
        "Tokens and cost",
        "Tokens per day, by assistant",
        "tokens_by_assistant_day",
        {"transform": [_ASSISTANT_LABEL], **_per_day("total_tokens", "tokens", _ASSISTANT_COLOR)},
        wide=True,
    ),
    Panel(
        "cost_per_day",
        "Tokens and cost",
        "Cost per day (USD), by assistant",
        "cost_by_assistant_day",
        {"transform": [_ASSISTANT_LABEL], **_per_day("cost_usd", "USD", _ASSISTANT_COLOR)},
        missing=_NOT_PRICED,
        needs=_COST_VIEW,
        measure="cost_usd",
        wide=True,
    ),
    Panel(
        "cost_by_model",
        "Tokens and cost",
        "Cost by model (USD)",
        "cost_by_model",
        {
            "transform": [{"fold": ["input_usd", "cached_input_usd", "output_usd"], "as": ["part", "usd"]}],
            **_top(
                "usd",
                "model",
                "USD",
                {
                    "field": "part",
                    "type": "nominal",
                    "title": "tokens",
                    "scale": {
                        "domain": ["input_usd", "cached_input_usd", "output_usd"],
                        "range": ["#4e79a7", "#a0cbe8", "#f28e2b"],
                    },
                    # input_usd -> input, cached_input_usd -> cached input
                    "legend": {"orient": "bottom", "labelExpr": "replace(replace(datum.label, '_usd', ''), '_', ' ')"},
                },
            ),
        },
        missing=_NOT_PRICED,
        needs=_COST_VIEW,
        measure="cost_usd",
    ),
    Panel(
        "cost_by_assistant",
        "Tokens and cost",
        "Assistants by cost (USD), one segment a day",
        "cost_by_assistant_day",
        {
            "transform": [_ASSISTANT_LABEL],
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "assistant", "type": "nominal", "title": None, "axis": {"labelLimit": 260}},
                "x": {"field": "cost_usd", "type": "quantitative", "title": "USD", "stack": "zero"},
                "color": {**_ASSISTANT_COLOR, "legend": None},  # the colours of the per-day charts
            },
            "height": 160,
        },
        missing=_NOT_PRICED,
        needs=_COST_VIEW,
        measure="cost_usd",
    ),
    Panel(
        "era_units_per_day",
        "Assistants and Responses",
        "Runs and responses per day",
        "era_by_day",
        _per_day("units", "runs / responses", {"field": "era", "type": "nominal", "legend": {"orient": "bottom"}}),
        only_if=("era", "responses"),
    ),
    Panel(
        "era_tool_mix",
        "Assistants and Responses",
        "Tool calls in each era",
        "era_tool_mix",
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "tool", "type": "nominal", "title": None, "axis": {"labelLimit": 260}},
                "yOffset": {"field": "era"},
                "x": {"field": "calls", "type": "quantitative", "title": "tool calls"},
                "color": {"field": "era", "type": "nominal", "legend": {"orient": "bottom"}},
            },
            "height": {"step": 14},  # rows are era x tool: two bars to a tool
        },
        only_if=("era", "responses"),
    ),
    Panel(
        "steps_by_type_status",
        "Steps",
        "Steps by type and status",
        "steps_by_type_status",
        _bars(
            y={"field": "type", "type": "nominal", "title": None},
            x={"field": "steps", "type": "quantitative", "title": "steps"},
            color={"field": "status", "type": "nominal", "scale": _STATUS_SCALE, "legend": {"orient": "bottom"}},
            height={"step": 14},  # rows are type x status: a few types, each a bar of its statuses
        ),
    ),
    Panel(
        "tool_calls_per_day",
        "Steps",
        "Tool calls per day, by tool type",
        "tool_calls_by_day",
        _per_day("tool_calls", "tool calls", {"field": "tool_type", "type": "nominal", "legend": {"orient": "bottom"}}),
    ),
    Panel(
        "tool_usage",
        "Steps",
        "Which tools each assistant calls",
        "tool_usage_by_assistant",
        {
            "transform": [
                _ASSISTANT_LABEL,
                {
                    "calculate": "datum.function_name ? 'function ' + datum.function_name : datum.tool_type",
                    "as": "tool",
                },
            ],
            "mark": {"type": "rect", "tooltip": True},
            "encoding": {
                "x": {"field": "tool", "type": "nominal", "title": None, "axis": {"labelAngle": -30}},
                "y": {"field": "assistant", "type": "nominal", "title": None, "axis": {"labelLimit": 260}},
                "color": {"field": "calls", "type": "quantitative", "scale": {"scheme": "blues"}},
            },
        },
        wide=True,
    ),
    Panel(
        "duration_histogram",
        "Step durations",
        "How long completed steps take",
        "step_duration_histogram",
        {
            "transform": [_KIND],
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {
                    "field": "label",
                    "type": "ordinal",
                    "sort": {"field": "bucket"},
                    "title": "duration",
                    "axis": {"labelAngle": -30},
                },
                "xOffset": {"field": "kind"},
                "y": {"field": "steps", "type": "quantitative", "title": "steps"},
                "color": {
                    "field": "kind",
                    "type": "nominal",
                    "title": "tool (or step type)",
                    "legend": {"orient": "bottom"},
                },
            },
        },
    ),
    Panel(
        "duration_percentiles",
        "Step durations",
        "Step duration p50 / p90 / p99 (seconds)",
        "step_duration_percentiles",
        {
            "transform": [
                _KIND,
                {"fold": ["p50_s", "p90_s", "p99_s"], "as": ["percentile", "seconds"]},
            ],
            "mark": {"type": "point", "filled": True, "size": 90, "tooltip": True},
            "encoding": {
                "y": {"field": "kind", "type": "nominal", "title": None, "axis": {"labelLimit": 260}},
                "x": {"field": "seconds", "type": "quantitative", "title": "seconds"},
                "color": {"field": "percentile", "type": "nominal", "legend": {"orient": "bottom"}},
                "shape": {"field": "percentile", "type": "nominal"},
            },
        },
    ),
    Panel(
        "failures_per_day",
        "Failures",
        "Failed and expired steps per day, by error code",
        "failure_rates_by_day",
        {
            "transform": [{"calculate": "datum.status + ': ' + (datum.error_code || 'no code')", "as": "error"}],
            **_per_day("steps", "steps", {"field": "error", "type": "nominal", "legend": {"orient": "bottom"}}),
        },
        wide=True,
    ),
    Panel(
        "top_runs_by_steps",
        "Top runs, threads and assistants",
        "Runs with the most steps",
        "top_runs",
        _top(
            "steps",
            "run_id",
            "steps",
            {"field": "run_status", "type": "nominal", "scale": _STATUS_SCALE, "legend": {"orient": "bottom"}},
        ),
        params={"by": "steps", "limit": "15"},
    ),
    Panel(
        "top_threads_by_steps",
        "Top runs, threads and assistants",
        "Threads with the most steps",
        "top_threads",
        _top("steps", "thread_id", "steps"),
        params={"by": "steps", "limit": "15"},
    ),
    Panel(
        "top_runs_by_cost",
        "Top runs, threads and assistants",
        "Runs that cost most (USD)",
        "top_runs",
        _top("cost_usd", "run_id", "USD"),
        params={"by": "cost", "limit": "15"},
        missing=_NOT_PRICED,
        needs=_COST_VIEW,
        measure="cost_usd",
    ),
    Panel(
        "top_threads_by_cost",
        "Top runs, threads and assistants",
        "Threads that cost most (USD)",
        "top_threads_by_cost",
        _top("cost_usd", "thread_id", "USD"),
        params={"limit": "15"},
        missing=_NOT_PRICED,
        needs=_COST_VIEW,
        measure="cost_usd",
    ),
    Panel(
        "top_assistants_by_steps",
        "Top runs, threads and assistants",
        "Assistants by steps",
        "tokens_by_assistant",
        {"transform": [_ASSISTANT_LABEL], **_top("steps", "assistant", "steps")},
    ),
    Panel(
        "top_assistants_by_tokens",
        "Top runs, threads and assistants",
        "Assistants by tokens",
        "tokens_by_assistant",
        {"transform": [_ASSISTANT_LABEL], **_top("total_tokens", "assistant", "tokens")},
    ),
    Panel(
        "file_search_top_files",
        "File search",
        "Files retrieved most often",
        "file_search_top_files",
        {
            # Names repeat across files: the id keeps each bar one file.
            "transform": [{"calculate": "(datum.file_name || '') + ' · ' + datum.file_id", "as": "file"}],
            **_top("results", "file", "results", {"field": "avg_score", "type": "quantitative", "title": "avg score"}),
        },
        params={"limit": "15"},
    ),
    Panel(
        "file_search_scores",
        "File search",
        "File search result scores",
        "file_search_score_distribution",
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {"field": "score_from", "type": "quantitative", "bin": {"binned": True}, "title": "score"},
                "x2": {"field": "score_to"},
                "y": {"field": "results", "type": "quantitative", "title": "results"},
            },
        },
    ),
    Panel(
        "unanswered_function_calls",
        "Function calls never answered",
        "Function calls whose output was never submitted",
        "function_calls_missing_output",
        {
            "mark": {"type": "tick", "thickness": 2, "tooltip": True},
            "encoding": {
                "x": {"field": "created_at", "type": "temporal", "scale": {"type": "utc"}, "title": None},
                "y": {"field": "function_name", "type": "nominal", "title": None},
                "color": {
                    "field": "step_status",
                    "type": "nominal",
                    "scale": _STATUS_SCALE,
                    "legend": {"orient": "bottom"},
                },
            },
        },
        table=("created_at", "function_name", "step_status", "step_error_code", "thread_id", "run_id", "step_id"),
        wide=True,
    ),
)
