"""``runsteps replay``: rebuild the tables from a raw archive (``export --archive``), with no network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from etl.archive.replay import run_replay
from etl.cli._common import duckdb_storage_option, handle_errors, print_summary, shard_option
from etl.load import parse_storage_version
from etl.load.batch import BATCH_OBJECTS
from etl.sharding import Shard


def load_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--dest, --s3-endpoint-url, --duckdb-storage-version and --metrics-json: shared by the commands that load
    without the API."""
    options = [
        click.option(
            "--dest",
            required=True,
            help="*.duckdb: a DuckDB file; anything else: a Parquet root (directory or s3://bucket/prefix).",
        ),
        click.option(
            "--s3-endpoint-url",
            help="Endpoint of an S3-compatible store (MinIO, Ceph, R2). Default: $AWS_ENDPOINT_URL.",
        ),
        click.option(
            "--metrics-json", is_flag=True, help="Print the final summary as one JSON object on the last stdout line."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return duckdb_storage_option(func)


@click.command()
@click.argument("archive")
@load_options
@shard_option
@click.option(
    "--batch-steps",
    type=click.IntRange(1, 1_000_000),
    default=BATCH_OBJECTS,
    show_default=True,
    help="Steps per write.",
)
@handle_errors
def replay(
    archive: str,
    dest: str,
    s3_endpoint_url: str | None,
    metrics_json: bool,
    duckdb_storage_version: str,
    shard: str,
    batch_steps: int,
) -> None:
    """Rebuild the tables from a raw archive (export --archive), with no network.

    ARCHIVE is the directory or object-store URI the export wrote. Rows equal what that export wrote
    (extracted_at included). A run fetched more than once is rebuilt from its latest complete fetch;
    runs the archive does not hold whole are skipped and named.
    """
    summary = run_replay(
        archive,
        dest,
        duckdb_storage_version=parse_storage_version(duckdb_storage_version),
        shard=Shard.parse(shard),
        s3_endpoint_url=s3_endpoint_url,
        batch_steps=batch_steps,
    )
    print_summary(summary, metrics_json)
