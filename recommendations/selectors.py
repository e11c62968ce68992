"""Reads: "similar to product X" and "similar to this image", as pgvector SQL.

The storefront, the API and the evaluation call these. Vectors are written by services.py
(the worker) and read whole only by classifier.py, to train on the catalogue's vectors.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from pgvector import HalfVector
from PIL import Image, ImageOps

from recommendations.classifier import photo_categories_predict, photo_category_probabilities
from recommendations.garment import garment_crop
from recommendations.models import ProductEmbedding
from recommendations.services import active_model_name, embedder_get, image_embed
from recommendations.vectors import halfvec_sql
from shop.models import Category, Product


@dataclass(frozen=True)
class SimilarProduct:
    product: Product
    score: float  # cosine similarity, 1 = same direction


# The ORDER BY expression is the one the model's partial HNSW index is built on
# (recommendations/vectors.py), with the cosine operator matching its halfvec_cosine_ops class.
# {where} narrows the candidates (same article type, ...); it may be empty.
NEAREST_SQL = """
SELECT e.product_id, 1 - ({indexed} <=> {query}) AS score
FROM recommendations_productembedding e
JOIN shop_product p ON p.id = e.product_id AND p.is_active
WHERE e.model_name = %(model)s AND e.product_id <> ALL(%(exclude)s){where}
ORDER BY {indexed} <=> {query}
LIMIT %(k)s
"""


def _nearest(
    vector: np.ndarray | HalfVector | str,
    *,
    k: int,
    exclude_ids: list[int] | None = None,
    where: str = "",
    where_params: dict | None = None,
    explain: bool = False,
) -> list[tuple[int, float]] | str:
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
        return sorted(((row[0], float(row[1])) for row in cursor.fetchall()), key=lambda row: -row[1])


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
    type, same sub-category, anything); the list is in visual order (cosine similarity,
    best first). Never the product itself; empty while its embedding is not ready.

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
    vector = product_vector(product=product)
    if vector is None:
        return []
    found: list[tuple[int, float]] = []
    for where, params in _catalogue_tiers(product):
        exclude = [product.pk, *(pk for pk, _ in found)]
        found += _nearest(vector, k=k - len(found), exclude_ids=exclude, where=where, where_params=params)
        if len(found) >= k:
            break
    found.sort(key=lambda item: -item[1])
    return found


def product_visually_similar_list(*, product: Product, k: int | None = None) -> list[SimilarProduct]:
    """The k products whose images are nearest to this product's image, whatever their category."""
    k = k or settings.SIMILAR_ITEMS_COUNT
    vector = product_vector(product=product)
    if vector is None:
        return []
    return _with_products(_nearest(vector, k=k, exclude_ids=[product.pk]))


# Search by photo's defaults, chosen by measurement (docs/evaluation.md): the photo's vector averaged
# with its garment crop's, and the list shared out between the likeliest article types (classifier
# and neighbours' votes fused). Flip + zoom TTA cost more and helped less.
PHOTO_SEARCH_TTA: bool | str = "crop"
# True: search only the classifier's likeliest types; "fused": share the list out between the kinds
# the classifier and the nearest neighbours agree on (_fused_ranked); False: plain search.
PHOTO_SEARCH_RESTRICT: bool | str = "fused"
# The fused search: how many unrestricted neighbours vote on the photo's kind, how much the
# classifier weighs against their votes, how many kinds share the list, and below which top
# probability part of the list stays unrestricted (a wrong guess then cannot exclude every right answer).
PHOTO_VOTE_NEIGHBOURS = 10
PHOTO_CLASSIFIER_WEIGHT = 0.5
PHOTO_KINDS = 3
PHOTO_CONFIDENT = 0.3
# The places are shared in proportion to probability ** this (above 1 favours the likeliest kind).
PHOTO_SHARE_POWER = 2.0


@dataclass(frozen=True)
class PhotoKind:
    category: Category  # an article type
    probability: float  # fused: the classifier and the nearest neighbours' votes


@dataclass(frozen=True)
class PhotoSearch:
    results: list[SimilarProduct]
    kinds: list[PhotoKind]  # what the photo most likely shows, likeliest first
    weak_match: bool  # the best result is below PHOTO_SEARCH_WEAK_SCORE


