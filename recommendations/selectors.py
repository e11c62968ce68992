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


# A product's own stored vector, read inside the similarity statement (an InitPlan evaluated once):
# sending it to Python and back costs two 1,280-float texts per tier, more than the index scan.
PRODUCT_VECTOR_SQL = (
    "(SELECT {halfvec} FROM recommendations_productembedding s "
    "WHERE s.product_id = %(source)s AND s.model_name = %(model)s AND s.vector IS NOT NULL)"
)
# The similar-items lookup reads the product's vector in SQL (above); False sends it through Python
# as before (kept for benchmarks.served_query's side-by-side comparison).
SIMILAR_ITEMS_VECTOR_IN_SQL = True


def _nearest_candidates(
    vector: np.ndarray | HalfVector | str | None,
    *,
    k: int,
    exclude_ids: list[int] | None = None,
    where: str = "",
    where_params: dict | None = None,
    explain: bool = False,
    of_product: int | None = None,
) -> list[_Candidate] | str:
    """The k nearest buyable products to `vector`, or (vector None) to the stored vector of the
    product `of_product`, read in the same statement."""
    model = active_model_name()
    if isinstance(vector, np.ndarray):
        vector = HalfVector(np.asarray(vector, dtype=np.float32))
    # A str is pgvector text already, as product_vector() reads it.
    query = vector.to_text() if isinstance(vector, HalfVector) else vector
    params = {"query": query, "source": of_product, "model": model, "exclude": exclude_ids or [0], "k": k}
    params.update(where_params or {})
    if vector is None:
        query_sql = PRODUCT_VECTOR_SQL.format(halfvec=halfvec_sql("s.vector", model))
    else:
        query_sql = halfvec_sql("%(query)s", model)
    sql = NEAREST_SQL.format(indexed=halfvec_sql("e.vector", model), query=query_sql, where=where)
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
    ready = ProductEmbedding.objects.filter(
        product=product, model_name=active_model_name(), status=ProductEmbedding.Status.READY
    )
    if SIMILAR_ITEMS_VECTOR_IN_SQL:
        embedding = ready.values_list("pk", "colour_lab").first()
    else:
        embedding = ready.annotate(text=Cast("vector", TextField())).values_list("text", "colour_lab").first()
    if embedding is None:
        return []
    vector = None if SIMILAR_ITEMS_VECTOR_IN_SQL else embedding[0]
    lab = tuple(embedding[1]) if embedding[1] else None
    has_colour = bool(product.base_colour.strip()) or lab is not None

    def blended(row: _Candidate) -> float:
        agreement = colour_agreement(product.base_colour, lab, row.base_colour, row.colour_lab) if has_colour else 0
        return row.score + SIMILAR_ITEMS_COLOUR_WEIGHT * agreement

    found: list[tuple[_Candidate, float]] = []
    for where, params in _catalogue_tiers(product):
        wanted = k - len(found)
        exclude = [product.pk, *(row.product_id for row, _ in found)]
        pool = max(wanted, SIMILAR_ITEMS_COLOUR_POOL) if has_colour else wanted
        rows = _nearest_candidates(
            vector, k=pool, exclude_ids=exclude, where=where, where_params=params, of_product=product.pk
        )
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
    return _nearest_candidates(
        None if SIMILAR_ITEMS_VECTOR_IN_SQL else vector,
        k=k or settings.SIMILAR_ITEMS_COUNT,
        exclude_ids=[product.pk],
        explain=True,
        of_product=product.pk,
    )


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

