"""The Arrow schemas of every table: the single source of truth.

The DuckDB DDL (``duckdb_ddl``), the README's schema section (``markdown``) and ``runsteps schema`` are all
derived from the ``TABLES`` below. Column names are part of the external contract
(``shared/spec/interface.md``); columns may be added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("s", tz="UTC")


def _col(name: str, type_: pa.DataType, doc: str, *, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def _extracted_at() -> pa.Field:
    return _col("extracted_at", TIMESTAMP, "when this row was fetched from the API", nullable=False)


@dataclass(frozen=True)
class Table:
    """One output table: its schema, its key, and the step whose children it holds."""

    name: str
    doc: str
    schema: pa.Schema
    key: tuple[str, ...]

    @property
    def is_step_child(self) -> bool:
        """True for tables whose rows belong to one step and are replaced with it."""
        return self.name not in ("runs", "run_steps")


RUNS = Table(
    "runs",
    "one row per run: its setup, outcome and token usage",
    pa.schema(
        [
            _col("run_id", pa.string(), "run id (run_...)", nullable=False),
            _col("thread_id", pa.string(), "thread the run belongs to", nullable=False),
            _col("assistant_id", pa.string(), "assistant that ran"),
            _col("status", pa.string(), "queued, in_progress, requires_action, cancelling, cancelled, "
                 "failed, completed, incomplete or expired"),
            _col("model", pa.string(), "model (Azure: deployment name)"),
            _col("created_at", TIMESTAMP, "when the run was created", nullable=False),
            _col("started_at", TIMESTAMP, "when the run started"),
            _col("completed_at", TIMESTAMP, "when the run completed"),
            _col("failed_at", TIMESTAMP, "when the run failed"),
            _col("cancelled_at", TIMESTAMP, "when the run was cancelled"),
            _col("expires_at", TIMESTAMP, "when the run expires (or expired)"),
            _col("last_error_code", pa.string(), "server_error, rate_limit_exceeded or invalid_prompt"),
            _col("last_error_message", pa.string(), "the error's message"),
            _col("incomplete_reason", pa.string(), "incomplete_details.reason"),
            _col("prompt_tokens", pa.int64(), "usage.prompt_tokens; NULL until the run is terminal"),
            _col("completion_tokens", pa.int64(), "usage.completion_tokens"),
            _col("total_tokens", pa.int64(), "usage.total_tokens"),
            _col("temperature", pa.float64(), "sampling temperature"),
            _col("top_p", pa.float64(), "nucleus sampling"),
            _col("max_prompt_tokens", pa.int64(), "prompt token cap"),
            _col("max_completion_tokens", pa.int64(), "completion token cap"),
            _col("instructions", pa.string(), "instructions the run used"),
            _col("tools_json", pa.string(), "tools, as JSON text"),
            _col("metadata_json", pa.string(), "metadata, as JSON text"),
            _extracted_at(),
        ]
    ),
    ("run_id",),
)

RUN_STEPS = Table(
    "run_steps",
    "one row per run step",
    pa.schema(
        [
            _col("step_id", pa.string(), "step id (step_...)", nullable=False),
            _col("run_id", pa.string(), "run the step belongs to", nullable=False),
            _col("thread_id", pa.string(), "thread the run belongs to", nullable=False),
            _col("assistant_id", pa.string(), "assistant that ran"),
            _col("type", pa.string(), "message_creation, tool_calls, or a newer type as sent", nullable=False),
            _col("status", pa.string(), "in_progress, cancelled, failed, completed or expired"),
            _col("created_at", TIMESTAMP, "when the step was created", nullable=False),
            _col("completed_at", TIMESTAMP, "when the step completed"),
            _col("failed_at", TIMESTAMP, "when the step failed"),
            _col("cancelled_at", TIMESTAMP, "when the step was cancelled"),
            _col("expired_at", TIMESTAMP, "when the step expired (expires_at when the API sent that instead)"),
            _col("last_error_code", pa.string(), "server_error or rate_limit_exceeded"),
            _col("last_error_message", pa.string(), "the error's message"),
            _col("message_id", pa.string(), "message created (message_creation steps)"),
            _col("tool_call_count", pa.int32(), "number of tool calls (0 for message_creation)", nullable=False),
            _col("prompt_tokens", pa.int64(), "usage.prompt_tokens; NULL while in_progress"),
            _col("completion_tokens", pa.int64(), "usage.completion_tokens"),
            _col("total_tokens", pa.int64(), "usage.total_tokens"),
            _col("metadata_json", pa.string(), "metadata, as JSON text; NULL when absent"),
            _col("raw_json", pa.string(), "the whole step as JSON when its type is unknown; else NULL"),
            _extracted_at(),
        ]
    ),
    ("step_id",),
)

TOOL_CALLS = Table(
    "tool_calls",
    "one row per tool call of a tool_calls step",
    pa.schema(
        [
            _col("step_id", pa.string(), "step the call belongs to", nullable=False),
            _col("tool_call_index", pa.int32(), "0-based position in step_details.tool_calls", nullable=False),
            _col("tool_call_id", pa.string(), "tool call id (call_...)"),
            _col("run_id", pa.string(), "run the step belongs to", nullable=False),
            _col("thread_id", pa.string(), "thread the run belongs to", nullable=False),
            _col("created_at", TIMESTAMP, "the step's created_at", nullable=False),
            _col("type", pa.string(), "code_interpreter, file_search, function, or a newer type as sent",
                 nullable=False),
            _col("function_name", pa.string(), "function.name"),
            _col("function_arguments", pa.string(), "function.arguments, as sent (JSON text)"),
            _col("function_output", pa.string(), "function.output; NULL until outputs were submitted"),
            _col("code_input", pa.string(), "code_interpreter.input"),
            _col("code_output_count", pa.int32(), "number of code_interpreter outputs"),
            _col("file_search_ranker", pa.string(), "file_search.ranking_options.ranker"),
            _col("file_search_score_threshold", pa.float64(), "file_search.ranking_options.score_threshold"),
            _col("file_search_result_count", pa.int32(), "number of file_search results"),
            _col("raw_json", pa.string(), "the whole tool call as JSON when its type is unknown; else NULL"),
            _extracted_at(),
        ]
    ),
    ("step_id", "tool_call_index"),
)

CODE_INTERPRETER_OUTPUTS = Table(
    "code_interpreter_outputs",
    "one row per output of a code_interpreter tool call",
    pa.schema(
        [
            _col("step_id", pa.string(), "step the call belongs to", nullable=False),
            _col("tool_call_index", pa.int32(), "0-based position of the call in its step", nullable=False),
            _col("output_index", pa.int32(), "0-based position in code_interpreter.outputs", nullable=False),
            _col("tool_call_id", pa.string(), "tool call id"),
            _col("run_id", pa.string(), "run the step belongs to", nullable=False),
            _col("thread_id", pa.string(), "thread the run belongs to", nullable=False),
            _col("created_at", TIMESTAMP, "the step's created_at", nullable=False),
            _col("type", pa.string(), "logs or image", nullable=False),
            _col("logs", pa.string(), "text output (logs outputs)"),
            _col("image_file_id", pa.string(), "image.file_id (image outputs)"),
            _extracted_at(),
        ]
    ),
    ("step_id", "tool_call_index", "output_index"),
)

FILE_SEARCH_RESULTS = Table(
    "file_search_results",
    "one row per result of a file_search tool call",
    pa.schema(
        [
            _col("step_id", pa.string(), "step the call belongs to", nullable=False),
            _col("tool_call_index", pa.int32(), "0-based position of the call in its step", nullable=False),
            _col("result_index", pa.int32(), "0-based position in file_search.results", nullable=False),
            _col("tool_call_id", pa.string(), "tool call id"),
            _col("run_id", pa.string(), "run the step belongs to", nullable=False),
            _col("thread_id", pa.string(), "thread the run belongs to", nullable=False),
            _col("created_at", TIMESTAMP, "the step's created_at", nullable=False),
            _col("file_id", pa.string(), "file the result came from"),
            _col("file_name", pa.string(), "that file's name"),
            _col("score", pa.float64(), "relevance score, 0..1"),
            _col("content_text", pa.string(), "text parts joined with newlines; NULL unless content was requested"),
            _extracted_at(),
        ]
    ),
    ("step_id", "tool_call_index", "result_index"),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (RUNS, RUN_STEPS, TOOL_CALLS, CODE_INTERPRETER_OUTPUTS, FILE_SEARCH_RESULTS)
}
STEP_CHILD_TABLES: tuple[str, ...] = tuple(name for name, t in TABLES.items() if t.is_step_child)

_DUCKDB_TYPES: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
}


def duckdb_type(type_: pa.DataType) -> str:
    """The DuckDB column type for an Arrow type used in these schemas."""
    name: str = _DUCKDB_TYPES[type_]
    return name


def duckdb_ddl(table: Table) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one table; its key is kept by the writer, not by an index (etl.load.duckdb)."""
    columns = [
        f"    {f.name} {duckdb_type(f.type)}{'' if f.nullable else ' NOT NULL'}" for f in table.schema
    ]
    return f"CREATE TABLE IF NOT EXISTS {table.name} (\n" + ",\n".join(columns) + "\n);"


