"""The Arrow schemas of every table: the single source of truth.

The DuckDB DDL (``duckdb_ddl``), the README's schema section (``markdown``) and ``runsteps schema`` are all
derived from the ``ALL_TABLES`` below: ``TABLES`` (rows that belong to runs), ``RESPONSE_TABLES`` (responses and
conversations, the successors), ``ENTITY_TABLES`` (threads and assistants, which stand alone) and
``WHOLE_TABLES`` (``model_prices``, replaced whole). Column names are
part of the external contract (the README's Tables section lists them): columns may be added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("s", tz="UTC")
# Unix seconds of 0001-01-01 and 9999-12-31 23:59:59 UTC: the times DuckDB, Parquet readers and Python can all show.
FIRST_SECOND, LAST_SECOND = -62_135_596_800, 253_402_300_799


def _col(name: str, type_: pa.DataType, doc: str, *, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def _extracted_at() -> pa.Field:
    return _col("extracted_at", TIMESTAMP, "when this row was fetched from the API", nullable=False)


def _token_details() -> list[pa.Field]:
    """The usage details that decide the price, on runs and steps alike."""
    return [
        _col(
            "cached_prompt_tokens",
            pa.int64(),
            "usage.prompt_token_details.cached_tokens (or prompt_tokens_details): "
            "prompt tokens read from the cache, part of prompt_tokens; NULL when not sent",
        ),
        _col(
            "reasoning_tokens",
            pa.int64(),
            "usage.completion_tokens_details.reasoning_tokens, part of completion_tokens; NULL when not sent",
        ),
    ]


@dataclass(frozen=True)
class Reference:
    """A column that holds another table's key: every value has a row there (dbt ``relationships``)."""

    column: str
    table: str
    to: str  # the column of ``table`` it matches


@dataclass(frozen=True)
class Table:
    """One output table: its schema, its key, and whether its rows belong to a run (and step) or stand alone."""

    name: str
    doc: str
    schema: pa.Schema
    key: tuple[str, ...]
    # A table of things that exist apart from any one run (threads, assistants): keyed by its own id, no run_id,
    # each row replaced whole when the thing is seen again.
    entity: bool = False
    # The unit a row of a day-partitioned table belongs to: its hash bucket (Parquet files, shards) and the state
    # record of its export (a run; a response; a conversation).
    unit: str = "run_id"
    # The id whose rows a re-write replaces as a whole: a step's children go with the step, a response's items
    # with the response. Tables sharing it form one family (a re-written id leaves no stale row in any of them).
    replaces: str = "step_id"
    # The thread-like owner recorded with a unit in the export state (None: the unit is its own owner).
    owner: str | None = "thread_id"
    # Other tables' keys the rows point at, besides the family head's (see ``references``).
    also_references: tuple[Reference, ...] = ()

    @property
    def is_step_child(self) -> bool:
        """True for tables whose rows belong to one step and are replaced with it."""
        return not self.entity and self.replaces == "step_id" and self.name != "run_steps"

    @property
    def references(self) -> tuple[Reference, ...]:
        """Every other table's key the rows point at: the head of the family (a step child's step, a response
        item's response), then ``also_references``."""
        head = None if self.entity or self.replaces not in self.schema.names else _family_head(self.replaces)
        own = () if head is None or head.name == self.name else (Reference(self.replaces, head.name, self.replaces),)
        return own + self.also_references

    @property
    def is_unit_root(self) -> bool:
        """True for the table with one row per export unit (runs, responses, conversations)."""
        return not self.entity and self.key == (self.unit,)


