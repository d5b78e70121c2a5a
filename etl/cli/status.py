"""``runsteps status``: what a destination holds and what its exports did."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

from etl.cli._common import handle_errors
from etl.load import open_destination
from etl.sharding import Shard
from etl.values import iso


@click.command()
@click.option("--dest", required=True, help="*.duckdb or a Parquet root (directory or s3://bucket/prefix).")
@click.option("--shard", default=str(Shard()), show_default=True, metavar="I/N", help="Whose watermarks to show.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@handle_errors
def status(dest: str, shard: str, as_json: bool) -> None:
    """Show what the destination holds: runs by state, failed runs with reasons, watermarks, last exports."""
    spec = Shard.parse(shard)
    with open_destination(dest, spec, read_only=True) as state:
        records = state.run_records()
        marks = state.watermarks(f"shard-{spec.index}-of-{spec.count}")
        exports = state.exports(5)
    by_state = Counter(_state_of(r.exported, r.finished, r.error) for r in records.values())
    failed = sorted((r for r in records.values() if r.error), key=lambda r: r.run_id)
    report: dict[str, Any] = {
        "dest": dest,
        "runs": sum(by_state.values()),
        "runs_by_state": dict(sorted(by_state.items())),
        "steps": sum(r.step_count for r in records.values()),
        "failed_runs": [{"thread_id": r.thread_id, "run_id": r.run_id, "reason": r.error} for r in failed],
        "watermarks": {t: iso(m) for t, m in sorted(marks.items())},
        "last_exports": exports,
    }
    if as_json:
        click.echo(json.dumps(report, sort_keys=True, default=str))
        return
    click.echo(f"destination: {dest}")
    click.echo(f"runs: {report['runs']} ({report['steps']} steps)")
    for name, count in report["runs_by_state"].items():
        click.echo(f"  {name:<10} {count}")
    if failed:
        click.echo(f"failed runs ({len(failed)}):")
        for r in failed:
            click.echo(f"  {r.thread_id}/{r.run_id}: {r.error}")
    click.echo(f"watermarks ({len(marks)} threads, shard {spec}):")
    for thread_id, moment in list(report["watermarks"].items())[:20]:
        click.echo(f"  {thread_id}  {moment}")
    if len(marks) > 20:
        click.echo(f"  ... and {len(marks) - 20} more (--json lists all)")
    if exports:
        last = exports[0]
        click.echo(
            f"last export: {last.get('started_at')} shard {last.get('shard')}: {last.get('runs_ok')} runs ok, "
            f"{last.get('runs_failed')} failed, {last.get('steps')} steps"
        )
    else:
        click.echo("last export: none")


def _state_of(exported: bool, finished: bool, error: str | None) -> str:
    """``finished`` (terminal and whole), ``active`` (whole but the run was still going), or ``failed``."""
    if error or not exported:
        return "failed"
    return "finished" if finished else "active"
