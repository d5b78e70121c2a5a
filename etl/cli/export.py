"""``runsteps export``: fetch the steps of the given runs and write them to a destination."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from etl.cli._common import (
    DEFAULT_DEST,
    duckdb_storage_option,
    duckdb_storage_version,
    handle_errors,
    print_summary,
    shard_option,
)
from etl.cli.progress import Bars, configure_logging
from etl.config import DEFAULT_API_KEY_ENV, Settings
from etl.errors import InputError
from etl.extract import RunRef, parse_instant
from etl.pipeline import ExportObserver, ExportOptions, LogLines, Sources, run_export
from etl.sharding import Shard


def api_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that say how to reach the API (shared by export and backfill)."""
    options = [
        click.option("--base-url", help="API base URL. Default: $OPENAI_BASE_URL, else https://api.openai.com/v1."),
        click.option(
            "--api-key-env",
            default=DEFAULT_API_KEY_ENV,
            show_default=True,
            help="Environment variable that holds the API key (the key itself is never an option).",
        ),
        click.option("--organization", help="OpenAI-Organization header. Default: $OPENAI_ORG_ID."),
        click.option("--project", help="OpenAI-Project header. Default: $OPENAI_PROJECT_ID."),
        click.option("--azure-api-version", help="Azure mode: api-key header and this api-version query parameter."),
        click.option(
            "--allow-insecure-http", is_flag=True, help="Allow sending the key over plain http to a non-loopback host."
        ),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 512),
            default=Settings.concurrency,
            show_default=True,
            help="Runs in flight at once.",
        ),
        click.option(
            "--page-size",
            type=click.IntRange(1, 100),
            default=Settings.page_size,
            show_default=True,
            help="Steps per page request.",
        ),
        click.option("--include-file-search-content", is_flag=True, help="Also fetch the text of file search results."),
        click.option(
            "--max-retries",
            type=click.IntRange(0, 50),
            default=Settings.max_retries,
            show_default=True,
            help="Retries per request.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(0.1, 3600),
            default=Settings.timeout,
            show_default=True,
            help="Seconds per request.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that say how the job reports itself (shared by export and backfill)."""
    options = [
        click.option(
            "--progress/--no-progress", default=None, help="Progress bars (default: on when stderr is a terminal)."
        ),
        click.option(
            "--log-format",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="Log line format.",
        ),
        click.option(
            "--metrics-json", is_flag=True, help="Print the final summary as one JSON object on the last stdout line."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def thread_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--thread and --threads-file: the threads whose runs are discovered (shared by export and backfill)."""
    func = click.option(
        "--threads-file",
        "threads_files",
        multiple=True,
        metavar="PATH",
        help="One thread id a line, or CSV with a thread_id column; '-' reads stdin.",
    )(func)
    return click.option(
        "--thread", "threads", multiple=True, metavar="THREAD_ID", help="Discover this thread's runs (repeatable)."
    )(func)


def settings_from(options: dict[str, Any]) -> Settings:
    """Settings from the environment and the API options (the key is read from the named variable)."""
    settings = Settings.from_env(
        api_key_env=options["api_key_env"],
        base_url=options["base_url"],
        organization=options["organization"],
        project=options["project"],
        azure_api_version=options["azure_api_version"],
        allow_insecure_http=options["allow_insecure_http"] or None,
        concurrency=options["concurrency"],
        page_size=options["page_size"],
        include_file_search_content=options["include_file_search_content"] or None,
        max_retries=options["max_retries"],
        timeout=options["timeout"],
    )
    if not settings.api_key:
        raise InputError(f"no API key: set the environment variable {options['api_key_env']} (see --api-key-env)")
    return settings


def observer_for(progress: bool | None) -> contextlib.AbstractContextManager[ExportObserver]:
    """Bars on a terminal (or when asked), plain periodic log lines otherwise."""
    if progress is None:
        progress = sys.stderr.isatty()
    return Bars() if progress else contextlib.nullcontext(LogLines())


@click.command()
@click.option(
    "--source",
    type=click.Choice(["assistants", "responses"]),
    default="assistants",
    show_default=True,
    help="assistants: runs and their steps; responses: responses and conversations (the successor APIs).",
)
@click.option("--run", "runs", multiple=True, metavar="THREAD_ID/RUN_ID", help="A run to export (repeatable).")
@click.option(
    "--runs-file",
    "runs_files",
    multiple=True,
    metavar="PATH",
    help="CSV (thread_id,run_id) or JSON Lines of runs; '-' reads stdin.",
)
@thread_options
@click.option(
    "--response", "responses", multiple=True, metavar="ID", help="--source responses: a response (repeatable)."
)
@click.option(
    "--responses-file", "responses_files", multiple=True, metavar="PATH",
    help="One response id a line, or CSV with a response_id column; '-' reads stdin.",
)  # fmt: skip
@click.option(
    "--conversation", "conversations", multiple=True, metavar="ID",
    help="--source responses: a conversation; later exports read only its new items (repeatable).",
)  # fmt: skip
@click.option(
    "--conversations-file", "conversations_files", multiple=True, metavar="PATH",
    help="One conversation id a line, or CSV with a conversation_id column; '-' reads stdin.",
)  # fmt: skip
@click.option("--follow-previous", is_flag=True, help="Also export each response's previous_response_id chain.")
@click.option("--all-responses", is_flag=True, help="Foundry: every stored response (GET /responses).")
@click.option("--all-conversations", is_flag=True, help="Foundry: every conversation (GET /conversations).")
@click.option(
    "--keep-payloads", is_flag=True, help="Store base64 images and encrypted reasoning as sent (dropped by default)."
)
@click.option("--since", help="Discovered runs created at or after this ISO-8601 date/datetime (UTC if no offset).")
@click.option("--until", help="Discovered runs created before this ISO-8601 date/datetime.")
@click.option(
    "--dest",
    default=DEFAULT_DEST,
    show_default=True,
    help="*.duckdb: a DuckDB file; anything else: a Parquet root (directory or s3://bucket/prefix).",
)
@click.option(
    "--s3-endpoint-url", help="Endpoint of an S3-compatible store (MinIO, Ceph, R2). Default: $AWS_ENDPOINT_URL."
)
@click.option("--refresh", is_flag=True, help="Fetch again runs that an earlier export already finished.")
@click.option("--dry-run", is_flag=True, help="List the runs that would be exported; write nothing.")
@shard_option
@click.option(
    "--batch-steps",
    type=click.IntRange(1, 1_000_000),
    default=ExportOptions.batch_steps,
    show_default=True,
    help="Steps per write: each batch lands as one unit; smaller batches land sooner and use less memory.",
)
@click.option("--archive", metavar="DEST2", help="Also keep every raw response as compressed JSON Lines under DEST2.")
@duckdb_storage_option
@api_options
@output_options
@handle_errors
def export(**options: Any) -> None:
    """Export the steps of the given runs (explicit, or discovered per thread) to Parquet or DuckDB.

    Exit codes: 0 all runs exported; 2 bad input; 3 some runs failed (each named in the summary and recorded at
    the destination); 4 authentication, permission or quota refused; 1 anything else.
    """
    configure_logging(options["log_format"])
    if options["source"] == "responses":
        _export_responses(options)
        return
    sources = sources_from(options)
    settings = settings_from(options)
    export_options = _export_options(options)
    archive = archive_hook(options["archive"], settings, options["s3_endpoint_url"])
    with archive as on_response, observer_for(options["progress"]) as observer:
        if on_response is not None:
            export_options = dataclasses.replace(export_options, on_response=on_response)
        summary = run_export(settings, sources, export_options, observer)
    if export_options.dry_run:
        for run in summary.planned:
            click.echo(run)
    print_summary(summary, options["metrics_json"])
    raise SystemExit(summary.exit_code)


def _export_options(options: dict[str, Any]) -> ExportOptions:
    """Where and how to write, from the command line."""
    return ExportOptions(
        dest=options["dest"],
        duckdb_storage_version=duckdb_storage_version(options),
        s3_endpoint_url=options["s3_endpoint_url"],
        shard=Shard.parse(options["shard"]),
        refresh=options["refresh"],
        dry_run=options["dry_run"],
        batch_steps=options["batch_steps"],
    )


def _export_responses(options: dict[str, Any]) -> None:
    """``--source responses``: responses and conversations through the same write path and summary."""
    from etl.pipeline_responses import ResponseSources, run_responses_export

    if options["runs"] or options["runs_files"] or options["threads"] or options["threads_files"]:
        raise InputError("--run/--thread export run steps: leave them out with --source responses")
    sources = ResponseSources(
        responses=tuple(options["responses"]),
        responses_files=tuple(options["responses_files"]),
        conversations=tuple(options["conversations"]),
        conversations_files=tuple(options["conversations_files"]),
        follow_previous=options["follow_previous"],
        all_responses=options["all_responses"],
        all_conversations=options["all_conversations"],
        keep_payloads=options["keep_payloads"],
    )
    settings = dataclasses.replace(settings_from(options), api="responses")
    export_options = _export_options(options)
    with archive_hook(options["archive"], settings, options["s3_endpoint_url"]) as on_response:
        if on_response is not None:
            export_options = dataclasses.replace(export_options, on_response=on_response)
        summary = run_responses_export(settings, sources, export_options)
    print_summary(summary, options["metrics_json"])
    raise SystemExit(summary.exit_code)


def sources_from(options: dict[str, Any]) -> Sources:
    """The run sources given on the command line, validated."""
    sources = Sources(
        runs=tuple(RunRef.parse(text) for text in options["runs"]),
        runs_files=tuple(options["runs_files"]),
        threads=tuple(options["threads"]),
        threads_files=tuple(options["threads_files"]),
        since=parse_instant(options["since"]) if options["since"] else None,
        until=parse_instant(options["until"]) if options["until"] else None,
    )
    if sources.empty:
        raise InputError("nothing to export: give --run, --runs-file, --thread or --threads-file")
    if (sources.since is not None or sources.until is not None) and not sources.discovers:
        raise InputError("--since/--until bound discovered runs: give --thread or --threads-file with them")
    if sources.since is not None and sources.until is not None and sources.since >= sources.until:
        raise InputError("--since must be before --until")
    return sources


@contextlib.contextmanager
def archive_hook(uri: str | None, settings: Settings, s3_endpoint_url: str | None) -> Iterator[Any]:
    """The raw-archive writer's callback, or None when no --archive was asked for."""
    if uri is None:
        yield None
        return
    from etl.archive import open_archive

    # The key is handed over only so the archive can mask it wherever a server echoed it.
    with open_archive(uri, secret=settings.api_key, s3_endpoint_url=s3_endpoint_url) as archive:
        yield archive.record