def _family_head(replaces: str) -> Table | None:
    """The table keyed by ``replaces`` alone, whose row its family's other rows belong to (``run_steps``)."""
    return next((t for t in ALL_TABLES.values() if not t.entity and t.key == (replaces,)), None)


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
            *_token_details(),
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
    replaces="run_id",
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
            *_token_details(),
            _col("metadata_json", pa.string(), "metadata, as JSON text; NULL when absent"),
            _col("details_json", pa.string(), "activities steps (Foundry): step_details.activities as JSON text"),
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
            _col("type", pa.string(), "code_interpreter, file_search, function, a Foundry tool type (azure_function, "
                 "mcp, connected_agent, bing_grounding...), or a newer type as sent", nullable=False),
            _col("function_name", pa.string(), "name of the function (function, azure_function, mcp, connected_agent)"),
            _col("function_arguments", pa.string(), "its arguments, as sent (JSON text)"),
            _col("function_output", pa.string(), "its output; NULL until outputs were submitted (Foundry function: "
                 "never sent)"),
            _col("code_input", pa.string(), "code_interpreter.input"),
            _col("code_output_count", pa.int32(), "number of code_interpreter outputs"),
            _col("file_search_ranker", pa.string(), "file_search.ranking_options.ranker"),
            _col("file_search_score_threshold", pa.float64(), "file_search.ranking_options.score_threshold"),
            _col("file_search_result_count", pa.int32(), "number of file_search results"),
            _col("mcp_server_label", pa.string(), "mcp: the MCP server's label"),
            _col("connected_run_id", pa.string(), "connected_agent: the child agent's run"),
            _col("connected_thread_id", pa.string(), "connected_agent: the child run's thread"),
            _col("connected_assistant_id", pa.string(), "connected_agent: the child agent"),
            _col("tool_input", pa.string(), "deep_research, browser_automation: input"),
            _col("tool_output", pa.string(), "deep_research, browser_automation: output"),
            _col("details_json", pa.string(), "the payload as JSON text: bing_grounding, bing_custom_search, "
                 "azure_ai_search, openapi, sharepoint_grounding, fabric_dataagent (request/response maps), "
                 "browser_automation (steps), computer_use_preview (action, safety checks, output)"),
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

THREADS = Table(
    "threads",
    "one row per thread seen (Foundry --all-threads lists every thread of the project)",
    pa.schema(
        [
            _col("thread_id", pa.string(), "thread id (thread_...)", nullable=False),
            _col("created_at", TIMESTAMP, "when the thread was created"),
            _col("metadata_json", pa.string(), "metadata, as JSON text"),
            _col("tool_resources_json", pa.string(), "tool_resources, as JSON text"),
            _extracted_at(),
        ]
    ),
    ("thread_id",),
    entity=True,
)

ASSISTANTS = Table(
    "assistants",
    "one row per assistant (Foundry: agent) that exported runs reference, or that the project lists",
    pa.schema(
        [
            _col("assistant_id", pa.string(), "assistant id (asst_...)", nullable=False),
            _col("name", pa.string(), "the assistant's name"),
            _col("description", pa.string(), "its description"),
            _col("model", pa.string(), "model (Azure, Foundry: deployment name)"),
            _col("instructions", pa.string(), "its instructions"),
            _col("tools_json", pa.string(), "tools, as JSON text"),
            _col("metadata_json", pa.string(), "metadata, as JSON text"),
            _col("created_at", TIMESTAMP, "when the assistant was created"),
            _col("gone", pa.bool_(), "true when the API answered 404 for it (deleted): the other columns are NULL",
                 nullable=False),
            _extracted_at(),
        ]
    ),
    ("assistant_id",),
    entity=True,
)

# -- the successors: the Responses and Conversations APIs (``--source responses``) ------------------------------

_ITEM_COLUMNS = (
    ("item_id", "item id as sent (msg_..., fc_...); NULL for input items sent without one"),
    ("type", "message, function_call, reasoning, ... or a newer type as sent"),
    ("role", "user, assistant, system or developer (messages)"),
    ("status", "in_progress, completed or incomplete (items that carry one)"),
    ("text", "the text parts of a message (input_text, output_text, refusal) or a reasoning summary, joined"
     " with newlines"),
    ("call_id", "call id linking a tool call to its output"),
    ("name", "function, custom tool or MCP tool name"),
    ("arguments", "arguments (JSON text) or a custom tool's input, as sent"),
    ("output", "a tool call's output, as sent (JSON text when it is not a string)"),
)


