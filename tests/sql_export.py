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


@dataclass(frozen=True)
class Eras:
    """Run steps and responses exported from one fake into one DuckDB file and one Parquet root."""

    duckdb: Path
    parquet: Path

    def dest(self, kind: str) -> str:
        """The ``--dest`` of one kind of destination: ``duckdb`` or ``parquet``."""
        return str(self.duckdb if kind == "duckdb" else self.parquet)


_ERAS: dict[str, Eras] = {}
ERAS_CONFIG = FakeConfig.small(seed=3)


def shared_eras(tmp_path_factory: pytest.TempPathFactory) -> Eras:
    """Both eras exported once per test process; read them, never change them."""
    if "eras" not in _ERAS:
        _ERAS["eras"] = export_eras(tmp_path_factory.mktemp("eras"))
    return _ERAS["eras"]


def export_eras(folder: Path) -> Eras:
    """Serve ``ERAS_CONFIG`` on loopback; export its run steps and its responses into both kinds of destination."""
    import dataclasses

    from etl.pipeline_responses import ResponseSources, run_responses_export

    eras = Eras(folder / "eras.duckdb", folder / "eras")
    with serve_in_thread(ERAS_CONFIG) as fake:
        settings = Settings(api_key=Secret(ERAS_CONFIG.api_key), base_url=fake.base_url, concurrency=4)
        successors = fake.responses.truth
        sources = ResponseSources(responses=tuple(successors.responses), conversations=tuple(successors.conversations))
        for kind in ("duckdb", "parquet"):
            options = ExportOptions(dest=eras.dest(kind))
            assert run_export(settings, Sources(threads=fake.truth.thread_ids), options).exit_code == 0
            assert run_responses_export(dataclasses.replace(settings, api="responses"), sources, options).exit_code == 0
    return eras
