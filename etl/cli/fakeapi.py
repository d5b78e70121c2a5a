"""``runsteps fake-api``: serve the fake Assistants API in the foreground until Ctrl-C."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from etl.cli._common import FiniteFloatRange, OutputFile, handle_errors
from etl.fakeapi import BOUNDARY_SIZES, FakeConfig, FaultKind
from etl.fakeapi.config import FLAVORS

if TYPE_CHECKING:
    from etl.fakeapi import FakeServer


def _fault_kinds(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[FaultKind, ...]:
    if not value:
        return tuple(FaultKind)
    try:
        return tuple(FaultKind(part.strip()) for part in value.split(","))
    except ValueError:
        choices = ", ".join(kind.value for kind in FaultKind)
        raise click.BadParameter(f"use a comma-separated list of: {choices}") from None


@click.command("fake-api")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the synthetic data and the faults.")
@click.option("--api-key", default="sk-fake", show_default=True, help="The key clients must send.")
@click.option("--threads", type=click.IntRange(0), default=10, show_default=True, help="Number of threads.")
@click.option("--runs-per-thread", type=click.IntRange(0), default=20, show_default=True, help="Runs per thread.")
@click.option("--steps-per-run", default="1-30", show_default=True,
              help="Steps per run: N, A-B (uniform) or A,B,C (one of). Queued runs have none.")
@click.option("--boundary/--no-boundary", default=True, show_default=True,
              help=f"Add runs of {', '.join(map(str, BOUNDARY_SIZES))} steps to the first thread.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default="2026-01-01", show_default=True,
              help="First day of the runs' created_at window (UTC).")
@click.option("--days", type=click.IntRange(1), default=30, show_default=True, help="Length of that window.")
@click.option("--future-variants", is_flag=True, help="Add a step type, a tool call type and fields the spec lacks.")
@click.option("--long-output-bytes", type=click.IntRange(0), default=1_048_576, show_default=True,
              help="Size of the one long function output (0: none).")
@click.option("--latency-ms", type=FiniteFloatRange(0), default=0, show_default=True,
              help="Delay every response by this much (without blocking other requests).")
@click.option("--fault-rate", type=FiniteFloatRange(0, 1), default=0, show_default=True,
              help="Share of requests answered with a fault (deterministic from the seed).")
@click.option("--fault-kinds", callback=_fault_kinds, default=None,
              help="Faults to draw from, comma-separated: " + ", ".join(kind.value for kind in FaultKind) + ".")
@click.option("--slow-seconds", type=FiniteFloatRange(0), default=30, show_default=True,
              help="How long a 'slow' fault waits before answering.")
@click.option("--quota-exhausted", is_flag=True, help="Answer every request 429 insufficient_quota.")
@click.option("--flavor", type=click.Choice(list(FLAVORS)), default="openai", show_default=True,
              help="foundry: an Azure AI Foundry project endpoint (/api/projects/fake-project), api-version required, "
              "Entra ID-style tokens from /_fake/identity/token, GET /threads and /assistants, Foundry's tool types.")
@click.option("--token-lifetime", type=FiniteFloatRange(1), default=3600, show_default=True,
              help="foundry: seconds an issued token is good for (short ones test refreshing).")
@click.option("--conversations", type=click.IntRange(0), default=3, show_default=True,
              help="Responses API: conversations of three turns each.")
@click.option("--chains", type=click.IntRange(0), default=2, show_default=True,
              help="Responses API: previous_response_id chains of three responses each.")
@click.option("--no-conversations-api", is_flag=True,
              help="Responses API: serve no /conversations paths (a host without the Conversations API).")
@click.option("--write-threads", type=OutputFile(),
              help="Write the thread ids to this file, one a line.")
@click.option("--write-responses", type=OutputFile(),
              help="Write the response ids served (Responses API) to this file, one a line.")
@click.option("--write-conversations", type=OutputFile(),
              help="Write the conversation ids served (Conversations API) to this file, one a line.")
@click.option("--dump-truth", type=OutputFile(),
              help="Write every run and step served (JSON Lines, file-search content included).")
@handle_errors
def fake_api(port: int, host: str, seed: int, api_key: str, threads: int, runs_per_thread: int,
             steps_per_run: str, boundary: bool, start: datetime, days: int, future_variants: bool,
             long_output_bytes: int, latency_ms: float, fault_rate: float, fault_kinds: tuple[FaultKind, ...],
             slow_seconds: float, quota_exhausted: bool, flavor: str, token_lifetime: float, conversations: int,
             chains: int, no_conversations_api: bool, write_threads: Path | None, write_responses: Path | None,
             write_conversations: Path | None, dump_truth: Path | None) -> None:
    """Serve a local, spec-faithful fake of the Assistants runs and run-steps API until Ctrl-C.

    Prints the base URL on the first line of stdout. Clients send 'Authorization: Bearer <key>' and
    'OpenAI-Beta: assistants=v2' (or Azure's 'api-key' header and an api-version parameter). With
    --flavor foundry they send a token from the fake's managed-identity endpoint: set
    IDENTITY_ENDPOINT=<root>/_fake/identity/token and IDENTITY_HEADER=any for DefaultAzureCredential.
    Every flavor also serves the Responses and Conversations APIs (foundry: under the project's /openai/v1, with
    GET /responses and /conversations); --flavor responses says so on start.
    """
    from etl.fakeapi import run_server  # needs aiohttp (the [fake] extra): an InputError says so without it

    try:
        config = FakeConfig(
            seed=seed, threads=threads, runs_per_thread=runs_per_thread, steps_per_run=steps_per_run,
            boundary_sizes=BOUNDARY_SIZES if boundary else (), start=start.date(), days=days,
            future_variants=future_variants, long_output_bytes=long_output_bytes, api_key=api_key,
            latency_ms=latency_ms, fault_rate=fault_rate, fault_kinds=fault_kinds, slow_seconds=slow_seconds,
            quota_exhausted=quota_exhausted, flavor=flavor, token_lifetime=token_lifetime,
            conversations=conversations, chains=chains, conversations_api=not no_conversations_api,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    def ready(server: FakeServer) -> None:
        dataset = server.dataset
        if write_threads is not None:
            dataset.write_threads(write_threads)
        if dump_truth is not None:
            lines = dataset.dump_truth(dump_truth)
            click.echo(f"wrote {lines} objects to {dump_truth}", err=True)
        successors = server.responses.truth
        for path, ids in ((write_responses, successors.responses), (write_conversations, successors.conversations)):
            if path is not None:
                path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        click.echo(server.base_url)
        if config.flavor == "responses":
            click.echo(f"serving {len(successors.responses)} responses and {len(successors.conversations)} "
                       "conversations (export with --source responses)", err=True)
        if config.flavor == "foundry":
            identity = f"IDENTITY_ENDPOINT={server.root_url}/_fake/identity/token IDENTITY_HEADER=fake"
            click.echo(f"tokens: {identity}", err=True)
        click.echo(f"serving {len(dataset.thread_ids)} threads; Ctrl-C to stop", err=True)

    run_server(config, port=port, host=host, on_ready=ready)
