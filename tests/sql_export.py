"""Data for the sql tests: one fake-API dataset exported to a DuckDB file and to a Parquet root, with its truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from etl.config import Secret, Settings
from etl.fakeapi import FakeConfig, serve_in_thread
from etl.pipeline import ExportOptions, Sources, run_export
from etl.values import Json

# Several days, every step and tool call variant, runs of 0 to 120 steps; small enough to export in seconds.
CONFIG = FakeConfig(
    seed=7, threads=4, runs_per_thread=10, steps_per_run="1-14", boundary_sizes=(0, 120), days=4, long_output_bytes=0
)


@dataclass(frozen=True)
class Exported:
    """The runs and steps the fake served (as the API sent them), and where they were exported to."""

    runs: tuple[Json, ...]
    steps: tuple[Json, ...]
    duckdb: Path
    parquet: Path
    names: dict[str, str | None] = field(default_factory=dict)  # assistant id -> name, as the fake serves them

    def dest(self, kind: str) -> str:
        """The ``--dest`` of one kind of destination: ``duckdb`` or ``parquet``."""
        return str(self.duckdb if kind == "duckdb" else self.parquet)


_EXPORTS: dict[FakeConfig, Exported] = {}


def shared_export(tmp_path_factory: pytest.TempPathFactory, config: FakeConfig = CONFIG) -> Exported:
    """The export of ``config``, made once per test process and shared by modules: read it, never change it."""
    if config not in _EXPORTS:
        _EXPORTS[config] = export_fake(tmp_path_factory.mktemp("sql_export"), config)
    return _EXPORTS[config]


def export_fake(folder: Path, config: FakeConfig = CONFIG) -> Exported:
    """Serve ``config`` on loopback and export all of it to ``folder``/steps.duckdb and ``folder``/parquet."""
    exported = Exported((), (), folder / "steps.duckdb", folder / "parquet")
    with serve_in_thread(config) as fake:
        truth = fake.dataset.truth()
        settings = Settings(api_key=Secret(config.api_key), base_url=fake.base_url, concurrency=8)
        sources = Sources(threads=truth.thread_ids)
        for kind in ("duckdb", "parquet"):
            summary = run_export(settings, sources, ExportOptions(dest=exported.dest(kind)))
            assert summary.exit_code == 0, summary.failures
    names = {a["id"]: a.get("name") for a in truth.assistants}
    return Exported(truth.runs, truth.steps, exported.duckdb, exported.parquet, names)


def calls_of(step: Json) -> list[Json]:
    """A step's tool calls as the API sent them (none for other step types)."""
    if step["type"] != "tool_calls":
        return []
    calls: list[Json] = step["step_details"].get("tool_calls") or []
    return calls
