"""The bundled genai-prices data as price periods: the one module that imports ``genai_prices``.

Only the data inside the installed wheel is read. Its updater (``UpdatePrices``), which downloads newer prices,
is never started: prices must not depend on the network, and must be the same on every run of the same version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Conditional prices are looked at at noon UTC of a period's first day (a time-of-day discount is not a period).
_NOON = time(12, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """Prices in USD per million tokens from ``valid_from`` up to ``valid_to`` (exclusive; None: still)."""

    valid_from: datetime
    valid_to: datetime | None
    input: float
    cached_input: float | None
    output: float


@dataclass(frozen=True)
class Found:
    """A model genai-prices knows: its provider, its own id, and its price periods (oldest first)."""

    provider: str
    model_id: str
    periods: tuple[Period, ...]


def source() -> str:
    """``genai-prices <version>``: where these prices come from."""
    from importlib.metadata import version

    return f"genai-prices {version('genai-prices')}"


def load() -> None:
    """Load genai-prices and its data now (0.1-0.35 s of Python: import and snapshot); ``lookup`` is quick then."""
    from genai_prices import data_snapshot

    data_snapshot.get_snapshot()


@cache
def lookup(model: str) -> Found | None:
    """A model name's price periods, by genai-prices' own matching (``gpt-4o-2024-08-06`` is gpt-4o); None: unknown."""
    from genai_prices import data_snapshot

    try:
        provider, info = data_snapshot.get_snapshot().find_provider_model(model, None, None, None)
    except LookupError:
        return None
    starts = sorted({c.constraint.start_date for c in _conditional(info.prices) if _is_start_date(c.constraint)})
    bounds = [EPOCH, *(datetime.combine(day, time(), UTC) for day in starts)]
    periods: list[Period] = []
    for index, start in enumerate(bounds):
        end = bounds[index + 1] if index + 1 < len(bounds) else None
        prices = info.get_prices(datetime.combine(start.date(), _NOON))
        period = _period(prices, start, end)
        if period is None:
            continue
        previous = periods[-1] if periods else None
        if previous and previous.valid_to == start and _same_prices(previous, period):
            periods[-1] = Period(previous.valid_from, end, period.input, period.cached_input, period.output)
        else:
            periods.append(period)
    return Found(provider.id, info.id, tuple(periods)) if periods else None


def _conditional(prices: Any) -> list[Any]:
    return prices if isinstance(prices, list) else []


def _is_start_date(constraint: Any) -> bool:
    return constraint is not None and isinstance(getattr(constraint, "start_date", None), date)


def _period(prices: Any, start: datetime, end: datetime | None) -> Period | None:
    """A period from a genai-prices ModelPrice; None when it has no token prices (image or audio models)."""
    input_, output = _usd(prices.input_mtok), _usd(prices.output_mtok)
    if input_ is None or output is None:
        return None
    return Period(start, end, input_, _usd(prices.cache_read_mtok), output)


def _usd(value: Any) -> float | None:
    """A per-million price; tiered prices give their base tier (the price below the first threshold)."""
    if value is None:
        return None
    base = getattr(value, "base", value)
    return float(Decimal(base))


def _same_prices(a: Period, b: Period) -> bool:
    return (a.input, a.cached_input, a.output) == (b.input, b.cached_input, b.output)