# The active also_bought version (always one row when there is one) with the stored neighbours of
# the history's products, each neighbour flagged as buyable or not.
HISTORY_NEIGHBOURS_SQL = """
SELECT m.version, n.product_id, n.neighbour_id, n.score,
       (p.is_active AND p.stock > 0 AND p.price IS NOT NULL) AS buyable
FROM recommendations_recommendermodel m
LEFT JOIN recommendations_productneighbour n
  ON n.model_id = m.id AND n.product_id = ANY(%(products)s) AND n.score >= %(min_score)s
LEFT JOIN shop_product p ON p.id = n.neighbour_id
WHERE m.kind = 'also_bought' AND m.is_active
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

REASON_POPULAR_WEEK = "Popular this week"
REASON_POPULAR = "Popular in the shop"


@dataclass(frozen=True)
class RecommendedProduct:
    product: Product
    score: float  # the served blend's score (collaborative.served_list)
    reason: str


@dataclass(frozen=True)
class RecommendedList:
    strategy: str  # "personal" (the history has neighbours) or "popular"
    model: str | None  # the active also_bought version ("also_bought v3"), None before any
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


def shopper_recommended_inputs(
    *, user=None, session_key: str = "", k: int, exclude_ids: Iterable[int] = ()
) -> tuple[dict, list[int], list[int], set[int], str | None, bool, ShopperHistory]:
    """What collaborative.served_list is called with for this shopper: (neighbours, history,
    popular, exclude, model, popular_is_recent, history). `exclude` holds what was bought, what is in
    the cart (exclude_ids) and neighbours that cannot be bought; `popular` is buyable only."""
    history = shopper_history(user=user, session_key=session_key)
    neighbours: dict[int, list[tuple[int, float]]] = {}
    unbuyable: set[int] = set()
    model = None
    with connection.cursor() as cursor:
        cursor.execute(
            HISTORY_NEIGHBOURS_SQL, {"products": history.products, "min_score": settings.RECOMMENDER_MIN_SCORE}
        )
        for version, product_id, neighbour_id, score, buyable in cursor.fetchall():
            model = f"{RecommenderModel.Kind.ALSO_BOUGHT} v{version}"
            if product_id is None:
                continue
            neighbours.setdefault(product_id, []).append((neighbour_id, float(score)))
            if not buyable:
                unbuyable.add(neighbour_id)
    exclude = set(history.bought) | set(exclude_ids) | unbuyable
    popular, recent = popular_recent_ids()
    banned = exclude | set(history.products)
    if len(popular) == POPULAR_POOL and len(popular) - len(banned.intersection(popular)) < k:
        # This shopper's exclusions cover most of the cached pool: read far enough for k.
        popular, recent = popular_recent_ids(limit=POPULAR_POOL + len(banned) + k)
    return neighbours, history.products, popular, exclude, model, recent, history


def shopper_recommended_list(
    *, user=None, session_key: str = "", k: int, exclude_ids: Iterable[int] = ()
) -> RecommendedList:
    """ "Recommended for you": collaborative.served_list over the shopper's live history (their
    user's events, else their session's), the active also_bought version's stored neighbours and the
    recent best-sellers, exactly as the offline evaluation's `served` method calls it; only products
    that can be bought (active, in stock, with a price), never what the shopper bought or has in the
    cart (exclude_ids). Only the neighbour table is trained: new clicks change the list at once.

    About four queries: history, neighbours with the model, best-sellers (cached), products.
    """
    from recommendations.collaborative import served_list

    neighbours, history, popular, exclude, model, recent, shopper = shopper_recommended_inputs(
        user=user, session_key=session_key, k=k, exclude_ids=exclude_ids
    )
    ranked = served_list(neighbours, history, popular, k=k, exclude=exclude)
    personal = any(neighbours.get(product) for product in history)
    # Each item-item product's reason: the history product it is most similar to (most recent on ties).
    because: dict[int, tuple[float, int]] = {}
    banned = exclude | set(history)
    for product_id in history:  # most recent first: it keeps ties
        for neighbour_id, score in neighbours.get(product_id, ()):
            if neighbour_id not in banned and (neighbour_id not in because or score > because[neighbour_id][0]):
                because[neighbour_id] = (score, product_id)
    wanted = {pk for pk, _ in ranked} | {because[pk][1] for pk, _ in ranked if pk in because}
    products = Product.objects.in_bulk(list(wanted))
    items = []
    for product_id, score in ranked:
        product = products.get(product_id)
        # Checked again: the cached best-sellers may name a product sold out since.
        if product is None or not product.is_active or product.stock <= 0 or product.price is None:
            continue
        if product_id in because:
            source = products[because[product_id][1]]
            verb = "Bought together with" if source.pk in shopper.bought else "Because you viewed"
            reason = f"{verb} {source.name}"
        else:
            reason = REASON_POPULAR_WEEK if recent else REASON_POPULAR
        items.append(RecommendedProduct(product=product, score=score, reason=reason))
    return RecommendedList(strategy="personal" if personal else "popular", model=model, items=items)
