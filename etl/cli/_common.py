"""What every command shares: turning ``etl.errors`` into one-line messages and exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from etl.errors import EtlError

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
