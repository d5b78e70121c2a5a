"""``runsteps import``: saved JSON in every accepted shape loads as a direct export would; bad records are named."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from expected import KEYS, actual_tables, assert_tables_equal, expected_tables
from expected_foundry import actual_entity_tables, foundry_tables
from parquet_support import S3, moto_server, s3  # noqa: F401 (fixtures)

from etl import importing
from etl.cli import cli
from etl.errors import InputError
from etl.fakeapi import FakeConfig, serve_in_thread
from etl.importing import Problem, run_import
from etl.values import Json

KEY = "sk-test-import-0123456789abcdef"
MOMENT = datetime(2026, 11, 20, 8, 30, 15, tzinfo=UTC)
Tables = dict[str, dict[tuple[Any, ...], Json]]

# Fields the SDK's models declare (openai-python types/beta/threads/runs/run_step.py, run.py): model_dump_json()
# writes each of them, null when the API did not send it.
SDK_STEP_FIELDS = (
    "id", "assistant_id", "cancelled_at", "completed_at", "created_at", "expired_at", "failed_at", "last_error",
    "metadata", "object", "run_id", "status", "step_details", "thread_id", "type", "usage",
)
SDK_RUN_FIELDS = (
    "id", "assistant_id", "cancelled_at", "completed_at", "created_at", "expires_at", "failed_at",
    "incomplete_details", "instructions", "last_error", "max_completion_tokens", "max_prompt_tokens", "metadata",
    "model", "object", "parallel_tool_calls", "required_action", "response_format", "started_at", "status",
    "thread_id", "tool_choice", "tools", "truncation_strategy", "usage", "temperature", "top_p",
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Json], list[Json], Tables]:
    """The fake's runs and steps, and the tables a direct export of them wrote."""
    config = FakeConfig.small(
        threads=2, runs_per_thread=4, steps_per_run="0-7", future_variants=True, api_key=KEY,
        boundary_sizes=(0, 101), long_output_bytes=0,
    )
    dest = str(tmp_path_factory.mktemp("export") / "direct.duckdb")
    with serve_in_thread(config) as fake:
        threads = [arg for tid in fake.dataset.thread_ids for arg in ("--thread", tid)]
        result = CliRunner().invoke(
            cli, ["export", *threads, "--dest", dest, "--base-url", fake.base_url, "--no-progress"],
            env={"OPENAI_API_KEY": KEY}, catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        truth = fake.truth
    return list(truth.runs), list(truth.steps), actual_tables(dest)


def pages(steps: list[Json], size: int = 100) -> list[Json]:
    """Each run's steps as the API's list pages."""
    by_run: dict[str, list[Json]] = {}
    for step in steps:
        by_run.setdefault(step["run_id"], []).append(step)
    out = []
    for run_steps in by_run.values():
        chunks = [run_steps[i : i + size] for i in range(0, len(run_steps), size)]
        for n, chunk in enumerate(chunks):
            out.append({"object": "list", "data": chunk, "first_id": chunk[0]["id"], "last_id": chunk[-1]["id"],
                        "has_more": n < len(chunks) - 1})
    return out


def sdk_dump(obj: Json) -> Json:
    """What ``model_dump_json()`` writes for an object: declared fields that were not sent are null."""
    declared = SDK_STEP_FIELDS if obj.get("object") == "thread.run.step" else SDK_RUN_FIELDS
    dumped = {name: obj.get(name) for name in declared} | obj
    for call in (dumped.get("step_details") or {}).get("tool_calls") or []:
        if call.get("type") == "file_search":
            search = call["file_search"] = {"ranking_options": None, "results": None} | call["file_search"]
            if search["results"] is not None:
                search["results"] = [{"content": None} | result for result in search["results"]]
    return dumped


def write_json(path: Path, value: Any, *, pretty: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2 if pretty else None))


def write_lines(path: Path, values: Iterable[Any], *, gzipped: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(value) + "\n" for value in values).encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)


