"""``runsteps status``: what a destination holds and what its exports did."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import click

from etl.cli._common import handle_errors
from etl.load import open_destination
from etl.load.base import RunRecord
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
    # Responses and conversations (--source responses) keep their records beside the runs': told apart by id prefix.
    kinds: dict[str, list[RunRecord]] = {"run": [], "response": [], "conversation": []}
    for record in records.values():
        kinds[_kind_of(record.run_id)].append(record)
    runs = kinds["run"]
    by_state = Counter(_state_of(r.exported, r.finished, r.error) for r in runs)
    failed = sorted((r for r in records.values() if r.error), key=lambda r: r.run_id)
    report: dict[str, Any] = {
        "dest": dest,
        "runs": sum(by_state.values()),
        "runs_by_state": dict(sorted(by_state.items())),
        "steps": sum(r.step_count for r in runs),
        "failed_runs": [{"thread_id": r.thread_id, "run_id": r.run_id, "reason": r.error} for r in failed],
        "watermarks": {t: iso(m) for t, m in sorted(marks.items())},
        "last_exports": exports,
    }
    if kinds["response"] or kinds["conversation"]:
        report["responses_by_state"] = dict(
            sorted(Counter(_state_of(r.exported, r.finished, r.error) for r in kinds["response"]).items())
        )
        report["conversations"] = len(kinds["conversation"])
        report["conversation_items"] = sum(r.step_count for r in kinds["conversation"])
    report |= _entities(dest)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True, default=str))
        return
    click.echo(f"destination: {dest}")
    if report["threads"] or report["assistants"]:
        gone = f", {report['assistants_gone']} gone" if report["assistants_gone"] else ""
        click.echo(f"threads: {report['threads']}; assistants: {report['assistants']}{gone}")
    click.echo(f"runs: {report['runs']} ({report['steps']} steps)")
    for name, count in report["runs_by_state"].items():
        click.echo(f"  {name:<10} {count}")
    if "conversations" in report:
        states = ", ".join(f"{count} {name}" for name, count in report["responses_by_state"].items()) or "none"
        click.echo(f"responses: {states}")
        click.echo(f"conversations: {report['conversations']} ({report['conversation_items']} items)")
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
        if last.get("source") == "responses":
            click.echo(
                f"last export: {last.get('started_at')}: {last.get('responses_ok')} responses and "
                f"{last.get('conversations_ok')} conversations ok ({last.get('conversation_items_new')} new items), "
                f"{last.get('runs_failed')} failed"
            )
            return
        click.echo(
            f"last export: {last.get('started_at')} shard {last.get('shard')}: {last.get('runs_ok')} runs ok, "
            f"{last.get('runs_failed')} failed, {last.get('steps')} steps"
        )
    else:
        click.echo("last export: none")


def _entities(dest: str) -> dict[str, int]:
    """How many threads and assistants the destination knows (threads: only listed ones, e.g. Foundry's)."""
    from etl.sqlrun import open_sql_connection

    with open_sql_connection(dest) as con:
        threads, assistants, gone = con.execute(
            "SELECT (SELECT count(*) FROM threads), (SELECT count(*) FROM assistants), "
            "(SELECT count(*) FROM assistants WHERE gone)"
        ).fetchall()[0]
    return {"threads": threads, "assistants": assistants, "assistants_gone": gone}


def _kind_of(unit_id: str) -> str:
    """run, response (resp_...) or conversation (conv_...)."""
    if unit_id.startswith("resp_"):
        return "response"
    return "conversation" if unit_id.startswith("conv_") else "run"


def _state_of(exported: bool, finished: bool, error: str | None) -> str:
    """``finished`` (terminal and whole), ``active`` (whole but the run was still going), or ``failed``."""
    if error or not exported:
        return "failed"
    return "finished" if finished else "active"
