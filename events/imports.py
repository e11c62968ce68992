"""Importing real purchase histories: readers for each file layout and the writer.

Layouts (each in its public dataset's own files, so the full download reads as the sample does):

- ``hm``: Kaggle "H&M Personalized Fashion Recommendations": ``articles.csv``, ``transactions_train.csv``,
  optional ``customers.csv``, ``images/0XX/<article_id>.jpg``.
- ``online-retail``: UCI Online Retail invoice lines in one CSV (the folder's only ``.csv``, or the file).
- ``movielens``: GroupLens MovieLens 100K (``u.data``, ``u.item``); a rating is read as a purchase.

Readers stream the files row by row and yield either a parsed row or a `Problem` (line and reason),
so a bad line never stops an import. The writer creates products through the shop's services and
events in batches keyed by `Interaction.external_id`, so a re-run adds nothing twice.
"""

from __future__ import annotations

import csv
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

LAYOUTS = ("hm", "online-retail", "movielens")
EVENT_BATCH = 5000
PRODUCT_CHUNK = 200
# H&M's prices are scaled by the competition to below 1 (not a currency): x1000 keeps three
# significant digits in the shop's two-decimal price.
HM_PRICE_SCALE = Decimal(1000)
# H&M has no order id: one customer's purchases on one day form a basket.
HM_GENDERS = {"Ladieswear": "Women", "Menswear": "Men", "Baby/Children": "Kids"}
# A repeated H&M row is another unit, told apart by its count within the day; the counts of a day
# are kept until the file is this far past it (Kaggle's file is in date order).
HM_REPEAT_WINDOW = timedelta(days=7)
# Online Retail products have 5-digit codes, sometimes with a letter suffix (85123A); the rest are
# postage, manual lines, discounts, fees, samples and gift vouchers (POST, M, D, DOT, BANK CHARGES...).
RETAIL_PRODUCT_CODE = re.compile(r"^\d{5}[A-Z]{0,4}$")
RETAIL_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID")
HM_ARTICLE_COLUMNS = ("article_id", "prod_name", "product_type_name", "product_group_name", "index_group_name")
HM_TRANSACTION_COLUMNS = ("t_dat", "customer_id", "article_id", "price")
SKU_PREFIX = {"hm": "hm-", "online-retail": "or-", "movielens": "ml-"}


class InteractionFileError(Exception):
    """The history as a whole cannot be read (missing file, wrong header, unknown layout)."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    key: str
    reason: str


@dataclass(frozen=True)
class ProductRow:
    line: int
    sku: str
    name: str
    category: tuple[str, str, str] | None  # master, sub, article type
    gender: str = ""
    base_colour: str = ""
    description: str = ""
    price: Decimal | None = None
    image: Path | None = None
    missing_image: str = ""  # the image file the layout expects but the folder lacks


@dataclass(frozen=True)
class EventIn:
    line: int
    external_id: str
    customer_key: str
    sku: str
    kind: str
    quantity: int
    basket: str
    created_at: datetime


@dataclass
class ImportSummary:
    products_created: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    products_without_image: int = 0
    events_read: int = 0
    events_added: int = 0
    kinds: Counter = field(default_factory=Counter)  # events read per kind
    skipped: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # imported, with a remark

    @property
    def events_existing(self) -> int:
        return self.events_read - self.events_added

    def summary(self) -> str:
        kinds = ", ".join(f"{count} {kind}s" for kind, count in sorted(self.kinds.items()))
        return (
            f"products: {self.products_created} created, {self.products_updated} updated, "
            f"{self.products_unchanged} unchanged ({self.products_without_image} without an image); "
            f"events: {self.events_added} added, {self.events_existing} already imported"
            f"{f' ({kinds} read)' if kinds else ''}; {len(self.skipped)} rows skipped"
        )


# --- Reading ---------------------------------------------------------------------------------


def _open_csv(path: Path, required: tuple[str, ...], *, encoding: str = "utf-8") -> Iterator[tuple[int, dict]]:
    """(line number, row) for each data row; the header must hold the `required` columns."""
    if not path.is_file():
        raise InteractionFileError(f"{path} not found.")
    with path.open(newline="", encoding=encoding, errors="replace") as file:
        reader = csv.DictReader(file)
        missing = [column for column in required if column not in (reader.fieldnames or [])]
        if missing:
            raise InteractionFileError(f"{path.name} lacks the column(s) {', '.join(missing)}.")
        for row in reader:
            yield reader.line_num, row


def _decimal(text: str) -> Decimal:
    value = Decimal(text.strip())
    if not value.is_finite():
        raise InvalidOperation
    return value


def _price(row: dict, column: str) -> Decimal:
    """The row's price in `column`; ValueError naming the column when it is not a number of 0 or more."""
    try:
        price = _decimal(row.get(column) or "")
    except InvalidOperation:
        price = None
    if price is None or price < 0:
        raise ValueError(f"{column} {row.get(column)!r} is not a number of 0 or more")
    return price