def photo_vector(*, image: Image.Image, tta: bool | str = False) -> np.ndarray:
    """The photo's vector; with tta, the normalised mean vector of the photo, its mirror image and
    its centre 80% (a shopper's photo has more floor around the item than a studio shot); with
    "crop", the mean of the photo's and of a box around the item in it (recommendations.garment)."""
    if not tta:
        return image_embed(image=image)
    if tta == "crop":
        views = [image, garment_crop(image)]
    else:
        width, height = image.size
        zoom = image.crop((round(width * 0.1), round(height * 0.1), round(width * 0.9), round(height * 0.9)))
        views = [image, ImageOps.mirror(image), zoom]
    vectors = embedder_get().embed(views)
    mean = vectors.mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def _kind_probabilities(vector: np.ndarray, neighbours: list[tuple[int, float]]) -> dict[int, float]:
    """Article type id -> fused probability: the classifier's, averaged with the share of the
    nearest unrestricted neighbours of that type (either alone when the other is missing)."""
    votes: dict[int, float] = {}
    voters = neighbours[:PHOTO_VOTE_NEIGHBOURS]
    categories = dict(Product.objects.filter(pk__in=[pk for pk, _ in voters]).values_list("pk", "category_id"))
    # The nearest count most (1, 1/2, 1/3...): in a small catalogue the ten nearest are most of it,
    # and equal votes would only repeat how many products each kind has.
    weights = [1 / rank for rank in range(1, len(voters) + 1)]
    total = sum(weights)
    for (pk, _), weight in zip(voters, weights, strict=True):
        if categories.get(pk) is not None:
            votes[categories[pk]] = votes.get(categories[pk], 0.0) + weight / total
    classifier = photo_category_probabilities(vector)
    if not classifier or not votes:
        return classifier or votes
    weight = PHOTO_CLASSIFIER_WEIGHT
    return {
        kind: weight * classifier.get(kind, 0.0) + (1 - weight) * votes.get(kind, 0.0)
        for kind in classifier.keys() | votes.keys()
    }


def _share_out(pools: list[tuple[float, list[tuple[int, float]]]], k: int) -> list[tuple[int, float]]:
    """Up to k results taken from weighted pools (each best first) in proportion to their weights,
    every prefix of the list as proportional as it can be (Sainte-Lagu\u00eb: the next place goes to the
    pool with the highest weight / (2 * places taken + 1)); a product is taken once."""
    taken = [0] * len(pools)
    positions = [0] * len(pools)
    chosen: list[tuple[int, float]] = []
    seen: set[int] = set()
    while len(chosen) < k:
        best = None
        for index, (weight, candidates) in enumerate(pools):
            while positions[index] < len(candidates) and candidates[positions[index]][0] in seen:
                positions[index] += 1
            if positions[index] < len(candidates) and weight > 0:
                quotient = weight / (2 * taken[index] + 1)
                if best is None or quotient > best[0]:
                    best = (quotient, index)
        if best is None:
            break
        index = best[1]
        item = pools[index][1][positions[index]]
        chosen.append(item)
        seen.add(item[0])
        taken[index] += 1
    return chosen


def _fused_ranked(
    vector: np.ndarray, k: int, probabilities: dict[int, float], neighbours: list[tuple[int, float]]
) -> list[tuple[int, float]]:
    kinds = sorted(probabilities.items(), key=lambda item: -item[1])[:PHOTO_KINDS]
    pools = [
        (
            probability**PHOTO_SHARE_POWER,
            _nearest(vector, k=k, where=" AND p.category_id = %(kind)s", where_params={"kind": kind}),
        )
        for kind, probability in kinds
    ]
    top = kinds[0][1] if kinds else 0.0
    # A confident guess shares the list among its kinds; an unsure one keeps the rest of the
    # probability for the plain nearest neighbours.
    unrestricted = 0.0 if top >= PHOTO_CONFIDENT else max(0.0, 1.0 - sum(p for _, p in kinds)) ** PHOTO_SHARE_POWER
    pools.append((unrestricted, neighbours))
    found = _share_out(pools, k)
    if len(found) < k:
        found += _nearest(vector, k=k - len(found), exclude_ids=[pk for pk, _ in found])
    return found


