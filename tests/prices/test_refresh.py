"""``write_model_prices`` at the end of an export: genai-prices' data loads while the destination checkpoints."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.load import open_destination
from etl.load.batch import Batch, write_batch
from etl.prices import PriceBook, catalog, write_model_prices

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _run(run_id: str, model: str) -> dict[str, object]:
    return {"id": run_id, "object": "thread.run", "thread_id": "thread_1", "assistant_id": "asst_1", "model": model,
            "status": "completed", "created_at": int(AT.timestamp())}  # fmt: skip


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_price_data_loads_in_another_thread_while_the_destination_checkpoints(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []
    ready = threading.Event()
    load = catalog.load

    def load_and_note() -> None:
        load()
        loaded.append(threading.current_thread().name)
        ready.set()

    monkeypatch.setattr(catalog, "load", load_and_note)
    dest_uri = str(tmp_path / ("x.duckdb" if kind == "duckdb" else "x"))
    with open_destination(dest_uri) as dest:
        batch = Batch()
        for run_id, model in (("run_1", "gpt-4o"), ("run_2", "gpt-4o-mini"), ("run_3", "no-such-model")):
            batch.add_run("thread_1", run_id, _run(run_id, model), [], AT)
        write_batch(dest, batch)
        checkpoint = dest.checkpoint
        waited: list[bool] = []

        def checkpoint_once_loaded() -> None:
            # The data loads meanwhile: were the load to follow the checkpoint, this would time out (False).
            waited.append(ready.wait(timeout=10))
            checkpoint()

        monkeypatch.setattr(dest, "checkpoint", checkpoint_once_loaded)
        report = write_model_prices(dest, PriceBook())
        prices = dest.read_table("model_prices", ["model", "priced_as"]).to_pylist()
    assert waited == [True] and len(loaded) == 1 and loaded[0] != threading.current_thread().name
    assert {row["model"] for row in prices} == {"gpt-4o", "gpt-4o-mini"}
    assert {use.model: use.priced_runs for use in report.models} == {"gpt-4o": 1, "gpt-4o-mini": 1, "no-such-model": 0}


def test_nothing_to_price_loads_no_price_data_and_checkpoints_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(catalog, "load", lambda: calls.append("load"))
    with open_destination(str(tmp_path / "x.duckdb")) as dest:
        monkeypatch.setattr(dest, "checkpoint", lambda: calls.append("checkpoint"))
        report = write_model_prices(dest, PriceBook())
    assert calls == [] and report.rows == 0 and report.models == []
