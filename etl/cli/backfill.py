"""``runsteps backfill``: export a long window chunk by chunk, resumably."""

from __future__ import annotations

import click

from etl.backfill import Chunk, parse_chunk, run_backfill
from etl.cli._common import (
    DEFAULT_DEST,
    duckdb_storage_option,
    handle_errors,
    option_group,
    print_summary,
    shard_option,
)
from etl.cli.export import (
    THREAD_OPTIONS,
    ApiOptions,
    OutputOptions,
    SourceOptions,
    WriteOptions,
    api_options,
    deadline_option,
    observer_for,
    output_options,
)
from etl.cli.progress import configure_logging
from etl.load import parse_storage_version
from etl.pipeline import ExportOptions
from etl.sharding import Shard


@click.command()
@option_group(
    "sources",
    SourceOptions,
    *THREAD_OPTIONS,
    click.option("--since", required=True, help="Start of the window (ISO-8601 date or datetime, UTC if no offset)."),
    click.option("--until", required=True, help="End of the window, exclusive."),
)
@click.option("--chunk", default="1d", show_default=True, help="Chunk size: 30m, 12h, 1d, 1w...")
@option_group(
    "write",
    WriteOptions,
    click.option("--dest", default=DEFAULT_DEST, show_default=True, help="*.duckdb or a Parquet root."),
    click.option("--s3-endpoint-url", help="Endpoint of an S3-compatible store. Default: $AWS_ENDPOINT_URL."),
    click.option("--refresh", is_flag=True, help="Fetch again runs that an earlier export already finished."),
    shard_option,
    duckdb_storage_option,
    deadline_option,
)
@api_options
@output_options
@handle_errors
def backfill(sources: SourceOptions, chunk: str, write: WriteOptions, api: ApiOptions, output: OutputOptions) -> None:
    """Export the runs created in [--since, --until) chunk by chunk, resumably.

    Each finished chunk is recorded at the destination: run the same command again after an interruption and it
    continues with the first unfinished chunk. Exit codes as for export.
    """
    configure_logging(output.log_format)
    storage_version = parse_storage_version(write.duckdb_storage_version)
    run_sources = sources.sources()
    settings = api.settings()
    export_options = ExportOptions(
        dest=write.dest,
        duckdb_storage_version=storage_version,
        shard=Shard.parse(write.shard),
        refresh=write.refresh,
        s3_endpoint_url=write.s3_endpoint_url,
        deadline=write.deadline,
    )

    def on_chunk(chunk: Chunk, position: int, total: int) -> None:
        click.echo(
            f"chunk {position}/{total} ({position - 1} done, {total - position + 1} left): {chunk.label}", err=True
        )

    with observer_for(output.progress) as observer:
        summary = run_backfill(
            settings, run_sources, export_options, parse_chunk(chunk), observer=observer, on_chunk=on_chunk
        )
    print_summary(summary, output.metrics_json)
    raise SystemExit(summary.exit_code)
