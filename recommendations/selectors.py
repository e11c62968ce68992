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
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from pgvector import HalfVector
from PIL import Image, ImageOps

from recommendations.candidates import Candidate
from recommendations.classifier import photo_categories_predict, photo_category_probabilities
from recommendations.colours import colour_agreement
from recommendations.garment import garment_crop
from recommendations.models import ProductEmbedding, ProductNeighbour, RecommenderModel
from recommendations.services import active_model_name, embedder_get, image_embed
from recommendations.vectors import halfvec_sql
from shop.models import Category, Product

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


# --- "Recommended for you": the shopper's own list on the home page and the API ---

# The best-sellers are read once for everyone and cached briefly (the home page is hit by everyone,
# and an imported history's all-time fallback counts every purchase); a shopper's own exclusions are
# applied to the cached ranking, so a short pool suffices unless a shopper's history covers it.
POPULAR_RECENT_DAYS = 7
POPULAR_POOL = 200

# The stored neighbours (a kind's active version) of the history's products, each flagged as buyable
# or not: a source sees its whole list and leaves out what cannot be bought, as the evaluation does.
HISTORY_NEIGHBOURS_SQL = """
SELECT n.product_id, n.neighbour_id, n.score, (p.is_active AND p.stock > 0 AND p.price IS NOT NULL) AS buyable
FROM recommendations_productneighbour n
JOIN recommendations_recommendermodel m ON m.id = n.model_id AND m.kind = %(kind)s AND m.is_active
JOIN shop_product p ON p.id = n.neighbour_id
WHERE n.product_id = ANY(%(products)s) AND n.score >= %(min_score)s
ORDER BY n.product_id, n.rank
"""

# Purchase lines per product since a time (NULL: all time), buyable products only, most first.
POPULAR_SQL = """
SELECT i.product_id
FROM events_interaction i
JOIN shop_product p ON p.id = i.product_id AND p.is_active AND p.stock > 0 AND p.price IS NOT NULL
WHERE i.kind = 'purchase' AND (%(since)s::timestamptz IS NULL OR i.created_at >= %(since)s::timestamptz)
GROUP BY i.product_id
ORDER BY COUNT(*) DESC, i.product_id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class RecommendedProduct:
    product: Product
    score: float  # the served blend's score (hybrid.blend)
    reason: str


@dataclass(frozen=True)
class RecommendedList:
    strategy: str  # "personal" (a personal source contributed) or "popular"
    model: str | None  # the active versions ("hybrid: also_bought v3, bought_together v2"), None before any
    items: list[RecommendedProduct]


@dataclass(frozen=True)
class ShopperHistory:
    products: list[int]  # most recent first, as the evaluation's Prepared.history
    bought: set[int]


def shopper_history(*, user=None, session_key: str = "") -> ShopperHistory:
    """The products the shopper has events for (every kind but returns, as the evaluation reads a
    history), most recently touched first, ties by id descending; and those they bought. One query."""
    from django.db.models import Count, Q

    from events.models import Interaction

    if user is not None and user.is_authenticated:
        rows = Interaction.objects.filter(user=user)
    elif session_key:
        rows = Interaction.objects.filter(session_key=session_key)
    else:
        return ShopperHistory(products=[], bought=set())
    found = (
        rows.exclude(kind=Interaction.Kind.RETURN)
        .values("product_id")
        .annotate(last=Max("created_at"), purchases=Count("id", filter=Q(kind=Interaction.Kind.PURCHASE)))
        .order_by("-last", "-product_id")
        .values_list("product_id", "purchases")
    )
    products, bought = [], set()
    for product_id, purchases in found:
        products.append(product_id)
        if purchases:
            bought.add(product_id)
    return ShopperHistory(products=products, bought=bought)


def popular_recent_ids(*, limit: int = POPULAR_POOL) -> tuple[list[int], bool]:
    """Buyable products by purchase lines in the last POPULAR_RECENT_DAYS, most first; all time when
    the last week sold nothing (second value False then). Cached RECOMMENDED_POPULAR_CACHE_SECONDS."""
    from datetime import timedelta

    from django.utils import timezone

    key = f"popular-recent:{limit}"
    seconds = settings.RECOMMENDED_POPULAR_CACHE_SECONDS
    if seconds > 0 and (found := cache.get(key)) is not None:
        return found
    with connection.cursor() as cursor:
        since = timezone.now() - timedelta(days=POPULAR_RECENT_DAYS)
        cursor.execute(POPULAR_SQL, {"since": since, "limit": limit})
        ids, recent = [row[0] for row in cursor.fetchall()], True
        if not ids:
            cursor.execute(POPULAR_SQL, {"since": None, "limit": limit})
            ids, recent = [row[0] for row in cursor.fetchall()], False
    if seconds > 0:
        cache.set(key, (ids, recent), seconds)
    return ids, recent


# --- "Recommended for you": the sources ---
# Each source is a selector (history, k, exclude) -> its ranked Candidates, named as the evaluation
# names the method, so the tuned weights (recommendations/blend_weights.json) apply by name.


def _stored_neighbour_candidates(
    *, kind: str, source: str, history: ShopperHistory, k: int, exclude: set[int]
) -> list[Candidate]:
    from recommendations.hybrid import neighbour_candidates

    if not history.products:
        return []
    neighbours: dict[int, list[tuple[int, float]]] = {}
    unbuyable: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute(
            HISTORY_NEIGHBOURS_SQL,
            {"kind": kind, "products": history.products, "min_score": settings.RECOMMENDER_MIN_SCORE},
        )
        for product_id, neighbour_id, score, buyable in cursor.fetchall():
            neighbours.setdefault(product_id, []).append((neighbour_id, float(score)))
            if not buyable:
                unbuyable.add(neighbour_id)
    return neighbour_candidates(neighbours, history.products, k=k, source=source, exclude=exclude | unbuyable)


def item_item_bm25_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """ "Because you viewed": the active also_bought version's neighbours of the history (BM25 item-item)."""
    return _stored_neighbour_candidates(
        kind=RecommenderModel.Kind.ALSO_BOUGHT, source="item_item_bm25", history=history, k=k, exclude=exclude
    )