def _photo_ranked(
    vector: np.ndarray, *, k: int, restrict: bool | str, category: Category | None = None
) -> tuple[list[tuple[int, float]], dict[int, float]]:
    """The ranked (product id, score) list and, for the fused search or a chosen kind, the fused
    kind probabilities."""
    probabilities: dict[int, float] = {}
    if category is not None or restrict == "fused":
        neighbours = _nearest(vector, k=max(k, PHOTO_VOTE_NEIGHBOURS))
        probabilities = _kind_probabilities(vector, neighbours)
        if category is None:
            return _fused_ranked(vector, k, probabilities, neighbours), probabilities
    found: list[tuple[int, float]] = []
    if category is not None:
        below = Category.objects.filter(Q(parent=category) | Q(parent__parent=category))
        categories = [category.pk, *below.values_list("pk", flat=True)]
    else:
        categories = photo_categories_predict(vector) if restrict else []
    if categories:
        found = _nearest(
            vector, k=k, where=" AND p.category_id = ANY(%(categories)s)", where_params={"categories": categories}
        )
    if len(found) < k:
        found += _nearest(vector, k=k - len(found), exclude_ids=[pk for pk, _ in found])
    if category is None:
        found.sort(key=lambda item: -item[1])
    return found, probabilities


def image_similar_list(
    *,
    image: Image.Image,
    k: int | None = None,
    tta: bool | str | None = None,
    restrict: bool | str | None = None,
) -> list[SimilarProduct]:
    """The k products whose images are nearest to an uploaded photo, best first.

    With restrict True the stored category classifier guesses the photo's article type and only the
    likeliest types are searched (in score order); with "fused" the list is shared out between the
    kinds the classifier and the nearest neighbours agree on (_fused_ranked). Without a
    classifier, or when those types hold fewer than k products, the rest comes from the whole
    catalogue. The default is PHOTO_SEARCH_RESTRICT.
    """
    k = k or settings.SIMILAR_ITEMS_COUNT
    vector = photo_vector(image=image, tta=PHOTO_SEARCH_TTA if tta is None else tta)
    found, _ = _photo_ranked(vector, k=k, restrict=PHOTO_SEARCH_RESTRICT if restrict is None else restrict)
    return _with_products(found)


def image_search(*, image: Image.Image, k: int | None = None, category: Category | None = None) -> PhotoSearch:
    """Search by photo as served: the results (within `category` and its sub-types when given, filled
    from the whole catalogue when it holds fewer than k), the kinds the photo most likely shows, and
    whether the best match is weak."""
    k = k or settings.SIMILAR_ITEMS_COUNT
    vector = photo_vector(image=image, tta=PHOTO_SEARCH_TTA)
    restrict = PHOTO_SEARCH_RESTRICT
    found, probabilities = _photo_ranked(vector, k=k, restrict=restrict, category=category)
    if not probabilities:
        probabilities = _kind_probabilities(vector, _nearest(vector, k=PHOTO_VOTE_NEIGHBOURS))
    likeliest = sorted(probabilities.items(), key=lambda item: -item[1])[:PHOTO_KINDS]
    if category is not None and category.pk not in dict(likeliest) and category.pk in probabilities:
        likeliest.append((category.pk, probabilities[category.pk]))  # the shopper's choice stays on offer
    named = Category.objects.in_bulk([kind for kind, _ in likeliest])
    kinds = [PhotoKind(named[kind], probability) for kind, probability in likeliest if kind in named]
    results = _with_products(found)
    weak = not results or max(item.score for item in results) < settings.PHOTO_SEARCH_WEAK_SCORE
    return PhotoSearch(results=results, kinds=kinds, weak_match=weak)


def product_similar_plan(*, product: Product, k: int | None = None) -> str:
    """PostgreSQL's plan for this product's similar-items query (to check the index is used)."""
    vector = product_vector(product=product)
    if vector is None:
        raise ValueError(f"product {product.pk} has no ready embedding")
    return _nearest(vector, k=k or settings.SIMILAR_ITEMS_COUNT, exclude_ids=[product.pk], explain=True)


def product_embedding_status(*, product: Product) -> ProductEmbedding | None:
    return ProductEmbedding.objects.filter(product=product, model_name=active_model_name()).first()


def products_with_embedding_status(queryset: QuerySet[Product]) -> QuerySet[Product]:
    """Annotate products with `embedding_status` and `embedding_error` for the active model."""
    embedding = ProductEmbedding.objects.filter(product=OuterRef("pk"), model_name=active_model_name())
    return queryset.annotate(
        embedding_status=Subquery(embedding.values("status")[:1]),
        embedding_error=Subquery(embedding.values("error")[:1]),
    )
