"""The DAG under real Airflow: parsed by a DagBag, then run by ``dag.test()`` against the fake API on 127.0.0.1.

Every Airflow process runs in a subprocess with its own AIRFLOW_HOME (config, sqlite database, logs) under
``tmp_path``, so Airflow's global state never leaks into the test process, other tests or xdist workers.
Starting Airflow's in-process execution API costs ~30 s of CPU once per process, so one process runs all
the DagRuns of the end-to-end scenario one after another.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from paths import REPO
from report_support import embedded

from etl.fakeapi import FakeConfig, FakeServer
from etl.load.parquet import parquet_dataset
from etl.orchestrate import DagParams
from etl.schema import TABLES

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(importlib.util.find_spec("airflow") is None, reason="needs the [airflow] extra"),
]

DAGS = REPO / "airflow_dags"
KEY = "sk-airflow-right-4f9c2e7a1b3d5f60"
WRONG_KEY = "sk-airflow-wrong-8e1d0c6b4a2f9e37"
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}
KEYS = {
    "runs": ["run_id"],
    "run_steps": ["step_id"],
    "tool_calls": ["step_id", "tool_call_index"],
    "code_interpreter_outputs": ["step_id", "tool_call_index", "output_index"],
    "file_search_results": ["step_id", "tool_call_index", "result_index"],
}

PARSE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["openai_run_steps"]
json.dump({
    "import_errors": bag.import_errors,
    "etl_imported": sorted(m for m in ("etl", "pyarrow", "duckdb") if m in sys.modules),
    "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
    "mapped": sorted(t.task_id for t in dag.tasks if hasattr(t, "expand_input")),
    "params": dag.params.dump(),
    "timetable": type(dag.timetable).__name__,
    "timetable_expression": [dag.timetable.expression, str(dag.timetable.timezone)],
    "max_active_runs": dag.max_active_runs,
    "doc_md": dag.doc_md,
}, open(sys.argv[2], "w"))
"""

RUN = r"""
import json, shutil, sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

spec = json.load(open(sys.argv[1]))
bag = DagBag(dag_folder=spec["dags"])
assert not bag.import_errors, bag.import_errors
dag = bag.dags["openai_run_steps"]
results = []
for run in spec["runs"]:
    dr = dag.test(logical_date=datetime.fromisoformat(run["logical_date"]), run_conf=run["conf"])
    with create_session() as session:
        xcoms = session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dag.dag_id, key="return_value"))
        results.append({
            "state": str(dr.state),
            "interval": [dr.data_interval_start.isoformat(), dr.data_interval_end.isoformat()],
            "tis": sorted([ti.task_id, ti.map_index, str(ti.state)] for ti in dr.get_task_instances(session=session)),
            "xcoms": {f"{x.task_id}[{x.map_index}]": XComModel.deserialize_value(x) for x in xcoms},
        })
    for source, target in run.get("snapshot", {}).items():
        (shutil.copytree if source.endswith("parquet") else shutil.copy)(source, target)
json.dump(results, open(spec["out"], "w"))
"""


def _airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an Airflow subprocess: its own home, sqlite database and logs; this repo's DAGs only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OPENAI_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        **extra,
    )
    return env


