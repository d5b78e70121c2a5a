"""DAG ``openai_run_steps``: export the run steps of each data interval; plan -> export (per shard) -> load -> checks
and report.

Thin on purpose: the scheduler parses this file constantly, so it imports only ``airflow.sdk``; every task
imports ``etl.orchestrate`` when it runs, and all of the logic lives there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

DOC_MD = """
### Export OpenAI Assistants run steps, one data interval at a time

Runs created in `[data_interval_start, data_interval_end)` of the threads below are discovered, plus the runs
of those threads that an earlier interval left active or failed; runs the destination already holds finished
are skipped, so every interval is idempotent and any task may be retried or cleared.

**Tasks**: `plan` (discover, split into `shards`) -> `export` (one mapped task per shard, each writing only its
own Parquet files; XCom = its metrics) -> `load` (optional: the changed partitions into one DuckDB file, the
single writer) -> `checks` (the SQL checks of `sql/checks`; a broken error rule fails the run, a warning such
as `unpriced_models` is only logged) and, beside it, `report`
(optional: the HTML page of `runsteps report` over the last `report_days` days, written to
`<dest>/_reports/<interval date>.html`; skipped unless `report` is on).

**Credentials**: the Airflow Connection `conn_id` (default `openai_default`), laid out like the OpenAI
provider's: password = API key, host = base URL (e.g. `https://api.openai.com/v1`), extras `organization`,
`project`, `azure_api_version` (or the provider's `openai_client_kwargs`). The key never enters params,
XCom or logs. **Azure AI Foundry** (classic agents): a connection of type `azure` (or extra `provider: foundry`)
whose host is the project endpoint `https://<resource>.services.ai.azure.com/api/projects/<project>`; a service
principal as login (client id), password (client secret) and extra `tenantId`, or extra
`managed_identity_client_id`, or neither (the worker's own identity); it needs the role "Azure AI User".

| param | default | meaning |
|---|---|---|
| `conn_id` | `openai_default` | the Connection holding key, base URL and extras |
| `thread_ids` | `[]` | thread ids to export |
| `threads_file` | `""` | a file on the workers: one thread id a line, or CSV with a `thread_id` column |
| `threads_query` | `""` | SQL returning a `thread_id` column, e.g. `SELECT DISTINCT thread_id FROM runs` |
| `threads_query_source` | `""` | DuckDB file or Parquet root the query runs over (empty: `dest`) |
| `dest` | `/opt/airflow/data/runsteps` | Parquet root: a directory or `s3://bucket/prefix` (shared by all workers) |
| `duckdb_path` | `""` | DuckDB file to load afterwards (empty: no load) |
| `duckdb_storage_version` | `v1.2.0` | format of a new DuckDB file: the oldest DuckDB that must open it, or `latest` |
| `shards` | `4` | export tasks run in parallel (1..8) |
| `concurrency` | `16` | runs in flight per export task |
| `include_file_search_content` | `false` | also fetch file search result content |
| `report` | `false` | write `<dest>/_reports/<interval date>.html` after the load |
| `report_days` | `30` | the days the report covers, up to the interval's end |
| `all_threads` | `false` | every thread the API lists (Foundry), also written as `threads` rows |
| `source` | `assistants` | `assistants` (run steps of the threads above) or `responses` (the ids below) |
| `response_ids` | `[]` | responses: response ids to export (finished ones are not fetched again) |
| `responses_file` | `""` | responses: a file of response ids on the workers |
| `conversation_ids` | `[]` | responses: conversations; each run adds only their new items |
| `conversations_file` | `""` | responses: a file of conversation ids on the workers |
| `follow_previous` | `false` | responses: also export each response's previous_response_id chain |
| `all_responses` | `false` | responses: every stored response (Foundry only) |
| `all_conversations` | `false` | responses: every conversation (Foundry only) |

Thread sources combine (list, file, query and `all_threads`); at least one must be given. With `source: responses`
the thread params are not used and one export task reads the response and conversation ids: stored responses
vanish after 30 days, so keep this DAG's daily schedule. Backfill with
`airflow backfill create --dag-id openai_run_steps --from-date 2026-01-01 --to-date 2026-02-01`.
"""


@dag(
    dag_id="openai_run_steps",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),  # daily, with [start, end) intervals
    start_date=datetime(2023, 11, 1, tzinfo=UTC),  # the Assistants API's launch: backfills may reach back to it
    catchup=False,
    max_active_runs=1,  # intervals one after another: parallelism comes from the shards
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    doc_md=DOC_MD,
    tags=["openai", "run-steps", "etl"],
    params={
        "conn_id": Param("openai_default", type="string", minLength=1, description="Airflow Connection id"),
        "thread_ids": Param([], type="array", items={"type": "string"}, description="thread ids to export"),
        "threads_file": Param("", type="string", description="file of thread ids on the workers"),
        "threads_query": Param("", type="string", description="SQL returning a thread_id column"),
        "threads_query_source": Param("", type="string", description="where the query runs (empty: dest)"),
        "dest": Param("/opt/airflow/data/runsteps", type="string", minLength=1, description="Parquet root"),
        "duckdb_path": Param("", type="string", description="DuckDB file to load afterwards (empty: none)"),
        "duckdb_storage_version": Param(
            "v1.2.0", type="string", pattern=r"^(latest|v\d+\.\d+\.\d+)$", description="format of a new DuckDB file"
        ),
        "shards": Param(4, type="integer", minimum=1, maximum=8, description="parallel export tasks"),
        "concurrency": Param(16, type="integer", minimum=1, maximum=256, description="runs in flight per task"),
        "include_file_search_content": Param(False, type="boolean", description="fetch file search content"),
        "report": Param(False, type="boolean", description="write <dest>/_reports/<interval date>.html"),
        "report_days": Param(30, type="integer", minimum=1, maximum=3660, description="days the report covers"),
        "all_threads": Param(False, type="boolean", description="every thread the API lists (Foundry)"),
        "source": Param("assistants", type="string", enum=["assistants", "responses"], description="what to export"),
        "response_ids": Param([], type="array", items={"type": "string"}, description="responses to export"),
        "responses_file": Param("", type="string", description="file of response ids on the workers"),
        "conversation_ids": Param([], type="array", items={"type": "string"}, description="conversations to export"),
        "conversations_file": Param("", type="string", description="file of conversation ids on the workers"),
        "follow_previous": Param(False, type="boolean", description="also export previous_response_id chains"),
        "all_responses": Param(False, type="boolean", description="every stored response (Foundry)"),
        "all_conversations": Param(False, type="boolean", description="every conversation (Foundry)"),
    },
)
def openai_run_steps() -> None:
    """Wire the five tasks; each one calls one function of ``etl.orchestrate``."""

    @task
    def plan(
        params: dict[str, Any] | None = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        from etl.orchestrate import plan_step

        return plan_step(params or {}, data_interval_start, data_interval_end)

    @task
    def export(shard: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        from etl.orchestrate import export_step

        return export_step(params or {}, shard)

    @task
    def load(
        planned: list[dict[str, Any]], summaries: list[dict[str, Any]], params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        from etl.orchestrate import load_step

        return load_step(params or {}, planned, summaries)

    @task
    def checks(loaded: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, dict[str, int]]:
        from etl.orchestrate import checks_step

        return checks_step(params or {})

    @task
    def report(
        loaded: dict[str, Any],
        params: dict[str, Any] | None = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> dict[str, Any]:
        from etl.orchestrate import report_step

        return report_step(params or {}, data_interval_start, data_interval_end)

    planned = plan()
    summaries = export.expand(shard=planned)
    loaded = load(planned, summaries)
    checks(loaded)
    report(loaded)


openai_run_steps()
