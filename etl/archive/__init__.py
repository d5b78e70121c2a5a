"""The raw archive: every API response an export receives, kept as received, and replayed without the API.

    format.py    one response as one JSON line (body kept byte for byte)
    writer.py    open_archive / ArchiveWriter: gzipped JSON Lines by fetch date, published atomically
    reader.py    the archive's part files and their lines
    replay.py    run_replay: rebuild the tables from an archive alone, as the export wrote them

Layout: ``<archive>/responses/fetched_date=YYYY-MM-DD/part-<uuid>.jsonl.gz``.
"""

from etl.archive.format import ArchivedResponse, decode_line, encode_line
from etl.archive.writer import ArchiveWriter, open_archive

__all__ = ["ArchiveWriter", "ArchivedResponse", "decode_line", "encode_line", "open_archive"]
