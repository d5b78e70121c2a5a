"""Every command has help text, and ``runsteps --help`` lists them all."""

from __future__ import annotations

import click
from click.testing import CliRunner

from etl.cli import COMMANDS, cli


def _commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    found: list[tuple[str, click.Command]] = []
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        found.append((name, command))
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, parent=ctx)
            for sub in command.list_commands(sub_ctx):
                sub_command = command.get_command(sub_ctx, sub)
                assert sub_command is not None
                found.append((f"{name} {sub}", sub_command))
    return found


def test_help_lists_every_built_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = [name for name, _ in _commands() if " " not in name]
    assert "schema" in listed
    for name in listed:
        assert name in COMMANDS
        assert f"  {name} " in result.output


def test_every_command_has_help_text() -> None:
    for name, command in _commands():
        assert command.help and command.help.strip(), f"runsteps {name} has no help text"
        result = CliRunner().invoke(cli, [*name.split(), "--help"])
        assert result.exit_code == 0, result.output
        # click wraps help text to the terminal width: compare without whitespace
        first_line = "".join(command.help.strip().splitlines()[0].split())
        assert first_line in "".join(result.output.split())
