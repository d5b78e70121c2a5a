"""Costs computed by hand from token counts, independently of the SQL views and of etl.prices.

The prices are written out here as literals (USD per million tokens: input, cached input, output), copied from
the providers' price lists that genai-prices bundles, so a test compares the tool's arithmetic and lookups with
plain numbers.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# model -> (input, cached input, output), USD per million tokens: what the fake API's models cost.
PRICES: dict[str, tuple[float, float, float]] = {
    "gpt-4o": (2.5, 1.25, 10.0),
    "gpt-4o-mini": (0.15, 0.075, 0.6),
    "gpt-4.1": (2.0, 0.5, 8.0),
    "o3-mini": (1.1, 0.55, 4.4),
}


def cached_tokens(usage: Json) -> int:
    """The cached prompt tokens a usage object sends (either spelling), 0 when it sends none."""
    details = usage.get("prompt_token_details") or usage.get("prompt_tokens_details") or {}
    return int(details.get("cached_tokens") or 0)


def cost(usage: Json | None, price: tuple[float, float, float] | None) -> float | None:
    """Uncached prompt tokens at the input price, cached ones at the cached price, completion at the output price."""
    if usage is None or price is None:
        return None
    input_price, cached_price, output_price = price
    cached = cached_tokens(usage)
    uncached = usage["prompt_tokens"] - cached
    return (uncached * input_price + cached * cached_price + usage["completion_tokens"] * output_price) / 1_000_000


def run_cost(run: Json) -> float | None:
    """A fake run's cost at the prices above (None: no usage yet, or a model not listed)."""
    return cost(run.get("usage"), PRICES.get(run.get("model") or ""))