def shape_pages(root: Path, runs: list[Json], steps: list[Json]) -> None:
    for n, page in enumerate(pages(steps, size=3)):
        write_json(root / page["data"][0]["thread_id"] / f"page-{n:03d}.json", page)
    write_json(root / "runs.json", {"object": "list", "data": runs, "has_more": False})


def shape_objects(root: Path, runs: list[Json], steps: list[Json]) -> None:
    for obj in [*runs, *steps]:
        write_json(root / "objects" / f"{obj['id']}.json", obj)


def shape_jsonl(root: Path, runs: list[Json], steps: list[Json]) -> None:
    write_lines(root / "all.jsonl", [*steps, *runs])


def shape_jsonl_pages_gzip(root: Path, runs: list[Json], steps: list[Json]) -> None:
    write_lines(root / "pages.jsonl.gz", [*pages(steps, size=4), {"object": "list", "data": runs}], gzipped=True)


def shape_arrays(root: Path, runs: list[Json], steps: list[Json]) -> None:
    write_json(root / "steps.json", steps)  # pretty: one document over many lines
    write_json(root / "runs.json", runs, pretty=False)  # one line


def shape_array_of_pages(root: Path, runs: list[Json], steps: list[Json]) -> None:
    write_json(root / "pages.json", [*pages(steps, size=5), {"object": "list", "data": runs}])


def shape_sdk(root: Path, runs: list[Json], steps: list[Json]) -> None:
    write_lines(root / "runs.ndjson", [sdk_dump(run) for run in runs])
    # A page dumped from the SDK (SyncCursorPage) has no "object"; gzip is found by its bytes, not its name.
    page = {"data": [sdk_dump(step) for step in steps], "has_more": False, "first_id": None, "last_id": None}
    (root / "sdk").mkdir(parents=True)
    (root / "sdk" / "page.json").write_bytes(gzip.compress(json.dumps(page).encode()))


SHAPES: dict[str, Callable[[Path, list[Json], list[Json]], None]] = {
    "pages": shape_pages,
    "objects": shape_objects,
    "jsonl": shape_jsonl,
    "jsonl-pages-gzip": shape_jsonl_pages_gzip,
    "arrays": shape_arrays,
    "array-of-pages": shape_array_of_pages,
    "sdk": shape_sdk,
}


def without(tables: Tables, column: str) -> Tables:
    return {name: {key: {c: v for c, v in row.items() if c != column} for key, row in rows.items()}
            for name, rows in tables.items()}


def strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_imports_as_a_direct_export(
    exported: tuple[list[Json], list[Json], Tables], tmp_path: Path, shape: str
) -> None:
    runs, steps, direct = exported
    SHAPES[shape](tmp_path / "in", runs, steps)
    dest = str(tmp_path / "imported.duckdb")

    summary = run_import([str(tmp_path / "in")], dest, extracted_at=MOMENT)

    assert summary.problems == [] and (summary.steps, summary.runs_ok) == (len(steps), len(runs))
    imported = actual_tables(dest)
    stamps = {row["extracted_at"] for rows in imported.values() for row in rows.values()}
    assert stamps == {int(MOMENT.timestamp())}
    got, want = without(imported, "extracted_at"), without(direct, "extracted_at")
    if shape == "sdk":
        # An unknown step type's raw_json is the object as the file holds it: with the SDK's nulls in it.
        for tables in (got, want):
            for row in tables["run_steps"].values():
                row["raw_json"] = strip_nulls(row["raw_json"])
    assert got == want
    assert all(imported[name] for name in KEYS)


def test_importing_overlapping_files_twice_keeps_each_key_once(
    exported: tuple[list[Json], list[Json], Tables], tmp_path: Path
) -> None:
    runs, steps, direct = exported
    shape_jsonl(tmp_path / "a", runs, steps)
    shape_pages(tmp_path / "b", runs, steps)
    dest = str(tmp_path / "parquet-root")
    for _ in range(2):
        summary = run_import([str(tmp_path / "a"), str(tmp_path / "b")], dest, extracted_at=MOMENT, batch_size=50)
        assert summary.batches > 1 and summary.problems == []
    assert without(actual_tables(dest), "extracted_at") == without(direct, "extracted_at")  # raises on a repeated key


