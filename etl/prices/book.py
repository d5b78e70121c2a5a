"""Model name (or deployment) + moment -> prices: the user's file first, then the bundled genai-prices data.

Deployments reach a model through the map. A file's periods for a model override genai-prices' from their first
``valid_from`` on; before it, genai-prices' periods still apply. What a destination keeps (``model_prices``) is
enough to rebuild the files' prices and the map, so a later export without the files keeps them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import pyarrow as pa

from etl.prices import catalog
from etl.prices.files import UserPrice
from etl.schema import MODEL_PRICES


@dataclass(frozen=True)
class Price:
    """What a million tokens of a model cost from ``valid_from`` up to ``valid_to`` (exclusive; None: still)."""

    model: str  # as runs name it (a deployment, for Azure)
    priced_as: str  # the model whose prices these are
    provider: str | None  # genai-prices' provider id; None for a file's prices
    valid_from: datetime
    valid_to: datetime | None
    input_usd_per_mtok: float
    cached_input_usd_per_mtok: float | None  # None: cached tokens cost the input price
    output_usd_per_mtok: float
    source: str

    def covers(self, at: datetime) -> bool:
        """True when ``at`` falls in this period."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def cost_usd(self, prompt: int, cached: int, completion: int) -> float:
        """The cost of some tokens: cached prompt tokens at the cached price, and only there."""
        cached_price = self.cached_input_usd_per_mtok
        if cached_price is None:
            cached_price = self.input_usd_per_mtok
        uncached = (prompt - cached) * self.input_usd_per_mtok
        return (uncached + cached * cached_price + completion * self.output_usd_per_mtok) / 1e6


class PriceBook:
    """The prices of every model at every date, from a prices file (optional) and genai-prices."""

    def __init__(self, user_prices: Iterable[UserPrice] = (), model_map: Mapping[str, str] | None = None) -> None:
        grouped: defaultdict[str, list[UserPrice]] = defaultdict(list)
        for price in user_prices:
            grouped[price.model].append(price)
        self.user_prices = {model: sorted(prices, key=lambda p: p.valid_from) for model, prices in grouped.items()}
        self.model_map = dict(model_map or {})

    def priced_as(self, model: str) -> str:
        """The model a name is priced as: its mapped model for a deployment, else itself."""
        return self.model_map.get(model, model)

    def periods(self, model: str) -> list[Price]:
        """Every price period of a model (or deployment), oldest first; empty when nothing prices it."""
        target = self.priced_as(model)
        # A file may price the deployment itself, or the model it maps to.
        named = next((name for name in (model, target) if name in self.user_prices), None)
        found = catalog.lookup(target)
        base = [] if found is None else [
            Price(model, target, found.provider, p.valid_from, p.valid_to, p.input, p.cached_input, p.output,
                  catalog.source())
            for p in found.periods
        ]  # fmt: skip
        if named is None:
            return base
        lines = self.user_prices[named]
        first = lines[0].valid_from
        # genai-prices' periods before the file's first line still hold, cut off where the file takes over.
        before = [
            replace(p, valid_to=first) if p.valid_to is None or p.valid_to > first else p
            for p in base
            if p.valid_from < first
        ]
        own = [
            Price(model, named, None, line.valid_from, lines[i + 1].valid_from if i + 1 < len(lines) else None,
                  line.input, line.cached_input, line.output, line.source)
            for i, line in enumerate(lines)
        ]  # fmt: skip
        return before + own

    def price_at(self, model: str, at: datetime) -> Price | None:
        """The price of a model (or deployment) at a moment (timezone-aware); None when unpriced then."""
        return next((p for p in self.periods(model) if p.covers(at)), None)

    def table(self, models: Iterable[str]) -> pa.Table:
        """``model_prices`` rows: every period of these models and of every name the prices file and map give."""
        names = sorted({*models, *self.user_prices, *self.model_map})
        prices = [price for name in names for price in self.periods(name)]
        columns = {f.name: pa.array([getattr(p, f.name) for p in prices], f.type) for f in MODEL_PRICES.schema}
        return pa.table(columns, schema=MODEL_PRICES.schema)

    def over(self, stored: pa.Table) -> PriceBook:
        """This book on top of what a destination kept: earlier files' prices and map entries stay unless replaced."""
        kept_prices: list[UserPrice] = []
        kept_map: dict[str, str] = {}
        for row in stored.to_pylist():
            if row["model"] != row["priced_as"]:
                kept_map[row["model"]] = row["priced_as"]
            if row["provider"] is None and row["priced_as"] not in self.user_prices:
                kept_prices.append(
                    UserPrice(row["priced_as"], row["valid_from"], row["input_usd_per_mtok"],
                              row["cached_input_usd_per_mtok"], row["output_usd_per_mtok"], row["source"])
                )  # fmt: skip
        unique = {(p.model, p.valid_from): p for p in kept_prices}  # a priced_as is stored once per model using it
        prices = [*unique.values(), *(p for lines in self.user_prices.values() for p in lines)]
        return PriceBook(prices, kept_map | self.model_map)
