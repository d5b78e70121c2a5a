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
