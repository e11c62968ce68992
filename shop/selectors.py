"""Reads on the catalogue: listing, faceting, text search and the category tree.

Callable without a request, so the storefront pages and the JSON API share them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest
from django.shortcuts import get_object_or_404

from shop.models import Category, Product
from shop.prices import format_price

SEARCH_CONFIG = "english"
CATEGORY_TYPO_THRESHOLD = 0.5
FACET_ID_LIST_MAX = 5000

SORT_RELEVANCE = "relevance"
SORT_NEWEST = "newest"
SORT_PRICE_ASC = "price_asc"
SORT_PRICE_DESC = "price_desc"
SORT_NAME = "name"
SORT_CHOICES = {
    SORT_RELEVANCE: "Relevance",
    SORT_NEWEST: "Newest",
    SORT_PRICE_ASC: "Price: low to high",
    SORT_PRICE_DESC: "Price: high to low",
    SORT_NAME: "Name",
}

# Effective-price ranges shown as the price facet; both ends inclusive, like price_min/price_max.
PRICE_BUCKETS: tuple[tuple[Decimal | None, Decimal | None], ...] = (
    (None, Decimal(500)),
    (Decimal(500), Decimal(1000)),
    (Decimal(1000), Decimal(2000)),
    (Decimal(2000), Decimal(5000)),
    (Decimal(5000), None),
)

# Listing facets: query-parameter key → the product column counted.
FACET_FIELDS = {
    "gender": "gender",
    "article_type": "category__name",
    "colour": "base_colour",
    "season": "season",
    "usage": "usage",
}


@dataclass(frozen=True)
class ProductFilters:
    q: str = ""
    category_id: int | None = None  # any tree level; includes descendants
    gender: tuple[str, ...] = ()
    article_type: tuple[str, ...] = ()  # article type names
    colour: tuple[str, ...] = ()
    season: tuple[str, ...] = ()
    usage: tuple[str, ...] = ()
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    sort: str = ""  # "" → relevance when q else newest

    @property
    def effective_sort(self) -> str:
        if self.sort == SORT_RELEVANCE and not self.q.strip():
            return SORT_NEWEST
        if self.sort in SORT_CHOICES:
            return self.sort
        return SORT_RELEVANCE if self.q.strip() else SORT_NEWEST


@dataclass(frozen=True)
class FacetValue:
    """One option of a facet. For the price facet, value is "min-max" (either end may be empty)."""

    value: str
    label: str
    count: int
    selected: bool
    price_min: Decimal | None = None
    price_max: Decimal | None = None


@dataclass
class CategoryNode:
    id: int
    name: str
    level: int
    product_count: int = 0
    children: list[CategoryNode] = field(default_factory=list)


def _effective_price():
    return Coalesce("discounted_price", "price")


def _search_query(q: str) -> SearchQuery:
    return SearchQuery(q, search_type="websearch", config=SEARCH_CONFIG)


def _category_ids_below(category_id: int) -> QuerySet[Category]:
    """The category and its descendants (the tree is three levels deep)."""
    return Category.objects.filter(
        Q(pk=category_id) | Q(parent_id=category_id) | Q(parent__parent_id=category_id)
    ).values("pk")


def _text_match(q: str) -> Q:
    """Full-text match on the stored search vector, or a typo-tolerant trigram match on the name
    or on the names of the product's article type and its ancestors."""
    # The category table is small: a plain function with a lower threshold than the indexed
    # operator's 0.6 lets "tshrt" (0.5 against "Tshirts") find its article type. The ids are
    # fetched first so the product query stays a BitmapOr of index scans, not a sequential scan.
    typo_categories = list(
        Category.objects.alias(
            typo=Greatest(
                TrigramWordSimilarity(Value(q), "name"),
                Coalesce(TrigramWordSimilarity(Value(q), "parent__name"), 0.0),
                Coalesce(TrigramWordSimilarity(Value(q), "parent__parent__name"), 0.0),
            )
        )
        .filter(typo__gte=CATEGORY_TYPO_THRESHOLD)
        .values_list("pk", flat=True)
    )
    # A union of three index scans: written as one OR, the planner often picks a sequential scan
    # that computes word_similarity for every row.
    matches = (
        Product.objects.filter(search_vector=_search_query(q))
        .values("pk")
        .order_by()
        .union(
            Product.objects.filter(name__trigram_word_similar=q).values("pk").order_by(),
            Product.objects.filter(category_id__in=typo_categories).values("pk").order_by(),
        )
    )
    return Q(pk__in=matches)


