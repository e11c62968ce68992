"""Reads: "similar to product X" and "similar to this image", as pgvector SQL.

The storefront, the API and the evaluation call these. Vectors are written by services.py
(the worker) and read whole only by classifier.py, to train on the catalogue's vectors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from pgvector import HalfVector, Vector
from PIL import Image

from recommendations.candidates import Candidate
from recommendations.classifier import photo_categories_predict, photo_category_probabilities, photo_projection
from recommendations.colours import colour_agreement
from recommendations.models import ProductEmbedding, ProductNeighbour, RecommenderModel
from recommendations.neighbourhoods import TOUCH_KINDS, USER_USER_NEIGHBOURS, USER_USER_POOL
from recommendations.photo import (
    PHOTO_RUNNER_UP_PLACES,
    PHOTO_SEARCH,
    PhotoSteps,
    garment_colour_lab,
    mean_vector,
    photo_views,
)
from recommendations.profiles import content_profile_inputs, content_profile_vector
from recommendations.projection import projection_apply
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


# Search by photo: the served form is recommendations.photo.PHOTO_SEARCH (which views of the photo
# are embedded, how the kinds share the list, colour, the flat-lay prior), chosen by measurement
# (docs/evaluation.md). The fused search: how many unrestricted neighbours vote on the photo's kind,
# how much the classifier weighs against their votes, how many kinds share the list, and below which
# top probability the rest of the probability goes to the plain nearest neighbours.
PHOTO_VOTE_NEIGHBOURS = 10
PHOTO_CLASSIFIER_WEIGHT = 0.5
PHOTO_KINDS = 3
PHOTO_CONFIDENT = 0.3
# The places are shared in proportion to probability ** this (above 1 favours the likeliest kind).
PHOTO_SHARE_POWER = 2.0
# With a colour or kids re-rank, each pool's this many visually nearest are re-ranked.
PHOTO_RERANK_POOL = 20


@dataclass(frozen=True)
class PhotoKind:
    category: Category  # an article type
    probability: float  # fused: the classifier and the nearest neighbours' votes


@dataclass(frozen=True)
class PhotoSearch:
    results: list[SimilarProduct]
    kinds: list[PhotoKind]  # what the photo most likely shows, likeliest first
    weak_match: bool  # the best result is below PHOTO_SEARCH_WEAK_SCORE


def photo_vector(*, image: Image.Image, tta: bool | str = False, views: str | None = None) -> np.ndarray:
    """The photo's vector: the normalised mean of the vectors of its views (recommendations.photo),
    by default the form the older `tta` argument names (False: the photo alone)."""
    views = views or PhotoSteps.legacy(tta, False).views
    images = photo_views(image, views)
    if len(images) == 1:
        return image_embed(image=images[0])
    return mean_vector(embedder_get().embed(images))


def _kind_probabilities(
    vector: np.ndarray, neighbours: list[tuple[int, float]], recipe: str = PHOTO_SEARCH.classifier
) -> dict[int, float]:
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
    classifier = photo_category_probabilities(vector, recipe=recipe)
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


class _Ranker:
    """One photo's candidate lists, re-ranked by what the steps ask (colour, the kids prior) and cut
    to k; scores stay cosine similarities."""

    def __init__(self, vector: np.ndarray, steps: PhotoSteps, k: int, lab: tuple[float, float, float] | None) -> None:
        self.vector, self.steps, self.k, self.lab = vector, steps, k, lab
        self.rerank = steps.colour_weight > 0 or steps.kids_penalty > 0
        self.pools: list[list[_Candidate]] = []

    def nearest(self, *, k: int | None = None, where: str = "", params: dict | None = None, exclude=None):
        want = k or self.k
        pool = max(want, PHOTO_RERANK_POOL) if self.rerank else want
        rows = _nearest_candidates(self.vector, k=pool, exclude_ids=exclude, where=where, where_params=params)
        self.pools.append(rows)
        return rows

    def ranked(self, rows: list[_Candidate], k: int | None = None) -> list[tuple[int, float]]:
        """Call after every nearest(): the kids are looked up once for all the pools."""
        want = k or self.k
        if not self.rerank:
            return [(row.product_id, row.score) for row in rows[:want]]
        if not hasattr(self, "_kids"):
            ids = {row.product_id for pool in self.pools for row in pool}
            self._kids = (
                set(Product.objects.filter(pk__in=ids, gender__in=KIDS_GENDERS).values_list("pk", flat=True))
                if self.steps.kids_penalty > 0
                else set()
            )

        def key(row: _Candidate) -> float:
            value = row.score - self.steps.kids_penalty * (row.product_id in self._kids)
            if self.steps.colour_weight and self.lab is not None and row.colour_lab is not None:
                value += self.steps.colour_weight * colour_agreement("", self.lab, "", row.colour_lab)
            return value

        return [(row.product_id, row.score) for row in sorted(rows, key=key, reverse=True)[:want]]


KIDS_GENDERS = ("Boys", "Girls")


def _runner_ups_placed(
    found: list[tuple[int, float]],
    kinds: list[tuple[int, float]],
    pools: list[tuple[float, list[tuple[int, float]]]],
    ratio: float,
) -> list[tuple[int, float]]:
    """Each kind after the likeliest that is at least `ratio` times as likely, and has no place among
    the first PHOTO_RUNNER_UP_PLACES, gets its best product at the end of those places, likelier
    kinds first (the rest move down, the list keeps its length)."""
    top = kinds[0][1]
    head = {pk for pk, _ in found[:PHOTO_RUNNER_UP_PLACES]}
    runner_ups: list[tuple[int, float]] = []
    for (_, probability), (_, pool) in list(zip(kinds, pools, strict=False))[1:]:
        if probability >= ratio * top and pool and not head & {pk for pk, _ in pool}:
            runner_ups.append(pool[0])
    if not runner_ups:
        return found
    chosen = {pk for pk, _ in runner_ups}
    rest = [item for item in found if item[0] not in chosen]
    keep = max(0, PHOTO_RUNNER_UP_PLACES - len(runner_ups))
    return [*rest[:keep], *runner_ups, *rest[keep:]][: len(found)]


def _photo_ranked(
    vector: np.ndarray,
    *,
    k: int,
    steps: PhotoSteps,
    category: Category | None = None,
    lab: tuple[float, float, float] | None = None,
    class_vector: np.ndarray | None = None,
) -> tuple[list[tuple[int, float]], dict[int, float]]:
    """The ranked (product id, score) list and, for the fused search or a chosen kind, the fused
    kind probabilities. `vector` is searched with; `class_vector` (default `vector`) is what the
    classifier reads (the projection head changes the first only)."""
    class_vector = vector if class_vector is None else class_vector
    ranker = _Ranker(vector, steps, k, lab)
    probabilities: dict[int, float] = {}
    if category is not None:
        neighbours = ranker.nearest(k=max(k, PHOTO_VOTE_NEIGHBOURS))
        probabilities = _kind_probabilities(
            class_vector, [(row.product_id, row.score) for row in neighbours], steps.classifier
        )
        below = Category.objects.filter(Q(parent=category) | Q(parent__parent=category))
        categories = [category.pk, *below.values_list("pk", flat=True)]
        within = ranker.nearest(where=" AND p.category_id = ANY(%(categories)s)", params={"categories": categories})
        found = ranker.ranked(within)
        if len(found) < k:  # the chosen kind holds fewer than k: the rest from the whole catalogue
            found += [item for item in ranker.ranked(neighbours, k=len(neighbours)) if item not in found][
                : k - len(found)
            ]
        return found, probabilities
    if steps.kinds == "fused":
        neighbours = ranker.nearest(k=max(k, PHOTO_VOTE_NEIGHBOURS))
        probabilities = _kind_probabilities(
            class_vector, [(row.product_id, row.score) for row in neighbours], steps.classifier
        )
        kinds = sorted(probabilities.items(), key=lambda item: -item[1])[:PHOTO_KINDS]
        filtered = [
            (probability, ranker.nearest(where=" AND p.category_id = %(kind)s", params={"kind": kind}))
            for kind, probability in kinds
        ]
        pools = [(probability**PHOTO_SHARE_POWER, ranker.ranked(rows)) for probability, rows in filtered]
        top = kinds[0][1] if kinds else 0.0
        # A confident guess shares the list among its kinds; an unsure one keeps the rest of the
        # probability for the plain nearest neighbours, and open_share keeps some for them always,
        # more the less sure the best kind is: a wrong guess then cannot exclude every right answer.
        unrestricted = 0.0 if top >= PHOTO_CONFIDENT else max(0.0, 1.0 - sum(p for _, p in kinds)) ** PHOTO_SHARE_POWER
        unrestricted = max(unrestricted, steps.open_share * (1.0 - top) ** PHOTO_SHARE_POWER)
        pools.append((unrestricted, ranker.ranked(neighbours, k=len(neighbours))))
        found = _share_out(pools, k)
        if steps.runner_up > 0 and kinds:
            found = _runner_ups_placed(found, kinds, pools, steps.runner_up)
        if len(found) < k:
            found += _nearest(vector, k=k - len(found), exclude_ids=[pk for pk, _ in found])
        return found, probabilities
    found: list[tuple[int, float]] = []
    categories = photo_categories_predict(class_vector, recipe=steps.classifier) if steps.kinds == "top" else []
    if categories:
        rows = ranker.nearest(where=" AND p.category_id = ANY(%(categories)s)", params={"categories": categories})
        found = ranker.ranked(rows)
    if len(found) < k:
        rows = ranker.nearest(k=k - len(found), exclude=[pk for pk, _ in found])
        found += ranker.ranked(rows, k=k - len(found))
    if not ranker.rerank:
        found.sort(key=lambda item: -item[1])
    return found, probabilities


def _photo_query(
    image: Image.Image, steps: PhotoSteps
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float] | None]:
    """The vector to search with, the vector the classifier reads, and the garment's colour if asked."""
    vector = photo_vector(image=image, views=steps.views)
    search = vector
    if steps.projection:
        weights = photo_projection()
        if weights is not None and weights.shape[1] == vector.shape[-1]:
            search = projection_apply(weights, vector)
    return search, vector, garment_colour_lab(image) if steps.colour_weight > 0 else None


