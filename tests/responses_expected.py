"""What the four successor tables must hold for the fake's Responses truth, and how to read them back."""

from __future__ import annotations

from collections import Counter
from typing import Any

import duckdb

from etl.fakeapi.responses_data import Truth
from etl.load.parquet import parquet_dataset

Row = dict[str, Any]
KEYS = {
    "responses": ("response_id",),
    "response_items": ("response_id", "direction", "item_index"),
    "conversations": ("conversation_id",),
    "conversation_items": ("conversation_id", "position"),
}


def read_rows(dest: str, table: str) -> list[Row]:
    """Every row of a table at a DuckDB file or a Parquet root."""
    if dest.endswith(".duckdb"):
        con = duckdb.connect(dest, read_only=True)
        try:
            return con.sql(f"SELECT * FROM {table}").to_arrow_table().to_pylist()
        finally:
            con.close()
    return parquet_dataset(dest, table).to_table().to_pylist()


def keyed(dest: str, table: str) -> dict[tuple[Any, ...], Row]:
    """The table's rows by key; fails when a key is there twice."""
    rows = read_rows(dest, table)
    keys = [tuple(row[k] for k in KEYS[table]) for row in rows]
    twice = [key for key, n in Counter(keys).items() if n > 1]
    assert not twice, f"{table}: keys stored twice: {twice[:3]}"
    return dict(zip(keys, rows, strict=True))


def expected(truth: Truth, responses: set[str] | None = None, conversations: set[str] | None = None) -> dict[str, Any]:
    """Per table: key -> (item id or status, type): the identity of every row the export must hold."""
    picked = truth.responses if responses is None else {r: truth.responses[r] for r in responses}
    convs = truth.conversations if conversations is None else {c: truth.conversations[c] for c in conversations}
    out: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {t: {} for t in KEYS}
    for rid, response in picked.items():
        usage = response["usage"] or {}
        out["responses"][(rid,)] = (response["status"], response["model"], usage.get("input_tokens"),
                                    usage.get("output_tokens"))  # fmt: skip
        for direction, items in (("input", truth.input_items[rid]), ("output", response["output"])):
            for index, item in enumerate(items):
                out["response_items"][(rid, direction, index)] = (item["id"], item["type"])
    for cid in convs:
        out["conversations"][(cid,)] = (len(truth.conversation_items[cid]),)
        for position, item in enumerate(truth.conversation_items[cid]):
            out["conversation_items"][(cid, position)] = (item["id"], item["type"])
    return out


def actual(dest: str) -> dict[str, Any]:
    """The same identities as ``expected``, read from the destination."""
    out: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    out["responses"] = {
        k: (r["status"], r["model"], r["input_tokens"], r["output_tokens"]) for k, r in keyed(dest, "responses").items()
    }
    out["response_items"] = {k: (r["item_id"], r["type"]) for k, r in keyed(dest, "response_items").items()}
    out["conversations"] = {k: (r["item_count"],) for k, r in keyed(dest, "conversations").items()}
    out["conversation_items"] = {k: (r["item_id"], r["type"]) for k, r in keyed(dest, "conversation_items").items()}
    return out
