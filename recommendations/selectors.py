"""Reads: "similar to product X" and "similar to this image", as pgvector SQL.

The storefront, the API and the evaluation call these. Vectors are written by services.py
(the worker) and read whole only by classifier.py, to train on the catalogue's vectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max, OuterRef, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from pgvector import HalfVector
from PIL import Image, ImageOps

from recommendations.classifier import photo_categories_predict
from recommendations.colours import colour_agreement
from recommendations.models import ProductEmbedding, ProductNeighbour, RecommenderModel
from recommendations.services import active_model_name, embedder_get, image_embed
from recommendations.vectors import halfvec_sql
from shop.models import Product

# Similar items prefer the viewed product's colour: a shopper looking at a red dress expects red
# dresses first. Chosen on the 2,946-product sample and confirmed on fashion-extra
# (docs/evaluation.md): the colour agreement (0 to 1) is worth 0.1 of cosine similarity, among
# the 20 visually nearest of each tier.
SIMILAR_ITEMS_COLOUR_WEIGHT = 0.1
SIMILAR_ITEMS_COLOUR_POOL = 20


@dataclass(frozen=True)
class SimilarProduct:
    product: Product
    score: float  # cosine similarity, 1 = same direction


# The ORDER BY expression is the one the model's partial HNSW index is built on
# (recommendations/vectors.py), with the cosine operator matching its halfvec_cosine_ops class.
# {where} narrows the candidates (same article type, ...); it may be empty.
# Only what can be bought is recommended: active, in stock, with a price. A pending row has no
# vector yet: an exact scan (a small filtered tier) would otherwise return it with a NULL score.
NEAREST_SQL = """
SELECT e.product_id, 1 - ({indexed} <=> {query}) AS score, p.base_colour, e.colour_lab
FROM recommendations_productembedding e
JOIN shop_product p ON p.id = e.product_id AND p.is_active AND p.stock > 0 AND p.price IS NOT NULL
WHERE e.model_name = %(model)s AND e.vector IS NOT NULL AND e.product_id <> ALL(%(exclude)s){where}
ORDER BY {indexed} <=> {query}
LIMIT %(k)s
"""


@dataclass(frozen=True)
class _Candidate:
    product_id: int
    score: float
    base_colour: str
    colour_lab: tuple[float, float, float] | None


def _nearest(
    vector: np.ndarray | HalfVector | str,
    *,
    k: int,
    exclude_ids: list[int] | None = None,
    where: str = "",
    where_params: dict | None = None,
) -> list[tuple[int, float]]:
    """The k nearest buyable products as (id, cosine similarity), best first."""
    rows = _nearest_candidates(vector, k=k, exclude_ids=exclude_ids, where=where, where_params=where_params)
    return [(row.product_id, row.score) for row in rows]


def _nearest_candidates(
    vector: np.ndarray | HalfVector | str,
    *,
    k: int,
    exclude_ids: list[int] | None = None,
    where: str = "",
    where_params: dict | None = None,
    explain: bool = False,
) -> list[_Candidate] | str:
    model = active_model_name()
    if isinstance(vector, np.ndarray):
        vector = HalfVector(np.asarray(vector, dtype=np.float32))
    # A str is pgvector text already, as product_vector() reads it.
    query = vector.to_text() if isinstance(vector, HalfVector) else vector
    params = {"query": query, "model": model, "exclude": exclude_ids or [0], "k": k, **(where_params or {})}
    sql = NEAREST_SQL.format(indexed=halfvec_sql("e.vector", model), query=halfvec_sql("%(query)s", model), where=where)
    # Every connection starts with the search settings (DATABASES options in config/settings/base.py);
    # only a k above ef_search needs a larger value, for this transaction.
    wider = k > settings.HNSW_EF_SEARCH
    with transaction.atomic() if wider else nullcontext(), connection.cursor() as cursor:
        if wider:
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(k)])
        if explain:
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, params)
        # The relaxed iterative scan may return rows slightly out of order; the order is restored
        # here, best first (pgvector's own advice, there with a materialized CTE).
        rows = [
            _Candidate(pk, float(score), colour, tuple(lab) if lab else None)
            for pk, score, colour, lab in cursor.fetchall()
        ]
        return sorted(rows, key=lambda row: -row.score)


def _catalogue_tiers(product: Product) -> list[tuple[str, dict]]:
    """Candidate filters from the narrowest to the widest; the last one has no filter.

    Shoppers looking at a men's t-shirt expect other men's t-shirts first; when a tier has
    fewer than k products the next, wider one fills the remaining places.
    """
    tiers: list[tuple[str, dict]] = []
    if product.category_id:
        if product.gender and product.gender != "Unisex":
            tiers.append(
                (
                    " AND p.category_id = %(category)s AND p.gender IN (%(gender)s, 'Unisex')",
                    {"category": product.category_id, "gender": product.gender},
                )
            )
        tiers.append((" AND p.category_id = %(category)s", {"category": product.category_id}))
        if product.category.parent_id:
            tiers.append(
                (
                    " AND p.category_id IN (SELECT id FROM shop_category WHERE parent_id = %(sub)s)",
                    {"sub": product.category.parent_id},
                )
            )
    tiers.append(("", {}))
    return tiers


def _with_products(ranked: list[tuple[int, float]]) -> list[SimilarProduct]:
    # Checked again because a cached list may name a product hidden, or left without an image, since.
    shown = Product.objects.select_related("category").filter(
        is_active=True,
        stock__gt=0,
        price__isnull=False,
        embeddings__model_name=active_model_name(),
        embeddings__status=ProductEmbedding.Status.READY,
    )
    products = shown.in_bulk([pk for pk, _ in ranked])
    return [SimilarProduct(products[pk], score) for pk, score in ranked if pk in products]


def embeddings_version(*, model_name: str) -> str:
    """When any embedding of the model last changed (index-only, see migration 0003)."""
    latest = ProductEmbedding.objects.filter(model_name=model_name).aggregate(latest=Max("updated_at"))["latest"]
    return latest.isoformat() if latest else "none"


def product_vector(*, product: Product) -> str | None:
    """The product's stored vector for the active model in pgvector's text form, or None while it
    is not ready. It goes straight back into the similarity query: parsing and re-formatting
    1,280 floats in Python took longer than the query itself."""
    return (
        ProductEmbedding.objects.filter(
            product=product, model_name=active_model_name(), status=ProductEmbedding.Status.READY
        )
        .annotate(text=Cast("vector", TextField()))
        .values_list("text", flat=True)
        .first()
    )


def product_similar_list(*, product: Product, k: int | None = None) -> list[SimilarProduct]:
    """The k products that look most like this one, from its own article type first.

    Membership comes from the catalogue tiers (same article type and gender, same article
    type, same sub-category, anything); the list is in visual order (cosine similarity, best
    first) with a bonus for the product's own colour (_similar_ranked). Only products that can
    be bought (active, in stock, with a price); never the product itself; empty while its
    embedding is not ready.

    The ranked ids are cached (SIMILAR_ITEMS_CACHE_SECONDS) under a key that changes with any
    embedding of the model and with the product itself; the products are always read fresh.
    """
    k = k or settings.SIMILAR_ITEMS_COUNT
    key = None
    if settings.SIMILAR_ITEMS_CACHE_SECONDS > 0:
        model = active_model_name()
        changed = product.updated_at.isoformat() if product.updated_at else ""
        key = f"similar:{model}:{product.pk}:{k}:{changed}:{embeddings_version(model_name=model)}"
        found = cache.get(key)
        if found is not None:
            return _with_products(found)
    found = _similar_ranked(product, k)
    if key:
        cache.set(key, found, settings.SIMILAR_ITEMS_CACHE_SECONDS)
    return _with_products(found)


def _similar_ranked(product: Product, k: int) -> list[tuple[int, float]]:
    """Each tier's places go to the best of its SIMILAR_ITEMS_COLOUR_POOL visually nearest by
    visual score plus SIMILAR_ITEMS_COLOUR_WEIGHT x colour agreement; the list is in that order.
    Membership still comes tier by tier, so the share of the product's own type cannot drop."""
    embedding = (
        ProductEmbedding.objects.filter(
            product=product, model_name=active_model_name(), status=ProductEmbedding.Status.READY
        )
        .annotate(text=Cast("vector", TextField()))
        .values_list("text", "colour_lab")
        .first()
    )
    if embedding is None:
        return []
    vector, lab = embedding[0], tuple(embedding[1]) if embedding[1] else None
    has_colour = bool(product.base_colour.strip()) or lab is not None

    def blended(row: _Candidate) -> float:
        agreement = colour_agreement(product.base_colour, lab, row.base_colour, row.colour_lab) if has_colour else 0
        return row.score + SIMILAR_ITEMS_COLOUR_WEIGHT * agreement

    found: list[tuple[_Candidate, float]] = []
    for where, params in _catalogue_tiers(product):
        wanted = k - len(found)
        exclude = [product.pk, *(row.product_id for row, _ in found)]
        pool = max(wanted, SIMILAR_ITEMS_COLOUR_POOL) if has_colour else wanted
        rows = _nearest_candidates(vector, k=pool, exclude_ids=exclude, where=where, where_params=params)
        found += sorted(((row, blended(row)) for row in rows), key=lambda item: -item[1])[:wanted]
        if len(found) >= k:
            break
    found.sort(key=lambda item: -item[1])
    return [(row.product_id, row.score) for row, _ in found]


