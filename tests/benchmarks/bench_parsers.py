"""The floor of each way to turn run step list pages into one Arrow struct array, relative to bare parsing.

    .venv/bin/python tests/benchmarks/bench_parsers.py [--steps 30000] [--batch 5000] [--repeat 3] [--mix M,...]

For each mix of ``payloads.MIXES`` (``real`` included: a blend of the others) prints bytes per step and, for each
way of getting a batch's pages (``--batch`` steps, 30-step pages as ``bench_transform.make_pages`` builds them)
into ONE struct array of the steps' typed columns (``etl.transform.api.STEP``), its CPU time over that of bare
``orjson.loads`` of the same pages (the baseline):

- ``orjson+pa.array``: the current design, one ``pa.array(steps, type=STEP)`` per batch;
- ``pyarrow.json``: the batch's pages as one NDJSON buffer (raw newlines, always whitespace in JSON, made spaces)
  read with an explicit schema (timestamps as int64), the ``data`` lists then flattened;
- ``duckdb``: ``from_json(body::JSON, '{"data": "STRUCT(...)[]"}')`` over an Arrow table of the pages, unnested,
  on one in-memory connection with ``SET threads=1``.

Each way is checked against ``orjson+pa.array`` first (same row count, same ``id`` and ``created_at`` columns) so
a way that drops data silently fails loudly. Target (issue "transform within 2x of parsing"): parse + transform
within 2.0x of bare parsing, so a way is only a floor worth building on if it stays <= 1.0x on every mix (the rest
of the transform needs about 1x). CPU seconds (``time.process_time``), best of ``--repeat``; the process set up as
``runsteps`` sets up its own unless ``--default-gc`` (see ``bench_transform.py``).
"""

from __future__ import annotations

import gc
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb  # before process.set_up: it imports numpy, which set_up refuses to modules imported after it
import orjson
import pyarrow as pa
import pyarrow.json as pa_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_transform import STEPS_PER_RUN, make_pages, mix_arguments

from etl.transform.api import STEP

Way = Callable[[list[bytes]], Any]


def _int_times(kind: pa.DataType) -> pa.DataType:
    """``kind`` with every timestamp (at any depth) as int64: the epoch seconds the API sends."""
    if pa.types.is_timestamp(kind):
        return pa.int64()
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_int_times(field.type)) for field in kind])
    if pa.types.is_list(kind):
        return pa.list_(_int_times(kind.value_type))
    return kind


def _duckdb_type(kind: pa.DataType) -> str:
    """The DuckDB type of an Arrow type of ``api.STEP`` (timestamps as BIGINT epoch seconds)."""
    if pa.types.is_struct(kind):
        fields = ", ".join(f'"{field.name}" {_duckdb_type(field.type)}' for field in kind)
        return f"STRUCT({fields})"
    if pa.types.is_list(kind):
        return f"{_duckdb_type(kind.value_type)}[]"
    if pa.types.is_string(kind):
        return "VARCHAR"
    if pa.types.is_int64(kind) or pa.types.is_timestamp(kind):
        return "BIGINT"
    if pa.types.is_float64(kind):
        return "DOUBLE"
    raise TypeError(f"no DuckDB type for {kind}")


def _one_array(chunked: pa.ChunkedArray) -> pa.Array:
    return chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()


def bare_orjson(pages: list[bytes]) -> list[Any]:
    return [orjson.loads(page)["data"] for page in pages]


def orjson_pa_array(pages: list[bytes]) -> pa.Array:
    return pa.array([step for page in pages for step in orjson.loads(page)["data"]], type=STEP)


_JSON_SCHEMA = pa.schema([("data", pa.list_(_int_times(STEP)))])


def pyarrow_json(pages: list[bytes]) -> pa.Array:
    body = b"\n".join(page.replace(b"\n", b" ") for page in pages)
    table = pa_json.read_json(
        io.BytesIO(body),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1),  # one block: every page fits
        parse_options=pa_json.ParseOptions(explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="infer"),
    )
    return pa.concat_arrays([chunk.flatten() for chunk in table.column("data").chunks])