def _filtered(filters: ProductFilters, *, skip: str = "", text: Q | None = None) -> QuerySet[Product]:
    """Active products narrowed by every filter except the facet named by skip.

    text is the precomputed _text_match of filters.q, to look the categories up once per request.
    """
    qs = Product.objects.filter(is_active=True)
    q = filters.q.strip()
    if q:
        qs = qs.filter(text if text is not None else _text_match(q))
    if filters.category_id is not None:
        qs = qs.filter(category_id__in=_category_ids_below(filters.category_id))
    for key, column in FACET_FIELDS.items():
        values = getattr(filters, key)
        if values and key != skip:
            qs = qs.filter(**{f"{column}__in": values})
    if skip != "price" and (filters.price_min is not None or filters.price_max is not None):
        qs = qs.alias(effective_price=_effective_price())
        if filters.price_min is not None:
            qs = qs.filter(effective_price__gte=filters.price_min)
        if filters.price_max is not None:
            qs = qs.filter(effective_price__lte=filters.price_max)
    return qs


def product_search(*, filters: ProductFilters) -> QuerySet[Product]:
    """Active products matching the filters, ranked (text search) or sorted.

    Each product carries `effective_price`; with a query, also `rank` (full text) and `similarity`
    (trigram word similarity of the name), which order results under the relevance sort.
    """
    qs = _filtered(filters).select_related("category").annotate(effective_price=_effective_price())
    q = filters.q.strip()
    sort = filters.effective_sort
    if q:
        qs = qs.annotate(
            rank=SearchRank(F("search_vector"), _search_query(q)),
            similarity=Greatest(TrigramWordSimilarity(Value(q), "name"), Value(0.0)),
        )
    if sort == SORT_RELEVANCE:
        return qs.order_by("-rank", "-similarity", "-created_at", "-id")
    if sort == SORT_PRICE_ASC:
        return qs.order_by(F("effective_price").asc(nulls_last=True), "name", "id")
    if sort == SORT_PRICE_DESC:
        return qs.order_by(F("effective_price").desc(nulls_last=True), "name", "id")
    if sort == SORT_NAME:
        return qs.order_by("name", "id")
    return qs.order_by("-created_at", "-id")


def _price_label(low: Decimal | None, high: Decimal | None) -> str:
    if low is None:
        return f"Up to {format_price(high)}"
    if high is None:
        return f"{format_price(low)} and above"
    return f"{format_price(low)} – {format_price(high)}"


def price_range_value(low: Decimal | None, high: Decimal | None) -> str:
    return f"{'' if low is None else low}-{'' if high is None else high}"


def product_facets(*, filters: ProductFilters) -> dict[str, list[FacetValue]]:
    """Counts per value for gender, article_type, colour, season, usage and price.

    Disjunctive: each facet's counts apply every filter except that facet's own selection, so the
    counts say how many products a shopper gets by adding that value (or switching price range).
    Values selected but absent from the results still appear, with count 0, so they can be removed.
    """
    facets: dict[str, list[FacetValue]] = {}
    text = None
    if filters.q.strip():
        # The text match is the costly part: resolve it once, not in each of the six counts
        # (unless it matches so much that the id list would cost more than the match).
        text = _text_match(filters.q.strip())
        matched = list(
            Product.objects.filter(text, is_active=True)
            .values_list("pk", flat=True)
            .order_by()[: FACET_ID_LIST_MAX + 1]
        )
        if len(matched) <= FACET_ID_LIST_MAX:
            text = Q(pk__in=matched)
    for key, column in FACET_FIELDS.items():
        selected = set(getattr(filters, key))
        rows = (
            _filtered(filters, skip=key, text=text)
            .exclude(**{f"{column}__isnull": True})
            .exclude(**{column: ""})
            .values_list(column)
            .annotate(n=Count("pk"))
            .order_by("-n", column)
        )
        values = [FacetValue(value, value, n, value in selected) for value, n in rows]
        seen = {v.value for v in values}
        values += [FacetValue(value, value, 0, True) for value in sorted(selected - seen)]
        facets[key] = values

    priced = _filtered(filters, skip="price", text=text).alias(effective_price=_effective_price())
    aggregates = {}
    for i, (low, high) in enumerate(PRICE_BUCKETS):
        condition = Q(effective_price__isnull=False)
        if low is not None:
            condition &= Q(effective_price__gte=low)
        if high is not None:
            condition &= Q(effective_price__lte=high)
        aggregates[f"b{i}"] = Count("pk", filter=condition)
    counts = priced.aggregate(**aggregates)
    facets["price"] = [
        FacetValue(
            price_range_value(low, high),
            _price_label(low, high),
            counts[f"b{i}"],
            (filters.price_min, filters.price_max) == (low, high),
            low,
            high,
        )
        for i, (low, high) in enumerate(PRICE_BUCKETS)
    ]
    return facets


