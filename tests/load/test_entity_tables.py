"""Threads and assistants rows land once per key in both destinations, through the one batch write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from etl.load import open_destination
from etl.load.base import ExportBatch
from etl.load.duckdb import load_parquet_into_duckdb as load_parquet
from etl.load.parquet import parquet_dataset
from etl.sharding import Shard, bucket_of
from etl.transform import to_tables
from etl.transform.entities import gone_assistant

T1 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T2 = datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC)


def batch(at: datetime, name: str, thread_ids: list[str]) -> ExportBatch:
    threads = [(at, {"id": t, "created_at": 1767225000, "metadata": {"n": name}}) for t in thread_ids]
    assistants = [(at, {"id": "asst_a", "name": name, "model": "dep-1", "created_at": 1767220000})]
    assistants.append((at, gone_assistant("asst_gone")))
    tables, _ = to_tables({"threads": threads, "assistants": assistants})
    return ExportBatch(tables=tables)


def rows(dest: str, table: str) -> list[tuple[object, ...]]:
    if dest.endswith(".duckdb"):
        with duckdb.connect(dest, read_only=True) as con:
            return con.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    data = parquet_dataset(dest, table).to_table().sort_by(table[:-1] + "_id" if table == "threads" else "assistant_id")
    return [tuple(r.values()) for r in data.to_pylist()]


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_entities_are_replaced_by_key_and_written_once(tmp_path: Path, kind: str) -> None:
    dest = str(tmp_path / ("x.duckdb" if kind == "duckdb" else "root"))
    ids = [f"thread_{n}" for n in range(12)]  # spread over several buckets
    with open_destination(dest) as opened:
        opened.write(batch(T1, "first", ids))
        opened.write(batch(T2, "second", ids[:3]))  # seen again: replaced, never duplicated
    threads = rows(dest, "threads")
    assert [r[0] for r in threads] == sorted(ids)
    meta = {r[0]: (r[2], r[4]) for r in threads}
    assert meta["thread_0"] == ('{"n":"second"}', T2)
    assert meta["thread_5"] == ('{"n":"first"}', T1)
    assistants = {r[0]: r for r in rows(dest, "assistants")}
    assert sorted(assistants) == ["asst_a", "asst_gone"]
    assert (assistants["asst_a"][1], assistants["asst_a"][8]) == ("second", False)
    assert (assistants["asst_gone"][1], assistants["asst_gone"][8]) == (None, True)


def test_parquet_entities_load_into_duckdb_and_shards_keep_to_their_buckets(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    ids = [f"thread_{n}" for n in range(12)]
    with open_destination(root) as opened:
        opened.write(batch(T1, "first", ids))
    counts = load_parquet(root, str(tmp_path / "y.duckdb"))
    assert (counts["threads"], counts["assistants"]) == (12, 2)
    assert [r[0] for r in rows(str(tmp_path / "y.duckdb"), "threads")] == sorted(ids)
    shard = Shard(1, 2)
    foreign = next(t for t in ids if not shard.owns(t))
    with open_destination(str(tmp_path / "sharded"), shard) as opened, pytest.raises(Exception, match="outside shard"):
        opened.write(batch(T1, "x", [foreign]))
    assert bucket_of(foreign) % 2 == 0


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_an_assistant_deleted_since_an_earlier_export_keeps_its_name(tmp_path: Path, kind: str) -> None:
    from etl.config import Settings
    from etl.fakeapi import FakeConfig, serve_in_thread
    from etl.fakeapi.foundry import FakeCredential
    from etl.pipeline import ExportOptions, Sources, run_export

    dest = str(tmp_path / ("x.duckdb" if kind == "duckdb" else "root"))
    config = FakeConfig.small(flavor="foundry", seed=5)
    with serve_in_thread(config) as fake:
        gone = fake.truth.gone_assistant_ids[0]
        # An earlier export saw the assistant alive (written here as that export would have).
        earlier = {
            "id": gone,
            "name": "Old agent",
            "model": "dep-1",
            "created_at": 1767220000,
            "tools": [],
            "metadata": {},
        }
        tables, _ = to_tables({"assistants": [(T1, earlier)]})
        with open_destination(dest) as opened:
            opened.write(ExportBatch(tables=tables))
        settings = Settings(provider="foundry", base_url=fake.base_url, credential=FakeCredential(fake.root_url))
        summary = run_export(settings, Sources(all_threads=True), ExportOptions(dest=dest))
        assert summary.exit_code == 0
    row = {r[0]: r for r in rows(dest, "assistants")}[gone]
    assert (row[1], row[3], row[8]) == ("Old agent", "dep-1", True)  # name and model kept, marked gone
    assert row[9] > T1
