"""``runsteps sql``: the ready-made queries and checks of ``sql/``, and your own SQL, over either destination."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
import pyarrow as pa

from etl import sqlfiles, sqlrun
from etl.cli._common import DEFAULT_DEST, handle_errors
from etl.cli._format import FORMATS, render
from etl.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_CHECKS_FAILED = 1  # a broken rule is neither a usage error (2) nor a partial export (3)


def _dest_option(func: F) -> F:
    return click.option(
        "--dest",
        default=DEFAULT_DEST,
        show_default=True,
        help="*.duckdb file (opened read-only), or a Parquet root: a directory or s3://bucket/prefix.",
    )(func)


def _format_option(func: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format. BLOBs print as base64; INTERVALs, and times outside years 1-9999 ('infinity') or in "
        "nanoseconds, as DuckDB's text.",
    )(func)


def _param_option(func: F) -> F:
    return click.option(
        "--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="Bind $NAME to VALUE (repeatable)."
    )(func)


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` pairs as a dict (a later pair wins); anything else is an ``InputError``."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--param {pair!r} is not of the form NAME=VALUE: give -p NAME=VALUE, one a parameter")
        params[name.strip()] = value
    return params


def read_statement(statement: str) -> str:
    """The SQL text of STATEMENT (``-``: all of stdin), which must be UTF-8: anything else is an ``InputError``.

    Both are read as bytes: Python decodes a command line (and stdin in the C locale) with surrogateescape, and
    DuckDB refuses a str holding such escapes (a TypeError); stdin elsewhere would raise UnicodeDecodeError.
    """
    raw = sys.stdin.buffer.read() if statement == "-" else os.fsencode(statement)
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark, as editors on Windows save one, is not SQL
    except UnicodeDecodeError as exc:
        raise InputError(f"the SQL is not UTF-8 text ({exc.reason} at byte {exc.start}): give it as UTF-8") from None


@click.group()
def sql() -> None:
    """Analyse the exported run steps in SQL: ready-made queries, checks, your own.

    The tables keep their names (runs, run_steps, tool_calls, code_interpreter_outputs, file_search_results)
    over either kind of destination; the views of sql/views are there too.
    """


@sql.command("list")
@_format_option
def list_(fmt: str) -> None:
    """List the queries, checks and views: what each answers, its parameters."""
    files = [f for kind in sqlfiles.KINDS for f in sqlfiles.sql_files(kind).values()]
    table = pa.table(
        {
            "kind": [sqlfiles.SINGULAR[f.kind] for f in files],
            "name": [f.name for f in files],
            "params": [", ".join(f"{k}={v if v is not None else 'NULL'}" for k, v in f.params.items()) for f in files],
            "description": [f.description for f in files],
        }
    )
    click.echo(render(table, fmt), nl=False)


@sql.command()
@click.argument("name")
@_param_option
@_dest_option
@_format_option
@handle_errors
def run(name: str, params: tuple[str, ...], dest: str, fmt: str) -> None:
    """Run the query NAME (see `runsteps sql list`); --param overrides defaults."""
    values = parse_params(params)
    sqlfiles.sql_file("queries", name).bind(values)  # a wrong name or parameter fails before opening dest
    with sqlrun.open_sql_connection(dest) as con:
        result = sqlrun.run_query(con, name, values)
    click.echo(render(result, fmt), nl=False)


@sql.command()
@click.argument("statement")
@_param_option
@_dest_option
@_format_option
@handle_errors
def query(statement: str, params: tuple[str, ...], dest: str, fmt: str) -> None:
    """Run your own SQL STATEMENT ('-' reads stdin); --param binds $NAME."""
    text = read_statement(statement)
    if not text.strip():
        raise InputError("the statement is empty: give SQL text, or - to read it from stdin")
    values = parse_params(params)
    with sqlrun.open_sql_connection(dest) as con:
        result = sqlrun.run_sql(con, text, values)
    click.echo(render(result, fmt), nl=False)


@sql.command()
@click.argument("names", nargs=-1)
@click.option("--sample", default=5, show_default=True, type=click.IntRange(min=0), help="Broken rows shown.")
@_dest_option
@_format_option
@handle_errors
def check(names: tuple[str, ...], sample: int, dest: str, fmt: str) -> None:
    """Run the data checks (all, or NAMES); exit 1 when a rule of severity error is broken (warnings: 0)."""
    results = sqlrun.run_checks(dest, names, sample_size=sample)
    for result in results:
        if result.passed:
            click.echo(f"ok    {result.name}: {result.rule}")
            continue
        broken = "1 row breaks it" if result.violations == 1 else f"{result.violations} rows break it"
        click.echo(f"{result.verdict:<5} {result.name}: {result.rule} ({broken})")
        if result.sample.num_rows:
            click.echo(render(result.sample, fmt))
    failed = [r.name for r in results if r.failed]
    warned = [r.name for r in results if not r.passed and not r.failed]
    click.echo(
        f"{sum(r.passed for r in results)} of {len(results)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; warnings: {', '.join(warned)}" if warned else "")
    )
    if failed:
        raise SystemExit(EXIT_CHECKS_FAILED)
