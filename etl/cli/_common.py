"""What every command shares: ``etl.errors`` as one-line messages and exit codes, and the summary printer."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import click

from etl.errors import EtlError
from etl.load import DUCKDB_STORAGE_VERSION
from etl.sharding import Shard
from etl.summary import Metrics

DEFAULT_DEST = "./runsteps.duckdb"

shard_option = click.option(
    "--shard",
    default=str(Shard()),
    show_default=True,
    metavar="I/N",
    help="Only the runs whose id hashes to shard I of N.",
)

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command body; an ``EtlError`` becomes ``error: <message>`` on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EtlError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper


def print_summary(summary: Metrics, metrics_json: bool) -> None:
    """The summary's lines on stderr and, with --metrics-json, its metrics as the last stdout line."""
    for line in summary.lines():
        click.echo(line, err=True)
    if metrics_json:
        click.echo(json.dumps(summary.as_dict(), sort_keys=True))


def duckdb_storage_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--duckdb-storage-version: the storage format of a DuckDB file the command creates."""
    return click.option(
        "--duckdb-storage-version",
        default=DUCKDB_STORAGE_VERSION,
        show_default=True,
        metavar="latest|vX.Y.Z",
        help="Format of a new DuckDB file: the oldest DuckDB release that must open it, or latest (only the "
        "newest DuckDB opens that). An existing file keeps its format.",
    )(func)


def duckdb_storage_version(options: Mapping[str, Any]) -> str:
    """The --duckdb-storage-version value, checked before anything is opened (``InputError`` when unknown)."""
    from etl.load.duckdb import parse_storage_version

    return parse_storage_version(options["duckdb_storage_version"])