class DuckDB:
    """``from_json`` of each page on one connection, its ``data`` unnested into one struct column."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET threads=1")
        structure = json.dumps({"data": _duckdb_type(STEP) + "[]"}).replace("'", "''")
        self.query = f"SELECT unnest(from_json(body::JSON, '{structure}').data) AS step FROM pages"

    def __call__(self, pages: list[bytes]) -> pa.Array:
        self.con.register("pages", pa.table({"body": pa.array(pages, type=pa.string())}))
        try:
            return _one_array(self.con.sql(self.query).to_arrow_table().column("step"))
        finally:
            self.con.unregister("pages")


def ways() -> dict[str, Way]:
    return {"orjson": bare_orjson, "orjson+pa.array": orjson_pa_array, "pyarrow.json": pyarrow_json,
            "duckdb": DuckDB()}  # fmt: skip


def check(name: str, mix: str, got: pa.Array, want: pa.Array) -> None:
    """``got`` has the rows of ``want`` (the pa.array way), with the same ids and creation times."""
    if len(got) != len(want):
        raise SystemExit(f"{name} on {mix}: {len(got)} steps, pa.array has {len(want)}")
    for column in ("id", "created_at"):
        mine, theirs = got.field(column), want.field(column)
        if pa.types.is_timestamp(theirs.type):
            theirs = theirs.cast(pa.int64())
        if not mine.cast(theirs.type).equals(theirs):
            raise SystemExit(f"{name} on {mix}: column {column} differs from pa.array's")


def _timed(way: Way, batches: list[list[bytes]]) -> float:
    gc.collect()
    started = time.process_time()
    for pages in batches:
        way(pages)
    return time.process_time() - started


def measure(mix: str, steps: int, batch: int, repeat: int, named: dict[str, Way]) -> tuple[dict[str, float], int]:
    """({way: CPU seconds, best of ``repeat``}, bytes per step), each way checked on every batch first."""
    pages = make_pages(mix, steps)[0]
    runs = max(1, batch // STEPS_PER_RUN)  # pages per batch: one page per run
    batches = [pages[start : start + runs] for start in range(0, len(pages), runs)]
    for batch_pages in batches:
        want = orjson_pa_array(batch_pages)
        for name, way in named.items():
            if name not in ("orjson", "orjson+pa.array"):
                check(name, mix, way(batch_pages), want)
    best = dict.fromkeys(named, float("inf"))
    for _ in range(repeat):
        for name, way in named.items():  # interleaved, so a busy moment on the machine hits every way alike
            best[name] = min(best[name], _timed(way, batches))
    return best, sum(map(len, pages)) // steps


def main() -> None:
    """Run every mix and print each way's ratio to bare orjson, each way's worst mix last."""
    args = mix_arguments(__doc__.splitlines()[0], steps=30_000, batch_help="steps per Arrow array")
    settings = args.gc_settings
    print(f"load average {os.getloadavg()[0]:.2f}; {args.steps:,} steps per mix, {args.batch:,} per array;"
          f" {settings}; CPU time / bare orjson's")  # fmt: skip
    named = ways()
    others = [name for name in named if name != "orjson"]
    print(f"{'mix':14} {'bytes/step':>10} {'orjson s':>9}" + "".join(f" {name:>16}" for name in others))
    worst = dict.fromkeys(others, ("", 0.0))
    for mix in args.mix.split(","):
        seconds, size = measure(mix, args.steps, args.batch, args.repeat, named)
        ratios = {name: seconds[name] / seconds["orjson"] for name in others}
        for name, ratio in ratios.items():
            worst[name] = max(worst[name], (mix, ratio), key=lambda pair: pair[1])
        print(f"{mix:14} {size:>10,} {seconds['orjson']:>9.3f}" + "".join(f" {r:>15.2f}x" for r in ratios.values()),
              flush=True)  # fmt: skip
    floors = [name for name, (_, ratio) in worst.items() if ratio <= 1.0]
    print("worst: " + "; ".join(f"{name} {mix} {ratio:.2f}x" for name, (mix, ratio) in worst.items())
          + f"; <= 1.0x on every mix: {', '.join(floors) or 'none'}")  # fmt: skip


if __name__ == "__main__":
    main()
