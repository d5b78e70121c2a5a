"""Import run steps (and runs, threads and assistants) that people saved as JSON, through an export's write path.

Accepted, in any mix, gzipped or plain (gzip is recognised by its magic bytes, not by the name):

- list pages as the API returned them: ``{"object": "list", "data": [...], "has_more": ...}``;
- single run step objects (``"object": "thread.run.step"``) and run objects (``"object": "thread.run"``);
- thread (``"object": "thread"``) and assistant (``"object": "assistant"``, Foundry's agents too) objects, so the
  tables that name a run's thread and assistant are filled as an export fills them;
- JSON Lines of any of those, and JSON arrays of any of those;
- what the official SDK's ``model_dump_json()`` writes: the API's shape, plus every field the SDK declares
  set to null. Such a ``"expired_at": null`` beside an ``expires_at`` is read as not sent, as the API sends
  these steps (see ``etl.transform.steps``). A page dumped from the SDK may lack ``"object"``: an object with
  a ``data`` array is a page; an object with ``step_details`` and no ``object`` is a run step.

Paths are files or directories; directories are walked recursively in name order, taking the files named
``*.json``, ``*.jsonl``, ``*.ndjson`` (optionally ``.gz``) and skipping hidden ones. JSON Lines stream; a
file that is one JSON document is parsed whole, so one such file must fit in memory (all files never do).

Every row's ``extracted_at`` is the moment of the import (the files do not say when they were fetched).
No run records are written: the destination's export state keeps describing what exports fetched, so an
imported run counts as never exported and a later export fetches it again (replacing its rows) if it can.

A bad record (not JSON, not one of those objects, missing or bad id, a field of the wrong type...) is reported as
``path:line: reason`` and skipped; ``strict`` checks every file before anything is written and raises
``InputError`` (exit 2) if any record is bad, so a strict import writes all or nothing.
"""

from __future__ import annotations

import gzip
import io
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from etl.errors import InputError
from etl.extract.ids import validate_id
from etl.load import DUCKDB_STORAGE_VERSION, open_destination
from etl.load.base import Destination
from etl.load.batch import BATCH_OBJECTS, Batch, Written, write_batch
from etl.prices import PriceBook, write_model_prices
from etl.sharding import Shard
from etl.summary import LoadSummary
from etl.transform.entities import GONE
from etl.values import Json, iso

DIRECTORY_SUFFIXES = (".json", ".jsonl", ".ndjson")
_GZIP_MAGIC = b"\x1f\x8b"
# Bounds on what is held at once: a JSON Lines record (a page of 100 steps with big outputs is a few MB), and a
# whole JSON document (a pretty-printed file). Without them a file with no line break (/dev/zero) took all memory.
MAX_LINE_BYTES = 64 << 20
MAX_DOCUMENT_BYTES = 1 << 30
_KEPT_PROBLEMS = 1000  # problems kept by name in the summary; all are counted and all are reported as they occur
_STEP_FIELDS = {"id": str, "run_id": str, "thread_id": str, "type": str, "created_at": int}
_RUN_FIELDS = {"id": str, "thread_id": str, "created_at": int}
_ENTITY_FIELDS = {"id": str, "created_at": int}
# "object" of a record -> (the Batch kind it is written as, its name in messages)
_KINDS = {
    "thread.run.step": ("steps", "run step"),
    "thread.run": ("runs", "run"),
    "thread": ("threads", "thread"),
    "assistant": ("assistants", "assistant"),
}


@dataclass(frozen=True)
class Problem:
    """A record (or a whole file) that was not imported, and why."""

    path: str
    line: int | None  # 1-based; None when the whole file is at fault
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}" if self.line is not None else f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class _Record:
    """One run step, run, thread or assistant object found in a file."""

    kind: str  # the Batch kind: "steps", "runs", "threads" or "assistants"
    obj: Json
    path: str
    line: int
    where: str  # inside the line's JSON value, e.g. "[3].data[17]"; "" for the value itself


