"""Hostile servers, table-driven: each failure is named, bounded in time, never a traceback, never the key, and a
good destination hit by every one of them keeps every row it had (checksum of the rows before and after)."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from expected import actual_tables
from hostile import Reply, serve_hostile
from test_bad_inputs import FRAGMENTS, KEY, Good, make_good

from etl.cli import cli
from etl.fakeapi import FakeConfig, serve_in_thread

THREAD, RUN = "thread_hostile", "run_hostile"
Json = dict[str, Any]


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Good:
    return make_good(tmp_path_factory)


@pytest.fixture(scope="module")
def template() -> tuple[Json, list[Json]]:
    """A real run and its steps from the fake, moved to THREAD/RUN."""
    with serve_in_thread(FakeConfig.small()) as fake:
        truth = fake.truth
    by_run: dict[str, list[Json]] = {}
    for step in truth.steps:
        by_run.setdefault(step["run_id"], []).append(step)
    run = next(r for r in truth.runs if len(by_run.get(r["id"], [])) >= 3)
    steps = copy.deepcopy(by_run[run["id"]][:3])
    run = {**copy.deepcopy(run), "id": RUN, "thread_id": THREAD}
    for step in steps:
        step.update(run_id=RUN, thread_id=THREAD)
    return run, steps


def page(items: list[Json], has_more: bool = False) -> bytes:
    ids = [item.get("id") for item in items]
    body = {"object": "list", "data": items, "first_id": ids[0] if ids else None, "has_more": has_more}
    return json.dumps({**body, "last_id": ids[-1] if ids else None}).encode()


@dataclass(frozen=True)
class Case:
    """A server that misbehaves on the steps list (or the runs list), and what the export must say about it."""

    id: str
    steps: Callable[[Json, list[Json]], Reply]
    words: str
    code: int = 3
    discover: bool = False  # --thread THREAD instead of --run THREAD/RUN
    runs_list: Callable[[Json], Reply] | None = None
    args: tuple[str, ...] = ()
    within_s: float = 20.0


def _ok(run: Json, steps: list[Json]) -> Reply:
    return Reply(body=page(steps))


CASES = [
    Case("non-json", lambda r, s: Reply(body=b"<html>upstream error</html>"), "not valid JSON"),
    Case("json-null", lambda r, s: Reply(body=b"null"), "not a list page"),
    Case("data-not-a-list", lambda r, s: Reply(body=b'{"object": "list", "data": "x"}'), "not a list page"),
    Case(
        "has-more-not-bool",
        lambda r, s: Reply(body=page(s).replace(b'"has_more": false', b'"has_more": "no"')),
        "has_more",
    ),
    Case("item-without-id", lambda r, s: Reply(body=page([{"object": "thread.run.step"}])), "has no id"),
    Case("empty-page-has-more", lambda r, s: Reply(body=page([], has_more=True)), "empty page"),
    Case("cursor-loops", lambda r, s: Reply(body=page(s, has_more=True)), "came back a second time"),
    Case(
        "wrong-type",
        lambda r, s: Reply(body=page([{**s[0], "created_at": "yesterday"}, *s[1:]])),
        "does not fit the tables",
    ),
    Case(
        "dripping-body",
        lambda r, s: Reply(body=page(s), drip_s=0.2),
        "timed out",
        args=("--timeout", "1.5"),
        within_s=8.0,
    ),
    Case("endless-body", lambda r, s: Reply(endless=True), "larger than", args=("--timeout", "30")),
    Case("huge-content-length", lambda r, s: Reply(body=b"{}", length=10**12), "larger than"),
    Case(
        "redirect",
        lambda r, s: Reply(status=302, body=b"", headers={"location": "http://192.0.2.1/v1/x"}),
        "redirects are not followed",
    ),
    Case(
        "retry-after-a-day",
        lambda r, s: Reply(status=429, body=b'{"error": {"message": "slow down"}}', headers={"retry-after": "86400"}),
        "over the 120 s cap",
        within_s=8.0,
    ),
    Case("server-error", lambda r, s: Reply(status=500, body=b'{"error": {"message": "boom"}}'), "HTTP 500"),
    Case(
        "echoes-the-key",
        lambda r, s: Reply(status=404, body=json.dumps({"error": {"message": f"no such run for key {KEY}"}}).encode()),
        "HTTP 404",
    ),
    Case(
        "hostile-run-id-in-list",
        _ok,
        "unsafe",
        discover=True,
        runs_list=lambda r: Reply(body=page([{**r, "id": "../../etc"}])),
    ),
    Case(
        "run-of-another-thread",
        _ok,
        "of thread",
        discover=True,
        runs_list=lambda r: Reply(body=page([{**r, "thread_id": "thread_x"}])),
    ),
    Case(
        "auth-refused",
        lambda r, s: Reply(status=401, body=b'{"error": {"message": "bad key", "code": "invalid_api_key"}}'),
        "HTTP 401",
        code=4,
    ),
]


def rows_checksum(dest: Path) -> str:
    """sha256 of every row at ``dest`` that does not belong to the hostile thread."""
    tables = actual_tables(str(dest))
    kept = {
        name: sorted(repr(sorted(row.items())) for row in rows.values() if row.get("thread_id") != THREAD)
        for name, rows in tables.items()
    }
    return hashlib.sha256(repr(sorted(kept.items())).encode()).hexdigest()


def export(base_url: str, dest: Path, case: Case) -> Result:
    source = ["--thread", THREAD] if case.discover else ["--run", f"{THREAD}/{RUN}"]
    args = ["export", *source, "--base-url", base_url, "--dest", str(dest), "--max-retries", "0", "--no-progress"]
    return CliRunner().invoke(cli, [*args, *case.args], env={"OPENAI_API_KEY": KEY})


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_server_fails_the_run_clearly_and_keeps_every_row(
    case: Case, kind: str, template: tuple[Json, list[Json]], good: Good, tmp_path: Path
) -> None:
    run, steps = template
    dest = tmp_path / ("copy.duckdb" if kind == "duckdb" else "copy-root")
    if kind == "duckdb":
        shutil.copy(good.duckdb, dest)
    else:
        shutil.copytree(good.parquet, dest)
    before = rows_checksum(dest)

    def handler(path: str) -> Reply:
        route = path.split("?")[0].removeprefix("/v1")
        if route == f"/threads/{THREAD}/runs":
            return case.runs_list(run) if case.runs_list else Reply(body=page([run]))
        if route == f"/threads/{THREAD}/runs/{RUN}":
            return Reply(body=json.dumps(run).encode())
        if route == f"/threads/{THREAD}/runs/{RUN}/steps":
            return case.steps(run, steps)
        return Reply(status=404, body=b'{"error": {"message": "not here"}}')

    with serve_hostile(handler) as server:
        started = time.monotonic()
        result = export(server.base_url, dest, case)
        elapsed = time.monotonic() - started
    assert result.exit_code == case.code, result.output
    assert case.words in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    for fragment in FRAGMENTS:
        assert fragment not in result.output
    if case.code == 4:
        assert result.stderr.splitlines() == [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    else:
        assert any(line.strip().startswith("FAILED") and THREAD in line for line in result.stderr.splitlines())
    assert elapsed < case.within_s, f"took {elapsed:.1f} s"
    assert rows_checksum(dest) == before


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_step_listed_twice_is_kept_once_and_reported(
    kind: str, template: tuple[Json, list[Json]], tmp_path: Path
) -> None:
    run, steps = template
    served = [steps[0], steps[1], steps[1], steps[2]]

    def handler(path: str) -> Reply:
        route = path.split("?")[0].removeprefix("/v1")
        if route == f"/threads/{THREAD}/runs/{RUN}":
            return Reply(body=json.dumps(run).encode())
        return Reply(body=page(served))

    dest = tmp_path / ("out.duckdb" if kind == "duckdb" else "out")
    with serve_hostile(handler) as server:
        result = export(server.base_url, dest, Case("dup", _ok, "", args=("--metrics-json",)))
    assert result.exit_code == 0, result.output
    assert f"SERVER ANOMALY run {THREAD}/{RUN}: step '{steps[1]['id']}' was listed 2 times; kept one" in result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["steps"] == 3 and metrics["rows"]["run_steps"] == 3
    assert len(metrics["server_anomalies"]) == 1
    assert sorted(actual_tables(str(dest))["run_steps"]) == sorted((s["id"],) for s in steps)
