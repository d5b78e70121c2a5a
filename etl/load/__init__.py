"""Load: write the tables and the export state to a destination (Parquet dataset or DuckDB file)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from etl.errors import InputError
from etl.sharding import Shard

if TYPE_CHECKING:
    from etl.load.base import Destination

# New DuckDB files are written so that DuckDB 1.2 and later open them (analysts' CLIs, notebooks, BI drivers and
# dbt still run 1.x); "latest" writes DuckDB's newest format, which only the newest DuckDB reads.
DUCKDB_STORAGE_VERSION = "v1.2.0"
_STORAGE_VERSION = re.compile(r"latest|v\d+\.\d+\.\d+")


def parse_storage_version(text: str) -> str:
    """``latest`` or a DuckDB version (``v1.2.0``) this DuckDB can write files for; checked without opening a file.

    The default is taken as it is (a test checks that DuckDB writes it): a Parquet export then never imports duckdb,
    and no export opens a database only to ask.
    """
    value = text.strip()
    if value == DUCKDB_STORAGE_VERSION or (_STORAGE_VERSION.fullmatch(value) and _writes(value)):
        return value
    import duckdb

    raise InputError(
        f"DuckDB storage version {text!r} is not one DuckDB {duckdb.__version__} writes: give latest, or the "
        f"oldest DuckDB release that must read the file as vX.Y.Z (default {DUCKDB_STORAGE_VERSION})"
    )


@functools.cache
def _writes(version: str) -> bool:
    """True when this DuckDB knows ``version`` (asked once: opening an in-memory database to ask is not free)."""
    import duckdb

    try:
        duckdb.connect(":memory:", config={"storage_compatibility_version": version}).close()
    except duckdb.Error:
        return False
    return True


def is_duckdb_uri(uri: str) -> bool:
    """True when ``--dest`` names a DuckDB file (``*.duckdb``); anything else is a Parquet root."""
    return uri.lower().endswith(".duckdb")


def open_destination(
    uri: str,
    shard: Shard | None = None,
    *,
    read_only: bool = False,
    s3_endpoint_url: str | None = None,
    duckdb_storage_version: str = DUCKDB_STORAGE_VERSION,
) -> Destination:
    """The destination ``--dest`` names: ``*.duckdb`` is a DuckDB file, anything else a Parquet root.

    ``s3_endpoint_url``: an S3-compatible store's endpoint (default ``$AWS_ENDPOINT_URL``).
    ``duckdb_storage_version``: the storage format of a DuckDB file this creates (an existing file keeps its own).
    """
    from etl.preflight import check_destination

    check_destination(uri, read_only=read_only)  # before anything is created or claimed
    shard = shard or Shard()
    if is_duckdb_uri(uri):
        from etl.load.duckdb import DuckDBDestination

        return DuckDBDestination(uri, shard, read_only=read_only, storage_version=duckdb_storage_version)
    from etl.load.parquet import ParquetDestination

    return ParquetDestination(uri, shard, read_only=read_only, s3_endpoint_url=s3_endpoint_url)