@dataclass(kw_only=True)
class ImportSummary(LoadSummary):
    """What an import did; ``as_dict`` is the ``--metrics-json`` object."""

    kind: ClassVar[str] = "import"
    extracted_at: datetime
    strict: bool = False
    files: int = 0
    bad_records: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first ones; ``bad_records`` counts all

    def count(self, written: Written) -> None:
        """Add one written batch; an import settles no run, so ``runs_ok`` counts the run objects it wrote."""
        super().count(written)
        self.runs_ok += written.objects.get("runs", 0)

    def head(self) -> list[str]:
        """What was imported, from how many files."""
        entities = "".join(f", {self.rows[name]} {name}" for name in ("threads", "assistants") if self.rows.get(name))
        return [
            f"imported {self.steps} steps and {self.runs_ok} runs{entities} from {self.files} files into {self.dest}"
            f" in {self.elapsed_s:.1f}s (extracted_at {iso(self.extracted_at)})"
        ]

    def tail(self) -> list[str]:
        """How many records were skipped (each was reported as it was found)."""
        return [f"bad records skipped: {self.bad_records}"]


def run_import(
    paths: Sequence[str],
    dest: str,
    *,
    extracted_at: datetime,
    strict: bool = False,
    batch_size: int = BATCH_OBJECTS,
    on_problem: Callable[[Problem], None] | None = None,
    s3_endpoint_url: str | None = None,
    duckdb_storage_version: str = DUCKDB_STORAGE_VERSION,
) -> ImportSummary:
    """Load the run steps, runs, threads and assistants in ``paths`` into ``dest``; ``extracted_at`` (use now) stamps
    every row.

    ``on_problem`` hears each bad record as it is found. With ``strict``, any bad record raises ``InputError``
    and nothing is written (the destination is not even created). ``duckdb_storage_version``: the storage
    format of a DuckDB file this creates.
    """
    started = time.monotonic()
    moment = datetime.fromtimestamp(int(extracted_at.timestamp()), UTC)
    files = list(iter_input_files(paths))
    if strict:
        check = ImportSummary(dest=dest, extracted_at=moment, strict=True)
        _load(files, moment, None, check, batch_size, on_problem)
        if check.bad_records:
            raise InputError(f"{check.bad_records} bad records in {len(files)} files (--strict): nothing was written")
        on_problem = None  # the files were read once already: a second report would repeat the first
    summary = ImportSummary(dest=dest, extracted_at=moment, strict=strict)
    with open_destination(
        dest, s3_endpoint_url=s3_endpoint_url, duckdb_storage_version=duckdb_storage_version
    ) as destination:
        _load(files, moment, destination, summary, batch_size, on_problem)
        write_model_prices(destination, PriceBook())  # the runs' models priced, as an export does
        summary.elapsed_s = time.monotonic() - started
        destination.record_export(summary.as_dict() | {"shard": str(Shard()), "started_at": iso(moment)})
    return summary


def iter_input_files(paths: Iterable[str]) -> Iterator[Path]:
    """The files to read: each path that is a file, and the JSON files under each directory (name order)."""
    for text in paths:
        path = Path(text)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if not name.startswith(".") and name.removesuffix(".gz").endswith(DIRECTORY_SUFFIXES):
                        yield Path(root) / name
        elif path.exists():
            yield path
        else:
            raise InputError(f"{text}: no such file or directory")


