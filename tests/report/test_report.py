"""`runsteps report`: one self-contained HTML file whose every chart holds exactly its query's result, over a
DuckDB file, a Parquet root and S3; a scope (window, assistants) reaches every query; an empty destination
gives a page that says so; bad input fails before anything is read or written."""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from report_support import embedded, query_rows
from sql_export import ERAS_CONFIG, Exported, shared_eras, shared_export

from etl import schema, sqlfiles, sqlrun
from etl.cli import cli
from etl.config import Secret, Settings
from etl.fakeapi import serve_in_thread
from etl.pipeline import ExportOptions
from etl.pipeline_responses import ResponseSources, run_responses_export
from etl.report.panels import PANELS


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return shared_export(tmp_path_factory)


def report(*args: str) -> Any:
    return CliRunner().invoke(cli, ["report", *args])


def write(tmp_path: Path, dest: str, *args: str) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "report.html"
    result = report("--dest", dest, "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    return page, embedded(page)


def _snapshot(dest: str) -> dict[str, bytes]:
    """Every file of a destination (a DuckDB file, or a root's files) and its bytes."""
    root = Path(dest)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p): p.read_bytes() for p in files}


def assert_panels_match_queries(dest: str, data: dict[str, Any], page: str) -> None:
    """Each drawn panel's rows are exactly its query's result, under the parameters its caption names.

    The queries run on one connection of their own (not the report's): opening one per query over S3 took minutes.
    """
    shown = {p["id"]: p for p in data["panels"]}
    with sqlrun.open_sql_connection(dest) as con:
        for panel in PANELS:
            if panel.id not in shown:
                if panel.only_if is not None:  # left out when no row holds the value (no second era here)
                    column, value = panel.only_if
                    rows = query_rows(con, panel.query, {})
                    assert value not in [row[column] for row in rows], f"{panel.id} left out"
                else:
                    assert panel.query not in sqlfiles.sql_files("queries") or panel.needs, f"{panel.id} left out"
                continue
            got = shown[panel.id]
            assert got["query"] == panel.query
            expected = query_rows(con, panel.query, got["params"])
            assert got["rows"] == expected, f"panel {panel.id} differs from its query {panel.query}"
            assert got["total_rows"] == len(expected)
            given = " ".join(f"-p {k}={v}" for k, v in got["params"].items())
            assert f"runsteps sql run {panel.query}{' ' + given if given else ''}</code>" in page


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_every_chart_holds_its_querys_result(exported: Exported, kind: str, tmp_path: Path) -> None:
    dest = exported.dest(kind)
    before = _snapshot(dest)
    page, data = write(tmp_path, dest)
    assert _snapshot(dest) == before, "a report only reads its destination"
    assert_panels_match_queries(dest, data, page)
    assert data["overview"] == query_rows(dest, "overview", {})[0]
    drawn = [p for p in data["panels"] if p["spec"]]
    assert len(drawn) >= 14 and all(p["rows"] for p in drawn), "the fake's data should fill every chart"
    assert data["overview"]["steps"] == len(exported.steps)
    assert f"{len(exported.steps):,}" in page  # the headline shows the query's figure


