"""Write ``model_prices`` at a destination for the models its runs use, and say what is priced and what is not."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from etl.load.base import Destination
from etl.prices.book import Price, PriceBook
from etl.prices.files import read_model_map, read_prices_file
from etl.schema import MODEL_PRICES

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
    """Replace ``model_prices`` with the prices of every model the runs use (plus what the files name)."""
    runs = dest.read_table("runs", ["model", "created_at"])
    stored = dest.read_table(MODEL_PRICES.name, MODEL_PRICES.schema.names)
    book = book.over(stored)
    moments: dict[str | None, list[datetime]] = {}
    for model, created_at in zip(runs["model"].to_pylist(), runs["created_at"].to_pylist(), strict=True):
        moments.setdefault(model, []).append(created_at)
    table = book.table(m for m in moments if m is not None)
    dest.replace_table(MODEL_PRICES, table)
    report = PricesReport(rows=table.num_rows)
    for model in sorted(moments, key=lambda m: (m is None, m or "")):
        periods = book.periods(model) if model is not None else []
        priced = Counter(any(p.covers(at) for p in periods) for at in moments[model])
        report.models.append(ModelUse(model, len(moments[model]), priced[True], periods[-1] if periods else None))
    return report