def hm_article_id(text: str) -> str:
    """A 10-digit article id; copies of the Kaggle file that read it as a number lost the leading zero."""
    text = text.strip()
    if not text.isdigit() or len(text) > 10:
        raise ValueError(f"article_id {text!r} is not a number of up to 10 digits")
    return text.zfill(10)


def hm_transactions(root: Path) -> Iterator[EventIn | Problem]:
    """Each row of transactions_train.csv is one unit bought; a repeated row is another unit."""
    path = root / "transactions_train.csv"
    counts: dict[datetime, Counter] = {}
    for line, row in _open_csv(path, HM_TRANSACTION_COLUMNS):
        customer = (row.get("customer_id") or "").strip()
        try:
            article = hm_article_id(row.get("article_id") or "")
        except ValueError as exc:
            yield Problem(path.name, line, customer, str(exc))
            continue
        if not customer or len(customer) > 80:
            yield Problem(path.name, line, article, f"customer_id {customer!r} is empty or too long")
            continue
        try:
            day = _hm_day((row.get("t_dat") or "").strip())
        except ValueError:
            yield Problem(path.name, line, article, f"t_dat {row.get('t_dat')!r} is not a date YYYY-MM-DD")
            continue
        try:
            _price(row, "price")  # checked here; products take their price from hm_transactions_prices
        except ValueError as exc:
            yield Problem(path.name, line, article, str(exc))
            continue
        if day not in counts:
            newest = max(counts, default=day)
            if day < newest - HM_REPEAT_WINDOW:
                yield Problem(
                    path.name,
                    line,
                    article,
                    f"t_dat {day:%Y-%m-%d} is out of date order (rows up to {newest:%Y-%m-%d} read)",
                )
                continue
            for old in [seen for seen in counts if seen < max(newest, day) - HM_REPEAT_WINDOW]:
                del counts[old]
            counts[day] = Counter()
        channel = (row.get("sales_channel_id") or "").strip()
        key = (customer, article, channel)
        counts[day][key] += 1
        yield EventIn(
            line=line,
            external_id=f"{day:%Y-%m-%d}:{customer}:{article}:{channel}:{counts[day][key]}",
            customer_key=customer,
            sku=SKU_PREFIX["hm"] + article,
            kind="purchase",
            quantity=1,
            basket=f"{customer[:40]}:{day:%Y-%m-%d}",
            created_at=day,
        )


@functools.lru_cache(maxsize=4096)
def _hm_day(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


def hm_prices(root: Path) -> dict[str, Decimal]:
    """Each article's price: its latest sale's (rows that do not parse are reported by hm_transactions)."""
    prices: dict[str, tuple[datetime, Decimal]] = {}
    for event in hm_transactions_prices(root):
        article, day, price = event
        if article not in prices or prices[article][0] <= day:
            prices[article] = (day, price)
    return {article: (price * HM_PRICE_SCALE).quantize(Decimal("0.01")) for article, (_, price) in prices.items()}


def hm_transactions_prices(root: Path) -> Iterator[tuple[str, datetime, Decimal]]:
    for _, row in _open_csv(root / "transactions_train.csv", HM_TRANSACTION_COLUMNS):
        try:
            article = hm_article_id(row.get("article_id") or "")
            day = _hm_day((row.get("t_dat") or "").strip())
            price = _price(row, "price")
        except ValueError:
            continue
        yield article, day, price


def hm_articles(root: Path, prices: dict[str, Decimal]) -> Iterator[ProductRow | Problem]:
    path = root / "articles.csv"
    for line, row in _open_csv(path, HM_ARTICLE_COLUMNS):
        try:
            article = hm_article_id(row.get("article_id") or "")
        except ValueError as exc:
            yield Problem(path.name, line, (row.get("article_id") or "").strip(), str(exc))
            continue
        image = root / "images" / article[:3] / f"{article}.jpg"
        index_group = (row.get("index_group_name") or "").strip()
        yield ProductRow(
            line=line,
            sku=SKU_PREFIX["hm"] + article,
            name=(row.get("prod_name") or "").strip()[:300] or f"Article {article}",
            category=(
                index_group,
                (row.get("product_group_name") or "").strip(),
                (row.get("product_type_name") or "").strip(),
            ),
            gender=HM_GENDERS.get(index_group, ""),
            base_colour=(row.get("colour_group_name") or "").strip()[:40],
            description=(row.get("detail_desc") or "").strip(),
            price=prices.get(article),
            image=image if image.is_file() else None,
            missing_image="" if image.is_file() else f"images/{article[:3]}/{article}.jpg",
        )


def hm_customers(root: Path) -> Iterator[Problem]:
    """customers.csv is optional; only its malformed ids are worth reporting."""
    path = root / "customers.csv"
    if not path.is_file():
        return
    for line, row in _open_csv(path, ("customer_id",)):
        customer = (row.get("customer_id") or "").strip()
        if not customer or len(customer) > 80:
            yield Problem(path.name, line, customer, f"customer_id {customer!r} is empty or too long")


def retail_file(root: Path) -> Path:
    if root.is_file():
        return root
    candidates = sorted(root.glob("*.csv"))
    if len(candidates) != 1:
        raise InteractionFileError(f"{root} must hold exactly one .csv of Online Retail invoice lines.")
    return candidates[0]


@functools.lru_cache(maxsize=65536)  # the lines of one invoice share its date: parse each once
def _retail_date(text: str) -> datetime:
    text = text.strip()
    if len(text) in (16, 19) and text[4] == "-" and text[10] == " ":
        try:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)  # C, far quicker than strptime
        except ValueError:
            pass
    # The UCI spreadsheet exported as CSV writes 12/1/2010 8:26.
    for pattern in ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"InvoiceDate {text!r} is not a date and time")


