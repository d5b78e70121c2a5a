"""``runsteps demo``: the main job end to end, with no key and no network."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb

from etl import sqlrun
from etl.cli._common import OutputFile, duckdb_storage_option, handle_errors, print_summary, write_output
from etl.cli._format import render
from etl.cli.export import observer_for
from etl.cli.progress import configure_logging
from etl.config import Secret, Settings
from etl.load import parse_storage_version
from etl.pipeline import ExportOptions, Sources, run_export
from etl.report import ReportLibraryMissing, Scope, render_report

REPORT_QUERIES = (
    ("Steps by type and status", "steps_by_type_status"),
    ("Tool calls by type", "tool_calls_by_type"),
    ("Tokens by assistant", "tokens_by_assistant"),
)


def cost_line(con: duckdb.DuckDBPyConnection) -> str:
    """One line: what the exported runs cost, how many runs are unpriced, and what the figure leaves out."""
    rows = sqlrun.run_sql(
        con,
        "SELECT sum(cost_usd) AS usd, count(*) AS runs, count(*) FILTER (WHERE NOT priced) AS unpriced FROM run_costs",
    ).to_pylist()
    usd, runs, unpriced = rows[0]["usd"] or 0.0, rows[0]["runs"], rows[0]["unpriced"]
    return (
        f"Cost: ${usd:,.2f} for {runs} runs ({unpriced} unpriced), at token prices on each run's date; "
        "tool fees and storage not included"
    )


@click.command()
@click.option(
    "--dest", default="./runsteps-demo.duckdb", show_default=True, help="Where to export (*.duckdb or a Parquet root)."
)
@click.option("--threads", default=15, show_default=True, type=click.IntRange(1, 1000), help="Threads in the fake API.")
@click.option("--runs-per-thread", default=20, show_default=True, type=click.IntRange(1, 1000), help="Runs per thread.")
@click.option("--seed", default=1, show_default=True, help="Seed of the fake API's synthetic data.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on when stderr is a terminal).")
@click.option(
    "--report",
    "report_path",
    type=OutputFile(),  # checked before the export: a bad path fails before anything is created
    default="./runsteps-demo.html",
    show_default=True,
    help="Where to write the HTML report of the export (`runsteps report`).",
)
@duckdb_storage_option
@handle_errors
def demo(
    dest: str,
    threads: int,
    runs_per_thread: int,
    seed: int,
    progress: bool | None,
    report_path: Path,
    duckdb_storage_version: str,
) -> None:
    """Start the fake API in-process, export a few hundred runs into ./runsteps-demo.duckdb, print a report.

    It also writes the HTML report of the export (./runsteps-demo.html) and prints its path.
    """
    from etl.fakeapi import FakeConfig, serve_in_thread

    storage_version = parse_storage_version(duckdb_storage_version)

    configure_logging("text")
    config = FakeConfig(seed=seed, threads=threads, runs_per_thread=runs_per_thread)
    with serve_in_thread(config) as fake:
        click.echo(f"fake Assistants API serving {len(fake.dataset.thread_ids)} threads at {fake.base_url}", err=True)
        settings = Settings(api_key=Secret(config.api_key), base_url=fake.base_url, concurrency=32)
        sources = Sources(threads=tuple(fake.dataset.thread_ids))
        export_options = ExportOptions(dest=dest, refresh=True, duckdb_storage_version=storage_version)
        with observer_for(progress) as observer:
            summary = run_export(settings, sources, export_options, observer)
    print_summary(summary, metrics_json=False)
    with sqlrun.open_sql_connection(dest) as con:
        for title, name in REPORT_QUERIES:
            click.echo(f"\n{title}  (runsteps sql run {name} --dest {dest})")
            click.echo(render(sqlrun.run_query(con, name), "table"))
        click.echo(f"\n{cost_line(con)}  (runsteps sql run cost_by_model --dest {dest})")
    click.echo(f'\nAsk your own: runsteps sql query "SELECT count(*) FROM run_steps" --dest {dest}')
    try:
        page = render_report(dest, Scope())
    except ReportLibraryMissing as exc:  # the export is done and shown: the charts are a bonus
        click.echo(f"\nNo HTML report: {exc}")
    else:
        write_output(report_path, page)
        click.echo(f"\nCharts of all of it, one self-contained page: {report_path.resolve()}")
    raise SystemExit(summary.exit_code)
