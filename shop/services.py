"""Writes on the catalogue: categories and the bulk import."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from shop.catalog_files import CatalogError, RowProblem, StyleExtras, StyleRow, read_style_extras, read_styles
from shop.images import ImageError, load_image
from shop.models import Category, Product, sku_validator

IMPORT_CHUNK = 200


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[RowProblem] = field(default_factory=list)
    notes: list[RowProblem] = field(default_factory=list)  # imported, with a repair or warning

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    def summary(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped, {len(self.notes)} imported with notes"
        )


def category_get_or_create(*, master: str, sub: str, article: str) -> Category | None:
    """The articleType node of the tree master → sub → article, created as needed."""
    if not article:
        return None
    parent = None
    for level, name in enumerate([master or "Other", sub or "Other", article]):
        parent, _ = Category.objects.get_or_create(parent=parent, name=name[:100], defaults={"level": level})
    return parent


def catalog_import(
    *,
    root: Path,
    limit: int | None = None,
    stock: int | None = None,
    on_total: Callable[[int], None] | None = None,
    on_row: Callable[[], None] | None = None,
) -> ImportReport:
    """Import or update products from a Kaggle-layout folder. Safe to re-run.

    Good rows are imported; each bad row is reported with its reason and skipped.
    New or changed images are queued for embedding in batches. New products get `stock`
    units (default IMPORT_DEFAULT_STOCK; the dataset has no stock); existing ones keep theirs.
    """
    from recommendations.services import embeddings_deferred
    from shop.thumbnails import thumbnails_deferred

    root = Path(root)
    if not root.is_dir():
        raise CatalogError(f"{root} is not a folder.")
    stock = settings.IMPORT_DEFAULT_STOCK if stock is None else stock
    if not isinstance(stock, int) or isinstance(stock, bool) or stock < 0:
        raise CatalogError(f"stock must be a whole number of 0 or more, not {stock!r}.")
    rows = list(read_styles(root / "styles.csv"))
    if limit is not None:
        rows = rows[:limit]
    if on_total:
        on_total(len(rows))
    report = ImportReport()
    seen: dict[str, int] = {}
    categories: dict[tuple[str, str, str], Category | None] = {}
    for start in range(0, len(rows), IMPORT_CHUNK):
        # One transaction per chunk: an interrupted import keeps what it finished.
        with transaction.atomic(), embeddings_deferred(), thumbnails_deferred():
            for row in rows[start : start + IMPORT_CHUNK]:
                _import_row(root, row, report, seen, categories, stock)
                if on_row:
                    on_row()
    return report


def _import_row(
    root: Path, row: StyleRow | RowProblem, report: ImportReport, seen: dict, categories: dict, stock: int
) -> None:
    if isinstance(row, RowProblem):
        report.skipped.append(row)
        return
    if row.sku in seen:
        report.skipped.append(RowProblem(row.line, row.sku, f"duplicate id (first on line {seen[row.sku]})"))
        return
    seen[row.sku] = row.line
    try:
        sku_validator(row.sku)
    except ValidationError as exc:
        report.skipped.append(RowProblem(row.line, row.sku, exc.messages[0]))
        return
    image_path = root / "images" / f"{row.sku}.jpg"
    try:
        image_bytes = image_path.read_bytes()
        load_image(image_bytes)
    except FileNotFoundError:
        report.skipped.append(RowProblem(row.line, row.sku, f"image images/{row.sku}.jpg not found"))
        return
    except ImageError as exc:
        report.skipped.append(RowProblem(row.line, row.sku, f"image images/{row.sku}.jpg: {exc}"))
        return
    notes = list(row.notes)
    extras = StyleExtras()
    extras_path = root / "styles" / f"{row.sku}.json"
    if extras_path.exists():
        try:
            extras = read_style_extras(extras_path)
        except ValueError as exc:
            notes.append(f"{exc}; price and brand left empty")
    key = (row.master_category, row.sub_category, row.article_type)
    if key not in categories:
        categories[key] = category_get_or_create(master=key[0], sub=key[1], article=key[2])
    fields = {
        "name": row.name,
        "category": categories[key],
        "gender": row.gender[:20],
        "base_colour": row.base_colour[:40],
        "season": row.season[:20],
        "year": row.year,
        "usage": row.usage[:40],
        "brand": extras.brand,
        "description": extras.description,
        "price": extras.price,
        "discounted_price": extras.discounted_price,
    }
    product = Product.objects.filter(sku=row.sku).first()
    if product is None:
        product = Product(sku=row.sku, stock=stock, **fields)
        product.image = ContentFile(image_bytes, name=f"{row.sku}.jpg")
        product.save()
        report.created += 1
    else:
        changed = [name for name, value in fields.items() if getattr(product, name) != value]
        for name in changed:
            setattr(product, name, fields[name])
        if product.image_sha256 != hashlib.sha256(image_bytes).hexdigest():
            product.image = ContentFile(image_bytes, name=f"{row.sku}.jpg")
            changed.append("image")
        if changed:
            product.save()
            report.updated += 1
        else:
            report.unchanged += 1
    for note in notes:
        report.notes.append(RowProblem(row.line, row.sku, note))


# --- Catalogue writes from the REST API (shop/apis.py) ---

CATEGORY_DEPTH_MESSAGE = (
    "Categories have three levels (master category › sub-category › article type); "
    "an article type cannot have sub-categories."
)


class CategoryInUse(Exception):
    """A category that still has sub-categories or products cannot be deleted."""


def _category_level(parent: Category | None) -> int:
    if parent is None:
        return Category.Level.MASTER
    if parent.level >= Category.Level.ARTICLE:
        raise ValidationError({"parent": [CATEGORY_DEPTH_MESSAGE]})
    return parent.level + 1


def category_level_check(*, category: Category | None, parent: Category | None) -> int:
    """The level a new (`category` None) or moved category gets under `parent`.

    Raises ValidationError (on `parent`) when the tree rules forbid it; every entry point
    (API, admin) checks through here.
    """
    if category is None or category.pk is None:
        return _category_level(parent)
    if parent is not None and any(node.pk == category.pk for node in parent.path()):
        raise ValidationError({"parent": ["A category cannot be moved under itself or its own sub-category."]})
    level = _category_level(parent)
    if level != category.level and (category.children.exists() or category.products.exists()):
        # Products hang on article types only, and sub-trees would need re-levelling.
        raise ValidationError(
            {"parent": ["A category with sub-categories or products can only move to the same level."]}
        )
    return level


def category_create(*, name: str, parent: Category | None = None) -> Category:
    category = Category(name=name, parent=parent, level=category_level_check(category=None, parent=parent))
    category.full_clean()
    category.save()
    return category


def category_update(*, category: Category, data: dict) -> Category:
    """Rename and/or move a category (data may hold `name` and `parent`)."""
    if "parent" in data:
        parent = data["parent"]
        level = category_level_check(category=category, parent=parent)
        category.parent, category.level = parent, level
    if "name" in data:
        category.name = data["name"]
    category.full_clean()
    category.save()
    return category


def category_delete(*, category: Category) -> None:
    children = category.children.count()
    if children:
        raise CategoryInUse(f"The category has {children} sub-categories; delete or move them first.")
    products = category.products.count()
    if products:
        raise CategoryInUse(f"{products} products are in this category; move them to another category first.")
    category.delete()


def _product_clean(product: Product) -> None:
    product.full_clean()
    if product.price is not None and product.discounted_price is not None and product.discounted_price > product.price:
        raise ValidationError({"discounted_price": ["The discounted price cannot be higher than the price."]})


@transaction.atomic
def product_create(*, data: dict) -> Product:
    """A new product from validated fields; `image` is an uploaded file already checked by load_image."""
    product = Product(**data)
    _product_clean(product)
    product.save()
    return product


@transaction.atomic
def product_update(*, product: Product, data: dict) -> Product:
    for name, value in data.items():
        setattr(product, name, value)
    _product_clean(product)
    product.save()
    return product


def product_deactivate(*, product: Product) -> Product:
    """Take a product off sale without deleting it, so orders keep their link to it."""
    product.is_active = False
    product.save(update_fields=["is_active", "updated_at"])
    return product


def product_stock_set(*, stock_by_sku: dict[str, int]) -> int:
    """Set the stock of the products with these SKUs; returns how many were updated."""
    updated = 0
    with transaction.atomic():
        for sku, stock in stock_by_sku.items():
            if stock < 0:
                raise ValueError(f"stock of {sku} must not be negative")
            # update() skips Product.save and its signals: only the count changes.
            updated += Product.objects.filter(sku=sku).update(stock=stock)
    return updated
