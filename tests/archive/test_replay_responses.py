"""``runsteps replay`` rebuilds the responses and conversations of ``--source responses`` exports from their raw
archive, with no network: the same rows as the exports wrote, also across exports of a growing conversation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from responses_expected import actual, expected

from etl.cli import cli
from etl.fakeapi import FakeServer


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_replay_rebuilds_what_the_exports_wrote(
    fake_api_factory: Callable[..., FakeServer], tmp_path: Path, kind: str
) -> None:
    server = fake_api_factory(fault_rate=0.2, fault_kinds=("429-ms", "500", "drop"), retry_after_ms=1)
    truth = server.responses.truth
    asked = set(truth.responses)
    archive, exported = tmp_path / "archive", str(tmp_path / "exported.duckdb")
    args = ["export", "--source", "responses", "--base-url", server.base_url, "--dest", exported,
            "--archive", str(archive), "--max-retries", "8"]  # fmt: skip
    args += [arg for rid in truth.responses for arg in ("--response", rid)]
    args += [arg for cid in truth.conversations for arg in ("--conversation", cid)]
    env = {"OPENAI_API_KEY": "sk-fake"}
    assert CliRunner().invoke(cli, args, env=env).exit_code == 0
    server.responses.grow(next(iter(truth.conversations)))  # the next day's export reads only the new items
    server.responses.finish_pending()
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output

    replayed = str(tmp_path / ("replayed.duckdb" if kind == "duckdb" else "replayed"))
    result = CliRunner().invoke(cli, ["replay", str(archive), "--dest", replayed])
    assert result.exit_code == 0, result.output
    assert "23 responses and conversations rebuilt, 0 left out" in result.output
    assert actual(replayed) == actual(exported) == expected(truth, responses=asked)
