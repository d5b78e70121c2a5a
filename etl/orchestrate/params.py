"""The DAG's params, read once into a typed value (the names are those of ``airflow_dags/openai_run_steps.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from etl.config import Settings
from etl.errors import InputError
from etl.load import DUCKDB_STORAGE_VERSION, parse_storage_version
from etl.orchestrate.connection import connection_settings
from etl.orchestrate.threads import ThreadSource
from etl.pipeline_responses import ResponseSources


@dataclass(frozen=True, kw_only=True)
class DagParams:
    """What one DagRun exports, from where, to where, and how widely (the defaults fill blank params)."""

    dest: str
    threads: ThreadSource
    conn_id: str = "openai_default"
    duckdb_path: str | None = None
    duckdb_storage_version: str = DUCKDB_STORAGE_VERSION
    shards: int = 4
    concurrency: int = Settings.concurrency
    include_file_search_content: bool = False
    report: bool = False
    report_days: int = 30
    source: str = "assistants"  # or "responses": the ids below instead of threads
    responses: ResponseSources = field(default_factory=ResponseSources)
    all_threads: bool = False  # every thread the API lists (foundry): discovered, and written as threads rows

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> DagParams:
        """Read the params of a DagRun (Airflow has already checked them against their JSON schemas)."""
        dest = _optional(params.get("dest"))
        if dest is None:
            raise InputError("the dest param is empty: give a Parquet root (a directory or s3://bucket/prefix)")
        if dest.lower().endswith(".duckdb"):
            raise InputError(
                "dest must be a Parquet root (the shards write it in parallel); give the DuckDB file as duckdb_path"
            )
        source = _optional(params.get("source")) or cls.source
        if source not in ("assistants", "responses"):
            raise InputError(f"the source param is {source!r}: use assistants or responses")
        return cls(
            source=source,
            responses=ResponseSources(
                responses=tuple(params.get("response_ids") or ()),
                responses_files=tuple(filter(None, [_optional(params.get("responses_file"))])),
                conversations=tuple(params.get("conversation_ids") or ()),
                conversations_files=tuple(filter(None, [_optional(params.get("conversations_file"))])),
                follow_previous=bool(params.get("follow_previous")),
                all_responses=bool(params.get("all_responses")),
                all_conversations=bool(params.get("all_conversations")),
            ),
            conn_id=_optional(params.get("conn_id")) or cls.conn_id,
            dest=dest,
            duckdb_path=_optional(params.get("duckdb_path")),
            duckdb_storage_version=parse_storage_version(
                _optional(params.get("duckdb_storage_version")) or cls.duckdb_storage_version
            ),
            shards=int(params.get("shards") or cls.shards),
            concurrency=int(params.get("concurrency") or cls.concurrency),
            include_file_search_content=bool(params.get("include_file_search_content")),
            report=bool(params.get("report")),
            report_days=int(params.get("report_days") or cls.report_days),
            threads=ThreadSource(
                ids=tuple(params.get("thread_ids") or ()),
                file=_optional(params.get("threads_file")),
                query=_optional(params.get("threads_query")),
                query_source=_optional(params.get("threads_query_source")),
            ),
            all_threads=bool(params.get("all_threads")),
        )

    def settings(self) -> Settings:
        """API settings from the connection and these params (call inside the task: the key stays in-process)."""
        settings = connection_settings(
            self.conn_id,
            concurrency=self.concurrency,
            include_file_search_content=self.include_file_search_content,
        )
        return dataclasses.replace(settings, api=self.source)

    @property
    def check_dests(self) -> list[str]:
        """Where the data checks run: the Parquet root, and the DuckDB file when one is loaded."""
        return [self.dest, *([self.duckdb_path] if self.duckdb_path else [])]


def _optional(value: object) -> str | None:
    """A string param's value, or None when it is unset or blank."""
    return value.strip() or None if isinstance(value, str) else None