def test_a_scope_reaches_every_query(exported: Exported, tmp_path: Path) -> None:
    dest = exported.dest("duckdb")
    days = sorted({s["created_at"] // 86400 for s in exported.steps})
    assistant = sorted({s["assistant_id"] for s in exported.steps})[0]
    since, until = f"{_iso_day(days[1])}", f"{_iso_day(days[-1])}T12:00Z"
    page, data = write(tmp_path, dest, "--since", since, "--until", until, "--assistant", assistant)
    assert_panels_match_queries(dest, data, page)
    scoped = {"since": "2026-01-02T00:00:00+00:00", "until": "2026-01-04T12:00:00+00:00", "assistants": assistant}
    for panel in data["panels"]:
        declared = sqlfiles.sql_file("queries", panel["query"]).params
        assert {k: v for k, v in panel["params"].items() if k in scoped} == {
            k: v for k, v in scoped.items() if k in declared
        }, f"{panel['id']} did not get the scope"
    steps = [
        s
        for s in exported.steps
        if s["assistant_id"] == assistant and days[1] * 86400 <= s["created_at"] < days[-1] * 86400 + 43200
    ]
    assert 0 < data["overview"]["steps"] == len(steps) < len(exported.steps)
    assert assistant in page


def _iso_day(day: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(day * 86400, UTC).date().isoformat()


def test_the_file_stands_alone(exported: Exported, tmp_path: Path) -> None:
    page, _ = write(tmp_path, exported.dest("duckdb"))
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|<img[^>]*\bsrc=[\"']?https?:|@import|url\(\s*['\"]?https?:", page)
    assert "Content-Security-Policy" in page and "connect-src 'none'" in page
    assert page.count("<script") == 3  # the data, the Vega bundle, the page's own script
    assert len(page.encode()) < 3_000_000


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_an_empty_destination_says_so(kind: str, tmp_path: Path) -> None:
    if kind == "duckdb":
        dest = str(tmp_path / "empty.duckdb")
        with duckdb.connect(dest) as con:
            for table in schema.TABLES.values():
                con.execute(schema.duckdb_ddl(table))
    else:
        dest = str(tmp_path / "empty-root")
        Path(dest).mkdir()
    page, data = write(tmp_path, dest)
    assert "No run steps here yet" in page
    assert data["overview"]["runs"] == 0 and data["overview"]["steps"] == 0
    assert 'id="chart-' not in page  # no empty chart frames, the notice instead


def test_a_period_without_steps_says_so(exported: Exported, tmp_path: Path) -> None:
    page, data = write(tmp_path, exported.dest("parquet"), "--since", "2001-01-01", "--until", "2001-02-01")
    assert "No run steps here in this period" in page
    assert data["overview"]["steps"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "'yesterday' is not an ISO-8601 date or datetime"),
        (["--since", "2026-01-05", "--until", "2026-01-01"], "--since must be before --until"),
        (["--assistant", "asst_1,asst_2"], "assistant id 'asst_1,asst_2' is not valid"),
        (["--assistant", "../x"], "assistant id '../x' is not valid"),
        (["-o", "{missing}/report.html"], "does not exist"),
        (["-o", "{folder}"], "is a directory"),
    ],
)
def test_bad_input_fails_before_anything_is_written(
    exported: Exported, tmp_path: Path, args: list[str], message: str
) -> None:
    args = [a.format(missing=tmp_path / "nope", folder=tmp_path) for a in args]
    out = tmp_path / "report.html"
    result = report("--dest", exported.dest("duckdb"), *(["-o", str(out)] if "-o" not in args else []), *args)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output and result.output.count("\n") == 1
    assert not out.exists() and not (tmp_path / "nope").exists()


def test_a_fifo_is_written_through_and_its_reader_gets_the_whole_page(exported: Exported, tmp_path: Path) -> None:
    fifo = tmp_path / "page.fifo"
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = report("--dest", exported.dest("duckdb"), "-o", str(fifo))
    reader.join(30)  # a FIFO replaced by a file is never opened for writing: the reader would wait for ever
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced"
    assert read, "the reader got nothing"
    page = read[0].decode("utf-8")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert embedded(page)["overview"] == query_rows(exported.dest("duckdb"), "overview", {})[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.fifo"], "no temp file left"


def test_a_symlink_stays_a_link_and_its_target_gets_the_page(exported: Exported, tmp_path: Path) -> None:
    target = tmp_path / "pages" / "real.html"
    target.parent.mkdir()
    target.write_text("an older page", encoding="utf-8")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    result = report("--dest", exported.dest("duckdb"), "-o", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.readlink() == target
    assert embedded(target.read_text(encoding="utf-8"))["overview"]["steps"] == len(exported.steps)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["pages", "real.html", "report.html"], "no temp file left"


def test_dev_null_stays_a_character_device(exported: Exported) -> None:
    try:
        result = report("--dest", exported.dest("duckdb"), "-o", "/dev/null")
        assert result.exit_code == 0, result.output
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null was replaced by a regular file"
    finally:
        if not stat.S_ISCHR(os.lstat("/dev/null").st_mode) and os.geteuid() == 0:  # leave the machine as it was
            os.remove("/dev/null")
            os.mknod("/dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.chmod("/dev/null", 0o666)


@pytest.mark.parametrize(
    ("dest", "message"), [("missing.duckdb", "no DuckDB file at"), ("missing-root", "does not exist")]
)
def test_a_missing_destination_is_an_error(tmp_path: Path, dest: str, message: str) -> None:
    out = tmp_path / "report.html"
    result = report("--dest", str(tmp_path / dest), "-o", str(out))
    assert result.exit_code == 2 and result.output.startswith("error: ") and message in result.output
    assert not out.exists() and not (tmp_path / dest).exists()


def test_without_prices_the_cost_charts_say_not_priced(exported: Exported, tmp_path: Path) -> None:
    import shutil

    dest = tmp_path / "unpriced.duckdb"
    shutil.copy(exported.dest("duckdb"), dest)
    with duckdb.connect(str(dest)) as con:
        con.execute("DELETE FROM model_prices")
    page, data = write(tmp_path, str(dest))
    assert data["overview"]["cost_usd"] is None and data["overview"]["unpriced_runs"] == len(exported.runs)
    assert '<div class="value">not priced</div>' in page
    # unpriced_models is a warning: its row says WARN and the verdict counts it apart from failures.
    checks = len(sqlfiles.sql_files("checks"))
    assert f"{checks - 1} of {checks} checks pass; 1 warn (over" in page
    assert '<tr class="warn"><td><span class="badge">WARN</span></td><td><code>unpriced_models</code>' in page
    cost_panels = [p for p in PANELS if p.measure == "cost_usd"]
    assert len(cost_panels) >= 5
    for panel in cost_panels:
        shown = next(p for p in data["panels"] if p["id"] == panel.id)
        assert shown["rows"] and shown["spec"] is None, panel.id  # the rows (CSV) stay, no empty chart
        figure = page[page.index(f'id="panel-{panel.id}"') :]
        assert figure[: figure.index("</figure>")].count("Not priced: no run here has a price") == 1
    assert_panels_match_queries(str(dest), data, page)


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_second_era_gets_its_charts(kind: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    dest = shared_eras(tmp_path_factory).dest(kind)
    page, data = write(tmp_path, dest)
    assert_panels_match_queries(dest, data, page)
    eras = [p for p in PANELS if p.only_if == ("era", "responses")]
    assert len(eras) == 2
    for panel in eras:
        shown = next(p for p in data["panels"] if p["id"] == panel.id)
        assert {row["era"] for row in shown["rows"]} == {"assistants", "responses"}
    assert '<a href="#assistants-and-responses">Assistants and Responses</a>' in page


def test_one_era_leaves_the_era_charts_out(exported: Exported, tmp_path: Path) -> None:
    page, data = write(tmp_path, exported.dest("duckdb"))
    assert not [p for p in data["panels"] if p["query"].startswith("era_")]
    assert "Assistants and Responses" not in page


def test_a_destination_of_responses_alone_gets_its_era_charts(tmp_path: Path) -> None:
    """It got the 'No run steps here yet' page, and a cost card saying it had no prices (it had, for responses)."""
    dest = str(tmp_path / "responses.duckdb")
    with serve_in_thread(ERAS_CONFIG) as fake:
        settings = Settings(api_key=Secret(ERAS_CONFIG.api_key), base_url=fake.base_url, api="responses")
        truth = fake.responses.truth
        sources = ResponseSources(responses=tuple(truth.responses), conversations=tuple(truth.conversations))
        assert run_responses_export(settings, sources, ExportOptions(dest=dest)).exit_code == 0
    page, data = write(tmp_path, dest)
    assert 'id="empty"' not in page and "no runs in scope" in page and "no prices at this destination" not in page
    eras = [p for p in PANELS if p.only_if == ("era", "responses")]
    for panel in eras:
        shown = next(p for p in data["panels"] if p["id"] == panel.id)
        assert shown["rows"] and {row["era"] for row in shown["rows"]} == {"responses"}, panel.id
    assert_panels_match_queries(dest, data, page)
