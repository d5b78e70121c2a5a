"""The cheap, eager part of a synthetic dataset: threads, their runs, statuses and step counts.

Everything costly (step contents) is generated later, per run, from the run's ``key``; so a plan of
200,000 steps is made in well under a second and any run can be regenerated identically on demand.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from etl.fakeapi.config import FakeConfig

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

T = TypeVar("T")

ALNUM = string.ascii_letters + string.digits
# Maps each byte to a letter or digit: ids from randbytes() are much cheaper than from choices() (README,
# Benchmarks, "Measurements behind the design").
_ALNUM_TABLE = bytes(ord(ALNUM[value % len(ALNUM)]) for value in range(256))

RUN_STATUSES: tuple[str, ...] = (
    "completed", "failed", "cancelled", "expired", "in_progress",
    "requires_action", "cancelling", "incomplete", "queued",
)  # fmt: skip
TERMINAL_RUN_STATUSES = frozenset({"cancelled", "failed", "completed", "incomplete", "expired"})
_STATUS_WEIGHTS: tuple[int, ...] = (80, 5, 3, 3, 2, 2, 1, 3, 1)

# The status of a run's last step, by the run's status; every earlier step completed.
LAST_STEP_STATUS: dict[str, str] = {
    "completed": "completed",
    "incomplete": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
    "in_progress": "in_progress",
    "requires_action": "in_progress",
    "cancelling": "in_progress",
    "queued": "in_progress",  # never used: a queued run has no steps
}
# Step-details recipes. The first steps of a dataset showcase them in this order, so any dataset with at
# least this many steps shows every variant; the other steps draw theirs at random.
COVERAGE: tuple[str, ...] = (
    "message", "code_logs", "code_image", "code_none", "file_search", "fn_null", "fn_short",
    "fn_unicode", "fn_long", "multi", "fs_bare", "code_logs_image", "future_step", "future_call",
)  # fmt: skip
_LEGACY_SHARE = 0.15  # runs whose steps look like older real payloads (expires_at, no metadata)
_EMPTY_FAILED_SHARE = 0.4  # failed runs whose failed step is tool_calls with an empty list


class FastRandom(random.Random):
    """``random.Random`` whose ``randint`` and ``choice`` scale one float: faster, and uniform enough for fake data."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq: SupportsLenAndGetItem[T]) -> T:
        return seq[int(self.random() * len(seq))]


def make_id(rng: random.Random, prefix: str, length: int = 24) -> str:
    """An id shaped like the API's: a prefix and random letters and digits."""
    return prefix + rng.randbytes(length).translate(_ALNUM_TABLE).decode("ascii")


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What is decided about a run before its steps are generated."""

    thread_id: str
    run_id: str
    assistant_id: str
    created_at: int
    status: str
    n_steps: int
    key: str  # seeds the run's own random streams
    legacy_steps: bool  # steps carry expires_at instead of expired_at, and no metadata
    empty_failed_step: bool  # the failed step is tool_calls with an empty list
    coverage_index: int = -1  # position among the runs that showcase every run status (-1: none)
    showcase: tuple[tuple[int, str], ...] = ()  # (step index, recipe) of the steps that showcase a variant

    @property
    def last_step_forced(self) -> bool:
        """Whether the last step's details follow from the run's status (empty failed, pending calls)."""
        return self.n_steps > 0 and (self.empty_failed_step or self.status == "requires_action")


@dataclass(frozen=True)
class DatasetPlan:
    """Thread ids in order, and each thread's runs ordered by (created_at, run_id)."""

    thread_ids: tuple[str, ...]
    runs: dict[str, list[RunPlan]]
    assistant_ids: tuple[str, ...]

    @property
    def step_count(self) -> int:
        """How many steps the plan holds."""
        return sum(run.n_steps for runs in self.runs.values() for run in runs)


