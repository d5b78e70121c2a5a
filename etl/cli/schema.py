"""``runsteps schema``: the tables and their columns, as Markdown, DuckDB DDL, JSON or dbt sources."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from etl import schema as schema_module
from etl.cli._common import OutputFile, handle_errors, write_output
from etl.errors import InputError

FORMATS = ("markdown", "ddl", "json", "dbt")
_SOURCE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@click.command()
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default="markdown",
    show_default=True,
    help="markdown; ddl: DuckDB CREATE TABLE statements; json: every table, key, reference and column; "
    "dbt: a dbt sources.yml for the tables at --dest.",
)
@click.option("--ddl", is_flag=True, help="Same as --format ddl.")
@click.option("--dest", help="--format dbt: the DuckDB file or Parquet root the sources read.")
@click.option("--source-name", default="runsteps", show_default=True, help="--format dbt: the dbt source's name.")
@click.option("--s3-endpoint-url", help="Endpoint of an S3-compatible store. Default: $AWS_ENDPOINT_URL.")
@click.option("--output", "-o", type=OutputFile(), help="Write here, not to stdout.")
@handle_errors
def schema(
    format_: str, ddl: bool, dest: str | None, source_name: str, s3_endpoint_url: str | None, output: Path | None
) -> None:
    """Print the tables and their columns, from the Arrow schemas (etl/schema.py).

    runsteps schema --format dbt --dest runsteps.duckdb -o models/sources.yml writes dbt sources with
    descriptions, key and reference tests and freshness; --dest may be a Parquet root (read with read_parquet).
    """
    format_ = "ddl" if ddl else format_
    if format_ == "dbt":
        if not dest:
            raise InputError("--format dbt needs --dest: the DuckDB file or Parquet root the sources read")
        if not _SOURCE_NAME.fullmatch(source_name):
            raise InputError(f"--source-name {source_name!r}: use letters, digits and _ (a dbt source name)")
    elif dest:
        raise InputError("--dest is for --format dbt only: the other formats describe every table")
    text = _render(format_, dest, source_name, s3_endpoint_url)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        click.echo(f"wrote {output}", err=True)


def _render(format_: str, dest: str | None, source_name: str, s3_endpoint_url: str | None) -> str:
    from etl import catalog

    if format_ == "ddl":
        return "\n\n".join(schema_module.duckdb_ddl(t) for t in schema_module.ALL_TABLES.values()) + "\n"
    if format_ == "json":
        return json.dumps(catalog.listing(), indent=2) + "\n"
    if format_ == "dbt" and dest:
        return catalog.dbt_sources(dest, name=source_name, s3_endpoint_url=s3_endpoint_url)
    return schema_module.markdown()
