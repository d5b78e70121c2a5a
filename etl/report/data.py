"""What a report holds: every panel's query result over one destination, the headline figures and the checks.

Each figure comes from a file of ``sql/`` run through ``etl.sqlrun`` on the same read-only connection that
``runsteps sql`` uses; nothing here computes a figure of its own, it only runs queries and makes their rows
JSON-ready (dates and times as ISO-8601 text, decimals as floats).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from etl import sqlfiles, sqlrun
from etl.extract.ids import validate_id
from etl.extract.sources import parse_instant
from etl.preflight import check_order
from etl.report.panels import PANELS, Panel

Row = dict[str, Any]
OVERVIEW_QUERY = "overview"


@dataclass(frozen=True)
class Scope:
    """What the report covers: a ``[since, until)`` window (UTC) and some assistants (none given: all)."""

    since: datetime | None = None
    until: datetime | None = None
    assistants: tuple[str, ...] = ()

    @classmethod
    def parse(cls, since: str | None, until: str | None, assistants: Sequence[str] = ()) -> Scope:
        """The scope of ``--since``/``--until``/``--assistant``, checked before any destination is opened."""
        start = _instant(since, "--since")
        end = _instant(until, "--until")
        check_order(start, end)
        ids = tuple(dict.fromkeys(validate_id("assistant", value) for value in assistants))
        return cls(start, end, ids)

    def params(self) -> dict[str, str]:
        """The values of the queries' ``since``, ``until`` and ``assistants`` parameters (unset ones left out)."""
        values: dict[str, str] = {}
        if self.since is not None:
            values["since"] = self.since.isoformat()
        if self.until is not None:
            values["until"] = self.until.isoformat()
        if self.assistants:
            values["assistants"] = ",".join(self.assistants)
        return values


@dataclass(frozen=True)
class PanelData:
    """One panel with its query's result: the rows shown (at most ``panel.max_rows``) and how many there were."""

    panel: Panel
    params: dict[str, object] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    total_rows: int = 0
    missing: str | None = None  # why there is no result: the query is not in this version
    unmeasured: bool = False  # rows, but the measure the chart draws is NULL in all of them (nothing priced)
    hidden: bool = False  # the panel's only_if does not hold: nothing of it is shown
    unscoped: tuple[str, ...] = ()  # scope parameters the query does not take (its result ignores them)

    @property
    def command(self) -> str:
        """The ``runsteps sql run`` line that prints the same result."""
        given = " ".join(f"-p {name}={value}" for name, value in self.params.items() if value is not None)
        return f"runsteps sql run {self.panel.query}" + (f" {given}" if given else "")


@dataclass(frozen=True)
class CheckRow:
    """One data check of ``sql/checks`` over the whole destination."""

    name: str
    rule: str
    violations: int
    sample: list[Row]
    verdict: str  # ok, WARN (a broken rule of severity warning) or FAIL, as `runsteps sql check` says


@dataclass(frozen=True)
class ReportData:
    """Everything one report page shows."""

    dest: str
    scope: Scope
    generated_at: datetime
    overview: Row
    panels: list[PanelData]
    checks: list[CheckRow]
    exports: Sequence[Mapping[str, object]]  # the latest export summaries (schema drift), newest first

    @property
    def empty(self) -> bool:
        """True when the destination holds nothing in the scope: no runs, no steps, and no era panel shown (those
        show when responses are there: a destination of Responses alone has rows only in them)."""
        if self.overview.get("steps") or self.overview.get("runs"):
            return False
        return not any(p.total_rows for p in self.panels if p.panel.only_if is not None and not p.hidden)


def collect(
    con: duckdb.DuckDBPyConnection, scope: Scope, panels: Sequence[Panel] = PANELS
) -> tuple[Row, list[PanelData]]:
    """The headline figures and every panel's query result over one connection (each query run once)."""
    results: dict[tuple[str, tuple[tuple[str, object], ...]], pa.Table] = {}

    def run(name: str, params: dict[str, object]) -> pa.Table:
        key = (name, tuple(sorted(params.items())))
        if key not in results:
            results[key] = sqlrun.run_sql(con, sqlfiles.sql_file("queries", name).body, params)
        return results[key]

    overview = run(OVERVIEW_QUERY, bind(OVERVIEW_QUERY, scope))
    return (json_rows(overview) or [{}])[0], [panel_data(panel, scope, run) for panel in panels]


def bind(name: str, scope: Scope, extra: Mapping[str, str] | None = None) -> dict[str, object]:
    """The parameters of query ``name``: the scope's that it declares, then ``extra``, then its defaults."""
    query = sqlfiles.sql_file("queries", name)
    given = {k: v for k, v in scope.params().items() if k in query.params}
    return query.bind({**given, **(extra or {})})


def panel_data(panel: Panel, scope: Scope, run: Callable[[str, dict[str, object]], pa.Table]) -> PanelData:
    """One panel's query result in the scope; a query this version lacks gives the panel's ``missing`` sentence."""
    if panel.query not in sqlfiles.sql_files("queries") or (
        panel.needs is not None and panel.needs not in sqlfiles.sql_files("views")
    ):
        return PanelData(panel, missing=panel.missing.format(query=panel.query))
    declared = sqlfiles.sql_file("queries", panel.query).params
    params = bind(panel.query, scope, panel.params)
    table = run(panel.query, params)
    return PanelData(
        panel,
        params={k: v for k, v in params.items() if v != declared.get(k)},
        columns=table.column_names,
        rows=json_rows(table.slice(0, panel.max_rows)),
        total_rows=table.num_rows,
        unscoped=tuple(name for name in scope.params() if name not in declared),
        unmeasured=panel.measure is not None and 0 < table.num_rows == table.column(panel.measure).null_count,
        hidden=panel.only_if is not None and panel.only_if[1] not in table.column(panel.only_if[0]).to_pylist(),
    )


def run_all_checks(con: duckdb.DuckDBPyConnection, sample_size: int = 5) -> list[CheckRow]:
    """Every check of ``sql/checks`` over the whole destination, with a few of the rows that break each."""
    results = [sqlrun.check(con, name, sample_size=sample_size) for name in sqlfiles.sql_files("checks")]
    return [CheckRow(r.name, r.rule, r.violations, json_rows(r.sample), r.verdict) for r in results]


def json_rows(table: pa.Table) -> list[Row]:
    """A result's rows as JSON-ready dicts."""
    return [{key: json_value(value) for key, value in row.items()} for row in table.to_pylist()]


def json_value(value: object) -> object:
    """One value as JSON can hold it: times and dates as ISO-8601 text, decimals as floats, NaN as null."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _instant(text: str | None, what: str) -> datetime | None:
    return None if text is None else datetime.fromtimestamp(parse_instant(text, what), UTC)