def product_visually_similar_list(*, product: Product, k: int | None = None) -> list[SimilarProduct]:
    """The k products whose images are nearest to this product's image, whatever their category."""
    k = k or settings.SIMILAR_ITEMS_COUNT
    vector = product_vector(product=product)
    if vector is None:
        return []
    return _with_products(_nearest(vector, k=k, exclude_ids=[product.pk]))


# Search by photo's defaults, chosen by measurement (docs/evaluation.md): predict the photo's
# article type and search within the likeliest types; test-time augmentation is off by default.
PHOTO_SEARCH_TTA = False
PHOTO_SEARCH_RESTRICT = True


def photo_vector(*, image: Image.Image, tta: bool = False) -> np.ndarray:
    """The photo's vector; with tta, the normalised mean vector of the photo, its mirror image and
    its centre 80% (a shopper's photo has more floor around the item than a studio shot)."""
    if not tta:
        return image_embed(image=image)
    width, height = image.size
    zoom = image.crop((round(width * 0.1), round(height * 0.1), round(width * 0.9), round(height * 0.9)))
    vectors = embedder_get().embed([image, ImageOps.mirror(image), zoom])
    mean = vectors.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def image_similar_list(
    *, image: Image.Image, k: int | None = None, tta: bool | None = None, restrict: bool | None = None
) -> list[SimilarProduct]:
    """The k products whose images are nearest to an uploaded photo, best first.

    With restrict (default PHOTO_SEARCH_RESTRICT) the stored category classifier guesses the
    photo's article type and only the likeliest types are searched; without a classifier, or
    when those types hold fewer than k products, the rest comes from the whole catalogue.
    """
    k = k or settings.SIMILAR_ITEMS_COUNT
    vector = photo_vector(image=image, tta=PHOTO_SEARCH_TTA if tta is None else tta)
    found: list[tuple[int, float]] = []
    categories = photo_categories_predict(vector) if (PHOTO_SEARCH_RESTRICT if restrict is None else restrict) else []
    if categories:
        found = _nearest(
            vector, k=k, where=" AND p.category_id = ANY(%(categories)s)", where_params={"categories": categories}
        )
    if len(found) < k:
        found += _nearest(vector, k=k - len(found), exclude_ids=[pk for pk, _ in found])
    found.sort(key=lambda item: -item[1])
    return _with_products(found)