def test_an_import_into_s3_takes_the_endpoint_from_the_option(
    exported: tuple[list[Json], list[Json], Tables], tmp_path: Path, s3: S3, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    runs, steps, direct = exported
    shape_jsonl(tmp_path / "in", runs, steps)
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    result = CliRunner().invoke(
        cli, ["import", str(tmp_path / "in"), "--dest", s3.uri("tables"), "--s3-endpoint-url", s3.endpoint]
    )
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)  # for the reader below
    assert without(actual_tables(s3.uri("tables")), "extracted_at") == without(direct, "extracted_at")


# -- bad files and records ------------------------------------------------------------------------------


def mixed_directory(root: Path, runs: list[Json], steps: list[Json]) -> tuple[list[Json], list[Json], list[str]]:
    """Good and broken files; returns the good runs and steps and the problems expected (``path:line: reason``)."""
    good_steps, good_runs = steps[:6], runs[:2]
    write_json(root / "good" / "page.json", {"object": "list", "data": good_steps[:3], "has_more": False})
    write_json(root / "good" / "runs.json", good_runs)
    (root / "notes.json").write_text("hello, not json")
    (root / "README.txt").write_text("not a data file: a directory walk ignores it")
    (root / "damaged.jsonl.gz").write_bytes(b"\x1f\x8b" + b"garbage after the gzip magic")
    bad_type = dict(steps[6], id="step_badtype", created_at="yesterday")
    bad_usage = dict(steps[7], id="step_badusage", usage={"prompt_tokens": "many"})
    lines = [
        json.dumps(good_steps[3]),
        json.dumps(good_steps[4]),
        '{"object": "thread.run.step", "id": ',
        json.dumps(good_steps[5]),
        json.dumps({"object": "thread.message", "id": "msg_1"}),
        json.dumps({k: v for k, v in steps[8].items() if k != "id"}),
        json.dumps(bad_type),
        json.dumps(bad_usage),
        json.dumps([steps[9], 7]),
    ]
    (root / "first-broken.jsonl").write_text('{"object": "list", "data": [\n' + json.dumps(steps[10]) + "\n")
    (root / "document.json").write_text('{\n  "object": "list",\n  "data": []\n  "has_more": false\n}\n')
    (root / "deep" / "er").mkdir(parents=True)
    (root / "deep" / "er" / "steps.jsonl").write_text("\n".join(lines) + "\n")
    problems = [
        f"{root}/damaged.jsonl.gz: cannot read the file",
        f"{root}/deep/er/steps.jsonl:3: not JSON",
        f"{root}/deep/er/steps.jsonl:5: not a run step, run, thread or assistant (object: 'thread.message')",
        f"{root}/deep/er/steps.jsonl:6: run step without an id",
        f"{root}/deep/er/steps.jsonl:7: run step step_badtype with a bad created_at ('yesterday')",
        f"{root}/deep/er/steps.jsonl:8: step step_badusage: field usage.prompt_tokens",
        f"{root}/deep/er/steps.jsonl:9: [1]: not a JSON object but int",
        f"{root}/document.json:4: not JSON",
        f"{root}/first-broken.jsonl:1: not JSON",
        f"{root}/notes.json:1: not JSON",
    ]
    return good_runs, [*good_steps, steps[9], steps[10]], problems


