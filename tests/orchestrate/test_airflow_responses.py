"""The DAG's ``source: responses`` path (etl.orchestrate), run directly against the fake: a daily run keeps a
conversation's new items, on the Parquet root and in the DuckDB file loaded after it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from responses_expected import actual, expected

from etl.config import Secret
from etl.errors import InputError
from etl.fakeapi import FakeServer
from etl.orchestrate import DagParams, load_into_duckdb, run_data_checks, settings_from_connection
from etl.orchestrate.tasks import export_responses, plan_responses


def test_daily_runs_keep_a_conversations_new_items(fake_api_factory: Callable[..., FakeServer], tmp_path: Path) -> None:
    server = fake_api_factory(fault_rate=0.2, fault_kinds=("429-ms", "500", "drop"), retry_after_ms=1)
    truth = server.responses.truth
    dest, db = str(tmp_path / "lake"), str(tmp_path / "lake.duckdb")
    params = {
        "source": "responses",
        "response_ids": list(truth.responses),
        "conversation_ids": list(truth.conversations),
        "dest": dest,
        "duckdb_path": db,
    }
    run = DagParams.from_mapping(params)
    assert run.source == "responses" and run.responses.conversations == tuple(truth.conversations)

    class Connection:
        password, host, port, conn_id, extra_dejson = "sk-fake", server.base_url, None, "openai_default", {}

    settings = dataclasses.replace(settings_from_connection(Connection(), max_retries=8), api=run.source)
    assert settings.api_key == Secret("sk-fake")

    def daily() -> dict[str, object]:
        (part,) = plan_responses()
        metrics = export_responses(settings, run.dest, run.responses)
        load_into_duckdb(run.dest, db, str(part["planned_at"]))
        checks = run_data_checks(run.check_dests)
        assert all(n == 0 for by_check in checks.values() for n in by_check.values()), checks
        return metrics

    first = daily()
    assert first["conversation_items_new"] == sum(len(items) for items in truth.conversation_items.values())
    grown = next(iter(truth.conversations))
    before = len(truth.conversation_items[grown])
    server.responses.grow(grown)
    server.log.reset()

    second = daily()
    assert second["conversation_items_new"] == len(truth.conversation_items[grown]) - before > 0
    fetched = {r.path.rsplit("/", 1)[-1] for r in server.requests if r.kind == "response_get" and r.status == 200}
    assert fetched == {rid for rid, r in truth.responses.items() if r["status"] in ("queued", "in_progress")}
    want = expected(truth, responses=set(run.responses.responses))
    assert actual(dest) == want
    assert actual(db) == want


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(InputError, match="source param"):
        DagParams.from_mapping({"source": "threads", "dest": "/tmp/x"})