def image_similar_list(
    *,
    image: Image.Image,
    k: int | None = None,
    tta: bool | str | None = None,
    restrict: bool | str | None = None,
    steps: PhotoSteps | None = None,
) -> list[SimilarProduct]:
    """The k products whose images are nearest to an uploaded photo, best first, in the form `steps`
    names (default: PHOTO_SEARCH, the served one).

    The older arguments name a form too: tta (False: the photo alone, True: with its mirror image and
    centre, "crop": with the garment crop) and restrict (False: the whole catalogue, True: the
    classifier's likeliest types only, "fused": the list shared out between the kinds).
    """
    k = k or settings.SIMILAR_ITEMS_COUNT
    if steps is None:
        steps = PHOTO_SEARCH if tta is None and restrict is None else PhotoSteps.legacy(tta or False, restrict or False)
    vector, class_vector, lab = _photo_query(image, steps)
    found, _ = _photo_ranked(vector, k=k, steps=steps, lab=lab, class_vector=class_vector)
    return _with_products(found)


def image_search(
    *, image: Image.Image, k: int | None = None, category: Category | None = None, steps: PhotoSteps | None = None
) -> PhotoSearch:
    """Search by photo as served: the results (within `category` and its sub-types when given, filled
    from the whole catalogue when it holds fewer than k), the kinds the photo most likely shows, and
    whether the best match is weak. `steps` (default PHOTO_SEARCH) is for the evaluation."""
    k = k or settings.SIMILAR_ITEMS_COUNT
    steps = steps or PHOTO_SEARCH
    vector, class_vector, lab = _photo_query(image, steps)
    found, probabilities = _photo_ranked(
        vector, k=k, steps=steps, category=category, lab=lab, class_vector=class_vector
    )
    if not probabilities:
        probabilities = _kind_probabilities(class_vector, _nearest(vector, k=PHOTO_VOTE_NEIGHBOURS), steps.classifier)
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
    # The shopper as the event log's trainers name them ("user:<id>", "session:<key>"); "" unknown.
    shopper: str = ""


