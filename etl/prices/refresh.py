"""Write ``model_prices`` at a destination for the models its runs use, and say what is priced and what is not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

from etl.load.base import Destination
from etl.prices import catalog
from etl.prices.book import Price, PriceBook
from etl.prices.files import read_model_map, read_prices_file
from etl.schema import MODEL_PRICES

log = logging.getLogger(__name__)

COVERS = (
    "cost = token prices at each run's date (input, cached input, output; reasoning tokens are output); "
    "not included: tool fees (code interpreter sessions, file search calls), vector storage, fine-tuning"
)


@dataclass(frozen=True)
class ModelUse:
    """One model the destination's runs name: how many runs, how many of them have a price at their date."""

    model: str | None
    runs: int
    priced_runs: int
    current: Price | None  # the latest price period (None: none at all)


@dataclass
class PricesReport:
    """What ``write_model_prices`` wrote: the models in use, priced or not, and the rows written."""

    models: list[ModelUse] = field(default_factory=list)
    rows: int = 0

    @property
    def unpriced(self) -> list[ModelUse]:
        """Models with runs that have no price at their date."""
        return [use for use in self.models if use.priced_runs < use.runs]


def load_price_book(prices_file: str | None, model_map_file: str | None) -> PriceBook:
    """The price book from the user's files (either may be None); an ``InputError`` names a bad line."""
    prices = read_prices_file(prices_file) if prices_file else []
    mapping = read_model_map(model_map_file) if model_map_file else {}
    return PriceBook(prices, mapping)


def write_model_prices(dest: Destination, book: PriceBook) -> PricesReport:
    """Replace ``model_prices`` with the prices of every model the runs and responses use (plus what the files
    name)."""
    import pyarrow.compute as pc  # not at import: an export imports this before its first request (start-up)

    stored = dest.read_table(MODEL_PRICES.name, MODEL_PRICES.schema.names)
    book = book.over(stored)
    # Both eras are priced from the same table: the models of the runs and of the responses.
    used = pa.schema([("model", pa.string()), ("created_at", pa.timestamp("us", tz="UTC"))])
    runs = pa.concat_tables(dest.read_table(name, used.names).cast(used) for name in ("runs", "responses"))
    models: list[str | None] = pc.unique(runs["model"]).to_pylist()
    named = [m for m in models if m is not None]
    if named or book.user_prices or book.model_map:
        _load_catalog_during(dest.checkpoint)
    table = book.table(named)
    dest.replace_table(MODEL_PRICES, table)
    report = PricesReport(rows=table.num_rows)
    for model in sorted(models, key=lambda m: (m is None, m or "")):
        mine = pc.is_null(runs["model"]) if model is None else pc.equal(runs["model"], model)
        moments = runs["created_at"].filter(pc.fill_null(mine, False))
        periods = book.periods(model) if model is not None else []
        priced = sum(_count_in(moments, p.valid_from, p.valid_to) for p in periods)
        report.models.append(ModelUse(model, len(moments), priced, periods[-1] if periods else None))
    if report.unpriced:
        names = ", ".join(f"{u.model or '(no model)'} ({u.runs - u.priced_runs} runs)" for u in report.unpriced)
        log.warning("no price for the runs of %s: their cost is NULL (give --prices or --model-map)", names)
    return report


def _load_catalog_during(work: Callable[[], None]) -> None:
    """Run ``work`` while genai-prices' data loads in a thread.

    The data is all Python (0.1-0.35 s, holding the interpreter lock); a DuckDB checkpoint is C++ that does not hold
    it. At the end of an export the two overlap instead of following each other, as they did when the checkpoint came
    with closing the file (20k steps into DuckDB: 0.22 s from the last write to exit before, 0.14 s after).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prices") as pool:
        loading = pool.submit(catalog.load)
        work()
        loading.result()


def _count_in(moments: pa.ChunkedArray, start: datetime, end: datetime | None) -> int:
    """How many moments fall in [start, end) (periods of one model never overlap)."""
    import pyarrow.compute as pc

    inside = pc.greater_equal(moments, pa.scalar(start, moments.type))
    if end is not None:
        inside = pc.and_(inside, pc.less(moments, pa.scalar(end, moments.type)))
    return int(pc.sum(inside).as_py() or 0)