@dataclass(frozen=True)
class RetailLine:
    line: int
    invoice: str
    code: str
    description: str
    quantity: int
    created_at: datetime
    price: Decimal
    customer: str


def retail_lines(path: Path) -> Iterator[RetailLine | Problem]:
    for line, row in _open_csv(path, RETAIL_COLUMNS):
        invoice = (row.get("InvoiceNo") or "").strip()
        code = (row.get("StockCode") or "").strip().upper()
        if not invoice or not code:
            yield Problem(path.name, line, f"{invoice}/{code}", "empty InvoiceNo or StockCode")
            continue
        key = f"{invoice}/{code}"
        if not RETAIL_PRODUCT_CODE.match(code):
            yield Problem(
                path.name, line, key, f"non-product stock code {code} ({(row.get('Description') or '').strip()})"
            )
            continue
        try:
            quantity = int((row.get("Quantity") or "").strip())
        except ValueError:
            yield Problem(path.name, line, key, f"Quantity {row.get('Quantity')!r} is not a whole number")
            continue
        if quantity == 0:
            yield Problem(path.name, line, key, "Quantity is 0")
            continue
        try:
            created_at = _retail_date(row.get("InvoiceDate") or "")
        except ValueError as exc:
            yield Problem(path.name, line, key, str(exc))
            continue
        try:
            price = _price(row, "UnitPrice")
        except ValueError as exc:
            yield Problem(path.name, line, key, str(exc))
            continue
        customer = (row.get("CustomerID") or "").strip()
        if customer.endswith(".0") and customer[:-2].isdigit():
            customer = customer[:-2]  # copies read through a spreadsheet write 17850.0
        if customer and not customer.isdigit():
            yield Problem(path.name, line, key, f"CustomerID {customer!r} is not a number")
            continue
        yield RetailLine(
            line, invoice, code, (row.get("Description") or "").strip(), quantity, created_at, price, customer
        )


def retail_products(path: Path) -> Iterator[ProductRow | Problem]:
    """One product per stock code: its latest non-empty description and latest price above 0."""
    names: dict[str, str] = {}
    prices: dict[str, Decimal] = {}
    first_line: dict[str, int] = {}
    for item in retail_lines(path):
        if isinstance(item, Problem):
            continue  # reported once, by retail_events
        first_line.setdefault(item.code, item.line)
        if item.description:
            names[item.code] = item.description
        if item.price > 0 and item.quantity > 0:
            prices[item.code] = item.price.quantize(Decimal("0.01"))
    for code, line in first_line.items():
        yield ProductRow(
            line=line,
            sku=SKU_PREFIX["online-retail"] + code,
            name=names.get(code, "")[:300] or f"Stock item {code}",
            category=None,
            price=prices.get(code),
        )