def shopper_history(*, user=None, session_key: str = "") -> ShopperHistory:
    """The products the shopper has events for (every kind but returns, as the evaluation reads a
    history), most recently touched first, ties by id descending; and those they bought. One query."""
    from django.db.models import Count, Q

    from events.models import Interaction

    if user is not None and user.is_authenticated:
        rows, shopper = Interaction.objects.filter(user=user), f"user:{user.pk}"
    elif session_key:
        rows, shopper = Interaction.objects.filter(session_key=session_key), f"session:{session_key}"
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
    return ShopperHistory(products=products, bought=bought, shopper=shopper)


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
    from recommendations.hybrid import GENERAL_SOURCES, POOL_EXTRA, blend, exclusions, reason, weights_load

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
    # (hybrid.GENERAL_SOURCES: lists that are the same for everyone; made of them alone it is "Popular now".)
    personal = any(found for name, found in lists.items() if name not in GENERAL_SOURCES)
    versions = RecommenderModel.objects.filter(is_active=True).order_by("kind").values_list("kind", "version")
    used = ", ".join(f"{kind} v{version}" for kind, version in versions)
    model = f"hybrid: {used}" if used else None
    return RecommendedList(strategy="personal" if personal else "popular", model=model, items=items)


# --- "Recommended for you" sources: matrix factorisation (ALS, BPR) served by pgvector ---

