"""``runsteps export``: fetch the steps of the given runs and write them to a destination."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import click

from etl.cli._common import (
    DEFAULT_DEST,
    FiniteFloatRange,
    duckdb_storage_option,
    handle_errors,
    option_group,
    print_summary,
    shard_option,
)
from etl.cli.prices import price_options
from etl.cli.progress import Bars, configure_logging
from etl.config import DEFAULT_API_KEY_ENV, Settings, env_value, set_env_value
from etl.errors import InputError
from etl.extract import RunRef, parse_instant
from etl.extract.auth import with_credential
from etl.load import parse_storage_version
from etl.pipeline import ExportObserver, ExportOptions, LogLines, Sources, run_export
from etl.pipeline_responses import ResponseSources
from etl.preflight import (
    check_ca_bundle,
    check_destination,
    check_host_resolves,
    check_order,
    check_settings,
    check_sources,
)
from etl.prices import PriceBook, load_price_book
from etl.providers import PROVIDERS, RESPONSES_PROVIDERS, AuthKind, for_responses, get_provider, infer_provider
from etl.sharding import Shard


@dataclass(frozen=True)
class ApiOptions:
    """How to reach the API, as the command line says (shared by export and backfill)."""

    provider: str | None
    base_url: str | None
    api_key_env: str
    organization: str | None
    project: str | None
    azure_api_version: str | None
    api_version: str | None
    token_env: str | None
    entra_id: bool
    allow_insecure_http: bool
    ca_bundle: str | None
    concurrency: int
    page_size: int
    include_file_search_content: bool
    max_retries: int
    timeout: float

    def settings(self, api: str = "assistants") -> Settings:
        """Settings from the environment and these options (the key is read from the named variable).

        ``api``: assistants, or responses (the same hosts' Responses and Conversations APIs, ``--source``).
        """
        if self.ca_bundle is not None:
            check_ca_bundle(self.ca_bundle, "--ca-bundle")
            # httpx (the API) and the object-store client both take it from there.
            set_env_value("SSL_CERT_FILE", self.ca_bundle)
        provider = get_provider(self.provider) if self.provider else None
        family = RESPONSES_PROVIDERS if api == "responses" else PROVIDERS
        provider = provider or infer_provider(
            self.base_url or env_value("OPENAI_BASE_URL"), azure_api_version=self.azure_api_version, family=family
        )
        if api == "responses":
            provider = for_responses(provider)
        # Entra ID: the provider's own sign-in (foundry), or the one it also accepts when asked for (azure).
        asked = self.entra_id or bool(self.token_env)
        if asked and provider.auth.kind is not AuthKind.ENTRA and provider.entra_auth is None:
            option = "--token-env" if self.token_env else "--entra-id"
            raise InputError(
                f"{option} is for providers that take Entra ID tokens (foundry, azure), not {provider.name}: "
                "leave it out"
            )
        if asked:
            provider = provider.with_entra()
        entra = provider.auth.kind is AuthKind.ENTRA
        # Entra ID providers never get the OpenAI key: only a token from --token-env, or the credential's.
        settings = Settings.from_env(
            api_key_env=self.token_env if entra else self.api_key_env,
            provider=provider.name,
            api=api,
            entra=asked or None,
            api_version=self.api_version,
            base_url=self.base_url,
            organization=self.organization,
            project=self.project,
            azure_api_version=self.azure_api_version,
            allow_insecure_http=self.allow_insecure_http or None,
            concurrency=self.concurrency,
            page_size=self.page_size,
            include_file_search_content=self.include_file_search_content or None,
            max_retries=self.max_retries,
            timeout=self.timeout,
        )
        _ = settings.api_version_value  # an InputError now, before anything is opened
        if entra:
            if self.token_env and not settings.api_key:
                raise InputError(
                    f"no access token: the environment variable {self.token_env} is empty or unset: set it, or leave"
                    " out --token-env to use DefaultAzureCredential"
                )
            check_settings(settings, key_env=self.token_env)
            return with_credential(settings)
        if not settings.api_key:
            raise InputError(f"no API key: set the environment variable {self.api_key_env} (see --api-key-env)")
        check_settings(settings, key_env=self.api_key_env)
        return settings


api_options = option_group(
    "api",
    ApiOptions,
    click.option(
        "--provider",
        type=click.Choice(list(PROVIDERS)),
        help="Who serves the API: openai; azure (Azure OpenAI, api-key or --entra-id); foundry (an Azure AI Foundry "
        "project, Entra ID). Default: foundry for a *.services.ai.azure.com/api/projects/* base URL, azure with "
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
        help="foundry, azure: take the Entra ID access token as is from this environment variable (not refreshed). "
        "Default: azure-identity's DefaultAzureCredential (needs run-steps-etl[azure]).",
    ),
    click.option(
        "--entra-id",
        is_flag=True,
        help="azure: sign in with Microsoft Entra ID (scope https://cognitiveservices.azure.com/.default; "
        "DefaultAzureCredential, or --token-env NAME) instead of the api-key.",
    ),
    click.option(
        "--allow-insecure-http", is_flag=True, help="Allow sending the key over plain http to a non-loopback host."
    ),
    click.option(
        "--ca-bundle",
        metavar="PEM",
        help="The CAs to trust (instead of the default ones: include the public CAs still needed) for the API, object"
        " storage and Entra ID tokens, e.g. with a corporate proxy's. Default: $SSL_CERT_FILE.",
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
        type=FiniteFloatRange(0.1, 3600),
        default=Settings.timeout,
        show_default=True,
        help="Seconds per request.",
    ),
)


deadline_option = click.option(
    "--deadline",
    type=FiniteFloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop after this long: batches written so far are kept, the rest is left for the next run (exit 3).",
)  # a bound on the whole job, for schedulers (export and backfill)


@dataclass(frozen=True)
class OutputOptions:
    """How the job reports itself (shared by export and backfill)."""

    progress: bool | None
    log_format: str
    metrics_json: bool


output_options = option_group(
    "output",
    OutputOptions,
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
)


@dataclass(frozen=True)
class SourceOptions:
    """The runs to export as the command line names them: explicit runs, threads to discover runs in, a window."""

    runs: tuple[str, ...] = ()
    runs_files: tuple[str, ...] = ()
    threads: tuple[str, ...] = ()
    threads_files: tuple[str, ...] = ()
    all_threads: bool = False
    since: str | None = None
    until: str | None = None

    def sources(self) -> Sources:
        """The run sources, validated."""
        sources = Sources(
            runs=tuple(RunRef.parse(text) for text in self.runs),
            runs_files=self.runs_files,
            threads=self.threads,
            threads_files=self.threads_files,
            since=parse_instant(self.since, "--since") if self.since is not None else None,
            until=parse_instant(self.until, "--until") if self.until is not None else None,
            all_threads=self.all_threads,
        )
        if sources.empty:
            raise InputError("nothing to export: give --run, --runs-file, --thread, --threads-file or --all-threads")
        if (sources.since is not None or sources.until is not None) and not sources.discovers:
            raise InputError("--since/--until bound discovered runs: give --thread or --threads-file with them")
        check_order(sources.since, sources.until)
        return sources


# --thread, --threads-file, --all-threads: the threads whose runs are discovered (export and backfill).
THREAD_OPTIONS = (
    click.option(
        "--thread", "threads", multiple=True, metavar="THREAD_ID", help="Discover this thread's runs (repeatable)."
    ),
    click.option(
        "--all-threads",
        is_flag=True,
        help="Discover the runs of every thread the API lists (foundry: GET /threads) and write a threads table.",
    ),
    click.option(
        "--threads-file",
        "threads_files",
        multiple=True,
        metavar="PATH",
        help="One thread id a line, or CSV with a thread_id column; '-' reads stdin.",
    ),
)


@dataclass(frozen=True)
class WriteOptions:
    """Where and how to write (shared by export and backfill; backfill has no --dry-run or --batch-steps)."""

    dest: str
    s3_endpoint_url: str | None
    refresh: bool
    shard: str
    duckdb_storage_version: str
    deadline: float | None = None
    dry_run: bool = False
    batch_steps: int = ExportOptions.batch_steps

    def export_options(self, prices: PriceBook) -> ExportOptions:
        """The pipeline's options (``InputError`` for a bad shard or storage version)."""
        return ExportOptions(
            prices=prices,
            dest=self.dest,
            duckdb_storage_version=parse_storage_version(self.duckdb_storage_version),
            s3_endpoint_url=self.s3_endpoint_url,
            shard=Shard.parse(self.shard),
            refresh=self.refresh,
            dry_run=self.dry_run,
            batch_steps=self.batch_steps,
            deadline=self.deadline,
        )


def observer_for(
    progress: bool | None, units: tuple[str, str] = ("runs", "steps")
) -> contextlib.AbstractContextManager[ExportObserver]:
    """Bars on a terminal (or when asked), plain periodic log lines otherwise; ``units``: what is counted."""
    if progress is None:
        progress = sys.stderr.isatty()
    return Bars(units) if progress else contextlib.nullcontext(LogLines(units=units))


@click.command()
@click.option(
    "--source",
    type=click.Choice(["assistants", "responses"]),
    default="assistants",
    show_default=True,
    help="assistants: runs and their steps; responses: responses and conversations (the successor APIs).",
)
@option_group(
    "sources",
    SourceOptions,
    click.option("--run", "runs", multiple=True, metavar="THREAD_ID/RUN_ID", help="A run to export (repeatable)."),
    click.option(
        "--runs-file",
        "runs_files",
        multiple=True,
        metavar="PATH",
        help="CSV (thread_id,run_id) or JSON Lines of runs; '-' reads stdin.",
    ),
    *THREAD_OPTIONS,
    click.option("--since", help="Discovered runs created at or after this ISO-8601 date/datetime (UTC if no offset)."),
    click.option("--until", help="Discovered runs created before this ISO-8601 date/datetime."),
)
@option_group(
    "response_sources",
    ResponseSources,
    click.option(
        "--response", "responses", multiple=True, metavar="ID", help="--source responses: a response (repeatable)."
    ),
    click.option(
        "--responses-file",
        "responses_files",
        multiple=True,
        metavar="PATH",
        help="One response id a line, or CSV with a response_id column; '-' reads stdin.",
    ),
    click.option(
        "--conversation",
        "conversations",
        multiple=True,
        metavar="ID",
        help="--source responses: a conversation; later exports read only its new items (repeatable).",
    ),
    click.option(
        "--conversations-file",
        "conversations_files",
        multiple=True,
        metavar="PATH",
        help="One conversation id a line, or CSV with a conversation_id column; '-' reads stdin.",
    ),
    click.option("--follow-previous", is_flag=True, help="Also export each response's previous_response_id chain."),
    click.option("--all-responses", is_flag=True, help="Foundry: every stored response (GET /responses)."),
    click.option("--all-conversations", is_flag=True, help="Foundry: every conversation (GET /conversations)."),
    click.option(
        "--keep-payloads",
        is_flag=True,
        help="Store base64 images and encrypted reasoning as sent (dropped by default).",
    ),
)
@option_group(
    "write",
    WriteOptions,
    click.option(
        "--dest",
        default=DEFAULT_DEST,
        show_default=True,
        help="*.duckdb: a DuckDB file; anything else: a Parquet root (directory or s3://bucket/prefix).",
    ),
    click.option(
        "--s3-endpoint-url", help="Endpoint of an S3-compatible store (MinIO, Ceph, R2). Default: $AWS_ENDPOINT_URL."
    ),
    click.option("--refresh", is_flag=True, help="Fetch again runs that an earlier export already finished."),
    click.option("--dry-run", is_flag=True, help="List the runs that would be exported; write nothing."),
    shard_option,
    click.option(
        "--batch-steps",
        type=click.IntRange(1, 1_000_000),
        default=ExportOptions.batch_steps,
        show_default=True,
        help="Steps per write: each batch lands as one unit; smaller batches land sooner and use less memory.",
    ),
    duckdb_storage_option,
    deadline_option,
)
@click.option("--archive", metavar="DEST2", help="Also keep every raw response as compressed JSON Lines under DEST2.")
@price_options
@api_options
@output_options
@handle_errors
def export(
    source: str,
    sources: SourceOptions,
    response_sources: ResponseSources,
    write: WriteOptions,
    archive: str | None,
    prices_file: str | None,
    model_map: str | None,
    api: ApiOptions,
    output: OutputOptions,
) -> None:
    """Export the steps of the given runs (explicit, or discovered per thread) to Parquet or DuckDB.

    Exit codes: 0 all runs exported; 2 bad input; 3 some runs failed (each named in the summary and recorded at
    the destination); 4 authentication, permission or quota refused, or the API's TLS certificate; 1 anything
    else.
    """
    configure_logging(output.log_format)
    if source == "responses":
        _export_responses(sources, response_sources, write, archive, (prices_file, model_map), api, output)
        return
    run_sources = sources.sources()
    book = load_price_book(prices_file, model_map)
    settings = api.settings()
    # One validation step before anything is opened: the archive and the destination are created only after it.
    check_places(write, archive)
    run_sources = check_sources(run_sources)
    if run_sources.empty:
        raise InputError("nothing to export: the files given hold no thread or run ids: give files with ids in them")
    check_host_resolves(settings)
    export_options = write.export_options(book)
    with (
        archive_hook(archive, settings, write.s3_endpoint_url) as archived,
        observer_for(output.progress) as observer,
    ):
        export_options = archived(export_options)
        summary = run_export(settings, run_sources, export_options, observer)
    if export_options.dry_run:
        for run in summary.planned:
            click.echo(run)
    print_summary(summary, output.metrics_json)
    raise SystemExit(summary.exit_code)


def check_places(write: WriteOptions, archive: str | None) -> None:
    """--archive and --dest checked (``InputError``) before either is created or claimed."""
    if archive is not None:
        check_destination(archive, what="--archive")
    if not write.dry_run:
        check_destination(write.dest)


def _export_responses(
    sources: SourceOptions,
    response_sources: ResponseSources,
    write: WriteOptions,
    archive: str | None,
    price_files: tuple[str | None, str | None],
    api: ApiOptions,
    output: OutputOptions,
) -> None:
    """``--source responses``: responses and conversations through the same write path and summary."""
    from etl.pipeline_responses import PROGRESS_UNITS, run_responses_export

    if sources.runs or sources.runs_files or sources.threads or sources.threads_files:
        raise InputError("--run/--thread export run steps: leave them out with --source responses")
    settings = api.settings("responses")
    check_places(write, archive)
    export_options = write.export_options(load_price_book(*price_files))
    with (
        archive_hook(archive, settings, write.s3_endpoint_url) as archived,
        observer_for(output.progress, PROGRESS_UNITS) as observer,
    ):
        export_options = archived(export_options)
        summary = run_responses_export(settings, response_sources, export_options, observer)
    for planned in summary.planned:  # a dry run: what would be fetched
        click.echo(planned)
    print_summary(summary, output.metrics_json)
    raise SystemExit(summary.exit_code)


@contextlib.contextmanager
def archive_hook(
    uri: str | None, settings: Settings, s3_endpoint_url: str | None
) -> Iterator[Callable[[ExportOptions], ExportOptions]]:
    """What the raw archive (``--archive``) adds to an export's options: every response recorded, and published
    before each batch lands. Without ``--archive``, the options as they are."""
    if uri is None:
        yield lambda options: options
        return
    from etl.archive import open_archive

    # The key is handed over only so the archive can mask it wherever a server echoed it.
    with open_archive(uri, secret=settings.api_key, s3_endpoint_url=s3_endpoint_url) as archive:
        yield lambda options: dataclasses.replace(options, on_response=archive.record, before_write=archive.flush)