def _load(
    files: list[Path],
    extracted_at: datetime,
    destination: Destination | None,
    summary: ImportSummary,
    batch_size: int,
    on_problem: Callable[[Problem], None] | None,
) -> None:
    """Read every file into batches; write each batch to ``destination`` (None: only check the records)."""

    def report(problem: Problem) -> None:
        summary.bad_records += 1
        if len(summary.problems) < _KEPT_PROBLEMS:
            summary.problems.append(problem)
        if on_problem is not None:
            on_problem(problem)

    batch, sources = Batch(), dict[str, _Record]()
    for path in files:
        summary.files += 1
        for item in iter_records(path):
            if isinstance(item, Problem):
                report(item)
                continue
            batch.add(item.kind, item.obj, extracted_at)
            sources[item.obj["id"]] = item  # to name the record the transform refuses
            if batch.objects >= batch_size:
                _flush(batch, sources, destination, summary, report)
                batch, sources = Batch(), {}
    if batch:
        _flush(batch, sources, destination, summary, report)


def _flush(
    batch: Batch,
    sources: dict[str, _Record],
    destination: Destination | None,
    summary: ImportSummary,
    report: Callable[[Problem], None],
) -> None:
    """Write a batch (or only transform it); each object the transform refuses is left out and reported."""
    written = write_batch(destination, batch)
    for object_id, exc in written.refused.items():
        source = sources[object_id]
        report(_problem(source.path, source.line, source.where, str(exc)))
    summary.count(written)


# -- reading files -----------------------------------------------------------------------------------------


def iter_records(path: Path) -> Iterator[_Record | Problem]:
    """Every run step, run, thread and assistant object in one file, and a ``Problem`` for each record that is not
    one."""
    name = str(path)
    try:
        with _open(path) as stream:
            yield from _records_of(stream, name)
    except (OSError, EOFError, zlib.error) as exc:  # unreadable, or gzip damaged part way
        yield Problem(name, None, f"cannot read the file ({exc})")
    except _NotJsonText as exc:  # the rest of the file is not read
        yield Problem(name, exc.line, exc.reason)


class _NotJsonText(Exception):
    """A file that cannot hold JSON text: a line past ``MAX_LINE_BYTES``, a NUL byte, a document too big."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _lines(stream: io.BufferedIOBase, before: int = 0) -> Iterator[bytes]:
    """The stream's lines, none held longer than ``MAX_LINE_BYTES``; ``_NotJsonText`` for a binary file."""
    number = before
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if b"\x00" in line:
            raise _NotJsonText(number, "a NUL byte: a binary file, not JSON")
        if len(line) > MAX_LINE_BYTES:
            raise _NotJsonText(number, f"longer than {MAX_LINE_BYTES >> 20} MiB: not a JSON Lines record")
        yield line


def _open(path: Path) -> io.BufferedIOBase:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _records_of(stream: io.BufferedIOBase, path: str) -> Iterator[_Record | Problem]:
    """JSON Lines when the first non-blank line is a whole JSON value; else one JSON document."""
    head: list[bytes] = []
    for line in _lines(stream):
        head.append(line)
        if not line.strip():
            continue
        try:
            value = orjson.loads(_strip_bom(line) if len(head) == 1 else line)
        except orjson.JSONDecodeError:
            break  # the first value spans lines: a (pretty-printed) JSON document
        yield from _values(value, path, len(head))
        yield from _json_lines(_lines(stream, len(head)), path, len(head))
        return
    else:
        return  # only blank lines: nothing to import
    start = b"".join(head)
    text = _strip_bom(start + stream.read(MAX_DOCUMENT_BYTES + 1 - len(start)))
    if len(text) > MAX_DOCUMENT_BYTES:
        raise _NotJsonText(None, f"a JSON document over {MAX_DOCUMENT_BYTES >> 30} GiB: give it as JSON Lines")
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        lines = text.splitlines(keepends=True)
        if len(lines) > 1 and any(_is_json(line) for line in lines[1:]):
            # JSON Lines whose first line is broken: report line by line and keep the good ones.
            yield from _json_lines(lines, path, 0)
        else:
            yield Problem(path, exc.lineno, f"not JSON ({exc.msg} at column {exc.colno})")
        return
    yield from _values(document, path, 1)


