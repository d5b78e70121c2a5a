"""What every command shares: every error as one line and an exit code, the summary printer, the files it writes."""

from __future__ import annotations

import errno
import functools
import inspect
import json
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from etl.config import redact
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
G = TypeVar("G")

EXIT_OTHER = 1  # anything that is not an input, partial or auth failure

# What to do about the operating system's refusals that no input check can foresee.
_OS_ADVICE = {
    errno.ENOSPC: "free some space and run the same command again (finished batches are kept)",
    errno.EDQUOT: "free some space and run the same command again (finished batches are kept)",
    errno.EROFS: "choose a destination on a writable filesystem",
    errno.EACCES: "check the permissions of the destination and the files given",
    errno.EPERM: "check the permissions of the destination and the files given",
}


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command body; every error becomes ``error: <what>: <what to do>`` on stderr and its exit code.

    ``EtlError`` carries its own message and code; an ``OSError`` (a full disk, a read-only filesystem) or any
    other exception that escaped becomes one line with exit code 1, never a traceback, with secrets masked.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # usage errors: the group prints them as one line (etl.cli.LazyGroup.main)
        except EtlError as exc:
            click.echo(f"error: {one_line(str(exc))}", err=True)
            raise SystemExit(exc.exit_code) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            advice = _OS_ADVICE.get(exc.errno or 0, "check the destination and the files given, then run it again")
            click.echo(f"error: {one_line(exc.strerror or str(exc))}{where}: {advice}", err=True)
            raise SystemExit(EXIT_OTHER) from None
        except MemoryError:
            click.echo("error: out of memory: lower --batch-steps or --concurrency, or narrow the job", err=True)
            raise SystemExit(EXIT_OTHER) from None
        except Exception as exc:  # the last resort: a bug, but still one line and no secret
            text = one_line(f"{type(exc).__name__}: {exc}")
            click.echo(
                f"error: unexpected failure ({text}): please report it with the command that caused it", err=True
            )
            raise SystemExit(EXIT_OTHER) from None

    return wrapper


def one_line(text: str) -> str:
    """``text`` on one line with every secret this process holds masked (a message may quote anything)."""
    return " ".join(redact(text).split())


def usage_error_line(exc: click.ClickException) -> str:
    """Click's usage errors as the one line every error is: ``error: <what>: see '<command> --help'``."""
    message = one_line(exc.format_message())
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f"error: {message.rstrip('.')}: see '{ctx.command_path} --help'"
    return f"error: {message}"


class FiniteFloatRange(click.FloatRange):
    """The type of every option that takes a float: ``click.FloatRange`` without nan and infinity.

    A range alone lets nan through (every comparison with it is false): --timeout nan timed every request out
    "within nan s" (exit 3). No option means either, so both are usage errors naming the option, before anything.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def option_group(
    name: str, group: Callable[..., G], *options: Callable[[Any], Any]
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """``options`` whose values reach the command as one typed parameter ``name=group(**values)``.

    ``group`` is a dataclass whose fields are the options' parameter names; a field the command gives no option
    for keeps its default (backfill takes no --run: its sources have none).
    """
    names = set(inspect.signature(group).parameters)

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(command)
        def with_group(*args: Any, **values: Any) -> R:
            mine = {key: values.pop(key) for key in names if key in values}
            return command(*args, **values, **{name: group(**mine)})

        for option in reversed(options):
            with_group = option(with_group)
        return with_group

    return decorate


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


class OutputFile(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only (click>=8.1 allowed)
    """A local file a command writes (``-o``), checked when the command line is parsed: before anything is created.

    Its folder must exist and be writable; a directory, a socket or an empty name is refused. A device or a FIFO
    that exists is fine (it is written straight through, see ``write_output``), if this process may write to it.
    """

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        text = os.fspath(value)
        if not text:
            self.fail("the path is empty: name the file to write", param, ctx)
        path = Path(text).expanduser()
        try:
            mode: int | None = path.stat().st_mode  # through any symlink: what would be written
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            self.fail(f"{text} cannot be used: {exc.strerror}: name a file in an existing folder", param, ctx)
        if mode is not None and stat.S_ISDIR(mode):
            self.fail(f"{text} is a directory: name the file to write", param, ctx)
        if mode is not None and stat.S_ISSOCK(mode):
            self.fail(f"{text} is a socket: name the file to write", param, ctx)
        if mode is not None and not stat.S_ISREG(mode):
            if not os.access(path, os.W_OK):
                self.fail(f"{text} is not writable: check its permissions", param, ctx)
            return path
        folder = Path(os.path.realpath(path)).parent  # a new file, or a new one replacing the file there
        if not folder.is_dir():
            self.fail(f"the folder {folder} does not exist: create it, or name a file in another folder", param, ctx)
        if not os.access(folder, os.W_OK | os.X_OK):
            self.fail(f"the folder {folder} is not writable: choose a folder you can write to", param, ctx)
        return path


def write_output(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` (an ``OutputFile``): no reader sees half of it, and no node is replaced.

    A regular file, or a new one, is written as ``.<name>.tmp`` beside it and renamed over it; a symlink is
    followed, so its target is written that way and the link stays a link. Anything else (a device such as
    /dev/null, /dev/stdout on a terminal or a pipe, a FIFO) is opened and written straight through: a rename would
    put a regular file in the node's place (as root, it replaced /dev/full).
    """
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        regular = True  # created as a regular file
    if not regular:
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        return
    target = Path(os.path.realpath(path))
    temp = target.with_name(f".{target.name}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