def test_a_mixed_directory_loads_the_good_records_and_names_each_bad_one(
    exported: tuple[list[Json], list[Json], Tables], tmp_path: Path
) -> None:
    runs, steps, _ = exported
    good_runs, good_steps, expected_problems = mixed_directory(tmp_path / "in", runs, steps)
    dest = str(tmp_path / "out.duckdb")
    heard: list[Problem] = []

    summary = run_import([str(tmp_path / "in")], dest, extracted_at=MOMENT, on_problem=heard.append)

    assert_tables_equal(dest, expected_tables(good_runs, good_steps, content=False))
    found = sorted(str(problem) for problem in heard)
    assert len(found) == len(expected_problems) == summary.bad_records
    for text, prefix in zip(found, sorted(expected_problems), strict=True):
        assert text.startswith(prefix), (text, prefix)
    assert summary.files == 7  # README.txt is not a data file
    assert (summary.steps, summary.runs_ok) == (len(good_steps), len(good_runs))


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_strict_writes_nothing_and_exits_2(
    exported: tuple[list[Json], list[Json], Tables], tmp_path: Path, kind: str
) -> None:
    runs, steps, _ = exported
    _, _, expected_problems = mixed_directory(tmp_path / "in", runs, steps)
    dest = tmp_path / ("out.duckdb" if kind == "duckdb" else "out")

    result = CliRunner().invoke(cli, ["import", str(tmp_path / "in"), "--dest", str(dest), "--strict"])

    assert result.exit_code == 2, result.output
    assert not dest.exists()
    reported = [line for line in result.output.splitlines() if line.startswith("bad record: ")]
    assert len(reported) == len(expected_problems)
    assert f"{len(expected_problems)} bad records" in result.output and "nothing was written" in result.output
    with pytest.raises(InputError):
        run_import([str(tmp_path / "in")], str(dest), extracted_at=MOMENT, strict=True)


def test_the_command_reports_bad_records_and_still_loads_the_good_ones(
    exported: tuple[list[Json], list[Json], Tables], tmp_path: Path
) -> None:
    runs, steps, _ = exported
    good_runs, good_steps, expected_problems = mixed_directory(tmp_path / "in", runs, steps)
    dest = str(tmp_path / "out")

    result = CliRunner().invoke(cli, ["import", str(tmp_path / "in"), "--dest", dest, "--metrics-json"])

    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert (metrics["steps"], metrics["runs_ok"], metrics["bad_records"]) == (
        len(good_steps), len(good_runs), len(expected_problems)
    )
    assert f"bad record: {tmp_path}/in/notes.json:1: not JSON" in result.output
    assert_tables_equal(dest, expected_tables(good_runs, good_steps, content=False))


def test_a_path_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "missing.json"), "--dest", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2 and "does not exist" in result.output



def test_thread_and_assistant_objects_fill_their_tables(tmp_path: Path) -> None:
    """Saved thread and agent objects (Foundry's listings, one object a file) land as an export writes them."""
    config = FakeConfig.small(flavor="foundry", threads=3, runs_per_thread=2, steps_per_run="1-4", seed=11)
    with serve_in_thread(config) as fake:
        truth = fake.truth
    assert truth.threads and truth.assistants
    write_json(tmp_path / "in" / "threads.json", {"object": "list", "data": list(truth.threads), "has_more": False})
    for agent in truth.assistants:
        write_json(tmp_path / "in" / "agents" / f"{agent['id']}.json", agent)
    write_lines(tmp_path / "in" / "runs-and-steps.jsonl", [*truth.runs, *truth.steps])
    dest = str(tmp_path / "imported.duckdb")

    result = CliRunner().invoke(cli, ["import", str(tmp_path / "in"), "--dest", dest])

    assert result.exit_code == 0, result.output
    counts = f"{len(truth.steps)} steps and {len(truth.runs)} runs, {len(truth.threads)} threads,"
    assert f"imported {counts} {len(truth.assistants)} assistants from {len(truth.assistants) + 2} files" in (
        result.output
    )
    expected = foundry_tables(truth)
    actual = actual_entity_tables(dest)
    assert set(actual["threads"]) == set(expected["threads"])
    # Only the agents the files hold: an export also writes a row for each deleted agent a run names.
    assert set(actual["assistants"]) == {(agent["id"],) for agent in truth.assistants}
    for name in ("threads", "assistants"):
        for key, have in actual[name].items():
            want = expected[name][key]
            assert {column: have[column] for column in want} == want, (name, key)


