"""Transform throughput on one core, on every payload mix: raw list-page bytes -> the five tables.

    .venv/bin/python tests/benchmarks/bench_transform.py [--steps 100000] [--batch 5000] [--repeat 3] [--mix M,...]

For each mix of ``payloads.MIXES`` (the API's examples, unicode-heavy text, many nulls, unknown types, metadata
present and absent, usage details, big outputs, and a blend of them) prints steps/s for parsing alone (orjson)
and for parsing plus what an export does with a batch before writing it (``Batch.add_run`` per run, then
``write_batch(None, batch)``: ``to_tables``), and their ratio; then the worst ratio.
Target (issue 16): parse + ``to_tables`` within 2.0x of bare parsing on every mix.

Runs of 30 steps, each run's object and its page of steps parsed; ``--batch`` steps make one batch (the export's
``--batch-steps``), its runs stamped with two fetch seconds as an export's batch is. Times are CPU
seconds of this process (``time.process_time``), best of ``--repeat``, so other work on a shared machine does
not count; the machine's load average is printed with them. The process is set up as ``runsteps`` sets up its own
(``etl.cli.process.set_up``: fewer garbage collections, which make parsing twice as fast); ``--default-gc`` measures
with Python's default collection thresholds instead, where the collector slows parsing as much as the transform.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from payloads import MIXES, make_run, make_steps

from etl.cli import process
from etl.load.batch import Batch, write_batch
from etl.values import Json

STEPS_PER_RUN = 30
TARGET = 2.0


def make_pages(mix: str, steps: int) -> tuple[list[bytes], list[bytes]]:
    """(step list pages, run objects) as the API returns them, as bytes: each run's steps in pages of its own."""
    objects = make_steps(mix, steps, steps_per_run=STEPS_PER_RUN)
    pages = []
    for start in range(0, steps, STEPS_PER_RUN):  # one run; its steps fit one page
        data = objects[start : start + STEPS_PER_RUN]
        envelope = {"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"],
                    "has_more": False}  # fmt: skip
        pages.append(orjson.dumps(envelope))
    runs = [make_run(s["run_id"], s["thread_id"], s["created_at"], i) for i, s in enumerate(objects[::STEPS_PER_RUN])]
    return pages, [orjson.dumps(run) for run in runs]


Transform = Callable[[list[tuple[Json, list[Json]]]], object]


def _timed(pages: list[bytes], runs: list[bytes], batch_runs: int, transform: Transform) -> float:
    """CPU seconds to parse every run object and page (and transform each batch of ``batch_runs`` runs)."""
    started = time.process_time()
    for start in range(0, len(pages), batch_runs):
        fetched = [
            (orjson.loads(run), orjson.loads(page)["data"])
            for run, page in zip(runs[start : start + batch_runs], pages[start : start + batch_runs], strict=True)
        ]
        transform(fetched)
    return time.process_time() - started


def export_batch(fetched: list[tuple[Json, list[Json]]]) -> None:
    """What an export does with a batch of fetched runs before it writes: one ``Batch``, transformed."""
    moments = [datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC) + timedelta(seconds=1)]
    batch = Batch()
    for i, (run, steps) in enumerate(fetched):
        batch.add_run(run["thread_id"], run["id"], run, steps, moments[2 * i // len(fetched)])
    write_batch(None, batch)


def measure(mix: str, steps: int, batch: int, repeat: int) -> tuple[float, float, int]:
    """(parse seconds, parse+transform seconds, bytes per step), best of ``repeat``."""
    pages, runs = make_pages(mix, steps)
    batch_runs = max(1, batch // STEPS_PER_RUN)
    parse_best = full_best = float("inf")
    for _ in range(repeat):
        gc.collect()
        parse_best = min(parse_best, _timed(pages, runs, batch_runs, lambda fetched: None))
        gc.collect()
        full_best = min(full_best, _timed(pages, runs, batch_runs, export_batch))
    return parse_best, full_best, sum(map(len, pages)) // steps


def mix_arguments(description: str, *, steps: int, batch_help: str) -> argparse.Namespace:
    """The options this and ``bench_parsers.py`` share, parsed; the process set up as ``--default-gc`` says."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch", type=int, default=5_000, help=batch_help)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mix", default=",".join(MIXES), help="mixes to run, comma separated")
    parser.add_argument("--default-gc", action="store_true", help="Python's default GC, not the runsteps process's")
    args = parser.parse_args()
    if not args.default_gc:
        process.set_up()
    args.gc_settings = "Python's default GC" if args.default_gc else "the runsteps process's GC settings"
    return args


def main() -> None:
    """Run every mix and print the figures, the worst ratio last."""
    args = mix_arguments(__doc__.splitlines()[0], steps=100_000, batch_help="steps per to_tables call")
    settings = args.gc_settings
    print(f"load average {os.getloadavg()[0]:.2f}; {args.steps:,} steps per mix, {args.batch:,} per to_tables call;"
          f" {settings}")  # fmt: skip
    print(f"{'mix':14} {'bytes/step':>10} {'parse steps/s':>14} {'parse+transform':>16} {'ratio':>6}")
    worst = ("", 0.0)
    for mix in args.mix.split(","):
        parse, full, size = measure(mix, args.steps, args.batch, args.repeat)
        ratio = full / parse
        worst = max(worst, (mix, ratio), key=lambda pair: pair[1])
        print(f"{mix:14} {size:>10,} {args.steps / parse:>14,.0f} {args.steps / full:>16,.0f} {ratio:>5.2f}x",
              flush=True)  # fmt: skip
    verdict = "OK" if worst[1] <= TARGET else "MISSED"
    print(f"worst mix: {worst[0]} at {worst[1]:.2f}x bare parsing (target <= {TARGET}x): {verdict}")


if __name__ == "__main__":
    main()