def product_similar_plan(*, product: Product, k: int | None = None) -> str:
    """PostgreSQL's plan for this product's similar-items query (to check the index is used)."""
    vector = product_vector(product=product)
    if vector is None:
        raise ValueError(f"product {product.pk} has no ready embedding")
    return _nearest_candidates(vector, k=k or settings.SIMILAR_ITEMS_COUNT, exclude_ids=[product.pk], explain=True)


def product_embedding_status(*, product: Product) -> ProductEmbedding | None:
    return ProductEmbedding.objects.filter(product=product, model_name=active_model_name()).first()


def products_with_embedding_status(queryset: QuerySet[Product]) -> QuerySet[Product]:
    """Annotate products with `embedding_status` and `embedding_error` for the active model."""
    embedding = ProductEmbedding.objects.filter(product=OuterRef("pk"), model_name=active_model_name())
    return queryset.annotate(
        embedding_status=Subquery(embedding.values("status")[:1]),
        embedding_error=Subquery(embedding.values("error")[:1]),
    )


# --- Behavioural lists: "customers who bought this also bought", "frequently bought together" ---

# One indexed read of the active version's rows (model, product, rank), filtered as a shopper
# expects: on sale, in stock, not the product itself, not what is already in the cart. (Products
# without a price are shown, as in every other list, with the card saying so.) The
# active version is joined in the same statement, so a version switch is never seen half done.
NEIGHBOURS_SQL = """
SELECT n.neighbour_id, SUM(n.score) AS score
FROM recommendations_productneighbour n
JOIN recommendations_recommendermodel m ON m.id = n.model_id AND m.kind = %(kind)s AND m.is_active
JOIN shop_product p ON p.id = n.neighbour_id AND p.is_active AND p.stock > 0
WHERE n.product_id = ANY(%(products)s) AND n.neighbour_id <> ALL(%(exclude)s) AND n.score >= %(min_score)s
GROUP BY n.neighbour_id
ORDER BY score DESC, n.neighbour_id
LIMIT %(k)s
"""


