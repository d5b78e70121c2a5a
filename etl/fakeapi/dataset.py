"""The served dataset: lazily generated, cached as serialized bytes, mutable by tests, and its ground truth.

A run's steps are generated on first use and kept as JSON bytes (with and without file-search content) in
a size-bounded LRU; evicted runs regenerate identically. Runs and steps changed by tests are pinned and
never regenerated. All methods are thread-safe: the server runs in its own thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from etl.fakeapi import foundry
from etl.fakeapi.config import FakeConfig
from etl.fakeapi.generate import (
    StepTimeline,
    build_run,
    build_steps,
    pending_function_calls,
    strip_content,
    timeline,
)
from etl.fakeapi.paging import PageQuery, select_page
from etl.fakeapi.plan import FastRandom, RunPlan, make_id, plan_dataset
from etl.values import Json

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024  # holds ~200,000 typical steps, with and without content


class NotFoundError(LookupError):
    """No such thread, run or step; ``message`` is the API's wording."""

    def __init__(self, kind: str, object_id: str) -> None:
        self.message = f"No {kind} found with id '{object_id}'."
        super().__init__(self.message)


@dataclass(frozen=True)
class _ServedSteps:
    """One run's steps as served, ascending by (created_at, id)."""

    ids: list[str]
    full: list[bytes]  # with file-search content (include[] given)
    plain: list[bytes]  # without it
    position: dict[str, int]

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.full)) + sum(len(p) for p, f in zip(self.plain, self.full, strict=True) if p is not f)

    @classmethod
    def from_objects(cls, steps: list[Json]) -> _ServedSteps:
        steps = sorted(steps, key=lambda step: (step["created_at"], step["id"]))
        full = [_dumps(step) for step in steps]
        plain = []
        for step, data in zip(steps, full, strict=True):
            stripped = strip_content(step)
            plain.append(data if stripped is step else _dumps(stripped))
        ids = [step["id"] for step in steps]
        return cls(ids, full, plain, {step_id: i for i, step_id in enumerate(ids)})


@dataclass(frozen=True)
class Truth:
    """Exactly the objects a fake serves: runs in thread order, steps in run order."""

    thread_ids: tuple[str, ...]
    runs: tuple[Json, ...]
    steps: tuple[Json, ...]  # as served without include[]
    steps_with_content: tuple[Json, ...]  # as served with include[] (file-search result content)
    # The thread objects (GET /threads lists them: foundry flavor), the assistants served, and the ids of those
    # that runs name but that answer 404 (deleted: foundry flavor).
    threads: tuple[Json, ...] = ()
    assistants: tuple[Json, ...] = ()
    gone_assistant_ids: tuple[str, ...] = ()

    def steps_of(self, run_id: str, *, include_content: bool = False) -> list[Json]:
        """One run's steps in created_at order."""
        steps = self.steps_with_content if include_content else self.steps
        return [step for step in steps if step["run_id"] == run_id]


