"""Leave-one-out "similar items" over the catalogue, through the shop's own selectors."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db.models import QuerySet

from evaluation.common import DEFAULT_K_VALUES, PER_GROUP_K, EvaluationError, ProductLabels
from evaluation.metrics import similar_items_metrics
from recommendations.models import ProductEmbedding
from recommendations.selectors import (
    product_similar_list,
    product_visually_similar_list,
)
from recommendations.services import active_model_name
from shop.models import Product

# Which similar-items list is measured: what product pages show, or the raw visual neighbours.
SELECTORS: dict[str, Callable[..., list]] = {
    "served": product_similar_list,
    "visual": product_visually_similar_list,
}


def catalogue_products() -> QuerySet[Product]:
    """Products on sale (active, in stock, with a price) with a ready embedding for the active
    model, by id: what similar items can show."""
    ready = ProductEmbedding.objects.filter(model_name=active_model_name(), status=ProductEmbedding.Status.READY)
    return (
        Product.objects.filter(is_active=True, stock__gt=0, price__isnull=False, pk__in=ready.values("product_id"))
        .select_related("category__parent")
        .order_by("pk")
    )


def product_labels(product: Product) -> ProductLabels:
    category = product.category
    parent = category.parent if category is not None else None
    return ProductLabels(
        article_type_id=category.pk if category is not None else None,
        article_type=category.name if category is not None else "",
        sub_category_id=parent.pk if parent is not None else None,
        sub_category=parent.name if parent is not None else "",
        gender=product.gender,
        base_colour=product.base_colour,
        usage=product.usage,
    )


def labels_load(product_ids: Iterable[int]) -> dict[int, ProductLabels]:
    """Labels of these products (any status), by id."""
    products = Product.objects.select_related("category__parent").in_bulk(sorted(set(product_ids)))
    return {pk: product_labels(product) for pk, product in products.items()}


def neighbours_collect(
    products: Iterable[Product],
    *,
    k: int,
    selector: str = "served",
    on_product: Callable[[], None] | None = None,
) -> dict[int, list[int]]:
    """Each product's k similar product ids, in the shop's order, through the shop's own selector."""
    similar_list = SELECTORS[selector]
    neighbours: dict[int, list[int]] = {}
    for product in products:
        neighbours[product.pk] = [item.product.pk for item in similar_list(product=product, k=k)]
        if on_product is not None:
            on_product()
    return neighbours


def similar_items_evaluate(
    *,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    limit: int | None = None,
    selector: str = "served",
    on_total: Callable[[int], None] | None = None,
    on_product: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-out over the catalogue: each product's similar items judged by its own labels.

    Shares of neighbours with the same articleType / subCategory / gender, catalogue coverage and
    Gini of recommendation counts for each k, and precision@5 per articleType. Each k is asked for
    on its own, as a page showing k items does: the served list for k=5 is not the first five of
    the list for k=10. With `limit`, only the first `limit` products by id are queried; coverage
    and Gini still count the whole catalogue. on_total gets the number of requests to be made.
    """
    if selector not in SELECTORS:
        raise EvaluationError(f"Unknown similar-items list {selector!r}; expected one of {sorted(SELECTORS)}.")
    catalogue = list(catalogue_products())
    if not catalogue:
        raise EvaluationError(
            f"No product on sale (active, in stock, with a price) has a ready {active_model_name()} embedding: "
            "import a catalogue and run `manage.py embed_products --missing --now` first."
        )
    queries = catalogue if limit is None else catalogue[:limit]
    sizes = sorted({*k_values, PER_GROUP_K})
    if on_total is not None:
        on_total(len(queries) * len(sizes))
    lists = {k: neighbours_collect(queries, k=k, selector=selector, on_product=on_product) for k in sizes}
    labels = {product.pk: product_labels(product) for product in catalogue}
    shown = {pk for neighbours in lists.values() for ids in neighbours.values() for pk in ids}
    labels.update(labels_load(shown - labels.keys()))
    result = {"selector": selector, "function": f"recommendations.selectors.{SELECTORS[selector].__name__}"}
    result.update(similar_items_metrics(lists, labels, [product.pk for product in catalogue], k_values=k_values))
    return result
