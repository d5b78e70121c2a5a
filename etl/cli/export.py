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
    checked_storage_version,
    duckdb_storage_option,
    handle_errors,
    print_summary,
    shard_option,
)
from etl.cli.prices import price_options
from etl.cli.progress import Bars, configure_logging
from etl.config import DEFAULT_API_KEY_ENV, Settings, env_value
from etl.errors import InputError
from etl.extract import RunRef, parse_instant
from etl.extract.auth import with_credential
from etl.pipeline import ExportObserver, ExportOptions, LogLines, Sources, run_export
from etl.preflight import check_destination, check_host_resolves, check_settings, check_sources
from etl.prices import PriceBook, load_price_book
from etl.providers import PROVIDERS, AuthKind, get_provider, infer_provider
from etl.sharding import Shard


def api_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that say how to reach the API (shared by export and backfill)."""
    options = [
        click.option(
            "--provider",
            type=click.Choice(list(PROVIDERS)),
            help="Who serves the API: openai; azure (Azure OpenAI, api-key); foundry (an Azure AI Foundry project, "
            "Entra ID). Default: foundry for a *.services.ai.azure.com/api/projects/* base URL, azure with "
            "--azure-api-version, else openai.",
        ),
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
        click.option("--api-version", help="The api-version query parameter (foundry: default v1; azure: required)."),
        click.option(
            "--token-env",
            metavar="NAME",
            help="foundry: take the Entra ID access token as is from this environment variable (not refreshed). "
            "Default: azure-identity's DefaultAzureCredential (needs run-steps-etl[azure]).",
        ),
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


def deadline_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--deadline: a bound on the whole job, for schedulers (shared by export and backfill)."""
    return click.option(
        "--deadline",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        help="Stop after this long: batches written so far are kept, the rest is left for the next run (exit 3).",
    )(func)


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
    """--thread, --threads-file, --all-threads: the threads whose runs are discovered (export and backfill)."""
    func = click.option(
        "--threads-file",
        "threads_files",
        multiple=True,
        metavar="PATH",
        help="One thread id a line, or CSV with a thread_id column; '-' reads stdin.",
    )(func)
    func = click.option(
        "--all-threads",
        is_flag=True,
        help="Discover the runs of every thread the API lists (foundry: GET /threads) and write a threads table.",
    )(func)
    return click.option(
        "--thread", "threads", multiple=True, metavar="THREAD_ID", help="Discover this thread's runs (repeatable)."
    )(func)


def settings_from(options: dict[str, Any]) -> Settings:
    """Settings from the environment and the API options (the key is read from the named variable)."""
    provider = get_provider(options["provider"]) if options["provider"] else None
    provider = provider or infer_provider(
        options["base_url"] or env_value("OPENAI_BASE_URL"), azure_api_version=options["azure_api_version"]
    )
    entra = provider.auth.kind is AuthKind.ENTRA
    if options["token_env"] and not entra:
        raise InputError(f"--token-env is for providers that use Entra ID tokens (foundry), not {provider.name}")
    # Entra ID providers never get the OpenAI key: only a token from --token-env, or the credential's.
    settings = Settings.from_env(
        api_key_env=options["token_env"] if entra else options["api_key_env"],
        provider=provider.name,
        api_version=options["api_version"],
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
    _ = settings.api_version_value  # an InputError now, before anything is opened
    if entra:
        if options["token_env"] and not settings.api_key:
            raise InputError(f"no access token: the environment variable {options['token_env']} is empty or unset")
        check_settings(settings, key_env=options["token_env"])
        return with_credential(settings)
    if not settings.api_key:
        raise InputError(f"no API key: set the environment variable {options['api_key_env']} (see --api-key-env)")
    check_settings(settings, key_env=options["api_key_env"])
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
@price_options
@duckdb_storage_option
@api_options
@deadline_option
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
    book = load_price_book(options["prices_file"], options["model_map"])
    settings = settings_from(options)
    # One validation step before anything is opened: the archive and the destination are created only after it.
    check_places(options)
    sources = check_sources(sources)
    if sources.empty:
        raise InputError("nothing to export: the files given hold no thread or run ids")
    check_host_resolves(settings)
    export_options = _export_options(options, book)
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


def check_places(options: dict[str, Any]) -> None:
    """--archive and --dest checked (``InputError``) before either is created or claimed."""
    if options["archive"] is not None:
        check_destination(options["archive"], what="--archive")
    if not options["dry_run"]:
        check_destination(options["dest"])


def _export_options(options: dict[str, Any], prices: PriceBook | None = None) -> ExportOptions:
    """Where and how to write, from the command line (``prices``: the files already read, else read here)."""
    return ExportOptions(
        prices=load_price_book(options["prices_file"], options["model_map"]) if prices is None else prices,
        dest=options["dest"],
        duckdb_storage_version=checked_storage_version(options["duckdb_storage_version"]),
        s3_endpoint_url=options["s3_endpoint_url"],
        shard=Shard.parse(options["shard"]),
        refresh=options["refresh"],
        dry_run=options["dry_run"],
        batch_steps=options["batch_steps"],
        deadline=options["deadline"],
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
    check_places(options)
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
        since=parse_instant(options["since"]) if options["since"] is not None else None,
        until=parse_instant(options["until"]) if options["until"] is not None else None,
        all_threads=options["all_threads"],
    )
    if sources.empty:
        raise InputError("nothing to export: give --run, --runs-file, --thread, --threads-file or --all-threads")
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