# The shopper's factors: stored by the active version's training, or folded in from their live
# events when they have events newer than the version or none stored (ALS: implicit's
# recalculate_user; BPR: the mean of the history's latent factors; factorisation.fold_in).
# Then one exact scan by inner product over the version's product factors, buyable products only.
# Exact, not HNSW: it is implicit's own top k, and cheap at the demo's catalogue sizes; an HNSW
# vector_ip_ops index (recall@12 above 0.99 measured) is the step for catalogues past ~10,000
# products (docs/evaluation.md, "Serving: exact scan, not (yet) an HNSW index").
FACTOR_HISTORY_LIMIT = 50  # the shopper's latest products that fold-in and "because" read

# One statement for everything but the scan: the active version, the shopper's stored factors,
# whether they have events the version has not seen, the factors of their latest products and
# their events on those products (the confidences fold-in needs).
FACTOR_SHOPPER_SQL = """
SELECT m.id, m.params,
       (SELECT s.vector::text FROM recommendations_shopperfactor s
        WHERE s.model_id = m.id AND s.shopper = %(shopper)s),
       {newer},
       ARRAY(SELECT f.product_id FROM recommendations_productfactor f
             WHERE f.model_id = m.id AND f.product_id = ANY(%(products)s) ORDER BY f.product_id),
       ARRAY(SELECT f.vector::text FROM recommendations_productfactor f
             WHERE f.model_id = m.id AND f.product_id = ANY(%(products)s) ORDER BY f.product_id),
       {events}
FROM recommendations_recommendermodel m
WHERE m.kind = %(kind)s AND m.is_active
"""
FACTOR_NEWER_SQL = "EXISTS (SELECT 1 FROM events_interaction i WHERE {who} AND i.created_at > m.up_to)"
FACTOR_EVENTS_SQL = """ARRAY(SELECT json_build_array(i.product_id, i.kind, i.quantity, i.created_at)::text
             FROM events_interaction i WHERE {who} AND i.product_id = ANY(%(products)s))"""