def _neighbours_ranked(*, kind: str, product_ids: list[int], k: int, exclude_ids: list[int]) -> list[tuple[int, float]]:
    if not product_ids:
        return []
    params = {
        "kind": kind,
        "products": product_ids,
        "exclude": [*product_ids, *exclude_ids] or [0],
        "min_score": settings.RECOMMENDER_MIN_SCORE,
        "k": k,
    }
    with connection.cursor() as cursor:
        cursor.execute(NEIGHBOURS_SQL, params)
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def _behaviour_products(ranked: list[tuple[int, float]]) -> list[SimilarProduct]:
    products = Product.objects.select_related("category").in_bulk([pk for pk, _ in ranked])
    return [SimilarProduct(products[pk], score) for pk, score in ranked if pk in products]


def product_also_bought_list(
    *, product: Product, k: int | None = None, exclude_ids: Iterable[int] = ()
) -> list[SimilarProduct]:
    """ "Customers who bought this also bought": the active also_bought version's list for the
    product, best first; `score` is the item-item similarity. Empty without enough evidence
    (pairs below RECOMMENDER_MIN_SUPPORT shoppers are never stored, scores below
    RECOMMENDER_MIN_SCORE never shown).

    One query, the products included: the same filters as NEIGHBOURS_SQL, in rank order (ranks
    are stored best score first).
    """
    rows = (
        ProductNeighbour.objects.filter(
            model__kind=RecommenderModel.Kind.ALSO_BOUGHT,
            model__is_active=True,
            product=product,
            neighbour__is_active=True,
            neighbour__stock__gt=0,
            score__gte=settings.RECOMMENDER_MIN_SCORE,
        )
        .exclude(neighbour_id__in=list(exclude_ids))
        .select_related("neighbour__category")
        .order_by("rank")[: k or settings.SIMILAR_ITEMS_COUNT]
    )
    return [SimilarProduct(row.neighbour, row.score) for row in rows]


def products_bought_together_list(
    *, product_ids: Iterable[int], k: int | None = None, exclude_ids: Iterable[int] = ()
) -> list[SimilarProduct]:
    """ "Frequently bought together" with these products (a product, or a whole cart): their
    neighbours from baskets, scores summed over the given products, never one of them."""
    ranked = _neighbours_ranked(
        kind="bought_together",
        product_ids=list(product_ids),
        k=k or settings.SIMILAR_ITEMS_COUNT,
        exclude_ids=list(exclude_ids),
    )
    return _behaviour_products(ranked)


def recommender_model_active(*, kind: str) -> RecommenderModel | None:
    return RecommenderModel.objects.filter(kind=kind, is_active=True).first()
