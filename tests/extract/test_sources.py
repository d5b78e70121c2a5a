"""Where runs come from: runs files, threads files, stdin, and discovery per thread bounded by since/until."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from etl.config import Secret, Settings
from etl.errors import AuthError, FatalApiError, InputError
from etl.extract.client import ApiClient
from etl.extract.ids import RunRef
from etl.extract.sources import (
    discover_thread,
    iter_discovered_runs,
    iter_discovered_threads,
    parse_instant,
    read_runs_file,
    read_threads_file,
)

# --- files -------------------------------------------------------------------------------------------------------


def pairs(refs: Any) -> list[tuple[str, str]]:
    return [(ref.thread_id, ref.run_id) for ref in refs]


def test_runs_csv_with_header_in_any_column_order(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    path.write_text('\ufeffrun_id,note,thread_id\nrun_1,hello,thread_a\n\n run_2 ,"a, b", thread_b \n', "utf-8")
    assert pairs(read_runs_file(str(path))) == [("thread_a", "run_1"), ("thread_b", "run_2")]


def test_runs_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text('{"thread_id": "thread_a", "run_id": "run_1", "x": 1}\n\n{"run_id": "run_2", "thread_id": "t"}\n')
    assert pairs(read_runs_file(str(path))) == [("thread_a", "run_1"), ("t", "run_2")]


def test_runs_from_stdin() -> None:
    stdin = io.StringIO("thread_id,run_id\nthread_a,run_1\n")
    assert pairs(read_runs_file("-", stdin=stdin)) == [("thread_a", "run_1")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thread_id,run_id\nthread_a,run_1\nthread_b,../etc\n", "line 3: run id '../etc' is not valid"),
        ("thread_id,run_id\nthread_a\n", "line 2: no thread_id and run_id columns"),
        ("thread,run\nthread_a,run_1\n", "line 1: a runs file is CSV with a header naming thread_id and run_id"),
        ('{"thread_id": "t", "run_id": "r"}\n{"thread_id": "t"\n', "line 2: not valid JSON"),
        ('{"thread_id": "t", "run_id": "r"}\n\n{"thread_id": "t"}\n', "line 3: expected an object with thread_id"),
        ('{"thread_id": "t", "run_id": 5}\n', "line 1: run id of type int is not valid"),
    ],
)
def test_bad_runs_file_lines_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "runs.txt"
    path.write_text(text)
    refs = read_runs_file(str(path))
    with pytest.raises(InputError, match="^" + re.escape(f"{path} {message}")):
        list(refs)


def test_runs_are_read_lazily(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    path.write_text("thread_id,run_id\nt,r1\nt,bad/id\n")
    refs = read_runs_file(str(path))
    assert next(refs) == RunRef("t", "r1")  # the good line comes out before the bad one is read
    with pytest.raises(InputError, match="line 3"):
        next(refs)


def test_a_missing_file_is_an_input_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read .*nope\.csv"):
        read_runs_file(str(tmp_path / "nope.csv"))
    with pytest.raises(InputError, match="cannot read"):
        read_threads_file(str(tmp_path / "nope.txt"))


def test_threads_file_one_id_a_line(tmp_path: Path) -> None:
    path = tmp_path / "threads.txt"
    path.write_text("thread_a\n\n  thread_b  \n")
    assert list(read_threads_file(str(path))) == ["thread_a", "thread_b"]


def test_threads_csv_with_a_thread_id_column() -> None:
    stdin = io.StringIO("name,thread_id\nx,thread_a\ny,thread_b\n")
    assert list(read_threads_file("-", stdin=stdin)) == ["thread_a", "thread_b"]


def test_bad_thread_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "threads.txt"
    path.write_text("thread_a\nthread b\n")
    with pytest.raises(InputError, match=r"threads.txt line 2: thread id 'thread b' is not valid"):
        list(read_threads_file(str(path)))


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("2024-05-01", 1714521600),
        ("2024-05-01T12:00:00", 1714564800),
        ("2024-05-01T12:00:00Z", 1714564800),
        ("2024-05-01T14:00:00+02:00", 1714564800),
    ],
)
def test_since_and_until_parse_as_utc(text: str, unix: int) -> None:
    assert parse_instant(text) == unix


def test_a_bad_instant_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not an ISO-8601 date"):
        parse_instant("yesterday")


# --- discovery ---------------------------------------------------------------------------------------------------

pytest_anyio = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RunsServer:
    """``GET /threads/{id}/runs`` over a fixed set of runs per thread; counts requests per thread."""

    def __init__(self, threads: dict[str, list[dict[str, Any]]]) -> None:
        self.threads = {t: sorted(runs, key=lambda r: (r["created_at"], r["id"])) for t, runs in threads.items()}
        self.requests: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.split("/")  # '', 'v1', 'threads', id, 'runs'
        thread_id = parts[3]
        self.requests[thread_id] = self.requests.get(thread_id, 0) + 1
        if thread_id == "thread_gone":
            return httpx.Response(404, json={"error": {"message": "No thread found", "type": "x", "code": None}})
        if thread_id == "thread_badkey":
            return httpx.Response(401, json={"error": {"message": "bad key", "type": "x", "code": "invalid_api_key"}})
        runs = self.threads[thread_id]
        params = request.url.params
        items = runs if params["order"] == "asc" else runs[::-1]
        if "after" in params:
            items = items[[r["id"] for r in items].index(params["after"]) + 1 :]
        limit = int(params["limit"])
        body = {"object": "list", "data": items[:limit], "has_more": len(items) > limit}
        return httpx.Response(200, content=orjson.dumps(body))


def thread_runs(thread_id: str, count: int, start: int = 1000) -> list[dict[str, Any]]:
    """``count`` runs created one second apart from ``start``."""
    return [{"id": f"run_{thread_id}_{i:04d}", "thread_id": thread_id, "created_at": start + i} for i in range(count)]


def client_for(server: RunsServer) -> ApiClient:
    settings = Settings(api_key=Secret("sk-test-disc"), base_url="https://api.test/v1", max_retries=0)
    return ApiClient(settings, transport=httpx.MockTransport(server))


@pytest_anyio
async def test_discovery_stops_at_the_page_that_crosses_since() -> None:
    server = RunsServer({"t1": thread_runs("t1", 1000)})  # created_at 1000..1999, 10 pages of 100
    async with client_for(server) as client:
        found = await discover_thread(client, "t1", since=1850, until=1990)
    created = sorted(ref.run["created_at"] for ref in found.runs if ref.run)
    assert created == list(range(1850, 1990))
    assert found.error is None
    assert server.requests == {"t1": 2} == {"t1": found.requests}  # 1999..1900, then 1899..1800 crosses 1850
    assert found.newest_created_at == 1989


@pytest_anyio
async def test_discovery_without_bounds_walks_the_whole_thread() -> None:
    server = RunsServer({"t1": thread_runs("t1", 250)})
    async with client_for(server) as client:
        found = await discover_thread(client, "t1")
    assert len({ref.run_id for ref in found.runs}) == 250
    assert server.requests == {"t1": 3}


@pytest_anyio
async def test_watermarks_raise_the_lower_bound_per_thread() -> None:
    server = RunsServer({"t1": thread_runs("t1", 300), "t2": thread_runs("t2", 300)})
    async with client_for(server) as client:
        discovered = iter_discovered_threads(client, ["t1", "t2", "t1"], since=1150, watermarks={"t2": 1250})
        threads = [t async for t in discovered]
    by_id = {t.thread_id: t for t in threads}
    assert sorted(by_id) == ["t1", "t2"]  # t1 listed twice, discovered once
    assert min(r.run["created_at"] for r in by_id["t1"].runs if r.run) == 1150
    assert min(r.run["created_at"] for r in by_id["t2"].runs if r.run) == 1250  # inclusive, like since
    assert server.requests == {"t1": 2, "t2": 1}  # t1: 1299..1200, 1199..1100 (crosses 1150)


@pytest_anyio
async def test_a_failing_thread_is_reported_and_the_others_go_on() -> None:
    server = RunsServer({"t1": thread_runs("t1", 3)})
    seen: list[str] = []
    async with client_for(server) as client:
        runs = iter_discovered_runs(
            client, ["thread_gone", "t1"], on_thread=lambda t: seen.append(f"{t.thread_id}:{t.error or len(t.runs)}")
        )
        refs = [ref async for ref in runs]
    assert sorted(seen) == ["t1:3", "thread_gone:HTTP 404: No thread found (GET /threads/thread_gone/runs)"]
    assert [ref.run_id for ref in refs] == ["run_t1_0002", "run_t1_0001", "run_t1_0000"]


@pytest_anyio
async def test_an_auth_error_in_discovery_stops_it() -> None:
    server = RunsServer({"t1": thread_runs("t1", 3)})
    async with client_for(server) as client:
        with pytest.raises(AuthError):
            [t async for t in iter_discovered_threads(client, ["thread_badkey", "t1"])]


@pytest_anyio
async def test_unsafe_ids_from_the_server_fail_the_thread() -> None:
    server = RunsServer({"t1": [{"id": "../../admin", "thread_id": "t1", "created_at": 5}]})
    async with client_for(server) as client:
        found = await discover_thread(client, "t1")
    assert isinstance(found.error, FatalApiError)
    assert "unsafe" in str(found.error) and found.runs == []


@pytest_anyio
async def test_an_unsafe_thread_id_is_an_input_error() -> None:
    async with client_for(RunsServer({})) as client:
        with pytest.raises(InputError, match=r"thread id '\.\./x'"):
            [t async for t in iter_discovered_threads(client, ["../x"])]