def _python(code: str, *args: str, env: dict[str, str], log: Path, timeout: float) -> None:
    """Run ``code`` in a fresh interpreter; its output (the task logs of ``dag.test``) goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-c", code, *args], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        )
    assert done.returncode == 0, log.read_text()[-5000:]


def test_dag_file_parses_thin_with_documented_params(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    out = tmp_path / "parsed.json"
    _python(PARSE, str(DAGS), str(out), env=_airflow_env(home), log=home / "logs" / "parse.log", timeout=240)
    parsed = json.loads(out.read_text())

    assert parsed["import_errors"] == {}
    assert parsed["etl_imported"] == [], "parsing the DAG file must not import etl (tasks import it when they run)"
    assert parsed["tasks"] == {
        "plan": ["export", "load"],
        "export": ["load"],
        "load": ["checks", "report"],
        "checks": [],
        "report": [],
    }
    assert parsed["mapped"] == ["export"]
    assert parsed["timetable"] == "CronDataIntervalTimetable"
    assert parsed["timetable_expression"] == ["0 0 * * *", "UTC"]
    assert parsed["max_active_runs"] == 1
    assert parsed["params"] == {
        "conn_id": "openai_default",
        "thread_ids": [],
        "threads_file": "",
        "threads_query": "",
        "threads_query_source": "",
        "dest": "/opt/airflow/data/runsteps",
        "duckdb_path": "",
        "duckdb_storage_version": "v1.2.0",
        "shards": 4,
        "concurrency": 16,
        "include_file_search_content": False,
        "report": False,
        "report_days": 30,
        "all_threads": False,
        "source": "assistants",
        "response_ids": [],
        "responses_file": "",
        "conversation_ids": [],
        "conversations_file": "",
        "follow_previous": False,
        "all_responses": False,
        "all_conversations": False,
    }
    for name, default in parsed["params"].items():
        shown = default if isinstance(default, str) and default else json.dumps(default)
        assert f"| `{name}` | `{shown}` |" in parsed["doc_md"], name
    # The DAG file may not import etl, so it repeats these defaults: they must stay those of etl's DagParams.
    defaulted = ("conn_id", "duckdb_storage_version", "shards", "concurrency", "include_file_search_content")
    for name in (*defaulted, "source", "report", "report_days"):
        assert parsed["params"][name] == getattr(DagParams, name), name


@pytest.mark.slow
@pytest.mark.timeout(900)  # one Airflow process, four DagRuns: ~40 s idle, several minutes on a busy CI machine
def test_dag_exports_each_interval_once_and_a_wrong_key_fails_without_leaking(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    migrate = [str(Path(sys.executable).with_name("airflow")), "db", "migrate"]
    done = subprocess.run(migrate, env=_airflow_env(home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    dest, db = tmp_path / "parquet", tmp_path / "steps.duckdb"

    def _copies(run: int) -> dict[str, str]:
        """Copy both destinations after a DagRun into snapshot-<run>/."""
        (tmp_path / f"snapshot-{run}").mkdir()
        return {
            str(dest): str(tmp_path / f"snapshot-{run}" / "parquet"),
            str(db): str(tmp_path / f"snapshot-{run}" / "steps.duckdb"),
        }

    with FakeServer(FakeConfig.small(days=2, seed=1, api_key=KEY)) as fake:
        truth = fake.truth
        day1 = {r["id"] for r in truth.runs if r["created_at"] < fake.config.start_ts + 86_400}
        active = {r["id"] for r in truth.runs if r["id"] in day1 and r["status"] not in TERMINAL}
        assert active and day1 - active, "day 1 must hold finished and still active runs"
        conf = {
            "thread_ids": list(fake.thread_ids),
            "dest": str(dest),
            "duckdb_path": str(db),
            "concurrency": 4,
            "report": True,
        }
        runs = [
            {"logical_date": "2026-01-02T00:00:00+00:00", "conf": {**conf, "shards": 3}, "snapshot": _copies(1)},
            {"logical_date": "2026-01-02T00:00:00+00:00", "conf": {**conf, "shards": 3}, "snapshot": _copies(2)},
            {"logical_date": "2026-01-03T00:00:00+00:00", "conf": {**conf, "shards": 2}},
            {
                "logical_date": "2026-01-03T00:00:00+00:00",
                "conf": {**conf, "conn_id": "openai_wrong", "dest": str(tmp_path / "other"), "duckdb_path": ""},
            },
        ]
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps({"dags": str(DAGS), "runs": runs, "out": str(tmp_path / "results.json")}))
        connections = {
            "AIRFLOW_CONN_OPENAI_DEFAULT": json.dumps({"conn_type": "openai", "password": KEY, "host": fake.base_url}),
            "AIRFLOW_CONN_OPENAI_WRONG": json.dumps(
                {"conn_type": "openai", "password": WRONG_KEY, "host": fake.base_url}
            ),
        }
        log = home / "logs" / "dag-test.log"
        _python(RUN, str(spec), env=_airflow_env(home, **connections), log=log, timeout=900)
    first, again, day2, wrong = json.loads((tmp_path / "results.json").read_text())

    # Day 1: one mapped export per shard; the Parquet root and the DuckDB file hold exactly day 1's runs.
    assert first["state"] == "success", log.read_text()[-5000:]
    assert first["interval"] == ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"]
    assert first["tis"] == [
        ["checks", -1, "success"],
        ["export", 0, "success"],
        ["export", 1, "success"],
        ["export", 2, "success"],
        ["load", -1, "success"],
        ["plan", -1, "success"],
        ["report", -1, "success"],
    ]
    metrics = [first["xcoms"][f"export[{i}]"] for i in range(3)]
    assert [m["shard"] for m in metrics] == ["0/3", "1/3", "2/3"]
    assert sum(m["runs_ok"] for m in metrics) == len(day1) and sum(m["runs_failed"] for m in metrics) == 0
    day1_truth = _truth(truth, day1)
    page = tmp_path / "snapshot-1" / "parquet" / "_reports" / "2026-01-01.html"
    assert first["xcoms"]["report[-1]"]["report"] == str(dest / "_reports" / "2026-01-01.html")
    assert embedded(page.read_text(encoding="utf-8"))["overview"]["runs"] == len(day1)
    assert _parquet_facts(tmp_path / "snapshot-1" / "parquet") == day1_truth
    assert _duckdb_facts(tmp_path / "snapshot-1" / "steps.duckdb") == day1_truth

    # The same interval again: only the active runs are fetched again, and the tables do not change.
    assert again["state"] == "success"
    assert sum(again["xcoms"][f"export[{i}]"]["runs_ok"] for i in range(3)) == len(active)
    for table in TABLES:
        before, after = (_parquet_rows(tmp_path / f"snapshot-{run}" / "parquet", table) for run in (1, 2))
        assert after.equals(before), table
    assert _duckdb_facts(tmp_path / "snapshot-2" / "steps.duckdb") == day1_truth

    # Day 2: its runs plus day 1's active runs; afterwards both destinations equal everything the fake serves.
    assert day2["state"] == "success"
    assert [ti for ti in day2["tis"] if ti[0] == "export"] == [["export", 0, "success"], ["export", 1, "success"]]
    planned = {item.split("/")[1] for part in day2["xcoms"]["plan[-1]"] for item in part["runs"]}
    assert planned == {r["id"] for r in truth.runs if r["id"] not in day1} | active
    everything = _truth(truth, {r["id"] for r in truth.runs})
    assert _parquet_facts(dest) == everything
    assert _duckdb_facts(db) == everything
    assert all(n == 0 for checks in day2["xcoms"]["checks[-1]"].values() for n in checks.values())
    assert sorted(p.name for p in (dest / "_reports").iterdir()) == ["2026-01-01.html", "2026-01-02.html"]
    assert embedded((dest / "_reports" / "2026-01-02.html").read_text())["overview"]["runs"] == len(truth.runs)

    # A wrong key: the plan fails at once (no retry), nothing downstream runs, and no key is written anywhere.
    assert wrong["state"] == "failed"
    assert ["plan", -1, "failed"] in wrong["tis"]
    assert {ti[0]: ti[2] for ti in wrong["tis"] if ti[0] != "plan"} == {
        "export": "upstream_failed",
        "load": "upstream_failed",
        "checks": "upstream_failed",
        "report": "upstream_failed",
    }
    text = log.read_text()
    assert "AirflowFailException: AuthError: HTTP 401 invalid_api_key: Incorrect API key provided" in text
    for folder in (home, dest, tmp_path / "other", db.parent):
        for path in (p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            assert KEY.encode() not in data and WRONG_KEY.encode() not in data, path


def _truth(truth: Any, run_ids: set[str]) -> dict[str, Any]:
    """The facts the tables must hold about some runs, as the fake served them."""
    steps = [s for s in truth.steps if s["run_id"] in run_ids]
    return {
        "runs": sorted((r["id"], r["thread_id"], r["status"]) for r in truth.runs if r["id"] in run_ids),
        "steps": sorted(
            (s["id"], s["run_id"], s["type"], s["status"], (s.get("usage") or {}).get("total_tokens")) for s in steps
        ),
        "tool_calls": sorted(
            (s["id"], i, call.get("id"), call["type"])
            for s in steps
            for i, call in enumerate(s["step_details"].get("tool_calls") or [])
        ),
    }


def _facts(runs: pa.Table, steps: pa.Table, calls: pa.Table) -> dict[str, Any]:
    def rows(table: pa.Table, columns: list[str]) -> list[tuple[Any, ...]]:
        return sorted(tuple(row[c] for c in columns) for row in table.select(columns).to_pylist())

    return {
        "runs": rows(runs, ["run_id", "thread_id", "status"]),
        "steps": rows(steps, ["step_id", "run_id", "type", "status", "total_tokens"]),
        "tool_calls": rows(calls, ["step_id", "tool_call_index", "tool_call_id", "type"]),
    }


def _parquet_facts(root: Path) -> dict[str, Any]:
    return _facts(*(parquet_dataset(str(root), name).to_table() for name in ("runs", "run_steps", "tool_calls")))


def _duckdb_facts(path: Path) -> dict[str, Any]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [con.sql(f"SELECT * FROM {name}").to_arrow_table() for name in ("runs", "run_steps", "tool_calls")]
    return _facts(*tables)


def _parquet_rows(root: Path, table: str) -> pa.Table:
    """A table's rows in key order, without ``extracted_at`` (a re-fetch of an unchanged run moves only that)."""
    rows = parquet_dataset(str(root), table).to_table().drop_columns(["extracted_at"])
    return rows.sort_by([(key, "ascending") for key in KEYS[table]])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dag_with_source_responses_keeps_a_conversations_new_items_daily(tmp_path: Path) -> None:
    from responses_expected import actual, expected

    home = tmp_path / "airflow"
    migrate = [str(Path(sys.executable).with_name("airflow")), "db", "migrate"]
    done = subprocess.run(migrate, env=_airflow_env(home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    dest, db = tmp_path / "parquet", tmp_path / "responses.duckdb"
    with FakeServer(FakeConfig.small(api_key=KEY)) as fake:
        truth = fake.responses.truth
        conf = {
            "source": "responses", "response_ids": list(truth.responses), "conversation_ids": list(truth.conversations),
            "dest": str(dest), "duckdb_path": str(db),
        }  # fmt: skip
        env = _airflow_env(
            home,
            AIRFLOW_CONN_OPENAI_DEFAULT=json.dumps({"conn_type": "openai", "password": KEY, "host": fake.base_url}),
        )
        results = []
        for day, logical_date in enumerate(("2026-02-02T00:00:00+00:00", "2026-02-03T00:00:00+00:00")):
            if day:  # between the daily runs, one conversation grows by a turn
                before = len(truth.conversation_items[next(iter(truth.conversations))])
                fake.responses.grow(next(iter(truth.conversations)))
            out = tmp_path / f"results-{day}.json"
            spec = tmp_path / f"spec-{day}.json"
            spec.write_text(json.dumps({"dags": str(DAGS), "runs": [{"logical_date": logical_date, "conf": conf}],
                                        "out": str(out)}))  # fmt: skip
            _python(RUN, str(spec), env=env, log=home / "logs" / f"responses-{day}.log", timeout=600)
            (result,) = json.loads(out.read_text())
            results.append(result)
    first, second = results
    for result in results:
        assert result["state"] == "success"
        states = {ti[0]: ti[2] for ti in result["tis"]}
        assert all(states[task] == "success" for task in ("plan", "export", "load", "checks")), states
    items = sum(len(listed) for listed in truth.conversation_items.values())
    grown = len(truth.conversation_items[next(iter(truth.conversations))]) - before
    assert first["xcoms"]["export[0]"]["conversation_items_new"] == items - grown
    assert second["xcoms"]["export[0]"]["conversation_items_new"] == grown > 0
    want = expected(truth, responses=set(conf["response_ids"]))
    assert actual(str(dest)) == want
    assert actual(str(db)) == want
