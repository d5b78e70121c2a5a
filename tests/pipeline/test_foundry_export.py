"""``runsteps export --provider foundry`` end to end over real HTTP against the fake's Foundry flavor."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from expected import assert_tables_equal
from expected_foundry import actual_entity_tables, foundry_tables, identity_env
from loopback import private_ca, tls_front

from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread
from etl.fakeapi.foundry import NO_ROLE_PRINCIPAL, FakeCredential

SCOPE = "https://ai.azure.com/.default"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    config = FakeConfig.small(flavor="foundry", threads=3, runs_per_thread=5, steps_per_run="1-8", seed=7)
    with serve_in_thread(config) as server:
        yield server


def export(
    fake: FakeServer, dest: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "etl", "export", "--provider", "foundry", "--base-url", fake.base_url,
               "--dest", dest, "--no-progress", "--metrics-json", *args]  # fmt: skip
    return subprocess.run(command, env=env or identity_env(fake), capture_output=True, text=True, timeout=240)


def metrics(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def assert_holds_the_fake(dest: str, fake: FakeServer) -> None:
    """Every thread, run, step, tool call and agent of the fake, exactly once, field by field."""
    expected = foundry_tables(fake.truth)
    entities = {name: expected.pop(name) for name in ("threads", "assistants")}
    assert_tables_equal(dest, expected)
    actual = actual_entity_tables(dest)
    for name, rows in entities.items():
        assert set(actual[name]) == set(rows), name
        for key, want in rows.items():
            have = actual[name][key]
            assert {c: have[c] for c in want} == want, (name, key)


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_all_threads_export_holds_the_whole_project_once_and_repeats_idempotently(
    fake: FakeServer, tmp_path: Path, kind: str
) -> None:
    dest = str(tmp_path / ("x.duckdb" if kind == "duckdb" else "root"))
    first = export(fake, dest, "--all-threads")
    assert first.returncode == 0, first.stderr
    assert_holds_the_fake(dest, fake)
    figures = metrics(first)
    truth = fake.truth
    assert (figures["runs_ok"], figures["steps"], figures["schema_drift"]) == (len(truth.runs), len(truth.steps), 0)
    assert figures["rows"]["threads"] == len(truth.threads) and truth.gone_assistant_ids
    again = export(fake, dest, "--all-threads", "--refresh")
    assert again.returncode == 0, again.stderr
    assert_holds_the_fake(dest, fake)
    status = subprocess.run(
        [sys.executable, "-m", "etl", "status", "--dest", dest, "--json"], capture_output=True, text=True
    )
    report = json.loads(status.stdout)
    assert (report["threads"], report["assistants"], report["assistants_gone"]) == (
        len(truth.threads),
        len(truth.assistants) + len(truth.gone_assistant_ids),
        len(truth.gone_assistant_ids),
    )


def test_foundry_tool_calls_are_typed_not_drift(fake: FakeServer, tmp_path: Path) -> None:
    dest = str(tmp_path / "x.duckdb")
    assert export(fake, dest, "--all-threads").returncode == 0
    import duckdb

    with duckdb.connect(dest, read_only=True) as con:
        types = dict(con.execute("SELECT type, count(raw_json) FROM tool_calls GROUP BY type").fetchall())
        mcp = con.execute("SELECT function_name, mcp_server_label FROM tool_calls WHERE type = 'mcp'").fetchall()
        names = con.execute(
            "SELECT a.name, count(*) FROM runs r JOIN assistants a USING (assistant_id) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert {"mcp", "connected_agent", "bing_grounding", "deep_research", "browser_automation"} <= set(types)
    assert set(types.values()) == {0}  # nothing kept as raw JSON: every Foundry type has its columns
    assert mcp and all(name == "search_docs" and label in ("docs", "github") for name, label in mcp)
    assert [n for n, _ in names] == sorted(n for n, _ in names if n is not None) + [None] * (None in dict(names))


def test_tokens_that_live_seconds_are_refreshed_during_the_export(tmp_path: Path) -> None:
    config = FakeConfig.small(flavor="foundry", threads=2, runs_per_thread=8, token_lifetime=2, latency_ms=200)
    with serve_in_thread(config) as fake:
        result = export(fake, str(tmp_path / "x.duckdb"), "--all-threads", "--concurrency", "1")
        assert result.returncode == 0, result.stderr
        assert metrics(result)["elapsed_s"] > 4.5  # outlived two tokens
        assert fake.tokens_issued >= 3
        assert fake.log.count(status=401) == 0  # refreshed before expiry, not after a refusal
        assert_holds_the_fake(str(tmp_path / "x.duckdb"), fake)


def test_a_principal_without_the_role_stops_with_exit_4_naming_it(fake: FakeServer, tmp_path: Path) -> None:
    token = FakeCredential(fake.root_url, principal=NO_ROLE_PRINCIPAL).get_token(SCOPE).token
    env = identity_env(fake) | {"FOUNDRY_TOKEN": token}
    result = export(fake, str(tmp_path / "x.duckdb"), "--all-threads", "--token-env", "FOUNDRY_TOKEN", env=env)
    assert result.returncode == 4
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error:") and "PermissionDenied" in line and '"Azure AI User" role' in line
    assert token not in result.stderr + result.stdout and token[-12:] not in result.stderr


def test_no_credential_at_all_is_one_line_and_exit_4(fake: FakeServer, tmp_path: Path) -> None:
    """No identity anywhere (no variables, no managed identity, no CLI login): azure-identity's dozen lines of
    attempted credentials stay out of stderr; the one error line says what failed and what to do."""
    env = {k: v for k, v in identity_env(fake).items() if not k.startswith("IDENTITY_")} | {"HOME": str(tmp_path)}
    result = export(fake, str(tmp_path / "x.duckdb"), "--all-threads", env=env)
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: could not get a Microsoft Entra ID token for https://ai.azure.com/.default: DefaultAzureCredential"
        " failed to retrieve a token from the included credentials. (sign in with `az login`, set"
        " AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, use a managed identity, or pass --token-env NAME)"
    ]
    assert "Attempted credentials" not in result.stderr + result.stdout


def test_a_token_given_as_is_works_and_is_never_shown(fake: FakeServer, tmp_path: Path) -> None:
    token = FakeCredential(fake.root_url).get_token(SCOPE).token
    env = identity_env(fake) | {"FOUNDRY_TOKEN": token, "IDENTITY_ENDPOINT": "http://127.0.0.1:9/unused"}
    dest = str(tmp_path / "x.duckdb")
    result = export(
        fake, dest, "--all-threads", "--token-env", "FOUNDRY_TOKEN", "--archive", str(tmp_path / "a"), env=env
    )
    assert result.returncode == 0, result.stderr
    assert token not in result.stderr + result.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_refusals_before_anything_is_opened(fake: FakeServer, tmp_path: Path) -> None:
    dest = tmp_path / "x.duckdb"
    empty = identity_env(fake) | {"FOUNDRY_TOKEN": ""}
    cases = [
        (["--all-threads", "--token-env", "FOUNDRY_TOKEN"], empty, "FOUNDRY_TOKEN is empty or unset"),
        (["--all-threads", "--token-env", "FOUNDRY_TOKEN", "--provider", "openai"], empty, "--token-env is for"),
    ]
    for args, env, message in cases:
        result = export(fake, str(dest), *args, env=env)
        assert (result.returncode, result.stderr.strip().splitlines()[-1].startswith("error:")) == (2, True)
        assert message in result.stderr
    openai = subprocess.run(
        [sys.executable, "-m", "etl", "export", "--all-threads", "--base-url", "http://127.0.0.1:9/v1", "--dest",
         str(dest)], env=identity_env(fake) | {"OPENAI_API_KEY": "sk-x"}, capture_output=True, text=True)  # fmt: skip
    assert openai.returncode == 2 and "--all-threads needs a provider that can list threads" in openai.stderr
    assert not dest.exists()


def test_without_the_azure_extra_foundry_says_how_to_install_it(fake: FakeServer, tmp_path: Path) -> None:
    blocker = tmp_path / "block"
    blocker.mkdir()
    # Python reads sitecustomize at start-up: here it makes `import azure.identity` fail as if not installed.
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['azure.identity'] = None\n")
    env = identity_env(fake, PYTHONPATH=str(blocker))
    result = export(fake, str(tmp_path / "x.duckdb"), "--all-threads", env=env)
    assert result.returncode == 2
    assert "pip install 'run-steps-etl[azure]'" in result.stderr
    assert not (tmp_path / "x.duckdb").exists()


def test_backfill_takes_the_same_options(fake: FakeServer, tmp_path: Path) -> None:
    dest = str(tmp_path / "x.duckdb")
    command = [sys.executable, "-m", "etl", "backfill", "--provider", "foundry", "--base-url", fake.base_url,
               "--all-threads", "--since", "2026-01-01", "--until", "2026-02-01", "--chunk", "10d", "--dest", dest,
               "--no-progress"]  # fmt: skip
    done = subprocess.run(command, env=identity_env(fake), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "4/4 chunks done" in done.stderr
    assert_holds_the_fake(dest, fake)


def test_replay_rebuilds_threads_and_assistants_as_the_export_wrote_them(fake: FakeServer, tmp_path: Path) -> None:
    exported, replayed, archive = str(tmp_path / "x.duckdb"), str(tmp_path / "r.duckdb"), str(tmp_path / "archive")
    assert export(fake, exported, "--all-threads", "--archive", archive).returncode == 0
    done = subprocess.run([sys.executable, "-m", "etl", "replay", archive, "--dest", replayed],
                          capture_output=True, text=True, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr
    import duckdb

    for table in ("threads", "assistants"):
        rows = []
        for dest in (exported, replayed):
            with duckdb.connect(dest, read_only=True) as con:
                rows.append(con.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall())
        assert rows[0] == rows[1] and rows[0], table


def test_entra_id_tokens_come_through_a_tls_proxy_trusted_with_ca_bundle(fake: FakeServer, tmp_path: Path) -> None:
    """The token endpoint behind TLS signed by a private CA (a TLS-inspecting proxy): --ca-bundle trusts it for the
    token requests (azure-identity's own HTTP client) as for the API's."""
    ca, cert, key = private_ca(tmp_path)
    fake_port = int(fake.root_url.rsplit(":", 1)[1])
    with tls_front(fake_port, cert, key) as port:
        endpoint = f"https://127.0.0.1:{port}/_fake/identity/token"
        variables = identity_env(fake, IDENTITY_ENDPOINT=endpoint).items()
        env = {k: v for k, v in variables if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}  # the test picks the CAs
        refused = export(fake, str(tmp_path / "refused.duckdb"), "--all-threads", env=env)
        trusted = export(fake, str(tmp_path / "trusted.duckdb"), "--all-threads", "--ca-bundle", str(ca), env=env)
    assert refused.returncode == 4, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert last == (
        "error: could not get a Microsoft Entra ID token for https://ai.azure.com/.default: a token endpoint's TLS"
        " certificate was refused (unable to get local issuer certificate): if a proxy or a private CA signs it, give a"
        " bundle holding that CA with --ca-bundle (it replaces the default CAs: include those still needed)"
    )
    assert trusted.returncode == 0, trusted.stderr
    assert_holds_the_fake(str(tmp_path / "trusted.duckdb"), fake)
