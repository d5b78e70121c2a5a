"""The raw archive's writer: lines kept byte for byte, date partitions, rolling, atomic parts, no secrets."""

from __future__ import annotations

import gzip
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner
from parquet_support import S3, moto_server, s3  # noqa: F401 (fixtures)

from etl.archive import ArchivedResponse, decode_line, encode_line, open_archive
from etl.archive.reader import iter_responses, part_files
from etl.archive.writer import _STOP
from etl.cli import cli
from etl.config import Secret, mask_fragments, mask_fragments_in
from etl.errors import DestinationError
from etl.extract import ResponseRecord
from etl.fakeapi import FakeServer
from etl.load.fs import open_store

DAY1 = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)
DAY2 = DAY1 + timedelta(microseconds=1)


def response(n: int, at: datetime = DAY1, body: bytes | None = None) -> ResponseRecord:
    return ResponseRecord(
        method="GET",
        path=f"/threads/thread_{n}/runs/run_{n}/steps",
        query=(("limit", "100"), ("order", "asc")),
        status=200,
        headers={"x-request-id": f"req_{n}"},
        fetched_at=at,
        body=body if body is not None else b'{"object":"list","data":[],"has_more":false,"n":%d}' % n,
    )


def archived_lines(root: Path) -> list[bytes]:
    """Every line of every part under ``root``, decompressed."""
    lines: list[bytes] = []
    for part in sorted(root.rglob("*.jsonl.gz")):
        lines += gzip.decompress(part.read_bytes()).splitlines()
    return lines


def test_a_line_keeps_the_body_byte_for_byte_as_text_or_base64() -> None:
    for body in (b'{"a": "caf\xc3\xa9",  "b" : [1,2]}\n', b"\xff\xfe not utf-8 \x00", b""):
        line = encode_line(
            fetched_at=DAY1, method="GET", path="/p", query=(("after", "step_1"),), status=502,
            headers={"x-request-id": "r"}, body=body,
        )
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        back = decode_line(line)
        assert back.body == body
        assert (back.fetched_at, back.status, back.path, back.query) == (DAY1, 502, "/p", (("after", "step_1"),))
        assert back.headers == {"x-request-id": "r"}
    assert b'"body_encoding":"text"' in encode_line(
        fetched_at=DAY1, method="GET", path="/p", query=(), status=200, headers={}, body=b"{}"
    )


def test_query_parameters_that_could_hold_a_credential_are_never_written() -> None:
    line = encode_line(
        fetched_at=DAY1, method="GET", path="/p", status=200, headers={}, body=b"{}",
        query=(("api-version", "2024-05-01-preview"), ("api-key", "sk-secret-1"), ("limit", "100")),
    )
    assert b"sk-secret-1" not in line
    assert decode_line(line).query == (("api-version", "2024-05-01-preview"), ("limit", "100"))


def test_parts_are_partitioned_by_fetch_date_and_rolled_at_the_record_limit(tmp_path: Path) -> None:
    with open_archive(str(tmp_path), max_records=2) as archive:
        for n in range(3):
            archive.record(response(n, DAY1))
        for n in range(3, 5):
            archive.record(response(n, DAY2))
    parts = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    day1 = [p for p in parts if p.startswith("responses/fetched_date=2026-03-01/part-")]
    day2 = [p for p in parts if p.startswith("responses/fetched_date=2026-03-02/part-")]
    assert (len(day1), len(day2), len(parts)) == (2, 1, 3)  # 2 + 1 on day one, 2 on day two: no temp files left
    assert all(p.endswith(".jsonl.gz") for p in parts)
    store = open_store(str(tmp_path))
    items = [item for path in part_files(store) for _, item in iter_responses(store, path)]
    assert all(isinstance(item, ArchivedResponse) for item in items), items
    assert sorted(item.headers["x-request-id"] for item in items if isinstance(item, ArchivedResponse)) == [
        f"req_{n}" for n in range(5)
    ]
    assert archive.records_written == 5 and len(archive.files_written) == 3


def test_an_old_part_is_published_before_close(tmp_path: Path) -> None:
    with open_archive(str(tmp_path), max_age_s=0.05) as archive:
        archive.record(response(1))
        deadline = time.monotonic() + 5
        while not list(tmp_path.rglob("part-*.jsonl.gz")) and time.monotonic() < deadline:
            time.sleep(0.05)
        published = list(tmp_path.rglob("part-*.jsonl.gz"))
        assert len(published) == 1  # visible while the export still runs
        archive.record(response(2))
    assert len(list(tmp_path.rglob("part-*.jsonl.gz"))) == 2
    assert len(archived_lines(tmp_path)) == 2


