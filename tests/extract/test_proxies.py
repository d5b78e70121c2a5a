"""Corporate networks: HTTPS_PROXY/HTTP_PROXY/NO_PROXY and a CA bundle, for the API and object storage alike,
through a real forward proxy on loopback (tests/forward_proxy.py) and a TLS front with a private CA."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner, Result
from expected import actual_tables
from forward_proxy import serve_proxy
from loopback import private_ca, tls_front
from parquet_support import S3, moto_server, s3  # noqa: F401 (fixtures)

from etl.cli import cli
from etl.config import Secret, Settings
from etl.errors import InputError, UntrustedServerError
from etl.extract import ApiClient
from etl.fakeapi import FakeConfig, FakeServer, serve_in_thread
from etl.preflight import check_ca_bundle

KEY = "sk-proxy-test-0123456789"
UNKNOWN_CA = "unable to get local issuer certificate"
NO_CA = (
    "if a proxy or a private CA signs it, give a bundle holding that CA with --ca-bundle (it replaces the default CAs:"
    " include those still needed)"
)


@pytest.fixture(autouse=True)
def _no_system_ca_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Some machines set SSL_CERT_DIR system-wide: the tests here choose the CAs trusted."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with serve_in_thread(FakeConfig.small(api_key=KEY, long_output_bytes=0)) as server:
        yield server


def export(fake: FakeServer, base_url: str, dest: str, env: dict[str, str], *args: str) -> Result:
    """``runsteps export`` with these proxy variables, set in both cases (the lower-case one wins when both are)."""
    threads = [arg for thread in fake.dataset.thread_ids for arg in ("--thread", thread)]
    argv = ["export", *threads, "--base-url", base_url, "--dest", dest, "--no-progress", "--max-retries", "0", *args]
    names = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
    variables = {case(name): env.get(name, "") for name in names for case in (str.upper, str.lower)}
    return CliRunner().invoke(cli, argv, env={"OPENAI_API_KEY": KEY, **variables})


def test_api_requests_go_through_the_proxy_unless_no_proxy_says_otherwise(fake: FakeServer, tmp_path: Path) -> None:
    host = fake.base_url.split("/")[2]
    with serve_proxy() as proxy:
        through = export(fake, fake.base_url, str(tmp_path / "a.duckdb"), {"HTTP_PROXY": proxy.url})
        assert through.exit_code == 0, through.output
        assert proxy.targets and set(proxy.targets) == {host}
        seen = len(proxy.targets)
        direct = export(
            fake, fake.base_url, str(tmp_path / "b.duckdb"), {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"}
        )
        assert direct.exit_code == 0, direct.output
        assert len(proxy.targets) == seen, "NO_PROXY must bypass the proxy"
    assert len(actual_tables(str(tmp_path / "a.duckdb"))["run_steps"]) == len(fake.truth.steps)


def test_a_dead_proxy_fails_the_runs_not_the_process(fake: FakeServer, tmp_path: Path) -> None:
    with serve_proxy() as proxy:
        dead = proxy.url
    result = export(fake, fake.base_url, str(tmp_path / "a.duckdb"), {"HTTP_PROXY": dead})
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and "ConnectError" in result.stderr


def test_object_storage_goes_through_the_proxy(fake: FakeServer, s3: S3) -> None:  # noqa: F811
    with serve_proxy() as proxy:
        result = export(fake, fake.base_url, s3.uri("through-proxy"), {"HTTP_PROXY": proxy.url})
        assert result.exit_code == 0, result.output
        assert s3.endpoint.split("/")[2] in proxy.targets, proxy.targets
    assert len(actual_tables(s3.uri("through-proxy"))["run_steps"]) == len(fake.truth.steps)


def test_https_through_the_proxy_needs_the_ca_bundle(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = private_ca(tmp_path)
    fake_port = int(fake.base_url.split(":")[2].split("/")[0])
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # --ca-bundle sets it for the process: undo after the test
    with tls_front(fake_port, cert, key) as port, serve_proxy() as proxy:
        base = f"https://127.0.0.1:{port}/v1"
        refused = export(fake, base, str(tmp_path / "a.duckdb"), {"HTTPS_PROXY": proxy.url})
        # Stopped at the first refusal (every request would be refused alike), one line saying what to do.
        assert refused.exit_code == 4, refused.output
        assert refused.stderr == f"error: the TLS certificate of 127.0.0.1:{port} was refused ({UNKNOWN_CA}): {NO_CA}\n"
        trusted = export(fake, base, str(tmp_path / "b.duckdb"), {"HTTPS_PROXY": proxy.url}, "--ca-bundle", str(ca))
        assert trusted.exit_code == 0, trusted.output
        assert f"127.0.0.1:{port}" in proxy.targets  # a CONNECT tunnel to the TLS front
    assert len(actual_tables(str(tmp_path / "b.duckdb"))["run_steps"]) == len(fake.truth.steps)


def test_a_ca_bundle_is_checked_again_once_the_file_changed(tmp_path: Path) -> None:
    ca = private_ca(tmp_path)[0]
    check_ca_bundle(str(ca), "--ca-bundle")
    check_ca_bundle(str(ca), "--ca-bundle")  # asked once: the answer for this version of the file is kept
    ca.write_text("not a certificate\n")
    with pytest.raises(InputError, match="is not a readable PEM file"):
        check_ca_bundle(str(ca), "--ca-bundle")
    ca.unlink()
    with pytest.raises(InputError, match="is not a readable PEM file"):
        check_ca_bundle(str(ca), "--ca-bundle")


def test_object_storage_over_https_needs_the_ca_bundle(
    fake: FakeServer,
    s3: S3,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca, cert, key = private_ca(tmp_path)
    moto_port = int(s3.endpoint.rsplit(":", 1)[1])
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # --ca-bundle sets it for the process: undo after the test
    with tls_front(moto_port, cert, key) as port:
        endpoint = ("--s3-endpoint-url", f"https://127.0.0.1:{port}")
        refused = export(fake, fake.base_url, s3.uri("untrusted"), {}, *endpoint)
        assert refused.exit_code == 2, refused.output
        assert refused.output.startswith(f"error: cannot use bucket {s3.bucket!r} at https://127.0.0.1:{port}")
        assert refused.output.rstrip().endswith(f"its TLS certificate was refused ({UNKNOWN_CA}): {NO_CA}")
        assert refused.output.count("\n") == 1 and "Traceback" not in refused.output
        trusted = export(fake, fake.base_url, s3.uri("trusted"), {}, *endpoint, "--ca-bundle", str(ca))
        assert trusted.exit_code == 0, trusted.output
    assert s3.fs.get_file_info(f"{s3.bucket}/untrusted").type == pafs.FileType.NotFound  # nothing written
    assert len(actual_tables(s3.uri("trusted"))["run_steps"]) == len(fake.truth.steps)


@pytest.mark.parametrize(
    ("problem", "reason", "advice"),
    [
        ("expired", "certificate has expired", "check this machine's clock, or have the server's certificate renewed"),
        ("other-host", "IP address mismatch, certificate is not valid for '127.0.0.1'",
         "the certificate is another host's: check the URL, and that no proxy answers in its place"),
        ("other-ca", UNKNOWN_CA, "the CAs in {bundle} do not include the one that signed it: give a bundle that does"
         " with --ca-bundle"),
    ],
)  # fmt: skip
def test_each_certificate_refusal_says_what_to_do_about_it(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str, reason: str, advice: str
) -> None:
    ca, cert, key = private_ca(tmp_path, expired=problem == "expired", host="api.elsewhere.test" if problem ==
                               "other-host" else None)  # fmt: skip
    if problem == "other-ca":  # a bundle is given, but not the one with this server's CA
        (tmp_path / "other").mkdir()
        ca = private_ca(tmp_path / "other")[0]
    fake_port = int(fake.base_url.split(":")[2].split("/")[0])
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # --ca-bundle sets it for the process: undo after the test
    with tls_front(fake_port, cert, key) as port:
        refused = export(fake, f"https://127.0.0.1:{port}/v1", str(tmp_path / "x.duckdb"), {}, "--ca-bundle", str(ca))
    assert refused.exit_code == 4, refused.output
    line = f"error: the TLS certificate of 127.0.0.1:{port} was refused ({reason}): {advice.format(bundle=ca)}\n"
    assert refused.stderr == line


def test_a_refused_certificate_is_not_retried(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cert, key = private_ca(tmp_path)
    fake_port = int(fake.base_url.split(":")[2].split("/")[0])
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    settings = Settings(api_key=Secret(KEY), base_url="", max_retries=5)

    async def ask(base_url: str) -> ApiClient:
        async with ApiClient(replace(settings, base_url=base_url)) as client:
            with pytest.raises(UntrustedServerError):
                await client.get_json("/threads/thread_x/runs")
            return client

    with tls_front(fake_port, cert, key) as port:
        client = asyncio.run(ask(f"https://127.0.0.1:{port}/v1"))
    assert (client.stats.requests, client.stats.retries) == (1, 0)
