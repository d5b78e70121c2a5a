"""``--source responses`` beyond the basics, over real HTTP against the fake: progress lines, dry runs, a host
without the Conversations API, and Azure OpenAI v1 with Entra ID tokens."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.config import Secret, Settings
from etl.fakeapi import FakeServer
from etl.pipeline import ExportOptions, LogLines
from etl.pipeline_responses import PROGRESS_UNITS, ResponseSources, run_responses_export


def _settings(server: FakeServer, **changes: Any) -> Settings:
    return Settings(api_key=Secret("sk-fake"), base_url=server.base_url, api="responses", max_retries=8, **changes)


def test_progress_lines_count_responses_conversations_and_items(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    dest = str(tmp_path / "progress.duckdb")
    sources = ResponseSources(responses=tuple(truth.responses), conversations=tuple(truth.conversations))
    with caplog.at_level(logging.INFO, logger="etl.progress"):
        run_responses_export(_settings(server), sources, ExportOptions(dest=dest), LogLines(0, units=PROGRESS_UNITS))
    lines = [r.getMessage() for r in caplog.records if r.name == "etl.progress"]
    objects = len(truth.responses) + len(truth.conversations)
    assert len(lines) == objects  # interval 0: one line per response or conversation
    with duckdb.connect(dest, read_only=True) as con:
        query = "select (select count(*) from response_items) + (select count(*) from conversation_items)"
        items = con.sql(query).fetchall()[0][0]
    last = re.fullmatch(r"progress: (\d+) objects \((\d+) failed\), (\d+) items, .* objects/s, .* items/s", lines[-1])
    assert last is not None, lines[-1]
    assert (int(last[1]), int(last[2]), int(last[3])) == (objects, 0, items)


def _tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) with its bytes."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(f): f.read_bytes() for f in files}


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_dry_run_lists_what_would_be_fetched_and_writes_nothing(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path, kind: str
) -> None:
    from click.testing import CliRunner

    from etl.cli import cli

    server = fake_api_factory()
    truth = server.responses.truth
    dest = tmp_path / ("out.duckdb" if kind == "duckdb" else "out")
    responses, conversations = list(truth.responses), list(truth.conversations)
    base = ["export", "--source", "responses", "--dest", str(dest), "--base-url", server.base_url, "--no-progress"]
    args = [*base, *(a for rid in responses for a in ("--response", rid))]
    args += [a for cid in conversations for a in ("--conversation", cid)]
    env = {"OPENAI_API_KEY": "sk-fake"}

    # nothing there yet: every response, every conversation from its first item; no request, no destination
    result = CliRunner().invoke(cli, [*args, "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    planned = [line for line in result.stdout.splitlines() if line.startswith(("response ", "conversation "))]
    assert planned == [f"response {rid}" for rid in responses] + [
        f"conversation {cid} from its first item" for cid in conversations
    ]
    assert not dest.exists() and server.requests == []

    # after an export: only the unfinished responses, each conversation after its last stored item
    assert CliRunner().invoke(cli, args, env=env).exit_code == 0
    before = _tree(dest)
    server.log.reset()
    result = CliRunner().invoke(cli, [*args, "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    unfinished = [rid for rid, r in truth.responses.items() if r["status"] in ("queued", "in_progress")]
    assert unfinished
    expected_lines = [f"response {rid}" for rid in unfinished] + [
        f"conversation {cid} after stored item {items[-1]['id']} (position {len(items)})"
        for cid, items in ((cid, truth.conversation_items[cid]) for cid in conversations)
    ]
    assert [line for line in result.stdout.splitlines() if line.startswith(("response ", "conversation "))] == (
        expected_lines
    )
    assert _tree(dest) == before and server.requests == []


def test_a_host_without_conversations_api_is_refused_once(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from etl.cli import cli

    server = fake_api_factory(conversations_api=False)
    truth = server.responses.truth
    dest = tmp_path / "azure.duckdb"
    base_url = f"{server.azure_endpoint}/openai/v1"
    args = ["export", "--source", "responses", "--provider", "azure", "--base-url", base_url,
            "--api-key-env", "AZURE_OPENAI_API_KEY", "--dest", str(dest), "--no-progress",
            "--response", next(iter(truth.responses))]  # fmt: skip
    args += [a for cid in truth.conversations for a in ("--conversation", cid)]
    result = CliRunner().invoke(cli, args, env={"AZURE_OPENAI_API_KEY": "sk-fake"})
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    first = next(iter(truth.conversations))
    assert line.startswith("error: this endpoint has no Conversations API (HTTP 404"), line
    assert f"Resource not found (GET /conversations/{first})" in line
    assert line.endswith("): export by --response ids instead"), line
    # one probe, nothing opened: no destination, no request for any other conversation or response
    assert [r.path for r in server.requests] == [f"/openai/v1/conversations/{first}"]
    assert not dest.exists()


def test_an_unknown_conversation_is_not_a_missing_api(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path
) -> None:
    server = fake_api_factory()
    truth = server.responses.truth
    known = next(iter(truth.conversations))
    sources = ResponseSources(conversations=("conv_unknown0", known))
    summary = run_responses_export(_settings(server), sources, ExportOptions(dest=str(tmp_path / "x.duckdb")))
    assert summary.exit_code == 3 and summary.conversations_ok == 1
    assert [f["run_id"] for f in summary.failures] == ["conv_unknown0"]


def test_openai_without_conversations_api_is_refused_too(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path
) -> None:
    from etl.errors import InputError

    server = fake_api_factory(conversations_api=False)
    sources = ResponseSources(conversations=tuple(server.responses.truth.conversations))
    with pytest.raises(InputError, match=r"no Conversations API \(HTTP 404: Invalid URL \(GET /v1/conversations/"):
        run_responses_export(_settings(server), sources, ExportOptions(dest=str(tmp_path / "x.duckdb")))
    assert not (tmp_path / "x.duckdb").exists()


AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"


def _azure_entra_args(server: FakeServer, dest: Path, *extra: str) -> list[str]:
    base_url = f"{server.azure_endpoint}/openai/v1/"
    args = ["export", "--source", "responses", "--provider", "azure", "--base-url", base_url, "--dest", str(dest),
            "--no-progress", *extra]  # fmt: skip
    return args + [a for rid in server.responses.truth.responses for a in ("--response", rid)]


def _clean_env(**extra: str) -> dict[str, str]:
    """No Azure, identity or OpenAI variables of the machine: only ``extra``."""
    import os

    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "OPENAI_"))}
    return keep | extra


@pytest.mark.parametrize(("scope", "exit_code"), [(AZURE_SCOPE, 0), ("https://ai.azure.com/.default", 4)])
def test_azure_openai_v1_takes_an_entra_token_for_its_own_scope(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path, scope: str, exit_code: int
) -> None:
    from click.testing import CliRunner
    from responses_expected import actual, expected

    from etl.cli import cli
    from etl.fakeapi.foundry import FakeCredential

    server = fake_api_factory()
    token = FakeCredential(server.root_url).get_token(scope).token
    dest = tmp_path / "entra.duckdb"
    args = _azure_entra_args(server, dest, "--token-env", "AZ_TOKEN")
    # the key variable is set too: with --token-env the token is sent, never the key
    result = CliRunner().invoke(cli, args, env=_clean_env(AZ_TOKEN=token, OPENAI_API_KEY="sk-fake"))
    assert result.exit_code == exit_code, result.output
    assert token not in result.output and token[-12:] not in result.output
    if exit_code == 0:
        assert actual(str(dest))["responses"] == expected(server.responses.truth)["responses"]
        assert {r.path.split("/responses")[0] for r in server.requests} == {"/openai/v1"}
    else:  # a Foundry token is for another audience: refused, named as an auth failure
        assert "audience is incorrect (https://cognitiveservices.azure.com)" in result.output


def test_azure_openai_v1_with_default_azure_credential(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path
) -> None:
    from click.testing import CliRunner
    from responses_expected import actual, expected

    from etl.cli import cli

    server = fake_api_factory()
    dest = tmp_path / "dac.duckdb"
    identity = {"IDENTITY_ENDPOINT": f"{server.root_url}/_fake/identity/token", "IDENTITY_HEADER": "x"}
    result = CliRunner().invoke(cli, _azure_entra_args(server, dest, "--entra-id"), env=_clean_env(**identity))
    assert result.exit_code == 0, result.output
    assert server.tokens_issued >= 1
    assert actual(str(dest))["responses"] == expected(server.responses.truth)["responses"]


def test_entra_id_is_refused_where_the_provider_takes_no_tokens(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from etl.cli import cli

    dest = tmp_path / "never.duckdb"
    args = ["export", "--source", "responses", "--provider", "openai", "--entra-id", "--response", "resp_1",
            "--dest", str(dest)]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=_clean_env(OPENAI_API_KEY="sk-fake"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --entra-id is for providers that take Entra ID tokens (foundry, azure), not openai: leave it out"
    )
    assert not dest.exists()


def test_the_scopes_are_declared_in_the_provider_description() -> None:
    from etl.providers import RESPONSES_PROVIDERS, AuthKind

    azure = RESPONSES_PROVIDERS["azure"]
    assert azure.auth.kind is AuthKind.KEY and azure.with_entra().auth.token_scope == AZURE_SCOPE
    assert RESPONSES_PROVIDERS["foundry"].with_entra().auth.token_scope == "https://ai.azure.com/.default"
    assert Settings(provider="azure", api="responses", entra=True).provider_spec.auth.token_scope == AZURE_SCOPE


def test_foundry_dry_run_lists_from_the_listings_only(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path
) -> None:
    from etl.fakeapi.foundry import FakeCredential

    server = fake_api_factory(flavor="foundry")
    truth = server.responses.truth
    token = FakeCredential(server.root_url).get_token("https://ai.azure.com/.default").token
    settings = Settings(api_key=Secret(token), base_url=server.base_url, api="responses", provider="foundry")
    dest = tmp_path / "foundry.duckdb"
    sources = ResponseSources(all_responses=True, all_conversations=True, follow_previous=True)
    summary = run_responses_export(settings, sources, ExportOptions(dest=str(dest), dry_run=True))
    chain = " and the responses before it (--follow-previous)"
    assert sorted(summary.planned) == sorted(
        [f"response {rid}{chain}" for rid in truth.responses]
        + [f"conversation {cid} from its first item" for cid in truth.conversations]
    )
    assert {r.kind for r in server.requests} == {"responses_list", "conversations_list"}
    assert not dest.exists() and summary.exit_code == 0


def test_bars_count_objects_and_items(fake_api_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    from etl.cli.progress import Bars

    server = fake_api_factory()
    truth = server.responses.truth
    sources = ResponseSources(responses=tuple(truth.responses))
    with Bars(PROGRESS_UNITS) as bars:
        summary = run_responses_export(_settings(server), sources, ExportOptions(dest=str(tmp_path / "b")), bars)
    tasks = bars._progress.tasks
    assert [t.description for t in tasks] == ["objects", "items"]
    assert tasks[0].completed == summary.responses_ok == len(truth.responses)
    assert tasks[1].completed == summary.rows["response_items"] > 0
