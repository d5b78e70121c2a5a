"""Transform throughput on one core: raw list-page bytes -> Arrow batches, against bare JSON parsing.

    .venv/bin/python tests/benchmarks/bench_transform.py [--steps 200000] [--batch 2000] [--repeat 5]

Prints steps/s for parsing alone (orjson) and for parsing plus ``to_step_tables``, and their ratio.
Targets (issue 4): >= 200,000 steps/s, and parse+transform within 2.5x of parse alone.

The mix imitates what the API sends (weights like the fake API's): mostly message_creation steps and
function calls with short arguments and outputs, code_interpreter calls with logs or an image, file_search
calls with a few results, several calls in one step now and then, and a rare 1 MB function output.
Pages hold 100 steps; ``--batch`` steps are transformed per call (the pipeline batches runs likewise).
Times are CPU seconds of this process (``time.process_time``), best of ``--repeat``, so that other work on
a shared machine does not count.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from etl.transform import to_step_tables
from etl.values import Json

PAGE_SIZE = 100
_T0 = 1_730_000_000
_WEIGHTS = {"message": 45, "code": 18, "file_search": 12, "function": 17, "multi": 8}


def _step(rng: random.Random, n: int) -> Json:
    created = _T0 + 7 * n
    recipe = rng.choices(list(_WEIGHTS), weights=list(_WEIGHTS.values()))[0]
    if recipe == "message":
        details: Json = {"type": "message_creation", "message_creation": {"message_id": f"msg_{n:024x}"}}
    else:
        kinds = [recipe] if recipe != "multi" else rng.choices(["code", "file_search", "function"], k=3)
        calls = [_tool_call(rng, kind, f"call_{n:018x}{i}") for i, kind in enumerate(kinds)]
        details = {"type": "tool_calls", "tool_calls": calls}
    prompt, completion = rng.randint(50, 4000), rng.randint(1, 800)
    return {
        "id": f"step_{n:024x}", "object": "thread.run.step", "created_at": created,
        "run_id": f"run_{n // 6:024x}", "assistant_id": "asst_3KjdqRkT2Q8pJdMN7tPb5zVy",
        "thread_id": f"thread_{n // 30:024x}", "type": details["type"], "status": "completed",
        "cancelled_at": None, "completed_at": created + rng.randint(1, 20), "expires_at": created + 600,
        "failed_at": None, "last_error": None, "step_details": details,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }  # fmt: skip


def _tool_call(rng: random.Random, kind: str, call_id: str) -> Json:
    if kind == "function":
        output = "x" * 1_000_000 if rng.random() < 1e-4 else f'{{"temperature": {rng.randint(-5, 35)}, "unit": "c"}}'
        arguments = orjson.dumps({"city": rng.choice(["Paris", "Zürich", "東京"]), "unit": "c"}).decode()
        return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments,
                                                                "output": output}}
    if kind == "code":
        outputs: list[Json] = [{"type": "logs", "logs": f"{rng.random():.12f}\n"}]
        if rng.random() < 0.3:
            outputs.append({"type": "image", "image": {"file_id": f"file-{rng.getrandbits(64):016x}"}})
        code = "import math\nvalues = [math.sqrt(i) for i in range(10)]\nprint(sum(values))"
        return {"id": call_id, "type": "code_interpreter", "code_interpreter": {"input": code, "outputs": outputs}}
    results = [
        {"file_id": f"file-{rng.getrandbits(64):016x}", "file_name": f"report-{i}.pdf", "score": rng.random()}
        for i in range(rng.randint(1, 4))
    ]
    return {"id": call_id, "type": "file_search", "file_search": {
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}, "results": results}}


def make_pages(steps: int, seed: int = 7) -> list[bytes]:
    """List pages (``{"object": "list", "data": [...], ...}``) as the API returns them, as bytes."""
    rng = random.Random(seed)
    objects = [_step(rng, n) for n in range(steps)]
    pages = []
    for start in range(0, steps, PAGE_SIZE):
        data = objects[start : start + PAGE_SIZE]
        envelope = {"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"],
                    "has_more": start + PAGE_SIZE < steps}  # fmt: skip
        pages.append(orjson.dumps(envelope))
    return pages


def _timed(pages: list[bytes], batch_pages: int, transform: Callable[[list[Json]], object]) -> float:
    """CPU seconds to parse every page (and transform each batch of pages)."""
    started = time.process_time()
    for start in range(0, len(pages), batch_pages):
        steps: list[Json] = []
        for page in pages[start : start + batch_pages]:
            steps += orjson.loads(page)["data"]
        transform(steps)
    return time.process_time() - started


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_000, help="steps per to_step_tables call")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    pages = make_pages(args.steps)
    batch_pages = max(1, args.batch // PAGE_SIZE)
    extracted_at = datetime.now(UTC)
    size = sum(map(len, pages))
    print(f"{args.steps:,} steps in {len(pages):,} pages, {size / args.steps:,.0f} bytes/step; "
          f"{batch_pages * PAGE_SIZE:,} steps per transform call")  # fmt: skip
    parse_best = full_best = float("inf")
    for _ in range(args.repeat):
        gc.collect()
        parse_best = min(parse_best, _timed(pages, batch_pages, lambda steps: None))
        gc.collect()
        full_best = min(full_best, _timed(pages, batch_pages, lambda steps: to_step_tables(steps, extracted_at)))
    parse_rate, full_rate = args.steps / parse_best, args.steps / full_best
    print(f"parse only        {parse_rate:12,.0f} steps/s")
    print(f"parse+transform   {full_rate:12,.0f} steps/s   (target >= 200,000)")
    print(f"ratio             {full_best / parse_best:12.2f} x     (target <= 2.5)")


if __name__ == "__main__":
    main()
