"""Transform throughput on one core, on every payload mix: raw list-page bytes -> the five tables.

    .venv/bin/python tests/benchmarks/bench_transform.py [--steps 100000] [--batch 5000] [--repeat 3] [--mix M,...]

For each mix of ``payloads.MIXES`` (the API's examples, unicode-heavy text, many nulls, unknown types, metadata
present and absent, usage details, big outputs, and a blend of them) prints steps/s for parsing alone (orjson)
and for parsing plus ``to_tables`` (what an export does with a batch), and their ratio; then the worst ratio.
Target (issue 16): parse + ``to_tables`` within 2.0x of bare parsing on every mix.

Pages hold 100 steps; runs of 30 steps, each run's object parsed too; ``--batch`` steps go to one ``to_tables``
call (the export's ``--batch-steps``), stamped with two fetch seconds as an export's batch is. Times are CPU
seconds of this process (``time.process_time``), best of ``--repeat``, so other work on a shared machine does
not count; the machine's load average is printed with them.
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

from etl.transform import to_tables
from etl.values import Json

PAGE_SIZE = 100
STEPS_PER_RUN = 30
TARGET = 2.0


def make_pages(mix: str, steps: int) -> tuple[list[bytes], list[bytes]]:
    """(step list pages, run objects) as the API returns them, as bytes."""
    objects = make_steps(mix, steps, steps_per_run=STEPS_PER_RUN)
    pages = []
    for start in range(0, steps, PAGE_SIZE):
        data = objects[start : start + PAGE_SIZE]
        envelope = {"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"],
                    "has_more": start + PAGE_SIZE < steps}  # fmt: skip
        pages.append(orjson.dumps(envelope))
    runs = {s["run_id"]: make_run(s["run_id"], s["thread_id"], s["created_at"], i) for i, s in enumerate(objects)}
    return pages, [orjson.dumps(run) for run in runs.values()]


Transform = Callable[[list[tuple[datetime, Json]], list[tuple[datetime, Json]]], object]


def _timed(pages: list[bytes], runs: list[bytes], batch_pages: int, transform: Transform) -> float:
    """CPU seconds to parse every page and run object (and transform each batch)."""
    moments = [datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC) + timedelta(seconds=1)]
    runs_per_batch = max(1, batch_pages * PAGE_SIZE // STEPS_PER_RUN)
    started = time.process_time()
    for batch, start in enumerate(range(0, len(pages), batch_pages)):
        steps: list[tuple[datetime, Json]] = []
        for i, page in enumerate(pages[start : start + batch_pages]):
            moment = moments[2 * i // batch_pages]
            steps += [(moment, step) for step in orjson.loads(page)["data"]]
        run_objects = [(moments[0], orjson.loads(run)) for run in runs[batch * runs_per_batch :][:runs_per_batch]]
        transform(run_objects, steps)
    return time.process_time() - started


def measure(mix: str, steps: int, batch: int, repeat: int) -> tuple[float, float, int]:
    """(parse seconds, parse+transform seconds, bytes per step), best of ``repeat``."""
    pages, runs = make_pages(mix, steps)
    batch_pages = max(1, batch // PAGE_SIZE)
    parse_best = full_best = float("inf")
    for _ in range(repeat):
        gc.collect()
        parse_best = min(parse_best, _timed(pages, runs, batch_pages, lambda r, s: None))
        gc.collect()
        full_best = min(full_best, _timed(pages, runs, batch_pages, to_tables))
    return parse_best, full_best, sum(map(len, pages)) // steps


def main() -> None:
    """Run every mix and print the figures, the worst ratio last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="steps per to_tables call")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mix", default=",".join(MIXES), help="mixes to run, comma separated")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.steps:,} steps per mix, {args.batch:,} per to_tables call")
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
