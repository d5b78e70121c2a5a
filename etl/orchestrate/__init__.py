"""What the Airflow DAG ``openai_run_steps`` runs: plan -> export (one task per shard) -> load -> checks, report.

    entrypoints   one function per task, from the DagRun's params and upstream XComs
    tasks         the steps as plain functions (plan_export, export_shard, load_into_duckdb, run_data_checks,
                  write_interval_report)
    params        the DAG's params as one typed value
    connection    API settings from an Airflow Connection laid out like the OpenAI provider's
    threads       thread ids from a list, a file or a SQL query

Only ``connection_settings`` and the fail-without-retry and skip paths import Airflow, so everything else runs and
is tested without it.
"""

from etl.orchestrate.connection import connection_settings, settings_from_connection
from etl.orchestrate.entrypoints import checks_step, export_step, load_step, plan_step, report_step
from etl.orchestrate.params import DagParams
from etl.orchestrate.tasks import (
    Window,
    export_shard,
    load_into_duckdb,
    plan_export,
    run_data_checks,
    split_runs,
    write_interval_report,
)
from etl.orchestrate.threads import ThreadSource, query_thread_ids, resolve_thread_ids

__all__ = [
    "DagParams",
    "ThreadSource",
    "Window",
    "checks_step",
    "connection_settings",
    "export_shard",
    "export_step",
    "load_into_duckdb",
    "load_step",
    "plan_export",
    "plan_step",
    "query_thread_ids",
    "report_step",
    "resolve_thread_ids",
    "run_data_checks",
    "settings_from_connection",
    "split_runs",
    "write_interval_report",
]
