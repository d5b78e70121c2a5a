"""``runsteps import``: load run steps (and runs) saved as JSON into a destination."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from etl.cli._common import duckdb_storage_version, handle_errors
from etl.cli.archive import load_options
from etl.importing import ImportSummary, Problem, run_import


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@load_options
@click.option("--strict", is_flag=True, help="Any bad record fails the import (exit 2) and nothing is written.")
@click.option(
    "--batch-size", type=click.IntRange(1, 1_000_000), default=20_000, show_default=True, help="Objects per write."
)
@handle_errors
def import_(**options: Any) -> None:
    """Load run steps and runs saved as JSON (files or directories) into --dest.

    Accepts API list pages, single run step or run objects, JSON Lines or arrays of those, the SDK's
    model_dump_json() output, gzipped or plain. Every row's extracted_at is the time of the import. Bad records
    are reported as path:line: reason and skipped (exit 0); with --strict any bad record exits 2, nothing written.
    """

    def on_problem(problem: Problem) -> None:
        click.echo(f"bad record: {problem}", err=True)

    storage_version = duckdb_storage_version(options)
    summary = run_import(
        options["paths"],
        options["dest"],
        duckdb_storage_version=storage_version,
        extracted_at=datetime.now(UTC),
        strict=options["strict"],
        batch_size=options["batch_size"],
        on_problem=on_problem,
        s3_endpoint_url=options["s3_endpoint_url"],
    )
    for line in _summary_lines(summary):
        click.echo(line, err=True)
    if options["metrics_json"]:
        click.echo(json.dumps(summary.as_dict(), sort_keys=True))


def _summary_lines(summary: ImportSummary) -> list[str]:
    rows = ", ".join(f"{name} {count}" for name, count in summary.rows.items())
    return [
        f"imported {summary.steps} steps and {summary.runs} runs from {summary.files} files into {summary.dest}"
        f" in {summary.elapsed_s:.1f}s (extracted_at {summary.extracted_at.isoformat()})",
        f"rows: {rows}",
        f"bad records skipped: {summary.bad_records}",
    ]