def _item_columns(*, server_label: bool) -> list[pa.Field]:
    """The columns every item table shares, then details and raw JSON."""
    fields = [_col(name, pa.string(), text, nullable=name != "type") for name, text in _ITEM_COLUMNS]
    if server_label:
        fields.append(_col("server_label", pa.string(), "MCP server label (mcp_* items)"))
    fields.append(_col("details_json", pa.string(), "the rest of a known item (queries, results, actions, ...) as "
                       "JSON text; large payloads (base64 images, encrypted reasoning) only with --keep-payloads"))
    fields.append(_col("raw_json", pa.string(), "the whole item as JSON when its type is unknown; else NULL"))
    return fields


RESPONSES = Table(
    "responses",
    "one row per response (the successor of a run): its setup, outcome and token usage",
    pa.schema(
        [
            _col("response_id", pa.string(), "response id (resp_...)", nullable=False),
            _col("conversation_id", pa.string(), "conversation the response belongs to (conversation.id)"),
            _col("previous_response_id", pa.string(), "the response this one continues"),
            _col("agent", pa.string(), "who answered: a Foundry agent's name (agent.name), else the prompt id"),
            _col("agent_version", pa.string(), "agent.version or prompt.version"),
            _col("model", pa.string(), "model (Azure: deployment name)"),
            _col("status", pa.string(), "completed, failed, in_progress, cancelled, queued or incomplete"),
            _col("created_at", TIMESTAMP, "when the response was created", nullable=False),
            _col("completed_at", TIMESTAMP, "when the response completed"),
            _col("input_tokens", pa.int64(), "usage.input_tokens; NULL until the response is finished"),
            _col("cached_input_tokens", pa.int64(), "usage.input_tokens_details.cached_tokens"),
            _col("output_tokens", pa.int64(), "usage.output_tokens"),
            _col("reasoning_tokens", pa.int64(), "usage.output_tokens_details.reasoning_tokens"),
            _col("total_tokens", pa.int64(), "usage.total_tokens"),
            _col("service_tier", pa.string(), "the service tier used"),
            _col("error_code", pa.string(), "error.code (failed responses)"),
            _col("error_message", pa.string(), "error.message"),
            _col("incomplete_reason", pa.string(), "incomplete_details.reason (max_output_tokens, content_filter)"),
            _col("temperature", pa.float64(), "sampling temperature"),
            _col("top_p", pa.float64(), "nucleus sampling"),
            _col("max_output_tokens", pa.int64(), "output token cap"),
            _col("input_item_count", pa.int32(), "input items stored in response_items"),
            _col("output_item_count", pa.int32(), "output items (output[])"),
            _col("instructions", pa.string(), "instructions: the text, or the items as JSON text"),
            _col("tools_json", pa.string(), "tools, as JSON text"),
            _col("metadata_json", pa.string(), "metadata, as JSON text"),
            _extracted_at(),
        ]
    ),
    ("response_id",),
    unit="response_id",
    replaces="response_id",
    owner=None,
)

RESPONSE_ITEMS = Table(
    "response_items",
    "one row per input or output item of a response (the successor of a run step)",
    pa.schema(
        [
            _col("response_id", pa.string(), "response the item belongs to", nullable=False),
            _col("direction", pa.string(), "input (GET /responses/{id}/input_items) or output (output[])",
                 nullable=False),
            _col("item_index", pa.int32(), "0-based position in the input items (oldest first) or in output[]",
                 nullable=False),
            *_item_columns(server_label=True),
            _col("created_at", TIMESTAMP, "the response's created_at (items carry no timestamp)", nullable=False),
            _extracted_at(),
        ]
    ),
    ("response_id", "direction", "item_index"),
    unit="response_id",
    replaces="response_id",
    owner=None,
)

CONVERSATIONS = Table(
    "conversations",
    "one row per conversation (the successor of a thread)",
    pa.schema(
        [
            _col("conversation_id", pa.string(), "conversation id (conv_...)", nullable=False),
            _col("created_at", TIMESTAMP, "when the conversation was created", nullable=False),
            _col("metadata_json", pa.string(), "metadata, as JSON text"),
            _col("item_count", pa.int64(), "items stored for the conversation in conversation_items"),
            _extracted_at(),
        ]
    ),
    ("conversation_id",),
    unit="conversation_id",
    replaces="conversation_id",
    owner=None,
)