class Dataset:
    """The threads, runs and steps a fake serves, generated from ``config``."""

    def __init__(self, config: FakeConfig, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.config = config
        plan = plan_dataset(config)
        self._assistants = plan.assistant_ids
        self.foundry = config.flavor == "foundry"
        self._list_body = foundry.list_body if self.foundry else _list_body
        # Foundry: the last planned assistant was deleted (runs still name it), and one more agent has no runs.
        self._gone = frozenset(plan.assistant_ids[-1:]) if self.foundry and len(plan.assistant_ids) > 1 else frozenset()
        agent_ids = [*plan.assistant_ids, make_id(FastRandom(f"fakeapi/{config.seed}/agent"), "asst_")]
        self._agents = [
            foundry.assistant_object(agent_id, index, config.start_ts - 86_400 + index)
            for index, agent_id in enumerate(agent_ids)
            if agent_id not in self._gone
        ]
        # A thread is created just before its first run.
        self._thread_created: dict[str, int] = {
            tid: min((run.created_at for run in runs), default=config.start_ts + 1) - 1
            for tid, runs in plan.runs.items()
        }
        self._lock = threading.RLock()
        self._thread_ids = list(plan.thread_ids)
        self._threads: dict[str, list[RunPlan]] = {tid: list(runs) for tid, runs in plan.runs.items()}
        self._run_positions: dict[str, dict[str, int]] = {}
        self._plans = {run.run_id: run for runs in self._threads.values() for run in runs}
        self._run_bytes: dict[str, bytes] = {}
        self._cache: OrderedDict[str, _ServedSteps] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes
        self._pinned: dict[str, _ServedSteps] = {}
        self._added = 0

    # -- reading ------------------------------------------------------------------------------------

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Every thread id, in a stable order (the order ``--write-threads`` writes)."""
        with self._lock:
            return tuple(self._thread_ids)

    def run_ids(self, thread_id: str) -> list[str]:
        """The thread's run ids, ascending by (created_at, id)."""
        with self._lock:
            return [run.run_id for run in self._thread(thread_id)]

    def runs_page(self, thread_id: str, query: PageQuery) -> bytes:
        """The body of ``GET /threads/{thread_id}/runs``."""
        with self._lock:
            runs = self._thread(thread_id)
            position = self._run_positions.get(thread_id)
            if position is None:
                position = self._run_positions[thread_id] = {run.run_id: i for i, run in enumerate(runs)}
            indices, has_more = select_page(len(runs), position, query)
            items = [self._run_json(runs[i]) for i in indices]
            return self._list_body(items, [runs[i].run_id for i in indices], has_more)

    def run_json(self, thread_id: str, run_id: str) -> bytes:
        """The body of ``GET /threads/{thread_id}/runs/{run_id}``."""
        with self._lock:
            return self._run_json(self._plan(thread_id, run_id))

    def steps_page(self, thread_id: str, run_id: str, query: PageQuery, *, include_content: bool) -> bytes:
        """The body of ``GET /threads/{thread_id}/runs/{run_id}/steps``."""
        with self._lock:
            served = self._served(self._plan(thread_id, run_id))
            indices, has_more = select_page(len(served.ids), served.position, query)
            source = served.full if include_content else served.plain
            return self._list_body([source[i] for i in indices], [served.ids[i] for i in indices], has_more)

    def threads_page(self, query: PageQuery) -> bytes:
        """The body of ``GET /threads`` (Foundry), ascending by (created_at, id)."""
        with self._lock:
            threads = self._thread_objects()
            indices, has_more = select_page(len(threads), {t["id"]: i for i, t in enumerate(threads)}, query)
            return self._list_body([_dumps(threads[i]) for i in indices], [threads[i]["id"] for i in indices], has_more)

    def thread_json(self, thread_id: str) -> bytes:
        """The body of ``GET /threads/{thread_id}`` (Foundry)."""
        with self._lock:
            self._thread(thread_id)
            return _dumps(foundry.thread_object(thread_id, self._thread_created[thread_id]))

    def assistants_page(self, query: PageQuery) -> bytes:
        """The body of ``GET /assistants`` (Foundry), ascending by (created_at, id)."""
        agents = self._agents
        indices, has_more = select_page(len(agents), {a["id"]: i for i, a in enumerate(agents)}, query)
        return self._list_body([_dumps(agents[i]) for i in indices], [agents[i]["id"] for i in indices], has_more)

    def assistant_json(self, assistant_id: str) -> bytes:
        """The body of ``GET /assistants/{assistant_id}`` (a deleted agent is a 404)."""
        for agent in self._agents:
            if agent["id"] == assistant_id:
                return _dumps(agent)
        raise NotFoundError("assistant", assistant_id)

    def step_json(self, thread_id: str, run_id: str, step_id: str, *, include_content: bool) -> bytes:
        """The body of ``GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}``."""
        with self._lock:
            served = self._served(self._plan(thread_id, run_id))
            index = served.position.get(step_id)
            if index is None:
                raise NotFoundError("run step", step_id)
            return (served.full if include_content else served.plain)[index]

    def get_run(self, thread_id: str, run_id: str) -> Json:
        """A copy of the run object as served."""
        parsed: Json = orjson.loads(self.run_json(thread_id, run_id))
        return parsed

    def get_step(self, thread_id: str, run_id: str, step_id: str, *, include_content: bool = True) -> Json:
        """A copy of the step object as served (with file-search content unless told otherwise)."""
        parsed: Json = orjson.loads(self.step_json(thread_id, run_id, step_id, include_content=include_content))
        return parsed

    def steps(self, thread_id: str, run_id: str, *, include_content: bool = False) -> list[Json]:
        """Copies of the run's steps as served, ascending by created_at."""
        with self._lock:
            served = self._served(self._plan(thread_id, run_id))
            return [orjson.loads(data) for data in (served.full if include_content else served.plain)]

    def truth(self) -> Truth:
        """Every object served right now (this materializes the whole dataset)."""
        runs: list[Json] = []
        plain: list[Json] = []
        full: list[Json] = []
        with self._lock:
            for thread_id in self._thread_ids:
                for plan in self._threads[thread_id]:
                    runs.append(orjson.loads(self._run_json(plan)))
                    served = self._served(plan)
                    plain.extend(orjson.loads(data) for data in served.plain)
                    full.extend(orjson.loads(data) for data in served.full)
            return Truth(tuple(self._thread_ids), tuple(runs), tuple(plain), tuple(full),
                         threads=tuple(self._thread_objects()), assistants=tuple(self._agents),
                         gone_assistant_ids=tuple(sorted(self._gone)))  # fmt: skip

    def iter_truth_lines(self) -> Iterator[bytes]:
        """JSON Lines of every run followed by its steps (with file-search content), without holding them all."""
        with self._lock:
            plans = [plan for tid in self._thread_ids for plan in self._threads[tid]]
        for plan in plans:
            with self._lock:
                lines = [self._run_json(plan), *self._served(plan).full]
            yield from lines

    def dump_truth(self, path: str | Path) -> int:
        """Write the ground truth as JSON Lines (runs and steps, told apart by ``object``); returns lines written."""
        count = 0
        with open(path, "wb") as out:
            for line in self.iter_truth_lines():
                out.write(line + b"\n")
                count += 1
        return count

    def write_threads(self, path: str | Path) -> None:
        """Write the thread ids, one a line."""
        Path(path).write_text("".join(f"{tid}\n" for tid in self.thread_ids), encoding="utf-8")

    # -- changing (for tests) -----------------------------------------------------------------------

    def replace_step(self, step: Json) -> None:
        """Serve ``step`` instead of the step with the same id in its run (its run is left as it was).

        Give the step with its file-search content; it is stripped for requests without include[].
        """
        with self._lock:
            plan = self._plan(step["thread_id"], step["run_id"])
            served = self._served(plan)
            if step["id"] not in served.position:
                raise NotFoundError("run step", step["id"])
            objects = [orjson.loads(data) for data in served.full]
            objects[served.position[step["id"]]] = step
            self._pin(plan.run_id, _ServedSteps.from_objects(objects))

    def add_run(self, thread_id: str, *, n_steps: int = 3, status: str = "completed",
                created_at: int | None = None) -> Json:
        """Add a run (a new thread too, if unknown) created after the thread's newest run; returns it."""
        with self._lock:
            runs = self._threads.get(thread_id)
            if created_at is None:
                created_at = max((run.created_at for run in runs or ()), default=self.config.start_ts) + 60
            if runs is None:
                runs = self._threads[thread_id] = []
                self._thread_ids.append(thread_id)
                self._thread_created[thread_id] = created_at - 1
            key = f"fakeapi/{self.config.seed}/added/{self._added}"
            self._added += 1
            rng = FastRandom(key)
            plan = RunPlan(
                thread_id=thread_id,
                run_id=make_id(rng, "run_"),
                assistant_id=self._assistants[0],
                created_at=created_at,
                status=status,
                n_steps=0 if status == "queued" else n_steps,
                key=key,
                legacy_steps=False,
                empty_failed_step=False,
            )
            runs.append(plan)
            runs.sort(key=lambda run: (run.created_at, run.run_id))
            self._run_positions.pop(thread_id, None)
            self._plans[plan.run_id] = plan
            return self.get_run(thread_id, plan.run_id)

    def set_run_status(self, thread_id: str, run_id: str, status: str) -> Json:
        """Regenerate a run as if it had reached ``status``: same steps and ids, the last one's status follows."""
        with self._lock:
            plan = replace(self._plan(thread_id, run_id), status=status)
            self._plans[run_id] = plan
            runs = self._threads[thread_id]
            runs[next(i for i, run in enumerate(runs) if run.run_id == run_id)] = plan
            self._run_bytes.pop(run_id, None)
            self._pinned.pop(run_id, None)
            self._evict(run_id)
            return self.get_run(thread_id, run_id)

    # -- internals ----------------------------------------------------------------------------------

    def _thread(self, thread_id: str) -> list[RunPlan]:
        runs = self._threads.get(thread_id)
        if runs is None:
            raise NotFoundError("thread", thread_id)
        return runs

    def _plan(self, thread_id: str, run_id: str) -> RunPlan:
        self._thread(thread_id)
        plan = self._plans.get(run_id)
        if plan is None or plan.thread_id != thread_id:
            raise NotFoundError("run", run_id)
        return plan

    def _thread_objects(self) -> list[Json]:
        objects = [foundry.thread_object(tid, self._thread_created[tid]) for tid in self._thread_ids]
        return sorted(objects, key=lambda thread: (thread["created_at"], thread["id"]))

    def _run_json(self, plan: RunPlan) -> bytes:
        data = self._run_bytes.get(plan.run_id)
        if data is None:
            data = _dumps(self._build_run(plan))
            self._run_bytes[plan.run_id] = data
        return data

    def _build_run(self, plan: RunPlan) -> Json:
        steps = timeline(plan)
        pending: list[Json] = []
        if plan.status == "requires_action" and steps:
            pending = pending_function_calls(self._generate(plan, steps)[-1])
        run = build_run(plan, steps, pending, future_variants=self.config.future_variants)
        return foundry.foundry_run(run) if self.foundry else run

    def _generate(self, plan: RunPlan, steps: Sequence[StepTimeline] | None = None) -> list[Json]:
        objects = build_steps(plan, timeline(plan) if steps is None else steps,
                              future_variants=self.config.future_variants,
                              long_output_bytes=self.config.long_output_bytes)
        return foundry.foundry_steps(objects, self._assistants) if self.foundry else objects

    def _served(self, plan: RunPlan) -> _ServedSteps:
        pinned = self._pinned.get(plan.run_id)
        if pinned is not None:
            return pinned
        cached = self._cache.get(plan.run_id)
        if cached is not None:
            self._cache.move_to_end(plan.run_id)
            return cached
        served = _ServedSteps.from_objects(self._generate(plan))
        self._cache[plan.run_id] = served
        self._cache_bytes += served.nbytes
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._cache_bytes -= evicted.nbytes
        return served

    def _evict(self, run_id: str) -> None:
        served = self._cache.pop(run_id, None)
        if served is not None:
            self._cache_bytes -= served.nbytes

    def _pin(self, run_id: str, served: _ServedSteps) -> None:
        self._evict(run_id)
        self._pinned[run_id] = served


def _dumps(obj: Json) -> bytes:
    """Serialized JSON, copied to its exact size: orjson's buffers keep ~8 KiB each, 10x a typical step."""
    return bytes(memoryview(orjson.dumps(obj)))


def _list_body(items: list[bytes], ids: list[str], has_more: bool) -> bytes:
    """A list envelope around already-serialized objects (null ids on an empty list, as the API does)."""
    first = orjson.dumps(ids[0] if ids else None)
    last = orjson.dumps(ids[-1] if ids else None)
    return b"".join((
        b'{"object":"list","data":[', b",".join(items), b'],"first_id":', first,
        b',"last_id":', last, b',"has_more":', b"true" if has_more else b"false", b"}",
    ))  # fmt: skip