def plan_dataset(config: FakeConfig) -> DatasetPlan:
    """Decide threads, runs, statuses, step counts and created_at times, deterministically from the seed."""
    rng = FastRandom(f"fakeapi/{config.seed}/plan")
    spec = config.steps
    window = max(config.days * 86_400, 1)
    assistants = tuple(make_id(rng, "asst_") for _ in range(3))
    thread_ids: list[str] = []
    runs: dict[str, list[RunPlan]] = {}
    regular = 0
    for thread_index in range(config.threads):
        thread_id = make_id(rng, "thread_")
        drafts: list[tuple[str, int, int]] = []  # (status, n_steps, coverage index)
        if thread_index == 0:
            drafts += [("queued" if size == 0 else "completed", size, -1) for size in config.boundary_sizes]
        for _ in range(config.runs_per_thread):
            if regular < len(RUN_STATUSES):
                status, coverage = RUN_STATUSES[regular], regular
            else:
                status, coverage = rng.choices(RUN_STATUSES, _STATUS_WEIGHTS)[0], -1
            n_steps = 0 if status == "queued" else _draw_steps(rng, spec.low, spec.high, spec.choices)
            drafts.append((status, n_steps, coverage))
            regular += 1
        rng.shuffle(drafts)
        thread_runs: list[RunPlan] = []
        for created_at, (status, n_steps, coverage) in zip(
            _distinct_times(rng, len(drafts), config.start_ts, window), drafts, strict=True
        ):
            run_id = make_id(rng, "run_")
            thread_runs.append(
                RunPlan(
                    thread_id=thread_id,
                    run_id=run_id,
                    assistant_id=rng.choice(assistants),
                    created_at=created_at,
                    status=status,
                    n_steps=n_steps,
                    key=f"fakeapi/{config.seed}/{run_id}",
                    # The third showcase run is always legacy-shaped, so small datasets have both shapes.
                    legacy_steps=coverage == 2 or (coverage < 0 and rng.random() < _LEGACY_SHARE),
                    empty_failed_step=status == "failed" and (coverage == 1 or rng.random() < _EMPTY_FAILED_SHARE),
                    coverage_index=coverage,
                )
            )
        thread_ids.append(thread_id)
        runs[thread_id] = thread_runs
    _assign_showcase(runs, coverage_recipes(config.future_variants, config.long_output_bytes > 0))
    return DatasetPlan(tuple(thread_ids), runs, assistants)


def coverage_recipes(future_variants: bool, long_output: bool) -> tuple[str, ...]:
    """The recipes the first steps of a dataset showcase, given the options."""
    skipped = set() if future_variants else {"future_step", "future_call"}
    if not long_output:
        skipped.add("fn_long")
    return tuple(recipe for recipe in COVERAGE if recipe not in skipped)


def _assign_showcase(runs: dict[str, list[RunPlan]], recipes: tuple[str, ...]) -> None:
    """Give the dataset's first free steps one recipe each (steps whose status dictates them are skipped)."""
    pending = list(recipes)
    for thread_runs in runs.values():
        for position, plan in enumerate(thread_runs):
            if not pending:
                return
            free = plan.n_steps - 1 if plan.last_step_forced else plan.n_steps
            take = min(free, len(pending))
            if take:
                showcase = tuple((index, pending[index]) for index in range(take))
                del pending[:take]
                thread_runs[position] = replace(plan, showcase=showcase)


def _draw_steps(rng: random.Random, low: int, high: int, choices: tuple[int, ...]) -> int:
    if choices:
        return rng.choice(choices)
    return rng.randint(low, high)


def _distinct_times(rng: random.Random, count: int, start: int, window: int) -> list[int]:
    """``count`` increasing, distinct unix seconds spread over ``[start, start + window)``."""
    times = sorted(start + int(rng.random() * window) for _ in range(count))
    for index in range(1, count):
        # Runs of a thread never share a second: the list order is then the same for any tie-break.
        if times[index] <= times[index - 1]:
            times[index] = times[index - 1] + 1
    return times