def retail_events(path: Path) -> Iterator[EventIn | Problem]:
    """Invoice lines: a basket per invoice; C invoices and negative quantities are returns."""
    seen: Counter = Counter()
    for item in retail_lines(path):
        if isinstance(item, Problem):
            yield item
            continue
        returned = item.invoice.upper().startswith("C") or item.quantity < 0
        seen[(item.invoice, item.code)] += 1
        yield EventIn(
            line=item.line,
            external_id=f"{item.invoice}:{item.code}:{seen[(item.invoice, item.code)]}",
            customer_key=item.customer,
            sku=SKU_PREFIX["online-retail"] + item.code,
            kind="return" if returned else "purchase",
            quantity=abs(item.quantity),
            basket=item.invoice,
            created_at=item.created_at,
        )


def movielens_products(root: Path) -> Iterator[ProductRow | Problem]:
    path = root / "u.item"
    if not path.is_file():
        raise InteractionFileError(f"{path} not found.")
    with path.open(encoding="latin-1") as file:
        for line, text in enumerate(file, start=1):
            parts = text.rstrip("\n").split("|")
            if len(parts) < 2 or not parts[0].strip().isdigit():
                yield Problem(path.name, line, parts[0][:20], "not a movie line (id|title|...)")
                continue
            yield ProductRow(
                line=line, sku=SKU_PREFIX["movielens"] + parts[0].strip(), name=parts[1][:300], category=None
            )


def movielens_events(root: Path) -> Iterator[EventIn | Problem]:
    path = root / "u.data"
    if not path.is_file():
        raise InteractionFileError(f"{path} not found.")
    with path.open(encoding="latin-1") as file:
        for line, text in enumerate(file, start=1):
            parts = text.split()
            if len(parts) != 4 or not all(part.isdigit() for part in parts):
                yield Problem(path.name, line, text[:20].strip(), "not user item rating timestamp")
                continue
            user, item, _, stamp = parts
            yield EventIn(
                line=line,
                external_id=f"{user}:{item}:{stamp}",
                customer_key=user,
                sku=SKU_PREFIX["movielens"] + item,
                kind="purchase",
                quantity=1,
                basket="",
                created_at=datetime.fromtimestamp(int(stamp), UTC),
            )


def count_lines(path: Path) -> int:
    """Data rows of a file (lines less the header), for the progress bar; read in 1 MB blocks."""
    total = 0
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            total += block.count(b"\n")
    return max(total - 1, 0)


# --- Writing ---------------------------------------------------------------------------------


