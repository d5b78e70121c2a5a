"""The schema's derived forms: the README listing stays in step, and the DuckDB DDL takes the Arrow batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from paths import FIXTURES, REPO

from etl import schema
from etl.transform import to_runs_table, to_step_tables

EXTRACTED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_readme_schema_section_equals_the_schema() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start, end = schema.README_MARKERS
    assert readme.count(start) == 1 and readme.count(end) == 1
    section = readme.split(start)[1].split(end)[0]
    assert section.strip() == schema.markdown().strip(), "run: python -m etl.schema --write-readme"
    assert "| `tool_call_index` | INTEGER | no |" in section


def test_write_readme_rewrites_only_the_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    start, end = schema.README_MARKERS
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{start}\nstale listing\n{end}\n\n## After\n", encoding="utf-8")
    assert schema.main(["--write-readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith(f"{end}\n\n## After\n")
    assert "stale listing" not in text and schema.markdown() in text
    assert schema.main(["--write-readme", str(readme)]) == 0
    assert "already up to date" in capsys.readouterr().out
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no section"):
        schema.main(["--write-readme", str(readme)])


def _step_tables() -> dict[str, pa.Table]:
    steps = json.loads((FIXTURES / "steps_variants_page.json").read_text())["data"]
    runs = [json.loads(line) for line in (FIXTURES / "runs.jsonl").read_text().splitlines()[:2]]
    batches = to_step_tables(steps, EXTRACTED).tables | {"runs": to_runs_table(runs, EXTRACTED)}
    return {name: pa.Table.from_batches([batch]) for name, batch in batches.items()}


def test_duckdb_ddl_creates_tables_that_take_the_transform_batches(tmp_path: Path) -> None:
    tables = _step_tables()
    with duckdb.connect(str(tmp_path / "t.duckdb")) as con:
        con.execute("SET TimeZone = 'UTC'")
        for table in schema.TABLES.values():
            con.execute(schema.duckdb_ddl(table))
            columns = con.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [table.name],
            ).fetchall()
            assert columns == [
                (f.name, schema.duckdb_type(f.type), "YES" if f.nullable else "NO") for f in table.schema
            ]
            con.register("batch", tables[table.name])
            con.execute(f"INSERT INTO {table.name} SELECT * FROM batch")
            con.unregister("batch")
        counts = {name: con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in schema.TABLES}
        assert counts == {"runs": 2, "run_steps": 7, "tool_calls": 8, "code_interpreter_outputs": 2,
                          "file_search_results": 2}  # fmt: skip
        row = con.execute(
            "SELECT created_at, prompt_tokens, metadata_json FROM run_steps WHERE step_id = ?", ["step_v3"]
        ).fetchall()
        assert row == [(datetime(2024, 5, 29, 16, 27, 10, tzinfo=UTC), 5_000_000_000, "{}")]
        # No key index: the writer keeps each key once (etl.load.duckdb), so the DDL alone takes a duplicate.
        con.execute("INSERT INTO tool_calls SELECT * FROM tool_calls LIMIT 1")
        assert con.execute("SELECT count(*) FROM tool_calls").fetchall() == [(9,)]
