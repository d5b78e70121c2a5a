"""``runsteps import``: load run steps (and runs) saved as JSON into a destination."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from etl.cli._common import handle_errors, print_summary
from etl.cli.archive import load_options
from etl.importing import Problem, run_import
from etl.load import parse_storage_version
from etl.load.batch import BATCH_OBJECTS


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@load_options
@click.option("--strict", is_flag=True, help="Any bad record fails the import (exit 2) and nothing is written.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    default=BATCH_OBJECTS,
    show_default=True,
    help="Objects per write.",
)
@handle_errors
def import_(
    paths: tuple[str, ...],
    dest: str,
    s3_endpoint_url: str | None,
    metrics_json: bool,
    duckdb_storage_version: str,
    strict: bool,
    batch_size: int,
) -> None:
    """Load run steps, runs, threads and assistants saved as JSON (files or directories) into --dest.

    Accepts API list pages, single run step, run, thread or assistant objects, JSON Lines or arrays of those, the SDK's
    model_dump_json() output, gzipped or plain. Every row's extracted_at is the time of the import. Bad records
    are reported as path:line: reason and skipped (exit 0); with --strict any bad record exits 2, nothing written.
    """

    def on_problem(problem: Problem) -> None:
        click.echo(f"bad record: {problem}", err=True)

    summary = run_import(
        paths,
        dest,
        duckdb_storage_version=parse_storage_version(duckdb_storage_version),
        extracted_at=datetime.now(UTC),
        strict=strict,
        batch_size=batch_size,
        on_problem=on_problem,
        s3_endpoint_url=s3_endpoint_url,
    )
    print_summary(summary, metrics_json)
