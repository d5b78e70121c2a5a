"""Reading an archive back: its part files, and each file's lines as ``ArchivedResponse`` objects."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from etl.archive.format import ArchivedResponse, ArchiveFormatError, decode_line
from etl.archive.writer import PART_SUFFIX, RESPONSES_DIR
from etl.errors import DestinationError
from etl.load.fs import Store, is_temp_name, open_store, store_error


@dataclass(frozen=True)
class BadLine:
    """A line of an archive file that could not be read, and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def open_archive_store(uri: str, *, s3_endpoint_url: str | None = None) -> Store:
    """The archive root at ``uri`` (local path or ``pyarrow.fs`` URI); it must exist."""
    store = open_store(uri, endpoint_url=s3_endpoint_url, must_exist=True, what="archive")
    if not store.list_files(RESPONSES_DIR):
        raise DestinationError(f"{store.display} holds no archived responses (nothing under {RESPONSES_DIR}/)")
    return store


def part_files(store: Store) -> list[str]:
    """Every published part file of the archive, relative to its root, sorted."""
    return sorted(
        info.path
        for info in store.list_files(RESPONSES_DIR)
        if info.path.endswith(PART_SUFFIX) and not is_temp_name(info.base_name)
    )


def iter_responses(store: Store, path: str) -> Iterator[tuple[int, ArchivedResponse | BadLine]]:
    """Each line of one part file (1-based line numbers) as a response, or as a ``BadLine`` saying why not."""
    with (
        store_error(store, f"read {path}"),
        store.fs.open_input_stream(store.path(path), compression=None) as raw,
        gzip.GzipFile(fileobj=raw, mode="rb") as stream,
    ):
        number = 0
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, decode_line(line)
                except ArchiveFormatError as exc:
                    yield number, BadLine(path, number, str(exc))
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            # A part is published whole, so this is damage done after the fact: report it and go on.
            yield number + 1, BadLine(path, number + 1, f"file is damaged ({exc})")