def bought_together_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """ "Bought together with": the active bought_together version's basket neighbours of the history."""
    return _stored_neighbour_candidates(
        kind=RecommenderModel.Kind.BOUGHT_TOGETHER, source="bought_together", history=history, k=k, exclude=exclude
    )


def popularity_recent_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """The last week's buyable best-sellers (source "popularity" for the all-time fallback when the
    week sold nothing); ranked by reciprocal rank as the evaluation's popularity methods."""
    popular, recent = popular_recent_ids()
    if len(popular) == POPULAR_POOL and len(popular) - len(exclude.intersection(popular)) < k:
        # This shopper's exclusions cover most of the cached pool: read far enough for k.
        popular, recent = popular_recent_ids(limit=POPULAR_POOL + len(exclude) + k)
    source = "popularity_recent" if recent else "popularity"
    ranked = [product for product in popular if product not in exclude][:k]
    return [Candidate(product, 1.0 / (rank + 1), source) for rank, product in enumerate(ranked)]


# The categories of the given products and, for each, its buyable best-sellers of the last week
# (purchase lines, most first, ties by id), at most %(limit)s per category.
CATEGORY_POPULAR_SQL = """
WITH mine AS (
  SELECT id, category_id FROM shop_product WHERE id = ANY(%(products)s) AND category_id IS NOT NULL
), ranked AS (
  SELECT p.category_id, i.product_id,
         ROW_NUMBER() OVER (PARTITION BY p.category_id ORDER BY COUNT(*) DESC, i.product_id) AS place
  FROM events_interaction i
  JOIN shop_product p ON p.id = i.product_id AND p.is_active AND p.stock > 0 AND p.price IS NOT NULL
  WHERE i.kind = 'purchase' AND i.created_at >= %(since)s
    AND p.category_id IN (SELECT category_id FROM mine)
  GROUP BY p.category_id, i.product_id
)
SELECT id, category_id, NULL, 0 FROM mine
UNION ALL
SELECT NULL, category_id, product_id, place FROM ranked WHERE place <= %(limit)s
ORDER BY 2, 4
"""


