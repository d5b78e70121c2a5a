"""Bad input, table-driven: every case is one clear line on stderr, its exit code, no traceback, no secret.

For exit code 2 the destination is absent afterwards (a new path) or byte for byte what it was (a good
destination, DuckDB or Parquet, that every case is also aimed at). Cases run in-process through click's
CliRunner: the same code as the console script, without a process start per case.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import click
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from etl.cli import cli
from etl.config import Secret, Settings
from etl.errors import AuthError
from etl.extract.auth import TokenSource
from etl.fakeapi import FakeConfig, serve_in_thread
from etl.pipeline import ExportOptions, Sources, run_export

KEY = "sk-hardening-0123456789-SECRETPART"
FRAGMENTS = (KEY, "SECRETPART", "0123456789-SECRET")
UNUSED_URL = "http://127.0.0.1:9/v1"
FOUNDRY_URL = (
    "https://example.services.ai.azure.com/api/projects/p"  # never contacted: every case here fails before any request
)


@dataclass(frozen=True)
class Good:
    """Two destinations holding a real export, and the sha256 of every file under each."""

    duckdb: Path
    parquet: Path

    def tree(self) -> dict[str, str]:
        files = [self.duckdb, *sorted(p for p in self.parquet.rglob("*") if p.is_file())]
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Good:
    return make_good(tmp_path_factory)


def make_good(tmp_path_factory: pytest.TempPathFactory) -> Good:
    """A DuckDB file and a Parquet root each holding the export of ``FakeConfig.small()``."""
    folder = tmp_path_factory.mktemp("good")
    found = Good(folder / "good.duckdb", folder / "good-root")
    config = FakeConfig.small(api_key=KEY)
    with serve_in_thread(config) as fake:
        settings = Settings(api_key=Secret(KEY), base_url=fake.base_url)
        for dest in (found.duckdb, found.parquet):
            summary = run_export(settings, Sources(threads=tuple(fake.dataset.thread_ids)), ExportOptions(str(dest)))
            assert summary.exit_code == 0 and summary.steps > 0
    return found


@dataclass(frozen=True)
class Case:
    """One bad input: the command line (``{dest}`` and ``{tmp}`` filled in), environment, stdin, what to expect."""

    id: str
    args: list[str]
    words: str  # must appear in the one error line
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # written under tmp before the run
    command: str = "export"
    dests: tuple[str, ...] = ("new-duckdb", "new-parquet", "good-duckdb", "good-parquet")


def _export(*args: str) -> list[str]:
    return ["--base-url", UNUSED_URL, "--no-progress", *args]


def _runs(*args: str) -> list[str]:
    return _export("--runs-file", "{tmp}/runs", *args)


def _threads(*args: str) -> list[str]:
    return _export("--threads-file", "{tmp}/threads", *args)


def _backfill(*args: str) -> list[str]:
    return ["--base-url", UNUSED_URL, "--no-progress", "--thread", "thread_a", *args]


HUGE_LINE = b"thread_id,run_id\n" + b"x" * (2 << 20) + b"\n"
DEST_ONLY = ("new-duckdb",)

CASES: list[Case] = [
    # --- ids given as flags
    Case("thread-dotdot", _export("--thread", ".."), "thread id '..' is not valid"),
    Case("thread-slash", _export("--thread", "a/b"), "thread id 'a/b' is not valid"),
    Case("thread-empty", _export("--thread", ""), "thread id '' is not valid"),
    Case("thread-space", _export("--thread", "thread a"), "is not valid"),
    Case("thread-unicode", _export("--thread", "thréad"), "is not valid"),
    Case("thread-too-long", _export("--thread", "t" * 129), "1 to 128 characters"),
    Case("thread-percent", _export("--thread", "a%2Fb"), "is not valid"),
    Case("run-no-slash", _export("--run", "thread_a"), "THREAD_ID/RUN_ID"),
    Case("run-dotdot", _export("--run", "thread_a/.."), "run id '..' is not valid"),
    Case("run-empty-thread", _export("--run", "/run_a"), "thread id '' is not valid"),
    Case("run-extra-part", _export("--run", "thread_a/run_a/steps"), "is not valid"),
    Case("run-query", _export("--run", "thread_a/run_a?x=1"), "is not valid"),
    # --- files of ids: contents, encodings, line endings, kinds of file
    Case("runs-csv-wrong-header", _runs(), "header naming thread_id and run_id", files={"runs": b"a,b\nt,r\n"}),
    Case("runs-csv-short-row", _runs(), "line 2", files={"runs": b"thread_id,run_id\nthread_a\n"}),
    Case("runs-csv-bad-id", _runs(), "line 3", files={"runs": b"thread_id,run_id\nt1,r1\nt2,../r\n"}),
    Case(
        "runs-jsonl-broken",
        _runs(),
        "line 2: not valid JSON",
        files={"runs": b'{"thread_id":"t","run_id":"r"}\n{"thr\n'},
    ),
    Case(
        "runs-jsonl-not-object", _runs(), "expected an object", files={"runs": b'{"thread_id":"t","run_id":"r"}\n[1]\n'}
    ),
    Case("runs-jsonl-number-id", _runs(), "of type int", files={"runs": b'{"thread_id":"t","run_id":5}\n'}),
    Case("runs-jsonl-missing-key", _runs(), "thread_id and run_id", files={"runs": b'{"thread_id":"t"}\n'}),
    Case("runs-binary", _runs(), "not UTF-8", files={"runs": bytes(range(128, 256)) * 4}),
    Case("runs-utf16", _runs(), "not UTF-8", files={"runs": "thread_id,run_id\nt,r\n".encode("utf-16")}),
    Case("runs-nul-bytes", _runs(), "NUL byte", files={"runs": b"thread_id,run_id\nt\x00,r\n"}),
    Case("runs-huge-line", _runs(), "longer than", files={"runs": HUGE_LINE}),
    Case("runs-cr-only-bad-id", _runs(), "line 3", files={"runs": b"thread_id,run_id\rt,r\rt,r/x\r"}),
    Case("runs-crlf-bad-id", _runs(), "line 2", files={"runs": b"thread_id,run_id\r\nt,..\r\n"}),
    Case("runs-bom-bad-id", _runs(), "line 2", files={"runs": b"\xef\xbb\xbfthread_id,run_id\nt,a b\n"}),
    Case("runs-missing-file", _export("--runs-file", "{tmp}/nope.csv"), "cannot read"),
    Case("runs-directory", _export("--runs-file", "{tmp}"), "directory"),
    Case("runs-stdin-cr-only-bad", _export("--runs-file", "-"), "stdin line 2", stdin="thread_id,run_id\rt,../x\r"),
    Case(
        "runs-stdin-broken-json",
        _export("--runs-file", "-"),
        "stdin line 2",
        stdin='{"thread_id":"t","run_id":"r"}\n{\n',
    ),
    Case("runs-stdin-binary", _export("--runs-file", "-"), "not UTF-8", stdin=b"\xff\xfe\x00\x01garbage"),
    Case("runs-empty-file", _runs(), "hold no thread or run ids", files={"runs": b""}),
    Case("runs-header-only", _runs(), "hold no thread or run ids", files={"runs": b"thread_id,run_id\n"}),
    Case("runs-blank-lines", _runs(), "hold no thread or run ids", files={"runs": b"\n\n\n"}),
    Case(
        "responses-empty-file",
        _export("--source", "responses", "--responses-file", "{tmp}/responses"),
        "hold no response or conversation ids",
        files={"responses": b"\n"},
    ),
    Case("threads-bad-id", _threads(), "line 2", files={"threads": b"thread_a\n../etc\n"}),
    Case("threads-csv-bad-column", _threads(), "line 3", files={"threads": b"thread_id,x\n\n,1\n"}),
    Case("threads-empty-file", _threads(), "hold no thread or run ids", files={"threads": b"\n\n"}),
    Case("threads-binary", _threads(), "not UTF-8", files={"threads": b"\x89PNG\r\n\x1a\n\xff\xff"}),
    Case("threads-devnull", _export("--threads-file", "/dev/null"), "hold no thread or run ids"),
    Case("threads-stdin-bad", _export("--threads-file", "-"), "stdin line 1", stdin="a b\n"),
    # --- dates and windows
    Case("since-garbage", _export("--thread", "t", "--since", "yesterday"), "not an ISO-8601 date"),
    Case("since-empty", _export("--thread", "t", "--since", ""), "not an ISO-8601 date"),
    Case("until-word", _export("--thread", "t", "--until", "tomorrow"), "--until 'tomorrow' is not an ISO-8601 date"),
    Case("until-year-10000", _export("--thread", "t", "--until", "10000-01-01"), "not an ISO-8601 date"),
    Case(
        "since-after-until",
        _export("--thread", "t", "--since", "2026-02-01", "--until", "2026-01-01"),
        "before --until",
    ),
    Case("since-without-thread", _export("--run", "t/r", "--since", "2026-01-01"), "bound discovered runs"),
    Case(
        "window-absurd",
        _backfill("--since", "2025-01-01", "--until", "9999-01-01", "--chunk", "30m"),
        "at most 100,000",
        command="backfill",
    ),
    Case(
        "window-empty",
        _backfill("--since", "2026-01-02", "--until", "2026-01-01"),
        "before --until",
        command="backfill",
    ),
    Case(
        "chunk-zero",
        _backfill("--since", "2026-01-01", "--until", "2026-01-02", "--chunk", "0d"),
        "--chunk",
        command="backfill",
    ),
    Case(
        "chunk-unit",
        _backfill("--since", "2026-01-01", "--until", "2026-01-02", "--chunk", "5y"),
        "--chunk",
        command="backfill",
    ),
    Case("backfill-no-until", _backfill("--since", "2026-01-01"), "missing option '--until'", command="backfill"),
    # --- options
    Case("no-source", _export(), "nothing to export"),
    Case("concurrency-zero", _export("--thread", "t", "--concurrency", "0"), "--concurrency"),
    Case("page-size-101", _export("--thread", "t", "--page-size", "101"), "--page-size"),
    Case("timeout-zero", _export("--thread", "t", "--timeout", "0"), "--timeout"),
    Case("timeout-nan", _export("--thread", "t", "--timeout", "nan"), "'--timeout': nan is not a finite number"),
    Case("deadline-nan", _export("--thread", "t", "--deadline", "nan"), "'--deadline': nan is not a finite number"),
    Case("deadline-inf", _export("--thread", "t", "--deadline", "inf"), "'--deadline': inf is not a finite number"),
    Case(
        "backfill-deadline-nan",
        _backfill("--since", "2026-01-01", "--until", "2026-01-02", "--deadline", "nan"),
        "'--deadline': nan is not a finite number",
        command="backfill",
    ),
    Case(
        "backfill-timeout-nan",
        _backfill("--since", "2026-01-01", "--until", "2026-01-02", "--timeout", "NaN"),
        "'--timeout': nan is not a finite number",
        command="backfill",
    ),
    Case("retries-negative", _export("--thread", "t", "--max-retries", "-1"), "--max-retries"),
    Case("batch-steps-zero", _export("--thread", "t", "--batch-steps", "0"), "--batch-steps"),
    Case("shard-out-of-range", _export("--thread", "t", "--shard", "3/2"), "out of range"),
    Case("shard-nine", _export("--thread", "t", "--shard", "0/9"), "out of range"),
    Case("shard-garbage", _export("--thread", "t", "--shard", "half"), "I/N"),
    Case("log-format", _export("--thread", "t", "--log-format", "xml"), "--log-format"),
    Case("unknown-option", _export("--thread", "t", "--colour"), "no such option"),
    # --- keys and tokens (the key must never show, not even in part)
    Case("key-missing", _export("--thread", "t"), "no API key", env={"OPENAI_API_KEY": ""}),
    Case("key-other-env-unset", _export("--thread", "t", "--api-key-env", "NOT_SET_HERE"), "NOT_SET_HERE"),
    Case(
        "key-newline",
        _export("--thread", "t"),
        "line break",
        env={"OPENAI_API_KEY": "sk-hardening-0123\n456789-SECRETPART"},
    ),
    Case("key-trailing-newline", _export("--thread", "t"), "whitespace", env={"OPENAI_API_KEY": KEY + "\n"}),
    Case("key-leading-space", _export("--thread", "t"), "whitespace", env={"OPENAI_API_KEY": " " + KEY}),
    Case(
        "key-inner-space",
        _export("--thread", "t"),
        "space",
        env={"OPENAI_API_KEY": "sk-hardening 0123456789-SECRETPART"},
    ),
    Case("key-non-ascii", _export("--thread", "t"), "non-ASCII", env={"OPENAI_API_KEY": KEY + "é"}),
    Case("key-control-char", _export("--thread", "t"), "control character", env={"OPENAI_API_KEY": KEY + "\x07"}),
    Case(
        "key-quoted",
        _export("--thread", "t"),
        "space or a control",
        env={"OPENAI_API_KEY": f'"{KEY} "'.replace(" ", "\t")},
    ),
    Case("key-huge", _export("--thread", "t"), "longer than 8192", env={"OPENAI_API_KEY": KEY + "x" * 9000}),
    Case(
        "entra-token-newline",
        ["--thread", "t", "--provider", "foundry", "--base-url", FOUNDRY_URL, "--token-env", "ENTRA_TOKEN"],
        "line break",
        env={"ENTRA_TOKEN": "eyJ0eXAiOiJKV1Qi\n0123456789-SECRETPART"},
    ),
    Case(
        "entra-token-empty",
        ["--thread", "t", "--provider", "foundry", "--base-url", FOUNDRY_URL, "--token-env", "ENTRA_TOKEN"],
        "no access token",
        env={"ENTRA_TOKEN": ""},
    ),
    Case("organization-non-ascii", _export("--thread", "t", "--organization", "örg"), "--organization"),
    # --- base URLs (quoted as given)
    Case(
        "url-query",
        ["--thread", "t", "--base-url", "http://127.0.0.1:9/v1?a=1"],
        "'http://127.0.0.1:9/v1?a=1' has a query",
    ),
    Case("url-fragment", ["--thread", "t", "--base-url", "http://127.0.0.1:9/v1#x"], "has a query or fragment"),
    Case(
        "url-port-99999",
        ["--thread", "t", "--base-url", "http://127.0.0.1:99999/v1"],
        "'http://127.0.0.1:99999/v1' has port 99999",
    ),
    Case("url-port-0", ["--thread", "t", "--base-url", "http://127.0.0.1:0/v1"], "port 0"),
    Case(
        "url-port-text",
        ["--thread", "t", "--base-url", "http://127.0.0.1:http/v1"],
        "'http://127.0.0.1:http/v1' is not a valid URL",
    ),
    Case(
        "url-no-scheme",
        ["--thread", "t", "--base-url", "api.example.com/v1"],
        "'api.example.com/v1' must start with https://",
    ),
    Case(
        "url-ftp",
        ["--thread", "t", "--base-url", "ftp://127.0.0.1/v1"],
        "'ftp://127.0.0.1/v1' must start with https://",
    ),
    Case("url-no-host", ["--thread", "t", "--base-url", "https:///v1"], "must start with https://"),
    Case("url-empty", ["--thread", "t", "--base-url", ""], "the base URL is empty"),
    Case("url-space", ["--thread", "t", "--base-url", "http://127.0.0.1:9/v 1"], "whitespace"),
    Case("url-userinfo", ["--thread", "t", "--base-url", f"https://user:{KEY}@127.0.0.1/v1"], "user info"),
    # user info the URL parser cannot even split off (a "/" in the password, no scheme): its reason would quote it
    Case(
        "url-userinfo-slash",
        ["--thread", "t", "--base-url", f"https://user:{KEY[:8]}/{KEY[8:]}@127.0.0.1/v1"],
        "base URL 'https://***@127.0.0.1/v1' is not a valid URL: give",
    ),
    Case("url-userinfo-no-scheme", ["--thread", "t", "--base-url", f"user:{KEY}@127.0.0.1/v1"], "'***@127.0.0.1/v1'"),
    Case("url-plain-http-remote", ["--thread", "t", "--base-url", "http://192.0.2.1/v1"], "plain http to 192.0.2.1"),
    Case(
        "url-unresolvable",
        ["--thread", "t", "--base-url", "https://no-such-host.invalid/v1"],
        "cannot resolve the API host",
    ),
    # --- proxies and CA bundles
    Case("ca-bundle-missing", _export("--thread", "t", "--ca-bundle", "{tmp}/nope.pem"), "--ca-bundle"),
    Case(
        "ca-bundle-not-pem",
        _export("--thread", "t", "--ca-bundle", "{tmp}/junk.pem"),
        "not a readable PEM file",
        files={"junk.pem": b"-----BEGIN CERTIFICATE-----\njunk\n"},
    ),
    Case("ssl-cert-file-missing", _export("--thread", "t"), "SSL_CERT_FILE", env={"SSL_CERT_FILE": "/no/such.pem"}),
    Case(
        "proxy-bad-scheme",
        _export("--thread", "t"),
        "must be http://host:port",
        env={"HTTP_PROXY": "ftp://proxy", "http_proxy": "ftp://proxy"},
    ),
    Case(
        "proxy-bad-port-with-password",
        _export("--thread", "t"),
        "'http://***@127.0.0.1:99999'",
        env={"HTTP_PROXY": f"http://me:{KEY}@127.0.0.1:99999", "http_proxy": f"http://me:{KEY}@127.0.0.1:99999"},
    ),
    Case(
        "proxy-password-with-slash",
        _export("--thread", "t"),
        "'http://***@127.0.0.1:3128'",
        env=dict.fromkeys(("HTTP_PROXY", "http_proxy"), f"http://me:{KEY[:8]}/{KEY[8:]}@127.0.0.1:3128"),
    ),
    Case(
        "proxy-password-no-scheme",
        _export("--thread", "t"),
        "'***@127.0.0.1:3128'",
        env={"HTTP_PROXY": f"me:{KEY}@127.0.0.1:3128", "http_proxy": f"me:{KEY}@127.0.0.1:3128"},
    ),
    # --- destinations
    Case("dest-empty", _export("--thread", "t", "--dest", ""), "--dest is empty", dests=DEST_ONLY),
    Case("dest-blank", _export("--thread", "t", "--dest", "  "), "--dest is empty", dests=DEST_ONLY),
    Case("dest-dev-null", _export("--thread", "t", "--dest", "/dev/null"), "not a directory", dests=DEST_ONLY),
    Case(
        "dest-dev-null-duckdb",
        _export("--thread", "t", "--dest", "/dev/null/x.duckdb"),
        "Not a directory",
        dests=DEST_ONLY,
    ),
    Case(
        "dest-file-as-root",
        _export("--thread", "t", "--dest", "{tmp}/plain"),
        "is a file",
        files={"plain": b"x"},
        dests=DEST_ONLY,
    ),
    Case(
        "dest-dir-as-duckdb",
        _export("--thread", "t", "--dest", "{tmp}/dir.duckdb"),
        "is a directory",
        files={"dir.duckdb/x": b""},
        dests=DEST_ONLY,
    ),
    Case(
        "dest-parent-is-file",
        _export("--thread", "t", "--dest", "{tmp}/plain/x.duckdb"),
        "plain",
        files={"plain": b"x"},
        dests=DEST_ONLY,
    ),
    Case(
        "dest-foreign-duckdb",
        _export("--thread", "t", "--dest", "{tmp}/f.duckdb"),
        "not a DuckDB file",
        files={"f.duckdb": b"hello" * 100},
        dests=DEST_ONLY,
    ),
    Case(
        "dest-empty-duckdb",
        _export("--thread", "t", "--dest", "{tmp}/e.duckdb"),
        "not a DuckDB file (empty)",
        files={"e.duckdb": b""},
        dests=DEST_ONLY,
    ),
    Case(
        "dest-root-of-32-buckets",
        _export("--thread", "t", "--dest", "{tmp}/old-root"),
        "32 hash buckets",
        files={"old-root/_state/layout.json": b'{"buckets": 32}'},
        dests=DEST_ONLY,
    ),
    Case(
        "dest-unknown-scheme",
        _export("--thread", "t", "--dest", "ftp://host/x"),
        "unknown scheme 'ftp'",
        dests=DEST_ONLY,
    ),
    Case(
        "dest-duckdb-on-s3",
        _export("--thread", "t", "--dest", "s3://bucket/x.duckdb"),
        "local file path",
        dests=DEST_ONLY,
    ),
    Case("archive-is-file", _export("--thread", "t", "--archive", "{tmp}/plain"), "--archive", files={"plain": b"x"}),
    Case("archive-dev-null", _export("--thread", "t", "--archive", "/dev/null"), "--archive '/dev/null'"),
    # --- replay and import of damaged input
    Case("replay-missing-archive", ["{tmp}/no-archive"], "error: archive ", command="replay"),
    Case("import-missing-path", ["{tmp}/nothing.json"], "does not exist", command="import"),
    Case(
        "import-strict-bad-record",
        ["--strict", "{tmp}/bad.jsonl"],
        "1 bad records in 1 files",
        files={"bad.jsonl": b'{"object": "thread.run.step"}\n'},
        command="import",
    ),
    Case(
        "import-strict-binary",
        ["--strict", "{tmp}/bin.json"],
        "1 bad records in 1 files",
        files={"bin.json": b"\x00\x01\x02garbage"},
        command="import",
    ),
]


def _dest(kind: str, good: Good, tmp: Path) -> Path:
    return {
        "new-duckdb": tmp / "new" / "out.duckdb",
        "new-parquet": tmp / "new" / "root",
        "good-duckdb": good.duckdb,
        "good-parquet": good.parquet,
    }[kind]


def _params() -> Iterator[object]:
    for case in CASES:
        for dest in case.dests:
            yield pytest.param(case, dest, id=f"{case.id}-{dest}")


def write_files(case: Case, tmp: Path) -> None:
    """The case's own files under ``tmp``."""
    for name, data in case.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data)