def category_tree(*, with_empty: bool = False) -> list[CategoryNode]:
    """Master categories with their sub-categories and article types, and active-product counts.

    Two queries whatever the size of the tree. Empty branches are left out unless with_empty.
    """
    counts = dict(
        Product.objects.filter(is_active=True, category__isnull=False)
        .values_list("category_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    rows = Category.objects.order_by("level", "name").values_list("pk", "name", "level", "parent_id")
    nodes = {pk: CategoryNode(pk, name, level) for pk, name, level, _ in rows}
    parents = {pk: parent_id for pk, _, _, parent_id in rows}
    children: dict[int | None, list[CategoryNode]] = defaultdict(list)
    for pk, node in nodes.items():
        node.product_count = counts.get(pk, 0)
        children[parents[pk]].append(node)
    # Article types first, then sums up the tree.
    for level in (Category.Level.SUB, Category.Level.MASTER):
        for node in nodes.values():
            if node.level == level:
                node.children = children[node.id]
                node.product_count += sum(child.product_count for child in node.children)

    def prune(items: list[CategoryNode]) -> list[CategoryNode]:
        kept = [item for item in items if with_empty or item.product_count]
        for item in kept:
            item.children = prune(item.children)
        return kept

    return prune(children[None])


def category_get(*, category_id: int) -> Category:
    """A category with its ancestors loaded (for breadcrumbs); 404 when unknown."""
    return get_object_or_404(Category.objects.select_related("parent__parent"), pk=category_id)


def product_list() -> QuerySet[Product]:
    """Active products, newest first."""
    return product_search(filters=ProductFilters(sort=SORT_NEWEST))


def product_get(*, product_id: int) -> Product:
    return get_object_or_404(Product.objects.select_related("category__parent__parent"), pk=product_id, is_active=True)


UNISEX = "Unisex"


def product_more_in_type_list(*, product: Product, limit: int = 6, exclude_ids: Iterable[int] = ()) -> list[Product]:
    """Other active products of the same article type for the same shopper, newest first.

    A gendered product gets products of its gender or unisex ones; `exclude_ids` leaves out
    what the page already shows (its similar items).
    """
    if product.category_id is None:
        return []
    qs = Product.objects.filter(is_active=True, category_id=product.category_id)
    if product.gender and product.gender != UNISEX:
        qs = qs.filter(gender__in=[product.gender, UNISEX])
    return list(
        qs.exclude(pk__in=[product.pk, *exclude_ids]).select_related("category").order_by("-created_at", "-id")[:limit]
    )


# Free-text product attributes that are also listing facets: the admin offers their values in use.
ATTRIBUTE_FIELDS = ("gender", "base_colour", "season", "usage")


def product_attribute_values(*, field: str) -> list[str]:
    """The distinct non-empty values of one attribute column (ATTRIBUTE_FIELDS), most used first."""
    if field not in ATTRIBUTE_FIELDS:
        raise ValueError(f"{field} is not a product attribute")
    rows = Product.objects.exclude(**{field: ""}).values(field).annotate(n=Count("pk")).order_by("-n", field)
    return [row[field] for row in rows]
