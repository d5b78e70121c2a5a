"""What every command shares: ``etl.errors`` as one-line messages and exit codes, and the summary printer."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from etl.errors import EtlError
from etl.summary import Metrics

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_AUTH = 4


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
