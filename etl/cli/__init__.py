"""The ``runsteps`` command line: one click group whose commands live in the modules beside this one.

Commands are imported lazily so ``runsteps --help`` stays fast. Every command turns an ``etl.errors`` error
into its one-line message and exit code the same way (``_common.handle_errors``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from etl import __version__

# command name -> "module:attribute" under etl.cli
COMMANDS: dict[str, str] = {
    "export": "export:export",
    "backfill": "backfill:backfill",
    "status": "status:status",
    "schema": "schema:schema",
    "sql": "sql:sql",
    "report": "report:report",
    "replay": "archive:replay",
    "import": "importing:import_",
    "fake-api": "fakeapi:fake_api",
    "demo": "demo:demo",
    "prices": "prices:prices",
}


class LazyGroup(click.Group):
    """A group that imports each command's module only when the command is used or listed.

    It also prints click's own usage errors (a bad option value, a missing argument) as the one line
    ``error: ...`` every other error is, with exit code 2, instead of click's usage block.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from etl.cli._common import usage_error_line

        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            click.echo(usage_error_line(exc), err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("error: interrupted: finished batches are kept; run the same command again to go on", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(f"etl.cli.{module_name}")
        command: Any = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runsteps")
def cli() -> None:
    """Export OpenAI Assistants run steps into Parquet or DuckDB, and analyse them with SQL."""


def main() -> None:
    """Console-script entry point: the process is set up for a command, and ended by ``process.end``."""
    from etl.cli import process

    process.set_up()
    try:
        cli(prog_name="runsteps")
    except SystemExit as exc:
        process.end(exc.code)