def test_flush_publishes_what_was_recorded_and_returns_once_it_is_on_disk(tmp_path: Path) -> None:
    archive = open_archive(str(tmp_path), max_age_s=3600)  # nothing would be published for an hour otherwise
    archive.record(response(1))
    archive.record(response(2))
    archive.flush()
    assert len(archived_lines(tmp_path)) == 2
    archive.flush()  # nothing new: no empty part
    assert len(list(tmp_path.rglob("part-*.jsonl.gz"))) == 1
    archive.close()
    with pytest.raises(DestinationError, match="closed"):
        archive.flush()


def test_masked_fragments_are_found_at_word_starts_in_long_bodies() -> None:
    """Anchored at a word's start: a long run of word characters with no asterisks after it is read once (the
    unanchored pattern rescanned it from every position: 1.7 s for 20 kB)."""
    body = b'{"error": {"message": "key sk-ab***yz and eyJhb***ig refused", "pad": "' + b"x" * 2_000_000 + b'"}}'
    masked = mask_fragments_in(body)
    assert masked == body.replace(b"sk-ab***yz", b"***").replace(b"eyJhb***ig", b"***")
    assert mask_fragments("a***b in ab***cd.") == "*** in ***." and mask_fragments("no stars") == "no stars"


def test_a_body_that_echoes_the_key_is_masked(tmp_path: Path) -> None:
    key = "sk-live-archive-0123456789"
    with open_archive(str(tmp_path), secret=Secret(key)) as archive:
        archive.record(response(1, body=b'{"error": {"message": "bad key sk-live-archive-0123456789"}}'))
    (line,) = archived_lines(tmp_path)
    assert key.encode() not in line
    assert decode_line(line).body == b'{"error": {"message": "bad key ***"}}'


def test_an_error_body_showing_part_of_a_key_is_masked_and_a_page_s_asterisks_are_data(tmp_path: Path) -> None:
    """A 401 shows the key refused as its ends around asterisks (``sk-li***89``, an Azure key ``AbCdE***yZ``): no
    fragment may reach the archive. A page's own text with asterisks is data and stays as sent."""
    refused = b'{"error": {"message": "Incorrect API key provided: AbCdE***yZ and sk-li***89."}}'
    page = b'{"object":"list","data":[{"id":"step_1","output":"***bold*** a***b"}],"has_more":false}'
    with open_archive(str(tmp_path), secret=Secret("sk-live-archive-0123456789")) as archive:
        archive.record(replace(response(1, body=refused), status=401))
        archive.record(response(2, body=page))
    bodies = sorted((decode_line(line).status, decode_line(line).body) for line in archived_lines(tmp_path))
    assert bodies == [(200, page), (401, b'{"error": {"message": "Incorrect API key provided: *** and ***."}}')]


def test_a_failed_write_surfaces_in_the_exporting_thread(tmp_path: Path) -> None:
    archive = open_archive(str(tmp_path))
    (tmp_path / "responses").rmdir()
    (tmp_path / "responses").write_text("a file where the partitions should go")
    archive.record(response(1))
    with pytest.raises(DestinationError, match="cannot write"):
        archive.close()
    with pytest.raises(DestinationError):
        archive.record(response(2))


def test_a_root_that_is_a_file_is_refused_at_open(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DestinationError, match="is a file"):
        open_archive(str(target))


def test_an_archive_that_cannot_be_written_stops_the_export_before_it_starts(
    fake_api: FakeServer, tmp_path: Path
) -> None:
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "responses").write_text("in the way")
    dest = tmp_path / "out.duckdb"
    result = CliRunner().invoke(
        cli,
        ["export", "--thread", fake_api.thread_ids[0], "--dest", str(dest), "--archive", str(tmp_path / "arch"),
         "--base-url", fake_api.base_url, "--no-progress"],
        env={"OPENAI_API_KEY": fake_api.config.api_key},
    )
    assert result.exit_code == 2 and "cannot create responses/" in result.output
    assert not dest.exists() and fake_api.counters.total() == 0


def test_an_object_store_archive_holds_whole_gzip_parts(s3: S3) -> None:  # noqa: F811 (fixture)
    with open_archive(s3.uri("arch"), max_records=2) as archive:
        for n in range(3):
            archive.record(response(n))
    infos = s3.fs.get_file_info(pafs.FileSelector(f"{s3.bucket}/arch", recursive=True))
    names = sorted(info.path for info in infos if info.is_file)
    assert len(names) == 2 and all("/responses/fetched_date=2026-03-01/part-" in name for name in names)
    lines = []
    for name in names:
        with s3.fs.open_input_stream(name, compression=None) as stream:
            lines += gzip.decompress(stream.read()).splitlines()  # gzipped once, not twice
    assert sorted(decode_line(line).headers["x-request-id"] for line in lines) == ["req_0", "req_1", "req_2"]



def test_flush_fails_when_the_writer_has_stopped(tmp_path: Path) -> None:
    archive = open_archive(str(tmp_path), max_age_s=3600)
    archive.record(response(1))
    archive._queue.put(_STOP)  # the writer thread ends as if it had died
    archive._thread.join(timeout=10)
    with pytest.raises(DestinationError, match="stopped writing"):
        archive.flush()
