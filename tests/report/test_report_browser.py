"""The report in a real browser: Debian's chromium, headless and offline, opens the file, draws every chart
without a console error or a single request, and the page's CSV is the query's result. A screenshot of the
whole page is kept in test-artifacts/ for a person to look at."""

from __future__ import annotations

import csv
import io
import os
import struct
from pathlib import Path
from typing import Any

import duckdb
import pytest
from browser import Browser, chromium_path
from paths import REPO
from report_support import embedded, query_rows
from sql_export import Exported, shared_eras, shared_export

from etl import schema, sqlfiles
from etl.report import Scope, render_report

ARTIFACTS = REPO / "test-artifacts"
READY = "document.body.dataset.ready === 'true'"
# Per panel: its state, whether it has an SVG, and how many of its marks cover some area (a bar of width 0 does not).
PANELS_JS = """
JSON.stringify([...document.querySelectorAll('figure[data-panel]')].map(f => {
  const marks = [...f.querySelectorAll('.chart svg.marks g.role-mark > *')];
  return {
    id: f.dataset.panel,
    state: f.dataset.state,
    svg: f.querySelectorAll('.chart svg.marks').length,
    marks: marks.length,
    visible: marks.filter(m => { const b = m.getBBox(); return b.width * b.height > 0; }).length,
    rows: f.querySelectorAll('table tbody tr').length,
  };
}))
"""

pytestmark = pytest.mark.skipif(
    chromium_path() is None and not os.environ.get("CI"), reason="chromium is not installed (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return shared_export(tmp_path_factory)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def look(page: Path, profile: Path, shot: Path) -> dict[str, Any]:
    """Open ``page`` offline, wait for its charts, and report what the browser saw."""
    import json

    with Browser(profile) as browser:
        browser.open(page, READY)
        panels = json.loads(browser.evaluate(PANELS_JS))
        csv_text = (
            browser.evaluate("window.runstepsReport.csv('top_runs_by_steps')") if "chart-" in page.read_text() else ""
        )
        text = browser.evaluate("document.body.innerText")
        browser.screenshot(shot)
        return {
            "panels": panels,
            "errors": browser.errors(),
            "warnings": browser.warnings(),
            "requests": browser.requests(),
            "csv": csv_text,
            "text": text,
        }


def write_page(dest: str, path: Path) -> Path:
    """The report page of all of ``dest`` written to ``path``."""
    path.write_text(render_report(dest, Scope()), encoding="utf-8")
    return path


def test_every_chart_draws_offline_without_errors(exported: Exported, tmp_path: Path) -> None:
    dest = exported.dest("duckdb")
    page = write_page(dest, tmp_path / "report.html")
    data = embedded(page.read_text(encoding="utf-8"))
    seen = look(page, tmp_path / "profile", ARTIFACTS / "report.png")

    assert seen["errors"] == []
    assert seen["warnings"] == []  # Vega warns when it had to correct a spec
    assert seen["requests"] and all(url.startswith(("file:", "data:", "blob:")) for url in seen["requests"])
    panels = {p["id"]: p for p in seen["panels"]}
    drawn = [p["id"] for p in data["panels"] if p["spec"] and p["rows"]]
    assert len(drawn) >= 14
    for panel_id in drawn:
        got = panels[panel_id]
        assert got["state"] == "chart" and got["svg"] == 1, panel_id
        assert got["visible"] > 0, f"chart {panel_id} drew nothing visible ({got['marks']} marks)"
    assert panels["unanswered_function_calls"]["rows"] == min(
        50, len(query_rows(dest, "function_calls_missing_output", {}))
    )
    assert panels["checks"]["rows"] == len(sqlfiles.sql_files("checks"))
    assert "Run steps report" in seen["text"] and f"{len(exported.steps):,}" in seen["text"]

    rows = query_rows(dest, "top_runs", {"limit": "15"})
    parsed = list(csv.DictReader(io.StringIO(seen["csv"])))
    assert parsed == [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]

    width, height = png_size(ARTIFACTS / "report.png")
    assert width == 1400 and height > 4000  # the whole page, not only the first screen


def test_an_empty_report_opens_cleanly(tmp_path: Path) -> None:
    dest = str(tmp_path / "empty.duckdb")
    with duckdb.connect(dest) as con:
        for table in schema.TABLES.values():
            con.execute(schema.duckdb_ddl(table))
    page = write_page(dest, tmp_path / "empty.html")
    seen = look(page, tmp_path / "profile", ARTIFACTS / "report-empty.png")
    assert seen["errors"] == [] and seen["warnings"] == []
    assert "No run steps here yet" in seen["text"]
    assert all(url.startswith(("file:", "data:", "blob:")) for url in seen["requests"])


def test_both_eras_draw(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    page = write_page(shared_eras(tmp_path_factory).dest("duckdb"), tmp_path / "eras.html")
    data = embedded(page.read_text(encoding="utf-8"))
    seen = look(page, tmp_path / "profile", ARTIFACTS / "report-eras.png")
    assert seen["errors"] == [] and seen["warnings"] == []
    assert all(url.startswith(("file:", "data:", "blob:")) for url in seen["requests"])
    panels = {p["id"]: p for p in seen["panels"]}
    drawn = [p["id"] for p in data["panels"] if p["spec"] and p["rows"]]
    assert {"era_units_per_day", "era_tool_mix"} <= set(drawn)
    for panel_id in drawn:
        assert panels[panel_id]["visible"] > 0, panel_id
