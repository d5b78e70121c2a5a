# ruff: noqa: F811  (pytest fixtures imported from parquet_support are used as parameters)
"""`runsteps report` over a Parquet root on S3 (a real moto server on 127.0.0.1): the same page data as the same
root read locally, every chart its query's result on S3; the Airflow report task writes its page into the bucket."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from parquet_support import S3, moto_server, s3  # noqa: F401
from pyarrow import fs as pafs
from report_support import embedded
from sql_export import Exported, shared_export
from test_report import assert_panels_match_queries, write


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return shared_export(tmp_path_factory)


def upload(root: str, s3: S3, prefix: str) -> str:
    """The local Parquet root copied under ``prefix`` of the test's bucket; its ``s3://`` URI."""
    pafs.copy_files(root, f"{s3.bucket}/{prefix}", destination_filesystem=s3.fs)
    return s3.uri(prefix)


def test_a_report_over_s3_holds_each_querys_result(exported: Exported, s3: S3, tmp_path: Path) -> None:
    dest = upload(exported.dest("parquet"), s3, "lake")
    page, data = write(tmp_path, dest)
    assert_panels_match_queries(dest, data, page)
    assert data["dest"] == dest
    (tmp_path / "local").mkdir()
    _, local = write(tmp_path / "local", exported.dest("parquet"))
    assert [p["rows"] for p in data["panels"]] == [p["rows"] for p in local["panels"]]
    assert data["overview"] == local["overview"] and data["overview"]["steps"] == len(exported.steps)


def test_the_airflow_report_task_writes_into_the_bucket(exported: Exported, s3: S3) -> None:
    from etl.orchestrate import report_step

    dest = upload(exported.dest("parquet"), s3, "lake")
    start, end = datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC)
    written = report_step({"dest": dest, "report": True, "report_days": 3}, start, end)
    key = f"{s3.bucket}/lake/_reports/2026-01-03.html"
    assert written["report"] == key
    with s3.fs.open_input_stream(key) as stream:
        data = embedded(stream.read().decode("utf-8"))
    days = {"2026-01-01", "2026-01-02", "2026-01-03"}
    steps = [s for s in exported.steps if datetime.fromtimestamp(s["created_at"], UTC).date().isoformat() in days]
    assert 0 < data["overview"]["steps"] == len(steps) < len(exported.steps)