def popular_category_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """ "Popular in <kind> this week": the last week's best-sellers of the article types of the shopper's
    latest products (hybrid.popular_in_categories). One query."""
    from datetime import timedelta

    from django.utils import timezone

    from recommendations.hybrid import CATEGORY_HISTORY, popular_in_categories

    latest = history.products[:CATEGORY_HISTORY]
    if not latest:
        return []
    category_of: dict[int, int] = {}
    by_category: dict[int, list[int]] = {}
    since = timezone.now() - timedelta(days=POPULAR_RECENT_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(CATEGORY_POPULAR_SQL, {"products": latest, "since": since, "limit": k + len(exclude) + 10})
        for mine, category, product, _ in cursor.fetchall():
            if mine is not None:
                category_of[mine] = category
            else:
                by_category.setdefault(category, []).append(product)
    return popular_in_categories(
        history.products, category_of=category_of, popular_by_category=by_category, k=k, exclude=exclude
    )


# Products nobody has bought yet (new ones), closest in image embedding to one product, buyable.
NEW_PRODUCTS_WHERE = """ AND NOT EXISTS (
  SELECT 1 FROM events_interaction i WHERE i.product_id = e.product_id AND i.kind = 'purchase'
)"""


def similar_items_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """Cold start for new products: products without any purchase yet (no collaborative source can
    know them) that look most like the shopper's latest product with a ready image vector, best
    first (cosine similarity), `because` that product ("Looks like ..."). Two queries."""
    from recommendations.hybrid import CATEGORY_HISTORY

    if not history.products:
        return []
    latest = history.products[:CATEGORY_HISTORY]
    found = (
        ProductEmbedding.objects.filter(
            product_id__in=latest, model_name=active_model_name(), status=ProductEmbedding.Status.READY
        )
        .annotate(text=Cast("vector", TextField()))
        .values_list("product_id", "text")
    )
    vectors = dict(found)
    anchor = next((product for product in latest if product in vectors), None)
    if anchor is None:
        return []
    banned = [*exclude, *history.products]
    rows = _nearest(vectors[anchor], k=k, exclude_ids=banned, where=NEW_PRODUCTS_WHERE)
    return [Candidate(product, score, "similar_items", anchor) for product, score in rows]


# Sources that are the same for everyone: a list made of them alone is "Popular now".
GENERAL_SOURCES = frozenset({"popularity_recent"})

# Source name -> selector. A new source is one entry here (and its weight in blend_weights.json).
RECOMMENDED_SOURCES = {
    "item_item_bm25": item_item_bm25_candidates,
    "bought_together": bought_together_candidates,
    "popularity_recent": popularity_recent_candidates,
    "popular_category": popular_category_candidates,
    "similar_items": similar_items_candidates,
}

# Purchases of the given products per shopper: how many shoppers bought each, and how many of them
# on more than one occasion (basket, else day), for hybrid.repeat_rule.
REPEAT_SQL = """
SELECT product_id, COUNT(*) AS buyers, COUNT(*) FILTER (WHERE occasions > 1) AS again
FROM (
  SELECT product_id,
         COUNT(DISTINCT COALESCE(NULLIF(basket, ''), (created_at AT TIME ZONE 'UTC')::date::text)) AS occasions
  FROM events_interaction
  WHERE kind = 'purchase' AND product_id = ANY(%(products)s)
    AND COALESCE(user_id::text, NULLIF(customer_key, ''), NULLIF(session_key, '')) IS NOT NULL
  GROUP BY product_id, user_id, customer_key, session_key
) AS per_shopper
GROUP BY product_id
"""


def products_repeatable(*, product_ids: Iterable[int]) -> set[int]:
    """Which of these products shoppers buy again (hybrid.repeat_rule over the whole event log)."""
    from recommendations.hybrid import repeat_rule

    ids = list(product_ids)
    if not ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(REPEAT_SQL, {"products": ids})
        return {product for product, buyers, again in cursor.fetchall() if repeat_rule(buyers, again)}


def shopper_recommended_list(
    *, user=None, session_key: str = "", k: int, exclude_ids: Iterable[int] = ()
) -> RecommendedList:
    """ "Recommended for you": every source of RECOMMENDED_SOURCES over the shopper's live history
    (their user's events, else their session's), fused by hybrid.blend with the served weights
    (RECOMMENDED_BLEND_WEIGHTS_FILE, by default recommendations/blend_weights.json), as the offline
    evaluation's `served` method does. Only
    products that can be bought (active, in stock, with a price); never what is in the cart
    (exclude_ids) nor what the shopper bought or viewed, unless shoppers buy it again
    (hybrid.repeat_rule);
    no article type holds more than hybrid.TYPE_CAP of the list. Each item says why, from the
    source that contributed most. Only the neighbour tables are trained: new clicks change the list
    at once.

    Ten queries at most: history, the repeat rates of what was bought, one per source but two for
    similar_items (the best-sellers cached; their all-time fallback or a re-read for a long history
    adds one), the products and the active versions.
    """
    from recommendations.hybrid import POOL_EXTRA, blend, exclusions, reason, weights_load

    history = shopper_history(user=user, session_key=session_key)
    exclude = exclusions(history.products, products_repeatable(product_ids=history.bought), exclude_ids)
    pool = k + POOL_EXTRA
    weights = weights_load(settings.RECOMMENDED_BLEND_WEIGHTS_FILE or None)
    lists = {
        name: selector(history=history, k=pool, exclude=exclude)
        for name, selector in RECOMMENDED_SOURCES.items()
        if weights.get(name, 0.0) > 0
    }
    candidates = {candidate.product_id for found in lists.values() for candidate in found}
    becauses = {candidate.because for found in lists.values() for candidate in found if candidate.because}
    products = Product.objects.select_related("category").in_bulk(list(candidates | becauses))
    # Checked again: the cached best-sellers may name a product sold out since.
    buyable = {
        pk for pk in candidates if (p := products.get(pk)) and p.is_active and p.stock > 0 and p.price is not None
    }
    unbuyable = candidates - buyable
    type_of = {pk: products[pk].category_id for pk in buyable if products[pk].category_id}
    ranked = blend(lists, weights, k=k, exclude=exclude | unbuyable, type_of=type_of)
    names = {pk: product.name for pk, product in products.items()}
    kinds = {pk: _kind_label(products[pk]) for pk in buyable if products[pk].category_id}
    items = [
        RecommendedProduct(
            product=products[item.product_id],
            score=item.score,
            reason=_reason_for(item, reason(item, names=names, categories=kinds), history),
        )
        for item in ranked
    ]
    # Personal once any source that reads the history has something to go on.
    personal = any(found for name, found in lists.items() if name not in GENERAL_SOURCES)
    versions = RecommenderModel.objects.filter(is_active=True).order_by("kind").values_list("kind", "version")
    used = ", ".join(f"{kind} v{version}" for kind, version in versions)
    model = f"hybrid: {used}" if used else None
    return RecommendedList(strategy="personal" if personal else "popular", model=model, items=items)


# Genders as a kind's label says them: "Women's Dresses".
_GENDER_POSSESSIVE = {"Men": "Men's", "Women": "Women's", "Boys": "Boys'", "Girls": "Girls'"}


def _kind_label(product: Product) -> str:
    prefix = _GENDER_POSSESSIVE.get(product.gender)
    return f"{prefix} {product.category.name}" if prefix else product.category.name


def _reason_for(item, text: str, history: ShopperHistory) -> str:
    # Item-item from a product the shopper bought reads "Bought together with", as before the blend.
    if item.source == "item_item_bm25" and item.because in history.bought:
        return text.replace("Because you viewed", "Bought together with", 1)
    return text
