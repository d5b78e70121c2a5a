"""Helpers for the report tests: read the data a report page embeds, and the same queries run directly."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from etl import sqlrun

_DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def embedded(page: str) -> dict[str, Any]:
    """The JSON block a report page draws from."""
    match = _DATA.search(page)
    assert match, "the page holds no report-data block"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def plain(value: object) -> object:
    """A query's value the way JSON carries it: ISO-8601 text for times and dates, floats for decimals."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def query_rows(dest: str | duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``runsteps sql run NAME -p ...`` over ``dest`` (or a connection of sqlrun's), as JSON has them."""
    if isinstance(dest, str):
        with sqlrun.open_sql_connection(dest) as con:
            return query_rows(con, name, params)
    table = sqlrun.run_query(dest, name, params)
    return [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()]