def test_bad_threads_and_assistants_are_named_and_skipped(tmp_path: Path) -> None:
    write_lines(
        tmp_path / "entities.jsonl",
        [{"object": "thread", "id": "thread_ok", "created_at": 1767225600, "metadata": {}},
         {"object": "assistant", "id": "asst_bad", "model": "gpt-4o"},
         {"object": "thread", "id": "thread with/../slashes", "created_at": 1767225600},
         {"object": "thread.run", "id": "run_1", "thread_id": "thread ok?", "created_at": 1767225600},
         # The tables' own mark of a deleted agent is not taken from a file.
         {"object": "assistant", "id": "asst_ok", "created_at": 1767225600, "model": "gpt-4o",
          "_runsteps_gone": True}],
    )  # fmt: skip
    dest = str(tmp_path / "x.duckdb")
    summary = run_import([str(tmp_path / "entities.jsonl")], dest, extracted_at=MOMENT)
    where = f"{tmp_path}/entities.jsonl"
    assert [str(problem) for problem in summary.problems] == [
        f"{where}:2: assistant asst_bad without a created_at",
        f"{where}:3: thread with a bad id ('thread with/../slashes'): an id is letters, digits, '_' and '-'",
        f"{where}:4: run run_1 with a bad thread_id ('thread ok?'): an id is letters, digits, '_' and '-'",
    ]
    assert (summary.rows["threads"], summary.rows["assistants"], summary.runs_ok) == (1, 1, 0)
    assert "threads" not in summary.as_dict() and summary.as_dict()["rows"]["assistants"] == 1
    entities = actual_entity_tables(dest)
    assert set(entities["threads"]) == {("thread_ok",)}
    assert entities["assistants"][("asst_ok",)]["gone"] is False


def test_binary_and_endless_lines_are_bad_files_read_no_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with no line break (``/dev/zero``) took all memory: no line is held past ``MAX_LINE_BYTES``, and a NUL
    byte ends the file as binary. Each is one bad record; with --strict, exit 2 and nothing created."""
    monkeypatch.setattr(importing, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(importing, "MAX_DOCUMENT_BYTES", 8192)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "zeros.jsonl").write_bytes(b"\0" * 100_000)
    (folder / "long.jsonl").write_bytes(b'{"id": "' + b"x" * 10_000)  # no end, no newline
    (folder / "big.json").write_bytes(b"[\n" + b'  {"id": "x"},\n' * 1000 + b"]\n")  # a document past the bound
    ok = '{"id": "thread_ok", "object": "thread", "created_at": 1700000000}\n'
    (folder / "good.jsonl").write_text(ok + '{"id": "thread_ok2", "object": "thread", "created_at": 1700000001}\n')
    dest = tmp_path / "x.duckdb"
    strict = CliRunner().invoke(cli, ["import", str(folder), "--dest", str(dest), "--strict"])
    assert strict.exit_code == 2 and not dest.exists(), strict.output
    assert sorted(line for line in strict.output.splitlines() if line.startswith("bad record: ")) == [
        f"bad record: {folder / 'big.json'}: a JSON document over 0 GiB: give it as JSON Lines",
        f"bad record: {folder / 'long.jsonl'}:1: longer than 0 MiB: not a JSON Lines record",
        f"bad record: {folder / 'zeros.jsonl'}:1: a NUL byte: a binary file, not JSON",
    ]
    loose = CliRunner().invoke(cli, ["import", str(folder), "--dest", str(dest), "--metrics-json"])
    assert loose.exit_code == 0, loose.output
    assert json.loads(loose.stdout.strip().splitlines()[-1])["rows"]["threads"] == 2
