"""Load: write the tables and the export state to a destination (Parquet dataset or DuckDB file)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from etl.sharding import Shard

if TYPE_CHECKING:
    from etl.load.base import Destination

# New DuckDB files are written so that DuckDB 1.2 and later open them (analysts' CLIs, notebooks, BI drivers and
# dbt still run 1.x); "latest" writes DuckDB's newest format, which only the newest DuckDB reads.
DUCKDB_STORAGE_VERSION = "v1.2.0"


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