CONVERSATION_ITEMS = Table(
    "conversation_items",
    "one row per item of a conversation, oldest first; later exports add only the new ones",
    pa.schema(
        [
            _col("conversation_id", pa.string(), "conversation the item belongs to", nullable=False),
            _col("position", pa.int64(), "0-based position in the conversation, oldest first", nullable=False),
            *_item_columns(server_label=False),
            _col("response_id", pa.string(), "the exported response that produced or consumed the item, where known"),
            _col("created_at", TIMESTAMP, "the conversation's created_at (items carry no timestamp)",
                 nullable=False),
            _extracted_at(),
        ]
    ),
    ("conversation_id", "position"),
    unit="conversation_id",
    # Items are only ever added: a re-read item replaces its own row, never the conversation's others.
    replaces="item_id",
    owner=None,
    also_references=(Reference("conversation_id", "conversations", "conversation_id"),),
)

# The tables whose rows belong to runs (each row carries run_id), and the entity tables beside them.
TABLES: dict[str, Table] = {
    t.name: t for t in (RUNS, RUN_STEPS, TOOL_CALLS, CODE_INTERPRETER_OUTPUTS, FILE_SEARCH_RESULTS)
}
ENTITY_TABLES: dict[str, Table] = {t.name: t for t in (THREADS, ASSISTANTS)}
# The successors' tables (``--source responses``): day-partitioned like the run tables, by response or conversation.
RESPONSE_TABLES: dict[str, Table] = {t.name: t for t in (RESPONSES, RESPONSE_ITEMS, CONVERSATIONS, CONVERSATION_ITEMS)}
PARTITIONED_TABLES: dict[str, Table] = TABLES | RESPONSE_TABLES
ALL_TABLES: dict[str, Table] = PARTITIONED_TABLES | ENTITY_TABLES

MODEL_PRICES = Table(
    "model_prices",
    "what a million tokens of each model cost, by period: written by each export and by runsteps prices",
    pa.schema(
        [
            _col("model", pa.string(), "the model as runs.model names it (Azure: the deployment)", nullable=False),
            _col("priced_as", pa.string(), "the model whose prices these are (through --model-map; else model)",
                 nullable=False),
            _col("provider", pa.string(), "genai-prices provider id; NULL for prices from a file"),
            _col("valid_from", TIMESTAMP, "start of the period (1970-01-01 when the source gives none)",
                 nullable=False),
            _col("valid_to", TIMESTAMP, "end of the period, exclusive; NULL while current"),
            _col("input_usd_per_mtok", pa.float64(), "USD per million prompt tokens not read from the cache",
                 nullable=False),
            _col("cached_input_usd_per_mtok", pa.float64(),
                 "USD per million cached prompt tokens; NULL: they cost the input price"),
            _col("output_usd_per_mtok", pa.float64(), "USD per million completion tokens (reasoning included)",
                 nullable=False),
            _col("source", pa.string(), "genai-prices <version>, or the name of the prices file", nullable=False),
        ]
    ),
    ("model", "valid_from"),
)

# Tables written whole, not by run: each export (and runsteps prices) replaces every row.
WHOLE_TABLES: dict[str, Table] = {MODEL_PRICES.name: MODEL_PRICES}
# Every table a destination may hold: what ``runsteps schema`` and the README describe.
EVERY_TABLE: dict[str, Table] = ALL_TABLES | WHOLE_TABLES
STEP_CHILD_TABLES: tuple[str, ...] = tuple(name for name, t in TABLES.items() if t.is_step_child)

_DUCKDB_TYPES: dict[pa.DataType, str] = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    pa.bool_(): "BOOLEAN",
}


def duckdb_type(type_: pa.DataType) -> str:
    """The DuckDB column type for an Arrow type used in these schemas."""
    name: str = _DUCKDB_TYPES[type_]
    return name


def duckdb_ddl(table: Table) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one table; the writer keeps its key, not an index (etl.load.duckdb)."""
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
    for table in EVERY_TABLE.values():
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