# The inner query ranks; only its k rows are turned into text for the reasons (the select list of
# a sorted query is computed for every row it sorts).
FACTOR_NEAREST_SQL = """
SELECT n.product_id, -n.distance, f.vector::text
FROM (
  SELECT f.product_id, f.vector <#> %(user)s::vector AS distance
  FROM recommendations_productfactor f
  JOIN shop_product p ON p.id = f.product_id AND p.is_active AND p.stock > 0 AND p.price IS NOT NULL
  WHERE f.model_id = %(model)s AND f.product_id <> ALL(%(exclude)s)
  ORDER BY distance
  LIMIT %(k)s
) n
JOIN recommendations_productfactor f ON f.model_id = %(model)s AND f.product_id = n.product_id
ORDER BY n.distance, n.product_id
"""

_gramians: dict[int, np.ndarray] = {}  # per process, by version id (a version's factors never change)


def _shopper_filter(shopper: str) -> tuple[str, dict] | None:
    # As events.selectors.training_events names shoppers: an account first, then an imported key.
    kind, _, key = shopper.partition(":")
    if kind == "user" and key.isdigit():
        return "i.user_id = %(key)s", {"key": int(key)}
    if kind == "customer" and key:
        return "i.user_id IS NULL AND i.customer_key = %(key)s", {"key": key}
    if kind == "session" and key:
        return "i.user_id IS NULL AND i.customer_key = '' AND i.session_key = %(key)s", {"key": key}
    return None


def _vector(text: str) -> np.ndarray:
    return np.asarray([float(value) for value in text[1:-1].split(",")], dtype=np.float32)


def _confidences(shopper: str, events: list[str]) -> dict[int, float]:
    """The shopper's row of collaborative.interaction_matrix (weights, quantities, decay) from their events."""
    from datetime import datetime

    from recommendations.collaborative import EventRow, interaction_matrix

    rows = []
    for text in events:
        product, kind, quantity, at = json.loads(text)
        rows.append(EventRow(shopper, product, kind, quantity, datetime.fromisoformat(at), ""))
    data = interaction_matrix(rows)
    if not data.shoppers:
        return {}
    row = data.matrix.getrow(0)
    return {data.products[column]: float(value) for column, value in zip(row.indices, row.data, strict=True)}


def factor_shopper_vector(
    *, kind: str, history: ShopperHistory
) -> tuple[int, np.ndarray | None, dict[int, np.ndarray], bool]:
    """(version id, the shopper's factors or None, the history's product factors, folded in?) in the
    active `kind` version; (0, None, {}, False) without one. One query (and the version's Gram
    matrix once per process)."""
    from recommendations.factorisation import FactorParams, fold_in

    latest = history.products[:FACTOR_HISTORY_LIMIT]
    where = _shopper_filter(history.shopper)
    if where is None:
        newer, events, values = "TRUE", "ARRAY[]::text[]", {}
    else:
        newer, events, values = FACTOR_NEWER_SQL.format(who=where[0]), FACTOR_EVENTS_SQL.format(who=where[0]), where[1]
    with connection.cursor() as cursor:
        cursor.execute(
            FACTOR_SHOPPER_SQL.format(newer=newer, events=events),
            {**values, "kind": kind, "shopper": history.shopper, "products": latest},
        )
        found = cursor.fetchone()
    if found is None:
        return 0, None, {}, False
    model_id, params, text, newer, products, vectors, events = found
    params = FactorParams.from_dict(params if isinstance(params, dict) else json.loads(params))
    item_rows = {product: _vector(vector) for product, vector in zip(products, vectors, strict=True)}
    stored = _vector(text) if text else None
    if stored is not None and not newer:
        return model_id, stored, item_rows, False
    known = [product for product in latest if product in item_rows]
    if not known:
        return model_id, stored, item_rows, False
    if model_id not in _gramians:  # read once per process and version (F x F float64, 32 KB at F = 64)
        gramian = RecommenderModel.objects.filter(pk=model_id).values_list("gramian", flat=True).first()
        if not gramian:  # deleted meanwhile (pruned by a newer training)
            return model_id, stored, item_rows, False
        size = round(math.sqrt(len(gramian) / 8))
        if len(_gramians) >= 8:  # older versions are pruned: do not keep theirs for ever
            _gramians.clear()
        _gramians[model_id] = np.frombuffer(bytes(gramian), dtype=np.float64).reshape(size, size)
    confidences = _confidences(history.shopper, events) if events else {}
    weights = [confidences.get(product, 1.0) for product in known]
    user = fold_in(np.stack([item_rows[p] for p in known]), weights, gramian=_gramians[model_id], params=params)
    return model_id, user, item_rows, True