def interactions_import(
    *,
    root: Path,
    layout: str,
    on_stage: Callable[[str, int], None] | None = None,
    on_row: Callable[[], None] | None = None,
) -> ImportSummary:
    """Import a purchase history in `layout` from `root`: products first, then the events. Safe to re-run.

    `on_stage(title, total rows)` starts each stage and `on_row()` ticks it, for a progress bar.
    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise InteractionFileError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}.")
    if not root.exists():
        raise InteractionFileError(f"{root} not found.")
    summary = ImportSummary()
    if layout == "hm":
        summary.skipped.extend(hm_customers(root))
        products: Iterator[ProductRow | Problem] = hm_articles(root, hm_prices(root))
        product_total = count_lines(root / "articles.csv")
        events: Iterator[EventIn | Problem] = hm_transactions(root)
        event_total = count_lines(root / "transactions_train.csv")
    elif layout == "online-retail":
        path = retail_file(root)
        products, product_total = retail_products(path), 0
        events, event_total = retail_events(path), count_lines(path)
    else:
        products, product_total = movielens_products(root), count_lines(root / "u.item") + 1
        events, event_total = movielens_events(root), count_lines(root / "u.data") + 1
    if on_stage:
        on_stage("Products", product_total)
    ids = _products_write(products, summary, on_row)
    if on_stage:
        on_stage("Events", event_total)
    _events_write(events, source=layout, product_ids=ids, summary=summary, on_row=on_row)
    return summary


def _products_write(
    rows: Iterator[ProductRow | Problem], summary: ImportSummary, on_row: Callable[[], None] | None
) -> dict[str, int]:
    from django.db import transaction

    from recommendations.services import embeddings_deferred
    from shop.thumbnails import thumbnails_deferred

    ids: dict[str, int] = {}
    categories: dict[tuple[str, str, str], object] = {}
    chunk: list[ProductRow] = []

    def flush() -> None:
        from shop.models import Product

        # One transaction per chunk: an interrupted import keeps what it finished.
        with transaction.atomic(), embeddings_deferred(), thumbnails_deferred():
            existing = Product.objects.in_bulk([row.sku for row in chunk], field_name="sku")
            plain: list[Product] = []
            for row in chunk:
                product_id = _product_write(row, summary, categories, existing.get(row.sku), plain)
                if product_id is not None:
                    ids[row.sku] = product_id
            # New products without an image need none of the per-product work of product_create
            # (image checks, embedding and thumbnail scheduling): one INSERT for the chunk.
            for product in Product.objects.bulk_create(plain):
                ids[product.sku] = product.pk
        chunk.clear()

    for row in rows:
        if on_row:
            on_row()
        if isinstance(row, Problem):
            summary.skipped.append(row)
            continue
        if row.sku in ids or any(pending.sku == row.sku for pending in chunk):
            summary.skipped.append(Problem("", row.line, row.sku, "duplicate product id"))
            continue
        chunk.append(row)
        if len(chunk) >= PRODUCT_CHUNK:
            flush()
    if chunk:
        flush()
    return ids


def _product_write(row: ProductRow, summary: ImportSummary, categories: dict, product, plain: list) -> int | None:
    """Create or update one product; returns its id, or None when it was queued in `plain` for bulk_create."""
    from django.core.files.base import ContentFile

    from shop.images import ImageError, load_image
    from shop.models import Product
    from shop.services import category_get_or_create, product_create, product_update

    category = None
    if row.category is not None:
        if row.category not in categories:
            master, sub, article = row.category
            categories[row.category] = category_get_or_create(master=master, sub=sub, article=article)
        category = categories[row.category]
    image_bytes = None
    if row.image is not None:
        try:
            image_bytes = row.image.read_bytes()
            load_image(image_bytes)
        except (OSError, ImageError) as exc:
            summary.notes.append(
                Problem("", row.line, row.sku, f"image {row.image.name} unreadable ({exc}): imported without it")
            )
            image_bytes = None
    if image_bytes is None:
        summary.products_without_image += 1
        if row.missing_image:
            summary.notes.append(Problem("", row.line, row.sku, f"no {row.missing_image}: imported without an image"))
    fields = {
        "name": row.name,
        "category": category,
        "gender": row.gender,
        "base_colour": row.base_colour,
        "description": row.description,
        "price": row.price,
    }
    from django.conf import settings

    stock = settings.IMPORT_DEFAULT_STOCK  # the files say nothing of stock; products already here keep theirs
    if product is None and image_bytes is None:
        new = Product(sku=row.sku, stock=stock, **fields)
        new.clean_fields()
        plain.append(new)
        summary.products_created += 1
        return None
    if product is None:
        data = {"sku": row.sku, "stock": stock, **fields}
        if image_bytes is not None:
            data["image"] = ContentFile(image_bytes, name=f"{row.sku}.jpg")
        product = product_create(data=data)
        summary.products_created += 1
        return product.pk
    import hashlib

    changed = {name: value for name, value in fields.items() if getattr(product, name) != value}
    if image_bytes is not None and product.image_sha256 != hashlib.sha256(image_bytes).hexdigest():
        changed["image"] = ContentFile(image_bytes, name=f"{row.sku}.jpg")
    if changed:
        product_update(product=product, data=changed)
        summary.products_updated += 1
    else:
        summary.products_unchanged += 1
    return product.pk


def _events_write(
    events: Iterator[EventIn | Problem],
    *,
    source: str,
    product_ids: dict[str, int],
    summary: ImportSummary,
    on_row: Callable[[], None] | None,
) -> None:
    batch: list[EventIn] = []
    for event in events:
        if on_row:
            on_row()
        if isinstance(event, Problem):
            summary.skipped.append(event)
            continue
        if event.sku not in product_ids:
            summary.skipped.append(Problem("", event.line, event.sku, "product not among the imported products"))
            continue
        batch.append(event)
        if len(batch) >= EVENT_BATCH:
            _events_batch_write(batch, source, product_ids, summary)
            batch = []
    if batch:
        _events_batch_write(batch, source, product_ids, summary)


def _events_batch_write(batch: list[EventIn], source: str, product_ids: dict[str, int], summary: ImportSummary) -> None:
    from django.db import transaction

    from events.models import Interaction

    with transaction.atomic():
        existing = set(
            Interaction.objects.filter(
                source=source, external_id__in=[event.external_id for event in batch]
            ).values_list("external_id", flat=True)
        )
        rows = [
            Interaction(
                customer_key=event.customer_key,
                product_id=product_ids[event.sku],
                kind=event.kind,
                quantity=event.quantity,
                basket=event.basket,
                surface=Interaction.Surface.IMPORT,
                source=source,
                external_id=event.external_id,
                created_at=event.created_at,
            )
            for event in batch
            if event.external_id not in existing
        ]
        # ON CONFLICT DO NOTHING as well: a concurrent run of the same file adds nothing twice either.
        Interaction.objects.bulk_create(rows, ignore_conflicts=True)
    summary.events_read += len(batch)
    summary.events_added += len(rows)
    summary.kinds.update(event.kind for event in batch)
