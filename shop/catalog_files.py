"""Reading a catalogue in the Kaggle "Fashion Product Images" layout.

    PATH/styles.csv            id,gender,masterCategory,subCategory,articleType,baseColour,
                               season,year,usage,productDisplayName
    PATH/images/<id>.jpg
    PATH/styles/<id>.json      optional: price, discountedPrice, brandName, description

The real styles.csv is not valid CSV everywhere (unquoted commas and bare quotes in
names), so each line is read on its own and repaired where the intent is clear.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.utils.html import strip_tags

COLUMNS = [
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
    "productDisplayName",
]


class CatalogError(Exception):
    """The catalogue as a whole cannot be read (missing folder, wrong header)."""


@dataclass
class StyleRow:
    line: int
    sku: str
    gender: str
    master_category: str
    sub_category: str
    article_type: str
    base_colour: str
    season: str
    year: int | None
    usage: str
    name: str
    notes: list[str] = field(default_factory=list)  # repairs made while reading


@dataclass
class RowProblem:
    line: int
    sku: str
    reason: str


@dataclass
class StyleExtras:
    price: Decimal | None = None
    discounted_price: Decimal | None = None
    brand: str = ""
    description: str = ""


def read_styles(path: Path) -> Iterator[StyleRow | RowProblem]:
    """Yield each data line of styles.csv as a StyleRow, or a RowProblem saying why not."""
    if not path.is_file():
        raise CatalogError(f"{path} not found: a catalogue folder needs a styles.csv file.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.splitlines()
    if not lines:
        raise CatalogError(f"{path} is empty.")
    header = [column.strip() for column in next(csv.reader([lines[0]]))]
    if header[: len(COLUMNS)] != COLUMNS:
        raise CatalogError(f"{path} has the header {header}; expected {COLUMNS}.")
    for number, line in enumerate(lines[1:], start=2):
        if line.strip():
            yield _parse_line(number, line)


def _parse_line(number: int, line: str) -> StyleRow | RowProblem:
    notes: list[str] = []
    try:
        values = next(csv.reader([line], strict=True))
    except csv.Error:
        values = []
    if len(values) != len(COLUMNS):
        # The dataset's own defect: a comma inside an unquoted name. The first nine
        # fields never contain commas, so everything after the ninth comma is the name.
        values = line.split(",", len(COLUMNS) - 1)
        if len(values) < len(COLUMNS):
            sku = values[0].strip() if values else ""
            return RowProblem(number, sku, f"expected {len(COLUMNS)} fields, found {len(values)}")
        if line.count(",") > len(COLUMNS) - 1:
            notes.append("name contained unquoted commas")
        else:
            notes.append("name had unbalanced quotes and was kept as written")
    values = [value.strip() for value in values]
    sku = values[0]
    if not sku:
        return RowProblem(number, "", "the id is empty")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", sku):
        return RowProblem(number, sku[:64], f"the id {sku[:40]!r} is not a valid product id")
    name = values[9]
    if not name:
        return RowProblem(number, sku, "productDisplayName is empty")
    year: int | None = None
    if values[7]:
        try:
            year = int(float(values[7]))
        except (ValueError, OverflowError):  # OverflowError: "inf"
            notes.append(f"year {values[7]!r} is not a number and was left empty")
        else:
            if not 1 <= year <= 9999:  # the column is a small positive integer in the database
                notes.append(f"year {values[7]!r} is out of range and was left empty")
                year = None
    return StyleRow(
        line=number,
        sku=sku,
        gender=values[1],
        master_category=values[2],
        sub_category=values[3],
        article_type=values[4],
        base_colour=values[5],
        season=values[6],
        year=year,
        usage=values[8],
        name=name[:300],
        notes=notes,
    )


def read_style_extras(path: Path) -> StyleExtras:
    """Price, brand and description from a styles/<id>.json file; raises ValueError if unreadable."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} is not valid JSON: {exc}") from None
    data = payload.get("data", payload) if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} has no product data")
    descriptors = data.get("productDescriptors") or {}
    description = ""
    if isinstance(descriptors, dict) and isinstance(descriptors.get("description"), dict):
        description = str(descriptors["description"].get("value") or "")
    return StyleExtras(
        price=_money(data.get("price")),
        discounted_price=_money(data.get("discountedPrice")),
        brand=str(data.get("brandName") or "")[:100],
        description=_plain_text(description),
    )


def _money(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    # NaN/infinity and amounts the price column (10 digits, 2 decimals) cannot hold are dropped.
    return amount if amount.is_finite() and 0 <= amount < 10**8 else None


def _plain_text(markup: str) -> str:
    """The text of an HTML fragment. A space before each tag keeps the words of adjacent blocks
    apart ("<p>a</p><p>b</p>" gives "a  b"); strip_tags leaves entities escaped and the
    description is stored as plain text (the template escapes it), so they are unescaped."""
    return html.unescape(strip_tags(markup.replace("<", " <"))).strip()