def tree_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (directories as empty entries)."""
    return {str(p): p.read_bytes() if p.is_file() else b"" for p in sorted(folder.rglob("*"))}


def run_case(case: Case, dest: Path, tmp: Path) -> Result:
    """Invoke the case's command in-process with ``--dest`` (unless the case gives its own)."""
    write_files(case, tmp)
    args = [arg.replace("{tmp}", str(tmp)) for arg in case.args]
    if "--dest" not in args:
        args += ["--dest", str(dest)]
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "", **case.env}
    return CliRunner().invoke(cli, [case.command, *args], env=env, input=case.stdin)


def assert_one_clear_line(result: Result, code: int, words: str) -> None:
    """Exit code, exactly one stderr line ``error: ...`` holding ``words``, no traceback, no fragment of the key."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    lines = result.stderr.splitlines()
    # import --strict names every bad record it found, one line each, before the one error line
    _details, lines = (
        [x for x in lines if x.startswith("bad record: ")],
        [x for x in lines if not x.startswith("bad record: ")],
    )
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and words in lines[0], lines[0]
    assert "Traceback" not in result.output
    for fragment in FRAGMENTS:
        assert fragment not in result.output


@pytest.mark.parametrize(("case", "dest_kind"), list(_params()))
def test_bad_input_is_one_line_and_writes_nothing(case: Case, dest_kind: str, good: Good, tmp_path: Path) -> None:
    dest = _dest(dest_kind, good, tmp_path)
    before = good.tree()
    write_files(case, tmp_path)
    files_before = tree_of(tmp_path)
    result = run_case(case, dest, tmp_path)
    assert_one_clear_line(result, case.code, case.words)
    assert not (tmp_path / "new").exists(), "an input error created the destination"
    assert good.tree() == before, "an input error changed a good destination"
    # Destinations the case made (an old root, a foreign file): nothing added, nothing changed, no lock file.
    assert tree_of(tmp_path) == files_before


def test_the_suite_has_at_least_80_cases() -> None:
    assert len(CASES) >= 80
    assert len({case.id for case in CASES}) == len(CASES)


def _float_options() -> list[tuple[str, str]]:
    """(command, option) for every option of every command that takes a float, as the command line declares them."""
    found: list[tuple[str, str]] = []
    ctx = click.Context(cli)
    commands = [(name, cli.get_command(ctx, name)) for name in cli.list_commands(ctx)]
    while commands:
        name, command = commands.pop(0)
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, parent=ctx)
            commands += [(f"{name} {sub}", command.get_command(sub_ctx, sub)) for sub in command.list_commands(sub_ctx)]
            continue
        assert command is not None
        for param in command.params:
            if isinstance(param, click.Option) and isinstance(param.type, click.types.FloatParamType):
                found.append((name, max(param.opts, key=len)))
    return found


FLOAT_OPTIONS = _float_options()


def test_the_float_options_are_found() -> None:
    assert {("export", "--timeout"), ("export", "--deadline"), ("backfill", "--deadline")} <= set(FLOAT_OPTIONS)
    assert {option for command, option in FLOAT_OPTIONS if command == "fake-api"} == {
        "--latency-ms",
        "--fault-rate",
        "--slow-seconds",
        "--token-lifetime",
    }


@pytest.mark.parametrize("value", ["nan", "inf"])
@pytest.mark.parametrize(("command", "option"), FLOAT_OPTIONS, ids=[" ".join(o) for o in FLOAT_OPTIONS])
def test_no_float_option_takes_nan_or_infinity(command: str, option: str, value: str, tmp_path: Path) -> None:
    """In a process of its own, with a time limit: an option taken would serve (fake-api) or export, not fail."""
    args = [*command.split(), option, value]
    dest = tmp_path / "new" / "out.duckdb"
    if command in ("export", "backfill"):
        args += ["--thread", "thread_a", "--base-url", UNUSED_URL, "--dest", str(dest)]
    if command == "backfill":
        args += ["--since", "2026-01-01", "--until", "2026-01-02"]
    if command == "fake-api":
        args += ["--port", "0"]
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    done = subprocess.run([sys.executable, "-m", "etl", *args], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: invalid value for '{option}': {value} is not a finite number")
    assert not (tmp_path / "new").exists()


def test_truncated_and_sqlite_duckdb_files_are_refused_unchanged(good: Good, tmp_path: Path) -> None:
    truncated, foreign = tmp_path / "cut.duckdb", tmp_path / "sqlite.duckdb"
    data = good.duckdb.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE x (a)")
    for path, words in ((truncated, "is damaged"), (foreign, "not a DuckDB file")):
        before = path.read_bytes()
        for command in (["export", *_export("--thread", "t")], ["status"], ["sql", "query", "SELECT 1"]):
            result = CliRunner().invoke(cli, [*command, "--dest", str(path)], env={"OPENAI_API_KEY": KEY})
            assert_one_clear_line(result, 2, words)
            assert path.read_bytes() == before, (command, result.output)


def test_a_fifo_of_run_ids_is_read_once_and_checked(tmp_path: Path) -> None:
    fifo = tmp_path / "runs.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "w") as out:
            out.write("thread_id,run_id\nthread_a,run_a\nthread_a,../x\n")

    writer = threading.Thread(target=feed)
    writer.start()
    result = run_case(Case("fifo", _export("--runs-file", str(fifo)), ""), tmp_path / "new" / "x.duckdb", tmp_path)
    writer.join(5)
    assert_one_clear_line(result, 2, "line 3")
    assert not (tmp_path / "new").exists()


def test_replay_of_an_archive_whose_only_part_is_corrupt_creates_nothing(tmp_path: Path) -> None:
    part = tmp_path / "archive" / "responses" / "fetched_date=2026-08-01" / "part-x.jsonl.gz"
    part.parent.mkdir(parents=True)
    part.write_bytes(gzip.compress(b"not json at all\n")[:20])
    dest = tmp_path / "new" / "out.duckdb"
    result = CliRunner().invoke(cli, ["replay", str(tmp_path / "archive"), "--dest", str(dest)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "part-x.jsonl.gz" in result.stderr
    assert not dest.exists() and not dest.parent.exists()


def copy_good(good: Good, tmp: Path) -> Good:
    """A private copy of the good destinations, for cases that may legitimately add state to them."""
    copy = Good(tmp / "copy.duckdb", tmp / "copy-root")
    shutil.copy(good.duckdb, copy.duckdb)
    shutil.copytree(good.parquet, copy.parquet)
    return copy


Check = Callable[[Result], None]


def test_a_corrupt_part_file_stops_a_parquet_batch_before_any_file_is_replaced(good: Good, tmp_path: Path) -> None:
    root = copy_good(good, tmp_path).parquet
    parts = sorted(p for p in root.rglob("*.parquet") if "_state" not in p.parts)
    victim = parts[len(parts) // 2]
    victim.write_bytes(b"PAR1 this is not a parquet file PAR1")
    before = {str(p): p.read_bytes() for p in parts}
    with serve_in_thread(FakeConfig.small(api_key=KEY)) as fake:
        threads = [arg for thread in fake.dataset.thread_ids for arg in ("--thread", thread)]
        args = ["export", *threads, "--refresh", "--base-url", fake.base_url, "--dest", str(root), "--no-progress"]
        result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": KEY})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and victim.name in result.stderr
    after = {str(p): p.read_bytes() for p in sorted(p for p in root.rglob("*.parquet") if "_state" not in p.parts)}
    assert after == before, "a file was replaced before the batch found the corrupt one"
    assert not [p for p in root.rglob("*.tmp")], "staged files of the stopped batch were left behind"


def test_foreign_files_in_a_root_are_left_alone_and_never_read(good: Good, tmp_path: Path) -> None:
    root = copy_good(good, tmp_path).parquet
    partition = sorted((root / "run_steps").iterdir())[0]
    foreign = {partition / "notes.txt": b"hello", root / "README": b"x", partition / ".DS_Store": b"\0\1"}
    for path, data in foreign.items():
        path.write_bytes(data)
    steps = sum(pq.read_metadata(p).num_rows for p in (root / "run_steps").rglob("*.parquet"))
    with serve_in_thread(FakeConfig.small(api_key=KEY)) as fake:
        threads = [arg for thread in fake.dataset.thread_ids for arg in ("--thread", thread)]
        args = ["export", *threads, "--refresh", "--base-url", fake.base_url, "--dest", str(root), "--no-progress"]
        assert CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": KEY}).exit_code == 0
    counted = CliRunner().invoke(cli, ["sql", "query", "SELECT count(*) AS n FROM run_steps", "--dest", str(root)])
    assert counted.exit_code == 0, counted.output
    assert str(steps) in counted.stdout.split()
    assert CliRunner().invoke(cli, ["status", "--dest", str(root)]).exit_code == 0
    assert all(path.read_bytes() == data for path, data in foreign.items())


@pytest.mark.parametrize(
    "content",
    [
        b"thread_id,run_id\rthread_a,run_a\rthread_b,run_b\r",
        b"thread_id,run_id\r\nthread_a,run_a\r\nthread_b,run_b\r\n",
        b"\xef\xbb\xbfthread_id,run_id\nthread_a,run_a\nthread_b,run_b",
        b'{"thread_id": "thread_a", "run_id": "run_a"}\r{"thread_id": "thread_b", "run_id": "run_b"}\r',
    ],
    ids=["cr", "crlf", "bom-no-final-newline", "jsonl-cr"],
)
@pytest.mark.parametrize("via", ["stdin", "path"])
def test_good_runs_files_read_the_same_from_stdin_and_from_a_path(content: bytes, via: str, tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    path.write_bytes(content)
    source = "-" if via == "stdin" else str(path)
    args = ["export", *_export("--runs-file", source, "--dry-run"), "--dest", str(tmp_path / "x.duckdb")]
    result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": KEY}, input=content if via == "stdin" else None)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["thread_a/run_a", "thread_b/run_b"]
    assert not (tmp_path / "x.duckdb").exists()


def test_an_entra_token_with_a_line_break_from_the_credential_is_refused_unseen() -> None:
    class Credential:
        def get_token(self, *scopes: str) -> SimpleNamespace:
            return SimpleNamespace(token="eyJ0eXAiOiJKV1Qi\n0123456789-SECRETPART", expires_on=time.time() + 3600)

    with pytest.raises(AuthError) as refused:
        asyncio.run(TokenSource(Credential(), "https://ai.azure.com/.default").token())
    assert "line break" in str(refused.value)
    assert all(fragment not in str(refused.value) for fragment in (*FRAGMENTS, "eyJ0eXAi"))
