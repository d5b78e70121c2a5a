"""``runsteps prices``: write the prices the cost views use, and list what is priced and what is not."""

from __future__ import annotations

import os

import click
import pyarrow as pa

from etl.cli._common import handle_errors
from etl.cli._format import FORMATS, render
from etl.errors import DestinationError
from etl.load import is_duckdb_uri, open_destination
from etl.preflight import check_destination


def price_options(func: click.decorators.FC) -> click.decorators.FC:
    """--prices and --model-map (shared by prices and export)."""
    func = click.option(
        "--model-map",
        metavar="FILE",
        help="CSV deployment,model: the model each Azure/Foundry deployment runs (kept at the destination).",
    )(func)
    return click.option(
        "--prices",
        "prices_file",
        metavar="FILE",
        help="CSV model,input_usd_per_mtok,cached_input_usd_per_mtok,output_usd_per_mtok[,valid_from]: "
        "overrides or adds to the bundled genai-prices data (kept at the destination).",
    )(func)


@click.command()
@click.option("--dest", required=True, help="*.duckdb or a Parquet root (directory or s3://bucket/prefix).")
@price_options
@click.option("--s3-endpoint-url", help="Endpoint of an S3-compatible store. Default: $AWS_ENDPOINT_URL.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")
@handle_errors
def prices(dest: str, prices_file: str | None, model_map: str | None, s3_endpoint_url: str | None, fmt: str) -> None:
    """Write model_prices at DEST for the models its runs use; list what is priced and what is not.

    Prices come from the genai-prices data installed with this tool (never downloaded) and from --prices.
    Exit codes: 0 written (unpriced models are listed, not an error); 2 a bad file or destination.
    """
    from etl.load.fs import open_store  # pyarrow.fs and pyarrow.parquet: not for every command that has --prices
    from etl.prices import COVERS, load_price_book, write_model_prices

    book = load_price_book(prices_file, model_map)  # a bad file stops here, before the destination is touched
    check_destination(dest)
    if is_duckdb_uri(dest):
        if not os.path.isfile(dest):
            raise DestinationError(f"no DuckDB file at {dest}: export into it first")
    else:
        open_store(dest, endpoint_url=s3_endpoint_url)  # must exist: prices alone never create a destination
    with open_destination(dest, s3_endpoint_url=s3_endpoint_url) as opened:
        report = write_model_prices(opened, book)
    rows = [
        {
            "model": use.model,
            "runs": use.runs,
            "unpriced_runs": use.runs - use.priced_runs,
            "priced_as": use.current.priced_as if use.current else None,
            "source": use.current.source if use.current else None,
            "input_usd_per_mtok": use.current.input_usd_per_mtok if use.current else None,
            "cached_input_usd_per_mtok": use.current.cached_input_usd_per_mtok if use.current else None,
            "output_usd_per_mtok": use.current.output_usd_per_mtok if use.current else None,
        }
        for use in report.models
    ]
    table = pa.Table.from_pylist(rows) if rows else pa.table({"model": pa.array([], pa.string())})
    click.echo(render(table, fmt), nl=False)
    if fmt in ("table", "markdown"):
        unpriced = ", ".join(f"{u.model or '(no model)'} ({u.runs - u.priced_runs} runs)" for u in report.unpriced)
        click.echo(f"\nmodel_prices: {report.rows} rows written to {dest}; prices shown are the latest")
        click.echo(f"unpriced: {unpriced or 'none'}" + (" (give --prices or --model-map)" if unpriced else ""))
        click.echo(COVERS)
