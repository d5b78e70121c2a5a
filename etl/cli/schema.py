"""``runsteps schema``: print the tables and their columns."""

from __future__ import annotations

import click

from etl import schema as schema_module


@click.command()
@click.option("--ddl", is_flag=True, help="Print DuckDB CREATE TABLE statements instead of Markdown.")
def schema(ddl: bool) -> None:
    """Print the tables and their columns, from the Arrow schemas."""
    if ddl:
        click.echo("\n\n".join(schema_module.duckdb_ddl(t) for t in schema_module.ALL_TABLES.values()))
    else:
        click.echo(schema_module.markdown(), nl=False)
