"""``runsteps report``: one self-contained HTML page of charts over a destination."""

from __future__ import annotations

from pathlib import Path

import click

from etl.cli._common import OutputFile, handle_errors, write_output


@click.command()
@click.option(
    "--dest",
    required=True,
    help="*.duckdb file (opened read-only), or a Parquet root: a directory or s3://bucket/prefix.",
)
@click.option("--since", help="Only steps and runs created at or after this ISO-8601 date/datetime (UTC if no offset).")
@click.option("--until", help="Only steps and runs created before this ISO-8601 date/datetime (UTC if no offset).")
@click.option("--assistant", "assistants", multiple=True, metavar="ID", help="Only this assistant (repeatable).")
@click.option(
    "-o",
    "--output",
    type=OutputFile(),
    default="report.html",
    show_default=True,
    help="The HTML file to write (a FIFO or a device such as /dev/stdout: written straight through).",
)
@handle_errors
def report(dest: str, since: str | None, until: str | None, assistants: tuple[str, ...], output: Path) -> None:
    """Write one HTML page of charts (tokens, cost, tools, durations, failures, top runs, data quality).

    The page holds every script, style and datum it needs: it opens in any browser with no network. Each
    chart names the query of sql/queries it draws (`runsteps sql run NAME` prints the same rows) and offers
    its data as CSV.
    """
    from etl.report import Scope, render_report

    scope = Scope.parse(since, until, assistants)  # bad input fails before the destination is opened
    write_output(output, render_report(dest, scope))
    click.echo(str(output))