def _json_lines(lines: Iterable[bytes], path: str, before: int) -> Iterator[_Record | Problem]:
    for number, line in enumerate(lines, start=before + 1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Problem(path, number, f"not JSON ({exc.msg} at column {exc.colno})")
            continue
        yield from _values(value, path, number)


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _strip_bom(data: bytes) -> bytes:
    return data.removeprefix(b"\xef\xbb\xbf")


def _values(value: Any, path: str, line: int) -> Iterator[_Record | Problem]:
    """The records of one JSON value: an array of pages or objects, a page, or one object."""
    if isinstance(value, list):
        for index, element in enumerate(value):
            yield from _page_or_object(element, path, line, f"[{index}]")
    else:
        yield from _page_or_object(value, path, line, "")


def _page_or_object(value: Any, path: str, line: int, where: str) -> Iterator[_Record | Problem]:
    if isinstance(value, dict) and (value.get("object") == "list" or ("object" not in value and "data" in value)):
        data = value.get("data")
        if not isinstance(data, list):
            yield _problem(path, line, where, "a list page without a data array")
            return
        for index, element in enumerate(data):
            yield _record(element, path, line, f"{where}.data[{index}]" if where else f"data[{index}]")
    else:
        yield _record(value, path, line, where)


def _record(value: Any, path: str, line: int, where: str) -> _Record | Problem:
    """One object as a run step, run, thread or assistant record, or the ``Problem`` that says why it is none."""
    if not isinstance(value, dict):
        return _problem(path, line, where, f"not a JSON object but {type(value).__name__}")
    kind = value.get("object")
    if kind is None and "step_details" in value:
        kind = "thread.run.step"
    if not isinstance(kind, str) or kind not in _KINDS:
        return _problem(path, line, where, f"not a run step, run, thread or assistant (object: {kind!r})")
    batch_kind, noun = _KINDS[kind]
    required = {"steps": _STEP_FIELDS, "runs": _RUN_FIELDS}.get(batch_kind, _ENTITY_FIELDS)
    missing = _missing(value, required) or _bad_id(value)
    if missing:
        return _problem(path, line, where, f"{noun} {_name(value)}{missing}")
    if batch_kind == "steps":
        value = _as_api_sent(value)
    elif GONE in value:  # the tables' own mark of a deleted assistant: never taken from a file
        value = {key: item for key, item in value.items() if key != GONE}
    return _Record(batch_kind, value, path, line, where)


def _bad_id(obj: Json) -> str:
    """Why one of the ids a row is keyed by could not be an API id ("" when they all could): ids end up in URLs
    (a later export, an Airflow ``threads_query``) and in Parquet paths."""
    for name, kind in (("id", "object"), ("run_id", "run"), ("thread_id", "thread")):
        if name in obj:
            try:
                validate_id(kind, obj[name])
            except InputError:
                return f"with a bad {name} ({obj[name]!r:.40}): an id is letters, digits, '_' and '-'"
    return ""


def _missing(obj: Json, required: dict[str, type]) -> str:
    """Why ``obj`` lacks a field every row needs ("" when it has them all)."""
    for name, type_ in required.items():
        value = obj.get(name)
        if value is None:
            return f"without {'an' if name == 'id' else 'a'} {name}"
        if not isinstance(value, type_) or isinstance(value, bool) or value == "":
            return f"with a bad {name} ({value!r:.40})"
    return ""


def _name(obj: Json) -> str:
    """The object's id to name it by, when it has a good one (a bad one is quoted by the reason instead)."""
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id or _bad_id({"id": object_id}):
        return ""
    return f"{object_id} "


def _as_api_sent(step: Json) -> Json:
    """A step as the API sent it: the SDK writes ``expired_at: null`` where the API sent only ``expires_at``."""
    if "expires_at" in step and "expired_at" in step and step["expired_at"] is None:
        return {key: value for key, value in step.items() if key != "expired_at"}
    return step


def _problem(path: str, line: int, where: str, reason: str) -> Problem:
    return Problem(path, line, f"{where}: {reason}" if where else reason)