def doc(field: pa.Field) -> str:
    """A column's description."""
    raw: bytes = (field.metadata or {}).get(b"doc", b"")
    return raw.decode()


def markdown() -> str:
    """The tables and their columns as Markdown: the README's schema section and ``runsteps schema``."""
    out: list[str] = []
    for table in TABLES.values():
        out.append(f"### `{table.name}`: {table.doc}")
        out.append("")
        out.append(f"Key: {', '.join(f'`{k}`' for k in table.key)}")
        out.append("")
        out.append("| column | type | null | description |")
        out.append("|---|---|---|---|")
        for f in table.schema:
            out.append(f"| `{f.name}` | {duckdb_type(f.type)} | {'yes' if f.nullable else 'no'} | {doc(f)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


README_MARKERS = ("<!-- schema:start -->", "<!-- schema:end -->")


def readme_with_schema(readme: str) -> str:
    """``readme`` with the text between ``README_MARKERS`` replaced by ``markdown()``."""
    start, end = README_MARKERS
    head, found, rest = readme.partition(start)
    _, found_end, tail = rest.partition(end)
    if not (found and found_end):
        raise ValueError(f"the README has no section between {start} and {end}")
    return f"{head}{start}\n\n{markdown()}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    """``python -m etl.schema --write-readme [README.md]``: regenerate the README's schema section."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m etl.schema", description=main.__doc__)
    parser.add_argument("--write-readme", metavar="PATH", nargs="?", const="README.md", required=True)
    path = Path(parser.parse_args(argv).write_readme)
    text = path.read_text(encoding="utf-8")
    updated = readme_with_schema(text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")
    print(f"{path}: schema section {'updated' if updated != text else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
