"""A destination with rows in every table: a small demo export, a Responses export and threads and assistants."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from etl.cli import cli
from etl.config import Secret, Settings
from etl.fakeapi import FakeConfig, FakeServer
from etl.load import open_destination
from etl.load.base import ExportBatch
from etl.pipeline import ExportOptions
from etl.pipeline_responses import ResponseSources, run_responses_export
from etl.transform import to_tables

DEMO = FakeConfig(seed=1, threads=3, runs_per_thread=4)  # what the demo below serves


def full_export(dest: Path) -> None:
    """Fill ``dest`` (a ``*.duckdb`` file or a Parquet root) with rows in every table."""
    args = ["demo", "--dest", str(dest), "--threads", "3", "--runs-per-thread", "4", "--no-progress"]
    result = CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": None})
    assert result.exit_code == 0, result.output
    with FakeServer(FakeConfig.small()) as server:
        truth = server.responses.truth
        settings = Settings(api_key=Secret("sk-fake"), base_url=server.base_url, api="responses")
        sources = ResponseSources(responses=tuple(truth.responses), conversations=tuple(truth.conversations))
        summary = run_responses_export(settings, sources, ExportOptions(dest=str(dest)))
    assert summary.exit_code == 0, summary.failures
    at = datetime.now(UTC).replace(microsecond=0)
    entities = {
        "threads": [(at, {"id": f"thread_{n}", "created_at": 1767225000 + n}) for n in range(10)],
        "assistants": [(at, {"id": f"asst_{n}", "name": f"a{n}", "created_at": 1767220000}) for n in range(4)],
    }
    with open_destination(str(dest)) as opened:
        opened.write(ExportBatch(tables=to_tables(entities)[0]))
