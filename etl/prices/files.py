"""The user's price and deployment files, read and checked whole before anything is opened.

``--prices FILE``: CSV with the header ``model,input_usd_per_mtok,cached_input_usd_per_mtok,output_usd_per_mtok``
and an optional ``valid_from`` column (a UTC date or ISO timestamp; empty: since always).
``--model-map FILE``: CSV ``deployment,model`` (Azure and Foundry runs name a deployment, not a model).
Any fault is an ``InputError`` naming the file and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from etl.errors import InputError
from etl.prices.catalog import EPOCH

PRICE_COLUMNS = ("model", "input_usd_per_mtok", "cached_input_usd_per_mtok", "output_usd_per_mtok")
MAP_COLUMNS = ("deployment", "model")


@dataclass(frozen=True)
class UserPrice:
    """One line of a prices file."""

    model: str
    valid_from: datetime
    input: float
    cached_input: float | None
    output: float
    source: str  # the file's name


def read_prices_file(path: str) -> list[UserPrice]:
    """Every price of a prices file; an ``InputError`` naming the line for the first fault."""
    name = Path(path).name
    rows = _rows(path, PRICE_COLUMNS, optional=("valid_from",))
    prices: list[UserPrice] = []
    seen: dict[tuple[str, datetime], int] = {}
    for line, row in rows:
        where = f"{path} line {line}"
        model = _name(row, "model", where)
        cached = row["cached_input_usd_per_mtok"].strip()
        price = UserPrice(
            model=model,
            valid_from=_instant(row.get("valid_from") or "", where),
            input=_usd(row["input_usd_per_mtok"], "input_usd_per_mtok", where),
            cached_input=_usd(cached, "cached_input_usd_per_mtok", where) if cached else None,
            output=_usd(row["output_usd_per_mtok"], "output_usd_per_mtok", where),
            source=name,
        )
        key = (model, price.valid_from)
        if key in seen:
            raise InputError(
                f"{where}: {model} already has a price from {price.valid_from:%Y-%m-%d %H:%M:%S} (line {seen[key]}): "
                "give each model one line per valid_from"
            )
        seen[key] = line
        prices.append(price)
    return prices


def read_model_map(path: str) -> dict[str, str]:
    """Deployment name -> model name, from a ``deployment,model`` CSV; an ``InputError`` naming the line."""
    mapping: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line, row in _rows(path, MAP_COLUMNS):
        where = f"{path} line {line}"
        deployment, model = _name(row, "deployment", where), _name(row, "model", where)
        if deployment in mapping:
            raise InputError(
                f"{where}: deployment {deployment} is already mapped on line {lines[deployment]}: "
                "map each deployment once"
            )
        mapping[deployment], lines[deployment] = model, line
    return mapping


def _rows(path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[tuple[int, dict[str, str]]]:
    """The file's data rows with their line numbers, after checking the header."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file: give the path of a CSV file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({type(exc).__name__}): give a UTF-8 CSV file") from None
    reader = csv.reader(text.splitlines())
    header = [cell.strip() for cell in next(reader, [])]
    expected = ",".join(required) + "".join(f"[,{name}]" for name in optional)
    missing = [c for c in required if c not in header]
    unknown = [c for c in header if c not in required + optional]
    if missing or unknown or len(set(header)) != len(header):
        raise InputError(f"{path} line 1: the header is {','.join(header) or 'empty'}: it must be {expected}")
    rows: list[tuple[int, dict[str, str]]] = []
    for line, cells in enumerate(reader, start=2):
        if not cells or all(not cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise InputError(
                f"{path} line {line}: {len(cells)} fields, the header has {len(header)}: write {','.join(header)}"
            )
        rows.append((line, dict(zip(header, cells, strict=True))))
    if not rows:
        raise InputError(f"{path}: no lines after the header: add at least one line or leave the option out")
    return rows


def _name(row: dict[str, str], column: str, where: str) -> str:
    value = row[column].strip()
    if not value:
        raise InputError(f"{where}: {column} is empty: name it as the API does (e.g. gpt-4o)")
    return value


def _usd(text: str, column: str, where: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise InputError(
            f"{where}: {column} {text.strip()!r} is not a number: give USD per million tokens, e.g. 2.5"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: {column} {text.strip()} is not a price: give a number >= 0, e.g. 2.5")
    return value


def _instant(text: str, where: str) -> datetime:
    text = text.strip()
    if not text:
        return EPOCH
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{where}: valid_from {text!r} is not a date: write YYYY-MM-DD (UTC) or an ISO timestamp"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)