def _factor_candidates(*, kind: str, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    from recommendations.factorisation import BPR

    if not history.products:  # nothing stored or to fold in: no query for a first-time visitor
        return []
    model_id, user, item_rows, _ = factor_shopper_vector(kind=kind, history=history)
    if user is None:
        return []
    banned = sorted(set(exclude) | set(history.products))
    with connection.cursor() as cursor:
        cursor.execute(FACTOR_NEAREST_SQL, {"user": Vector._to_db(user), "model": model_id, "exclude": banned, "k": k})
        found = cursor.fetchall()
    # "Because": the history product whose factors are most like the candidate's (largest inner
    # product; BPR's bias column is the candidate's own and left out).
    sources = [product for product in history.products if product in item_rows][:20]
    latent = np.stack([item_rows[p] for p in sources]) if sources else np.zeros((0, len(user)), dtype=np.float32)
    if kind == BPR and len(sources):
        latent = latent[:, :-1]
    out = []
    for product_id, score, text in found:
        reason = None
        if sources:
            own = _vector(text)
            products = latent @ (own[:-1] if kind == BPR else own)
            best = int(np.argmax(products))
            reason = sources[best] if products[best] > 0 else None
        out.append(Candidate(product_id, float(score), kind, reason))
    return out


def als_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """ALS "recommended for you": the active als version's products by inner product with the
    shopper's factors (stored, or folded in from live events), buyable only, never the history."""
    return _factor_candidates(kind=RecommenderModel.Kind.ALS, history=history, k=k, exclude=exclude)


def bpr_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """BPR "recommended for you", as als_candidates (scores include BPR's item bias)."""
    return _factor_candidates(kind=RecommenderModel.Kind.BPR, history=history, k=k, exclude=exclude)


# --- "Recommended for you" sources: user-user, content profile, EASE (see candidates.py) ---------

# A shopper's key, as events.selectors.training_events names them, and the columns that identify
# them: the user; else the imported customer; else the session.
_SHOPPER_SQL = (
    "COALESCE('user:' || i.user_id, 'customer:' || NULLIF(i.customer_key, ''), 'session:' || NULLIF(i.session_key, ''))"
)


def _shopper_events(columns: str, where: str) -> str:
    """A pool shopper `p`'s events (`where` on alias i): three branches, of which only the one for
    p's kind of key runs (one-time filters), each on its own index (interaction_*_products)."""
    return " UNION ALL ".join(
        f"SELECT {columns} FROM events_interaction i WHERE {guard} AND {where}"
        for guard in (
            "p.user_id IS NOT NULL AND i.user_id = p.user_id",
            "p.customer_key <> '' AND i.customer_key = p.customer_key AND i.customer_key <> '' AND i.user_id IS NULL",
            "p.session_key <> '' AND i.session_key = p.session_key AND i.session_key <> '' AND i.user_id IS NULL"
            " AND i.customer_key = ''",
        )
    )


# recommendations.neighbourhoods.user_user_recommend in one statement over the live event log:
# `pairs` are the shoppers who touched the history's products (the product index), `pool` the
# USER_USER_POOL of them sharing the most, each with their similarity (the count of their products
# from the per-shopper index) if they bought something outside the history and the exclusions; the
# USER_USER_NEIGHBOURS most similar are the neighbours, and what they bought is scored by summed
# similarity. Only buyable products are returned.
USER_USER_SQL = f"""
WITH pairs AS (
    SELECT {_SHOPPER_SQL} AS shopper, i.user_id,
           CASE WHEN i.user_id IS NULL THEN i.customer_key ELSE '' END AS customer_key,
           CASE WHEN i.user_id IS NULL AND i.customer_key = '' THEN i.session_key ELSE '' END AS session_key,
           COUNT(DISTINCT i.product_id) AS shared
    FROM events_interaction i
    WHERE i.product_id = ANY(%(history)s) AND i.kind = ANY(%(kinds)s)
      AND (i.user_id IS NOT NULL OR i.customer_key <> '' OR i.session_key <> '')
    GROUP BY 1, 2, 3, 4
),
pool AS (
    SELECT * FROM pairs ORDER BY shared DESC, shopper COLLATE "C" LIMIT %(pool)s
),
neighbours AS (
    SELECT p.*, p.shared::float8 / sqrt((%(size)s * (
        SELECT COUNT(DISTINCT x.product_id)
        FROM ({_shopper_events("i.product_id", "i.kind = ANY(%(kinds)s)")}) x
    ))::float8) AS similarity
    FROM pool p
    WHERE EXISTS ({_shopper_events("1", "i.kind = 'purchase' AND i.product_id <> ALL(%(banned)s)")})
    ORDER BY similarity DESC, p.shopper COLLATE "C"
    LIMIT %(neighbours)s
)
SELECT b.product_id, SUM(p.similarity) AS score
FROM neighbours p
CROSS JOIN LATERAL (
    SELECT DISTINCT x.product_id
    FROM ({_shopper_events("i.product_id", "i.kind = 'purchase' AND i.product_id <> ALL(%(banned)s)")}) x
) b
JOIN shop_product s ON s.id = b.product_id AND s.is_active AND s.stock > 0 AND s.price IS NOT NULL
GROUP BY b.product_id
ORDER BY score DESC, b.product_id
LIMIT %(k)s
"""

# The active EASE version's stored rows of the history's products, summed per candidate as
# collaborative.recommend_from_history does; `because` is the history product with the largest weight.
EASE_SQL = """
SELECT n.neighbour_id, SUM(n.score) AS score, (array_agg(n.product_id ORDER BY n.score DESC, n.product_id))[1]
FROM recommendations_productneighbour n
JOIN recommendations_recommendermodel m ON m.id = n.model_id AND m.kind = 'ease' AND m.is_active
JOIN shop_product p ON p.id = n.neighbour_id AND p.is_active AND p.stock > 0 AND p.price IS NOT NULL
WHERE n.product_id = ANY(%(history)s) AND n.neighbour_id <> ALL(%(banned)s)
GROUP BY n.neighbour_id
ORDER BY score DESC, n.neighbour_id
LIMIT %(k)s
"""

# For each candidate, the history product whose vector is closest ("Looks like ..."), most recent on ties.
CLOSEST_SQL = """
SELECT DISTINCT ON (c.product_id) c.product_id, h.product_id
FROM recommendations_productembedding c
JOIN recommendations_productembedding h ON h.model_name = c.model_name AND h.product_id = ANY(%(history)s)
JOIN unnest(%(history)s::bigint[]) WITH ORDINALITY AS o(product_id, position) ON o.product_id = h.product_id
WHERE c.model_name = %(model)s AND c.product_id = ANY(%(candidates)s)
  AND c.vector IS NOT NULL AND h.vector IS NOT NULL
ORDER BY c.product_id, c.vector <=> h.vector, o.position
"""


def user_user_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """What the shoppers most like this one bought (recommendations.neighbourhoods, in SQL over the
    live event log, so a click counts at once); buyable products only, never the history or `exclude`.
    `because` is None: the reason is "Shoppers with similar taste bought this"."""
    if not history.products or k <= 0:
        return []
    params = {
        "history": list(dict.fromkeys(history.products)),
        "size": len(set(history.products)),
        "banned": sorted(set(history.products) | set(exclude)) or [0],
        "kinds": list(TOUCH_KINDS),
        "pool": USER_USER_POOL,
        "neighbours": USER_USER_NEIGHBOURS,
        "k": k,
    }
    with connection.cursor() as cursor:
        cursor.execute(USER_USER_SQL, params)
        return [Candidate(product_id, float(score), "user_user") for product_id, score in cursor.fetchall()]


def ease_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """The active EASE version's lists summed over the history (as also_bought's), buyable products
    only, never the history or `exclude`; `because` is the history product that weighs most."""
    if not history.products or k <= 0:
        return []
    params = {"history": history.products, "banned": sorted(set(history.products) | set(exclude)) or [0], "k": k}
    with connection.cursor() as cursor:
        cursor.execute(EASE_SQL, params)
        rows = cursor.fetchall()
    return [Candidate(product_id, float(score), "ease", because) for product_id, score, because in rows]


def content_profile_candidates(*, history: ShopperHistory, k: int, exclude: set[int]) -> list[Candidate]:
    """The products nearest the shopper's visual profile (recommendations.profiles: recency-weighted
    mean of their recent products' image vectors, purchases weighing more), searched with the HNSW
    index like similar items; buyable only, never the history or `exclude`. `because` is the history
    product that looks most like the candidate. Works from the first click; empty without vectors."""
    if not history.products or k <= 0:
        return []
    inputs = content_profile_inputs(history.products, history.bought)
    wanted = [product for product, _ in inputs]
    model = active_model_name()
    rows = ProductEmbedding.objects.filter(
        product_id__in=wanted, model_name=model, status=ProductEmbedding.Status.READY
    ).values_list("product_id", "vector")
    vectors = {product: np.asarray(vector, dtype=np.float32) for product, vector in rows}
    profile = content_profile_vector({product: vectors.get(product) for product in wanted}, wanted, history.bought)
    if profile is None:
        return []
    banned = sorted(set(history.products) | set(exclude))
    found = _nearest_candidates(profile, k=k, exclude_ids=banned)
    ids = [row.product_id for row in found]
    closest: dict[int, int] = {}
    if ids:
        with connection.cursor() as cursor:
            params = {"history": [p for p in wanted if p in vectors], "candidates": ids, "model": model}
            cursor.execute(CLOSEST_SQL, params)
            closest = dict(cursor.fetchall())
    return [Candidate(row.product_id, row.score, "content_profile", closest.get(row.product_id)) for row in found]


# Genders as a kind's label says them: "Women's Dresses".
_GENDER_POSSESSIVE = {"Men": "Men's", "Women": "Women's", "Boys": "Boys'", "Girls": "Girls'"}


def _kind_label(product: Product) -> str:
    prefix = _GENDER_POSSESSIVE.get(product.gender)
    return f"{prefix} {product.category.name}" if prefix else product.category.name


def _reason_for(item, text: str, history: ShopperHistory) -> str:
    # An item-item list (BM25's or EASE's) from a product the shopper bought reads "Bought together with".
    if item.source in ("item_item_bm25", "ease") and item.because in history.bought:
        return text.replace("Because you viewed", "Bought together with", 1)
    return text


# Source name -> selector. A new source is one entry here (and its weight in blend_weights.json);
# a source whose weight is 0 or missing is not called. user_user is measured offline but not
# served: its SQL costs about 200 ms a call on Online Retail's log (README).
RECOMMENDED_SOURCES = {
    "item_item_bm25": item_item_bm25_candidates,
    "bought_together": bought_together_candidates,
    "popularity_recent": popularity_recent_candidates,
    "popular_category": popular_category_candidates,
    "similar_items": similar_items_candidates,
    "als": als_candidates,
    "bpr": bpr_candidates,
    "ease": ease_candidates,
    "content_profile": content_profile_candidates,
}
