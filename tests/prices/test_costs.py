"""What runs cost: expected costs worked out by hand from token counts equal run_costs and step_costs, on a DuckDB
file and a Parquet root alike, with prices from the bundled genai-prices data, a prices file and a deployment map.
No test here (nor any command it runs) may reach the network: every socket to a non-loopback address fails."""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result
from costs import PRICES, cost

from etl import sqlrun
from etl.cli import cli
from etl.load import open_destination
from etl.load.batch import Batch, write_batch
from etl.load.duckdb import load_parquet_into_duckdb
from etl.prices import PriceBook, read_prices_file

Json = dict[str, Any]
NOW = datetime(2026, 11, 1, tzinfo=UTC)


# -- no network -------------------------------------------------------------------------------------------


def _loopback(address: Any) -> bool:
    if isinstance(address, str):  # a Unix socket path
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any socket to a non-loopback address (or any name lookup of one) fails in these tests."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not _loopback(address):
            raise OSError(f"test: network access to {address!r} refused")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost") and not _loopback((host, 0)):
            raise OSError(f"test: name lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_the_guard_refuses_the_network() -> None:
    with pytest.raises(OSError, match="refused"), socket.create_connection(("203.0.113.7", 443), timeout=1):
        pass
    with pytest.raises(OSError, match="refused"):
        socket.getaddrinfo("raw.githubusercontent.com", 443)


# -- the data: runs of several models, each with two steps whose usage adds up to the run's ---------------


def _ts(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def _usage(prompt: int, completion: int, cached: int | None = None, reasoning: int | None = None) -> Json:
    usage: Json = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached is not None:
        usage["prompt_token_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


# run id -> (model, day, [step usages]); the run's usage is the sum of its steps'.
RUNS: dict[str, tuple[str, str, list[Json]]] = {
    "run_cached": ("gpt-4o", "2026-02-10", [_usage(6_000, 300, cached=4_096), _usage(4_000, 200, cached=1_024)]),
    "run_plain": ("gpt-4o", "2026-02-11", [_usage(1_000, 100), _usage(2_000, 50)]),
    "run_o3_old": ("o3", "2025-05-01", [_usage(3_000, 900, 0, 600), _usage(1_000, 100, 0, 40)]),
    "run_o3_new": ("o3", "2025-07-01", [_usage(3_000, 900, 0, 600), _usage(1_000, 100, 0, 40)]),
    "run_azure": ("prod-mini-eu", "2026-02-12", [_usage(20_000, 1_000, cached=8_192), _usage(10_000, 500)]),
    "run_file_1": ("acme-llm", "2026-02-01", [_usage(50_000, 2_000, cached=10_000), _usage(0, 0)]),
    "run_file_2": ("acme-llm", "2026-04-01", [_usage(50_000, 2_000, cached=10_000), _usage(0, 0)]),
    "run_file_early": ("acme-llm", "2025-12-01", [_usage(100, 10), _usage(100, 10)]),
    "run_override_old": ("gpt-4.1", "2026-01-15", [_usage(10_000, 1_000, cached=2_000), _usage(0, 0)]),
    "run_override_new": ("gpt-4.1", "2026-02-15", [_usage(10_000, 1_000, cached=2_000), _usage(0, 0)]),
    "run_unknown": ("mystery-model-9", "2026-02-13", [_usage(5_000, 500), _usage(5_000, 500)]),
}

# The same runs' costs worked out by hand: (uncached * input + cached * cached price + completion * output) / 1e6
# at the prices of the run's date. gpt-4o: 2.5 / 1.25 / 10 (genai-prices). o3: 10 / 0.5 / 40 until 2025-06-10,
# then 2 / 0.5 / 8 (genai-prices' history). prod-mini-eu is mapped to gpt-4o-mini: 0.15 / 0.075 / 0.6. acme-llm
# (prices file): 1.0 / 0.1 / 2.0 from 2026-01-01, 0.5 / (none: the input price) / 1.0 from 2026-03-01, nothing
# before. gpt-4.1: genai-prices' 2 / 0.5 / 8 until the file's line from 2026-02-01: 3 / 1 / 12.
EXPECTED: dict[str, float | None] = {
    "run_cached": ((10_000 - 5_120) * 2.5 + 5_120 * 1.25 + 500 * 10) / 1e6,
    "run_plain": (3_000 * 2.5 + 150 * 10) / 1e6,
    "run_o3_old": (4_000 * 10 + 1_000 * 40) / 1e6,
    "run_o3_new": (4_000 * 2 + 1_000 * 8) / 1e6,
    "run_azure": ((30_000 - 8_192) * 0.15 + 8_192 * 0.075 + 1_500 * 0.6) / 1e6,
    "run_file_1": (40_000 * 1.0 + 10_000 * 0.1 + 2_000 * 2.0) / 1e6,
    "run_file_2": (40_000 * 0.5 + 10_000 * 0.5 + 2_000 * 1.0) / 1e6,
    "run_file_early": None,
    "run_override_old": (8_000 * 2 + 2_000 * 0.5 + 1_000 * 8) / 1e6,
    "run_override_new": (8_000 * 3 + 2_000 * 1 + 1_000 * 12) / 1e6,
    "run_unknown": None,
}

PRICES_CSV = """model,input_usd_per_mtok,cached_input_usd_per_mtok,output_usd_per_mtok,valid_from
acme-llm,1.0,0.1,2.0,2026-01-01
acme-llm,0.5,,1.0,2026-03-01
gpt-4.1,3,1,12,2026-02-01
"""
MAP_CSV = "deployment,model\nprod-mini-eu,gpt-4o-mini\n"


def _objects() -> list[Json]:
    objects: list[Json] = []
    for run_id, (model, day, steps) in RUNS.items():
        created = _ts(day)
        total = {k: sum(s[k] for s in steps) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        for key, inner in (
            ("prompt_token_details", "cached_tokens"),
            ("completion_tokens_details", "reasoning_tokens"),
        ):
            if any(key in s for s in steps):
                total[key] = {inner: sum((s.get(key) or {}).get(inner, 0) for s in steps)}
        thread = f"thread_{run_id.removeprefix('run_')}"
        objects.append(
            {"id": run_id, "object": "thread.run", "thread_id": thread, "assistant_id": "asst_cost", "model": model,
             "status": "completed", "created_at": created, "completed_at": created + 60, "usage": total}
        )  # fmt: skip
        for index, usage in enumerate(steps):
            objects.append(
                {"id": f"step_{run_id}_{index}", "object": "thread.run.step", "run_id": run_id, "thread_id": thread,
                 "assistant_id": "asst_cost", "type": "message_creation", "status": "completed",
                 "created_at": created + 1 + index, "completed_at": created + 2 + index,
                 "step_details": {"type": "message_creation", "message_creation": {"message_id": f"msg_{index}"}},
                 "usage": usage}
            )  # fmt: skip
    return objects


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cost_inputs")
    (folder / "runs.jsonl").write_text("".join(json.dumps(o) + "\n" for o in _objects()))
    (folder / "prices.csv").write_text(PRICES_CSV)
    (folder / "deployments.csv").write_text(MAP_CSV)
    return folder


@pytest.fixture(params=["duckdb", "parquet"])
def priced(
    request: pytest.FixtureRequest, inputs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[str]:
    """The runs imported into a destination of each kind, then priced with the prices file and the map."""
    dest = str(tmp_path / ("costs.duckdb" if request.param == "duckdb" else "costs"))
    imported = _invoke("import", str(inputs / "runs.jsonl"), "--dest", dest)
    assert imported.exit_code == 0, imported.output
    # Without the files, the deployment and the file's model are unpriced too, and the import says so.
    assert "no price for the runs of acme-llm (3 runs), mystery-model-9 (1 runs), prod-mini-eu (1 runs)" in (
        caplog.text
    )
    # The assistants table (as a Foundry export writes it) names the assistant in cost_by_assistant_day.
    batch = Batch()
    batch.add("assistants", {"id": "asst_cost", "object": "assistant", "name": "Cost bot", "created_at": 1}, NOW)
    with open_destination(dest) as opened:
        write_batch(opened, batch)
    result = _invoke(
        "prices", "--dest", dest, "--prices", str(inputs / "prices.csv"), "--model-map", str(inputs / "deployments.csv")
    )
    assert result.exit_code == 0, result.output
    yield dest


def _rows(dest: str, sql: str) -> list[Json]:
    with sqlrun.open_sql_connection(dest) as con:
        rows: list[Json] = sqlrun.run_sql(con, sql).to_pylist()
        return rows


# -- the comparisons --------------------------------------------------------------------------------------


def test_run_costs_equal_the_costs_worked_out_by_hand(priced: str) -> None:
    rows = {r["run_id"]: r for r in _rows(priced, "SELECT * FROM run_costs")}
    assert set(rows) == set(EXPECTED)
    for run_id, expected in EXPECTED.items():
        row = rows[run_id]
        if expected is None:
            assert (row["priced"], row["cost_usd"], row["input_usd"]) == (False, None, None), run_id
        else:
            assert row["priced"] is True, run_id
            assert row["cost_usd"] == pytest.approx(expected, rel=1e-12), run_id
            assert row["cost_usd"] == pytest.approx(row["input_usd"] + row["cached_input_usd"] + row["output_usd"])
    assert rows["run_azure"]["priced_as"] == "gpt-4o-mini"
    assert (rows["run_cached"]["cached_prompt_tokens"], rows["run_plain"]["cached_prompt_tokens"]) == (5_120, None)
    assert rows["run_o3_new"]["reasoning_tokens"] == 640
    # Cached tokens are billed once, at the cached price: the input part holds only the uncached ones.
    assert rows["run_cached"]["input_usd"] == pytest.approx(4_880 * 2.5 / 1e6)
    assert rows["run_cached"]["cached_input_usd"] == pytest.approx(5_120 * 1.25 / 1e6)


def test_step_costs_add_up_to_the_run_where_step_usage_is_complete(priced: str) -> None:
    steps = _rows(priced, "SELECT * FROM step_costs")
    assert len(steps) == 2 * len(RUNS)
    by_step = {s["step_id"]: s for s in steps}
    first = by_step["step_run_cached_0"]
    assert first["cost_usd"] == pytest.approx(((6_000 - 4_096) * 2.5 + 4_096 * 1.25 + 300 * 10) / 1e6)
    assert by_step["step_run_unknown_0"]["priced"] is False and by_step["step_run_unknown_0"]["cost_usd"] is None
    sums = _rows(
        priced,
        """
        SELECT r.run_id, r.cost_usd AS run_cost, sum(s.cost_usd) AS step_cost
        FROM run_costs AS r JOIN step_costs AS s USING (run_id)
        WHERE r.status = 'completed' AND r.priced
        GROUP BY r.run_id, r.cost_usd, r.total_tokens
        HAVING sum(s.total_tokens) = r.total_tokens
        """,
    )
    assert {r["run_id"] for r in sums} == {k for k, v in EXPECTED.items() if v is not None}
    for row in sums:
        assert row["step_cost"] == pytest.approx(row["run_cost"], rel=1e-12), row["run_id"]


def test_queries_and_the_unpriced_check(priced: str) -> None:
    with sqlrun.open_sql_connection(priced) as con:
        by_model = {r["model"]: r for r in sqlrun.run_query(con, "cost_by_model").to_pylist()}
        top = sqlrun.run_query(con, "top_runs", {"by": "cost", "limit": 3}).to_pylist()
        threads = sqlrun.run_query(con, "top_threads_by_cost", {"limit": 2}).to_pylist()
        days = sqlrun.run_query(con, "cost_by_assistant_day", {"since": "2026-02-10", "until": "2026-02-14"})
    assert by_model["o3"]["cost_usd"] == pytest.approx(EXPECTED["run_o3_old"] + EXPECTED["run_o3_new"])  # type: ignore[operator]
    assert (by_model["mystery-model-9"]["unpriced_runs"], by_model["mystery-model-9"]["cost_usd"]) == (1, None)
    assert (by_model["acme-llm"]["runs"], by_model["acme-llm"]["unpriced_runs"]) == (3, 1)
    ranked = sorted((v, k) for k, v in EXPECTED.items() if v is not None)[::-1]
    assert [r["run_id"] for r in top] == [k for _, k in ranked[:3]]
    assert [t["thread_id"] for t in threads] == [f"thread_{k.removeprefix('run_')}" for _, k in ranked[:2]]
    in_window = ["run_cached", "run_plain", "run_azure", "run_unknown"]
    assert [(d["runs"], d["unpriced_runs"]) for d in days.to_pylist()] == [(1, 0), (1, 0), (1, 0), (1, 1)]
    assert {d["assistant_name"] for d in days.to_pylist()} == {"Cost bot"}
    assert sum(d["cost_usd"] or 0 for d in days.to_pylist()) == pytest.approx(sum(EXPECTED[k] or 0 for k in in_window))
    # unpriced_models is a warning: shown with its rows, and the exit code stays 0.
    result = _invoke("sql", "check", "unpriced_models", "--dest", priced)
    assert result.exit_code == 0, result.output
    assert "WARN  unpriced_models" in result.output and "(2 rows break it)" in result.output
    assert "mystery-model-9" in result.output and "acme-llm" in result.output
    assert result.output.splitlines()[-1] == "0 of 1 checks passed; warnings: unpriced_models"


def test_a_broken_error_check_fails_beside_the_warning(priced: str) -> None:
    # One run_steps row held twice breaks duplicate_keys, a check of severity error.
    if priced.endswith(".duckdb"):
        with duckdb.connect(priced) as con:
            con.execute("INSERT INTO run_steps SELECT * FROM run_steps WHERE step_id = 'step_run_plain_0'")
    else:
        original = next(Path(priced, "run_steps").rglob("*.parquet"))
        shutil.copy(original, original.with_name("copy-" + original.name))
    result = _invoke("sql", "check", "--dest", priced)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("FAIL  duplicate_keys: ") for line in lines)
    assert any(line.startswith("WARN  unpriced_models: ") for line in lines)
    assert lines[-1].endswith(" checks passed; failed: duplicate_keys; warnings: unpriced_models")


def test_prices_lists_priced_and_unpriced_and_keeps_the_files(priced: str) -> None:
    listed = _invoke("prices", "--dest", priced, "--format", "json")  # no files now: the earlier ones are kept
    assert listed.exit_code == 0, listed.output
    rows = {r["model"]: r for r in json.loads(listed.output)}
    assert rows["prod-mini-eu"]["priced_as"] == "gpt-4o-mini" and rows["prod-mini-eu"]["unpriced_runs"] == 0
    assert rows["acme-llm"]["source"] == "prices.csv" and rows["acme-llm"]["unpriced_runs"] == 1
    assert rows["mystery-model-9"]["unpriced_runs"] == 1 and rows["mystery-model-9"]["priced_as"] is None
    assert rows["gpt-4o"]["source"].startswith("genai-prices ")
    text = _invoke("prices", "--dest", priced).output
    assert "unpriced: acme-llm (1 runs), mystery-model-9 (1 runs)" in text
    assert "not included: tool fees" in text
    costs = {r["run_id"]: r["cost_usd"] for r in _rows(priced, "SELECT run_id, cost_usd FROM run_costs")}
    assert costs["run_azure"] == pytest.approx(EXPECTED["run_azure"])
    assert costs["run_file_2"] == pytest.approx(EXPECTED["run_file_2"])


def test_export_writes_model_prices_with_the_map(fake_api_factory: Any, tmp_path: Path) -> None:
    fake = fake_api_factory()
    truth = fake.dataset.truth()
    threads = tmp_path / "threads.txt"
    threads.write_text("\n".join(truth.thread_ids) + "\n")
    mapping = tmp_path / "map.csv"
    mapping.write_text("deployment,model\nanalytics-gpt4o,gpt-4o\n")
    dest = str(tmp_path / "export.duckdb")
    result = CliRunner().invoke(
        cli,
        ["export", "--threads-file", str(threads), "--dest", dest, "--base-url", fake.base_url, "--no-progress",
         "--model-map", str(mapping)],
        env={"OPENAI_API_KEY": fake.config.api_key},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    prices = {r["model"]: r for r in _rows(dest, "SELECT * FROM model_prices")}
    assert {r["model"] for r in truth.runs} <= set(prices)
    assert prices["analytics-gpt4o"]["priced_as"] == "gpt-4o"
    assert prices["gpt-4o"]["input_usd_per_mtok"] == 2.5
    unpriced = _rows(dest, "SELECT count(*) AS n FROM run_costs WHERE NOT priced")
    assert unpriced == [{"n": 0}]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("prices.csv", "model,input_usd_per_mtok,output_usd_per_mtok\ngpt-4o,1,2\n",
         "prices.csv line 1: the header is model,input_usd_per_mtok,output_usd_per_mtok: it must be "),
        ("prices.csv", PRICES_CSV.replace("0.5,,1.0", "0.5,,cheap"),
         "prices.csv line 3: output_usd_per_mtok 'cheap' is not a number: give USD per million tokens"),
        ("prices.csv", PRICES_CSV.replace("2026-03-01", "March"),
         "prices.csv line 3: valid_from 'March' is not a date"),
        ("prices.csv", PRICES_CSV + "acme-llm,9,9,9,2026-01-01\n", "prices.csv line 5: acme-llm already has a price"),
        ("prices.csv", PRICES_CSV.replace("1.0,0.1,2.0", "-1,0.1,2.0"), "prices.csv line 2: input_usd_per_mtok -1"),
        ("map.csv", "deployment,model\nprod,gpt-4o\n,gpt-4o\n", "map.csv line 3: deployment is empty"),
        ("map.csv", "deployment,model\nprod,gpt-4o\nprod,gpt-4.1\n", "map.csv line 3: deployment prod is already"),
    ],
)  # fmt: skip
def test_a_bad_file_is_exit_2_naming_the_line_and_nothing_is_created(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    bad = tmp_path / name
    bad.write_text(text)
    option = "--prices" if name == "prices.csv" else "--model-map"
    dest = tmp_path / "never.duckdb"
    result = _invoke("export", "--thread", "thread_a", "--dest", str(dest), option, str(bad))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {bad} ") and message in result.output, result.output
    assert result.output.count("\n") == 1
    assert not dest.exists()
    again = _invoke("prices", "--dest", str(tmp_path / "also-never"), option, str(bad))
    assert again.exit_code == 2 and message in again.output
    assert not (tmp_path / "also-never").exists()


def test_price_at_is_a_lookup_by_model_and_moment(tmp_path: Path) -> None:
    """The lookup other tables (Responses) reuse: a model name and a timestamp give the prices then."""
    (tmp_path / "p.csv").write_text(PRICES_CSV)
    book = PriceBook(read_prices_file(str(tmp_path / "p.csv")), {"prod-mini-eu": "gpt-4o-mini"})
    old = book.price_at("o3", datetime(2025, 6, 9, 23, 59, tzinfo=UTC))
    new = book.price_at("o3", datetime(2025, 6, 10, tzinfo=UTC))
    assert old is not None and new is not None
    assert (old.input_usd_per_mtok, old.output_usd_per_mtok, new.input_usd_per_mtok) == (10, 40, 2)
    assert old.cost_usd(4_000, 0, 1_000) == pytest.approx(EXPECTED["run_o3_old"])
    mini = book.price_at("prod-mini-eu", datetime(2026, 2, 12, tzinfo=UTC))
    assert mini is not None and (mini.priced_as, mini.provider, mini.cached_input_usd_per_mtok) == (
        "gpt-4o-mini",
        "openai",
        0.075,
    )
    assert book.price_at("acme-llm", datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert book.price_at("mystery-model-9", datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_loading_a_parquet_root_into_duckdb_brings_its_prices(inputs: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    assert _invoke("import", str(inputs / "runs.jsonl"), "--dest", root).exit_code == 0
    priced = _invoke("prices", "--dest", root, "--prices", str(inputs / "prices.csv"))
    assert priced.exit_code == 0, priced.output
    warehouse = str(tmp_path / "warehouse.duckdb")
    counts = load_parquet_into_duckdb(root, warehouse)
    assert counts["model_prices"] == len(_rows(root, "SELECT * FROM model_prices")) > 0
    sql = "SELECT run_id, priced, cost_usd FROM run_costs ORDER BY run_id"
    assert _rows(warehouse, sql) == _rows(root, sql)
    assert {r["run_id"]: r["cost_usd"] for r in _rows(warehouse, sql)}["run_file_1"] == pytest.approx(
        EXPECTED["run_file_1"]
    )


SITECUSTOMIZE = """
import ipaddress, socket
_connect = socket.socket.connect
def _loopback_only(self, address):
    if isinstance(address, tuple):
        try:
            allowed = ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            allowed = address[0] == "localhost"
        if not allowed:
            raise OSError(f"test: network access to {address!r} refused")
    return _connect(self, address)
socket.socket.connect = _loopback_only
"""


def test_a_foundry_export_prices_its_deployments_through_the_map(tmp_path: Path) -> None:
    """The Foundry flavor names deployments; with the map every run is priced (in a process with no network)."""
    from expected_foundry import identity_env

    from etl.fakeapi import FakeConfig, serve_in_thread
    from etl.fakeapi.foundry import _DEPLOYMENTS

    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SITECUSTOMIZE)
    mapping = tmp_path / "deployments.csv"
    mapping.write_text("deployment,model\n" + "".join(f"{d},{m}\n" for m, d in _DEPLOYMENTS.items()))
    dest = str(tmp_path / "foundry.duckdb")
    config = FakeConfig.small(flavor="foundry", seed=3)
    with serve_in_thread(config) as fake:
        env = identity_env(fake, PYTHONPATH=str(guard))
        command = [sys.executable, "-m", "etl", "export", "--provider", "foundry", "--base-url", fake.base_url,
                   "--dest", dest, "--no-progress", "--all-threads", "--model-map", str(mapping)]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
        truth = fake.truth
        probe = [sys.executable, "-c", "import socket; socket.create_connection(('203.0.113.7', 443), timeout=5)"]
        refused = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
    assert "network access to ('203.0.113.7', 443) refused" in refused.stderr  # the guard is on in that process
    assert result.returncode == 0, result.stderr
    model_of = {d: m for m, d in _DEPLOYMENTS.items()}
    rows = {r["run_id"]: r for r in _rows(dest, "SELECT run_id, model, priced, cost_usd FROM run_costs")}
    assert {r["model"] for r in rows.values()} <= set(model_of) and all(r["priced"] for r in rows.values())
    for run in truth.runs:
        want = cost(run.get("usage"), PRICES[model_of[run["model"]]])
        got = rows[run["id"]]["cost_usd"]
        assert got == (None if want is None else pytest.approx(want)), run["id"]
