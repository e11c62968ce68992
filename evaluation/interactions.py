"""Offline evaluation of the behavioural recommenders on a real purchase history.

Pure: events in (recommendations.collaborative.EventRow), numbers out; the command reads the
events from a scratch database the history was imported into.

The protocol (`methods`): train on the events before the split; the test shoppers are those with
at least one training purchase; each one's ground truth is the distinct products they bought in
the test period that they had not bought before the split and that were sold at least once before
it; every method's list leaves out what that shopper bought before. Repeat purchases are measured
apart (`repeat`): the ground truth keeps re-orders, the lists may hold past purchases, and a
buy-again baseline stands beside them.

Slices (`slices`, the same lists judged on other ground truths; see `slices_make`): `all` is the
protocol above (its figures are `methods`'), `cold` the shoppers with at most one product bought
before the split (none at all included), `new` the purchases of products first sold in the test
period that are in the catalogue, whose coverage counts over the whole catalogue.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from evaluation.common import EvaluationError
from evaluation.metrics import bootstrap_intervals, ranking_metrics, ranking_metrics_per_shopper
from recommendations import factorisation
from recommendations.candidates import Candidate
from recommendations.collaborative import (
    DEFAULT_HALF_LIFE_DAYS,
    PURCHASE,
    EventRow,
    InteractionMatrix,
    bought_together,
    interaction_matrix,
    item_item_neighbours,
    popular_products,
)
from recommendations.ease import ease_rankers
from recommendations.hybrid import (
    POOL_EXTRA,
    blend,
    exclusions,
    neighbour_candidates,
    popular_in_categories,
    repeat_products,
    weights_load,
    weights_tune,
)
from recommendations.neighbourhoods import touched_matrix, user_user_ranker
from recommendations.profiles import content_profile_ranker

DEFAULT_K = 12  # the H&M competition's cut-off
RECENT_DAYS = 7  # popularity_recent counts the last week before the split
ITEM_ITEM_VARIANTS = ("cosine", "bm25", "tfidf")
NEIGHBOURS = 50  # neighbour list length kept per product in the evaluation (the shop keeps 20)
COLD_MAX_PRODUCTS = 1  # a "cold" shopper bought at most this many distinct products before the split
# Confidence intervals: a seeded percentile bootstrap over a slice's shoppers, paired against the
# baseline, so that e.g. "served beats popularity_recent" on 71 H&M shoppers can be told from luck.
BOOTSTRAP = {"resamples": 200, "seed": 42, "level": 0.95, "metrics": ["precision", "recall", "ndcg", "map"]}
BASELINE = "popularity_recent"
SHOP_NEIGHBOURS = 20  # what the shop stores per product (RECOMMENDER_NEIGHBOURS' default)
VALIDATION_DAYS = 28  # a date split's validation period: the last 4 weeks before the split
VALIDATION_SHARE = 0.75  # a stratified split's training events are split again, 75/25, for validation
VALIDATION_SHOPPERS = 3000  # the tuner scores at most this many validation shoppers (a seeded sample)
BLENDS = ("hybrid", "served")
# The trained sources the shop serves beside its neighbour lists and best-sellers (the shop's
# RECOMMENDED_SOURCES): BPR is measured but weaker than ALS everywhere, user-user too slow to serve.
SHOP_MODEL_SOURCES = ("als", "ease", "content_profile")  # rankers built from the others: never sources of a blend


@dataclass
class Split:
    """Training events and, per test shopper, what they bought in the test period."""

    description: str
    train: list[EventRow]
    test_purchases: dict[str, list[int]]  # shopper -> products bought in the test period (with repeats)
    test_time: datetime | None = None  # the split instant (recent popularity counts back from it)
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    extra: dict[str, Any] = field(default_factory=dict)


def split_by_date(events: Iterable[EventRow], *, split: datetime, until: datetime | None = None) -> Split:
    """Train on events before `split`; test on purchases from `split` up to `until` (excluded)."""
    train: list[EventRow] = []
    test: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event.created_at < split:
            train.append(event)
        elif (until is None or event.created_at < until) and event.kind == PURCHASE and event.shopper:
            test[event.shopper].append(event.product_id)
    description = f"date:{split.date().isoformat()}" + (f"..{until.date().isoformat()}" if until else "")
    return Split(description=description, train=train, test_purchases=dict(test), test_time=split)


def split_stratified(events: Iterable[EventRow], *, train_share: float, seed: int) -> Split:
    """Each shopper's events split at random: `train_share` to training, the rest to the test.

    As Microsoft Recommenders' python_stratified_split: per shopper, shuffled with the seed,
    the first round(train_share * n) rows train. Shoppers are taken in sorted order so the
    same seed gives the same split whatever the file order.
    """
    if not 0 < train_share < 1:
        raise EvaluationError(f"the stratified training share must be between 0 and 1, got {train_share}.")
    by_shopper: dict[str, list[EventRow]] = defaultdict(list)
    for event in events:
        if event.shopper:
            by_shopper[event.shopper].append(event)
    rng = random.Random(seed)
    train: list[EventRow] = []
    test: dict[str, list[int]] = {}
    for shopper in sorted(by_shopper):
        rows = sorted(by_shopper[shopper], key=lambda e: (e.created_at, e.product_id))
        rng.shuffle(rows)
        cut = round(train_share * len(rows))
        train.extend(rows[:cut])
        bought = [e.product_id for e in rows[cut:] if e.kind == PURCHASE]
        if bought:
            test[shopper] = bought
    latest = max((e.created_at for e in train), default=None)
    return Split(
        description=f"stratified:{train_share:g}:seed{seed}",
        train=train,
        test_purchases=test,
        test_time=latest + timedelta(seconds=1) if latest else None,
        half_life_days=0.0,
    )


@dataclass
class Prepared:
    """What every method needs, computed once from the training events."""

    split: Split
    bought_before: dict[str, Counter]  # shopper -> purchase lines per product in training
    history: dict[str, list[int]]  # shopper -> products in training, most recent first
    sold_before: set[int]
    truth: dict[str, set[int]]  # the new products each test shopper bought
    truth_repeat: dict[str, set[int]]  # everything each test shopper bought (sold before the split)
    catalogue: set[int]
    train_events: int
    # Every product the shop lists (the scratch database's): what the `new` slice may count and a
    # content-based method may reach beyond `catalogue`, the products sold before the split.
    products: set[int] = field(default_factory=set)


def prepare(split: Split, *, products: Collection[int] | None = None) -> Prepared:
    """Everything the methods and the slices need from a split. `products` is the catalogue (by
    default every product in the split's events)."""
    if products is not None:
        listed = set(products)
    else:
        listed = {event.product_id for event in split.train}
        listed.update(product for bought in split.test_purchases.values() for product in bought)
    bought_before: dict[str, Counter] = defaultdict(Counter)
    sold_before: set[int] = set()
    last_seen: dict[str, dict[int, datetime]] = defaultdict(dict)
    for event in split.train:
        if event.kind == PURCHASE:
            sold_before.add(event.product_id)
            if event.shopper:
                bought_before[event.shopper][event.product_id] += 1
        if event.shopper and event.kind != "return":
            seen = last_seen[event.shopper]
            if event.product_id not in seen or seen[event.product_id] < event.created_at:
                seen[event.product_id] = event.created_at
    history = {
        shopper: [product for product, _ in sorted(seen.items(), key=lambda pair: (pair[1], pair[0]), reverse=True)]
        for shopper, seen in last_seen.items()
    }
    truth: dict[str, set[int]] = {}
    truth_repeat: dict[str, set[int]] = {}
    for shopper, products in split.test_purchases.items():
        if not bought_before.get(shopper):
            continue  # no training purchase: not a test shopper
        known = {product for product in products if product in sold_before}
        new = known - bought_before[shopper].keys()
        if new:
            truth[shopper] = new
        if known:
            truth_repeat[shopper] = known
    return Prepared(
        split=split,
        bought_before=dict(bought_before),
        history=history,
        sold_before=sold_before,
        truth=truth,
        truth_repeat=truth_repeat,
        catalogue=sold_before,
        train_events=len(split.train),
        products=listed,
    )


@dataclass
class Slice:
    """One slice's ground truth: shopper -> relevant products, and what its coverage counts over."""

    truth: dict[str, set[int]]
    catalogue: set[int]
    skipped: int  # shoppers of the slice who bought in the test period but nothing relevant to it
    counts: dict[str, int] = field(default_factory=dict)  # slice-specific numbers for the report


def slices_make(prepared: Prepared) -> dict[str, Slice]:
    """The `all`, `cold` and `new` slices of a prepared split.

    - all: the protocol of `methods` (shoppers with a training purchase; products new to them and
      sold before the split).
    - cold: shoppers with at most COLD_MAX_PRODUCTS distinct products bought before the split,
      including those with none (absent from `all`), judged like `all`.
    - new: the shoppers of `all`, judged on the products first sold in the test period that are in
      the catalogue (`prepared.products`); coverage over the whole catalogue.

    A shopper with nothing relevant in a slice is left out of it and counted in `skipped`.
    """
    bought = prepared.bought_before
    tested = prepared.split.test_purchases
    with_purchase = [shopper for shopper in tested if bought.get(shopper)]
    cold: dict[str, set[int]] = {}
    cold_population = without_purchase = 0
    for shopper, products in tested.items():
        before = bought.get(shopper, Counter())
        if len(before) > COLD_MAX_PRODUCTS:
            continue
        cold_population += 1
        relevant = {product for product in products if product in prepared.sold_before} - before.keys()
        if relevant:
            cold[shopper] = relevant
            without_purchase += not before
    new: dict[str, set[int]] = {}
    outside = 0
    for shopper in with_purchase:
        first_sold = {product for product in tested[shopper] if product not in prepared.sold_before}
        outside += len(first_sold - prepared.products)
        if first_sold & prepared.products:
            new[shopper] = first_sold & prepared.products
    return {
        "all": Slice(prepared.truth, prepared.catalogue, len(with_purchase) - len(prepared.truth)),
        "cold": Slice(
            cold,
            prepared.catalogue,
            cold_population - len(cold),
            {"without_training_purchase": without_purchase},
        ),
        "new": Slice(
            new,
            prepared.catalogue | prepared.products,
            len(with_purchase) - len(new),
            {"new_products": len(set().union(*new.values())), "not_in_catalogue": outside},
        ),
    }


def slices_evaluate(
    lists: Mapping[str, Mapping[str, Sequence[int]]],
    slices: Mapping[str, Slice],
    *,
    k: int,
    bootstrap: Mapping[str, Any] = BOOTSTRAP,
    baseline: str = BASELINE,
) -> dict[str, Any]:
    """Every method's metrics in every slice, with bootstrap intervals (see BOOTSTRAP)."""
    result: dict[str, Any] = {}
    for name, piece in slices.items():
        per_shopper = {
            method: ranking_metrics_per_shopper(lists_, piece.truth, k=k) for method, lists_ in lists.items()
        }
        result[name] = {
            "shoppers": len(piece.truth),
            "skipped": piece.skipped,
            "relevant": sum(len(products) for products in piece.truth.values()),
            "catalogue": len(piece.catalogue),
            **piece.counts,
            "methods": {
                method: ranking_metrics(lists_, piece.truth, piece.catalogue, k=k) for method, lists_ in lists.items()
            },
            "intervals": bootstrap_intervals(
                per_shopper,
                metrics=bootstrap["metrics"],
                resamples=bootstrap["resamples"],
                seed=bootstrap["seed"],
                level=bootstrap["level"],
                baseline=baseline,
            ),
        }
    return result


def _top_excluding(ranking: Sequence[int], exclude: Collection[int], k: int) -> list[int]:
    out = []
    for product in ranking:
        if product not in exclude:
            out.append(product)
            if len(out) == k:
                break
    return out


# A method for the evaluation: (shopper, history most recent first, exclude, k, repeat) -> its ranked
# candidates. `repeat` allows the shopper's history back into the list ("buy it again" protocol).
Ranker = Callable[[str, Sequence[int], Collection[int], int, bool], list[Candidate]]


def _from_pairs(source: str, pairs: Iterable[tuple[int, float]]) -> list[Candidate]:
    return [Candidate(product, float(score), source) for product, score in pairs]


def _from_ranking(source: str, ranking: Sequence[int]) -> list[Candidate]:
    # A plain ranking scored by reciprocal rank, so a blend can still weigh it.
    return [Candidate(product, 1.0 / (rank + 1), source) for rank, product in enumerate(ranking)]


def method_rankers(
    prepared: Prepared,
    *,
    variants: Sequence[str] = ITEM_ITEM_VARIANTS,
    visual: Callable[[Sequence[int], Collection[int], int], list[int]] | None = None,
    vectors: Mapping[int, Sequence[float]] | None = None,
    k: int = DEFAULT_K,
    categories: Mapping[int, int] | None = None,
    hybrid_weights: Mapping[str, float] | None = None,
    served_weights: Mapping[str, float] | None = None,
    blends: bool = True,
) -> dict[str, Ranker]:
    """Every method of the evaluation, each trained once on the split's training events.

    `categories` (product -> article type) feeds `popular_category` and the blends' type cap. With
    `blends`, `hybrid` fuses every other method with `hybrid_weights` (tuned on a validation split
    carved from the training period, `blend_tune`, when not given) and `served` is the shop's own
    list: its sources with the shop's parameters, fused with the shop's weights (`served_weights`,
    by default recommendations/blend_weights.json) by the same `hybrid.blend`.
    """
    train = prepared.split.train
    # A random (stratified) split has no "before": its test events are interleaved in time with the
    # training ones, so nothing is decayed there.
    data = interaction_matrix(train, now=prepared.split.test_time, half_life_days=prepared.split.half_life_days)
    popular = popular_products(train)
    recent_from = (prepared.split.test_time or datetime.max) - timedelta(days=RECENT_DAYS)
    recent = popular_products(train, since=recent_from) if prepared.split.test_time else popular
    neighbours = {variant: item_item_neighbours(data, method=variant, n=NEIGHBOURS) for variant in variants}
    together = bought_together(train, n=NEIGHBOURS)
    by_category = popular_by_category(recent, categories or {})

    def ranked_popular(ranking: Sequence[int], source: str) -> Ranker:
        return lambda shopper, history, exclude, k, repeat: _from_ranking(source, _top_excluding(ranking, exclude, k))

    def from_neighbours(lists, source: str) -> Ranker:
        return lambda shopper, history, exclude, k, repeat: neighbour_candidates(
            lists, history, k=k, source=source, exclude=exclude, include_history=repeat
        )

    def category_ranker(shopper, history, exclude, k, repeat):
        return popular_in_categories(
            history, category_of=categories or {}, popular_by_category=by_category, k=k, exclude=exclude
        )

    rankers: dict[str, Ranker] = {
        "popularity": ranked_popular(popular, "popularity"),
        "popularity_recent": ranked_popular(recent, "popularity_recent"),
    }
    for variant in variants:
        rankers[f"item_item_{variant}"] = from_neighbours(neighbours[variant], f"item_item_{variant}")
    rankers["bought_together"] = from_neighbours(together, "bought_together")
    if categories:
        rankers["popular_category"] = category_ranker
    if visual is not None:
        rankers["visual"] = lambda shopper, history, exclude, k, repeat: _from_ranking(
            "visual", visual(history, exclude, k)
        )
    # Matrix factorisation on the same matrix as the shop's training (recommendations/factorisation.py).
    rankers["als"] = factorisation.factor_ranker(data, factorisation.DEFAULTS["als"])
    rankers["bpr"] = factorisation.factor_ranker(data, factorisation.DEFAULTS["bpr"])
    rankers["user_user"] = user_user_ranker(touched_matrix(train), prepared.bought_before)
    # The shop's content profile searches every product with an image vector, sold or not: so here
    # (the catalogue's products when known), which is how it can reach the `new` slice.
    content = (
        content_profile_ranker(vectors, prepared.catalogue | prepared.products, prepared.bought_before)
        if vectors
        else None
    )
    if content is not None:
        rankers["content_profile"] = content
    # EASE's lambda is chosen on a validation split carved from the training events (k: its metric's cut-off).
    rankers.update(ease_rankers(prepared, data, k=k))
    if not blends:
        return rankers
    repeatable = repeatable_products(train)
    if hybrid_weights is None:
        hybrid_weights = blend_tune(
            prepared, k=k, variants=variants, visual=visual, categories=categories, vectors=vectors
        )["weights"]
    rankers["hybrid"] = blend_ranker(
        {name: ranker for name, ranker in rankers.items() if name not in BLENDS},
        hybrid_weights,
        repeatable=repeatable,
        categories=categories,
        source="hybrid",
    )
    rankers["served"] = served_ranker(
        prepared,
        categories=categories,
        data=data,
        weights=served_weights,
        repeatable=repeatable,
        trained=rankers,
    )
    return rankers


def repeatable_products(train: Iterable[EventRow]) -> set[int]:
    """hybrid.repeat_products over the training purchases (the occasion: basket, else day)."""
    return repeat_products(
        (event.shopper, event.product_id, event.basket or event.created_at.date().isoformat())
        for event in train
        if event.kind == PURCHASE
    )


def served_ranker(
    prepared: Prepared,
    *,
    categories: Mapping[int, int] | None = None,
    data: InteractionMatrix | None = None,
    item_item: Mapping[int, Sequence[tuple[int, float]]] | None = None,
    weights: Mapping[str, float] | None = None,
    repeatable: Collection[int] | None = None,
    trained: Mapping[str, Ranker] | None = None,
) -> Ranker:
    """The shop's list as a Ranker: served_sources fused by hybrid.blend with the served weights
    (recommendations/blend_weights.json unless given). `item_item` replaces the trained BM25 lists
    (the admin scores a stored version's parameters this way); `trained` hands over the model
    sources (SHOP_MODEL_SOURCES) method_rankers already trained."""
    weights = weights if weights is not None else weights_load()
    wanted = {name for name, weight in weights.items() if weight > 0}
    return blend_ranker(
        served_sources(prepared, categories=categories, data=data, item_item=item_item, trained=trained, wanted=wanted),
        weights,
        repeatable=repeatable if repeatable is not None else repeatable_products(prepared.split.train),
        categories=categories,
        source="served",
    )


def served_sources(
    prepared: Prepared,
    *,
    categories: Mapping[int, int] | None = None,
    data: InteractionMatrix | None = None,
    item_item: Mapping[int, Sequence[tuple[int, float]]] | None = None,
    trained: Mapping[str, Ranker] | None = None,
    k: int = DEFAULT_K,
    wanted: Collection[str] | None = None,
) -> dict[str, Ranker]:
    """The served list's sources as the shop stores and reads them: BM25 item-item and basket lists of
    the shop's length, the last week's best-sellers, overall and per category, and the model sources
    the shop trains (ALS factors, EASE's stored lists: SHOP_MODEL_SOURCES), from `trained` or trained
    here on the matrix, those of `wanted` only (the sources with a weight; all when None)."""
    train = prepared.split.train
    model_sources: dict[str, Ranker] = {}
    if trained is not None:
        model_sources = {name: trained[name] for name in SHOP_MODEL_SOURCES if name in trained}
    elif wanted is None or {"als", "ease"} & set(wanted):
        if data is None:
            data = interaction_matrix(train, now=prepared.split.test_time, half_life_days=prepared.split.half_life_days)
        if wanted is None or "als" in wanted:
            model_sources["als"] = factorisation.factor_ranker(data, factorisation.DEFAULTS["als"])
        if wanted is None or "ease" in wanted:
            model_sources["ease"] = ease_rankers(prepared, data, k=k)["ease"]
    if data is None and item_item is None:
        data = interaction_matrix(train, now=prepared.split.test_time, half_life_days=prepared.split.half_life_days)
    recent_from = (prepared.split.test_time or datetime.max) - timedelta(days=RECENT_DAYS)
    recent = popular_products(train, since=recent_from) if prepared.split.test_time else popular_products(train)
    by_category = popular_by_category(recent, categories or {})
    if item_item is None:
        item_item = item_item_neighbours(data, n=SHOP_NEIGHBOURS)
    together = bought_together(train, n=SHOP_NEIGHBOURS)

    def from_neighbours(lists, source: str) -> Ranker:
        return lambda shopper, history, exclude, k, repeat: neighbour_candidates(
            lists, history, k=k, source=source, exclude=exclude, include_history=repeat
        )

    sources: dict[str, Ranker] = {
        "item_item_bm25": from_neighbours(item_item, "item_item_bm25"),
        "bought_together": from_neighbours(together, "bought_together"),
        "popularity_recent": lambda shopper, history, exclude, k, repeat: _from_ranking(
            "popularity_recent", _top_excluding(recent, exclude, k)
        ),
    }
    if categories:
        sources["popular_category"] = lambda shopper, history, exclude, k, repeat: popular_in_categories(
            history, category_of=categories, popular_by_category=by_category, k=k, exclude=exclude
        )
    return {**sources, **model_sources}


def popular_by_category(ranking: Sequence[int], categories: Mapping[int, int]) -> dict[int, list[int]]:
    """A best-seller ranking cut per category, each in the ranking's order."""
    found: dict[int, list[int]] = defaultdict(list)
    for product in ranking:
        category = categories.get(product)
        if category is not None:
            found[category].append(product)
    return dict(found)


def blend_ranker(
    sources: Mapping[str, Ranker],
    weights: Mapping[str, float],
    *,
    repeatable: Collection[int],
    categories: Mapping[int, int] | None,
    source: str,
) -> Ranker:
    """A Ranker fusing `sources` by hybrid.blend as the shop does: each asked for k + POOL_EXTRA
    candidates, leaving out (as well as `exclude`) the shopper's history unless it is `repeatable`."""
    used = {name: ranker for name, ranker in sources.items() if weights.get(name, 0.0) > 0}

    def rank(shopper, history, exclude, k, repeat):
        banned = exclusions(history, repeatable, exclude)
        lists = {name: ranker(shopper, history, banned, k + POOL_EXTRA, repeat) for name, ranker in used.items()}
        fused = blend(lists, weights, k=k, exclude=banned, type_of=categories)
        return [Candidate(item.product_id, item.score, source, item.because) for item in fused]

    return rank


def validation_split(split: Split, *, seed: int = 42) -> Split:
    """A validation split carved from `split`'s training events only: for a date split the last
    VALIDATION_DAYS before it (training before them), for a stratified one a stratified 75/25 split
    of the training events. The test period's events never reach it."""
    if split.description.startswith("stratified"):
        inner = split_stratified(split.train, train_share=VALIDATION_SHARE, seed=seed)
        inner.description = f"validation:{inner.description}"
        return inner
    if split.test_time is None:
        raise EvaluationError("a date split without its split instant cannot be validated.")
    start = split.test_time - timedelta(days=VALIDATION_DAYS)
    inner = split_by_date(split.train, split=start)
    inner.description = f"validation:{start.date().isoformat()}..{split.test_time.date().isoformat()}"
    inner.half_life_days = split.half_life_days
    return inner


def blend_tune(
    prepared: Prepared,
    *,
    k: int = DEFAULT_K,
    variants: Sequence[str] = ITEM_ITEM_VARIANTS,
    visual: Callable[[Sequence[int], Collection[int], int], list[int]] | None = None,
    categories: Mapping[int, int] | None = None,
    method: str = "rrf",
    vectors: Mapping[int, Sequence[float]] | None = None,
) -> dict[str, Any]:
    """The hybrid's weights: every method trained on the validation split's training part, blended
    by coordinate ascent on NDCG@k of its validation shoppers (at most VALIDATION_SHOPPERS, a seeded
    sample). Returns {"weights", "validation", "ndcg", "shoppers", "method"}."""
    inner = prepare(validation_split(prepared.split))
    rankers = method_rankers(
        inner, variants=variants, visual=visual, categories=categories, vectors=vectors, k=k, blends=False
    )
    shoppers = sorted(inner.truth)
    if len(shoppers) > VALIDATION_SHOPPERS:
        shoppers = sorted(random.Random(0).sample(shoppers, VALIDATION_SHOPPERS))
    pool = k + POOL_EXTRA
    lists: dict[str, dict[str, list[Candidate]]] = {}
    options: dict[str, dict[str, Any]] = {}
    for shopper in shoppers:
        exclude = set(inner.bought_before.get(shopper, Counter()))
        history = inner.history.get(shopper, [])
        lists[shopper] = {name: ranker(shopper, history, exclude, pool, False) for name, ranker in rankers.items()}
        options[shopper] = {"exclude": exclude, "type_of": categories}
    truth = {shopper: inner.truth[shopper] for shopper in shoppers}
    weights, score = weights_tune(lists, truth, k=k, score=ndcg_at_k, method=method, blend_options=options)
    return {
        "weights": weights,
        "validation": inner.split.description,
        "ndcg": round(score, 4),
        "shoppers": len(shoppers),
        "method": method,
    }


def ndcg_at_k(ranked: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Binary-gain NDCG@k of one list (as evaluation.metrics.ranking_metrics computes it)."""
    if not relevant:
        return 0.0
    dcg = sum(1 / math.log2(rank + 2) for rank, product in enumerate(ranked[:k]) if product in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal


def methods_lists(
    prepared: Prepared,
    *,
    k: int,
    variants: Sequence[str] = ITEM_ITEM_VARIANTS,
    visual: Callable[[Sequence[int], Collection[int], int], list[int]] | None = None,
    repeat: bool = False,
    rankers: Mapping[str, Ranker] | None = None,
    shoppers: Iterable[str] | None = None,
    vectors: Mapping[int, Sequence[float]] | None = None,
) -> dict[str, dict[str, list[int]]]:
    """Each method's top-k list per test shopper (or per shopper of `shoppers`).

    With `repeat`, the lists may hold the shopper's past purchases (the "repeat" protocol).
    """
    if rankers is None:
        rankers = method_rankers(prepared, variants=variants, visual=visual, vectors=vectors, k=k)
    if shoppers is None:
        shoppers = prepared.truth_repeat if repeat else prepared.truth
    lists: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for shopper in shoppers:
        exclude = set() if repeat else prepared.bought_before.get(shopper, Counter()).keys()
        history = prepared.history.get(shopper, [])
        for name, ranker in rankers.items():
            lists[name][shopper] = [candidate.product_id for candidate in ranker(shopper, history, exclude, k, repeat)]
        if repeat:
            lists["buy_again"][shopper] = buy_again(prepared, shopper, k=k)
    return dict(lists)


def buy_again(prepared: Prepared, shopper: str, *, k: int) -> list[int]:
    """The shopper's own past purchases, most often bought first, then most recent."""
    counts = prepared.bought_before.get(shopper, Counter())
    order = {product: rank for rank, product in enumerate(prepared.history.get(shopper, []))}
    return sorted(counts, key=lambda product: (-counts[product], order.get(product, len(order)), product))[:k]


def evaluate(
    prepared: Prepared,
    *,
    k: int = DEFAULT_K,
    variants: Sequence[str] = ITEM_ITEM_VARIANTS,
    visual: Callable[[Sequence[int], Collection[int], int], list[int]] | None = None,
    repeat: bool = True,
    rankers: Mapping[str, Ranker] | None = None,
    vectors: Mapping[int, Sequence[float]] | None = None,
    categories: Mapping[int, int] | None = None,
    served_weights: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Every method's metrics at k, in the report's "interactions" shape (without layout), and
    per slice; `blend` holds the hybrid's tuned weights (with their validation split) and the
    served weights. `rankers` replaces method_rankers' (tests; no tuning then)."""
    served_weights = dict(served_weights) if served_weights is not None else weights_load()
    tuning = None
    if rankers is None:
        tuning = blend_tune(prepared, k=k, variants=variants, visual=visual, categories=categories, vectors=vectors)
        rankers = method_rankers(
            prepared,
            variants=variants,
            visual=visual,
            vectors=vectors,
            k=k,
            categories=categories,
            hybrid_weights=tuning["weights"],
            served_weights=served_weights,
        )
    slices = slices_make(prepared)
    # One list per shopper of any slice; `methods` (the `all` slice) reads only its own shoppers.
    shoppers = dict.fromkeys(prepared.truth)
    for piece in slices.values():
        shoppers.update(dict.fromkeys(piece.truth))
    lists = methods_lists(prepared, k=k, rankers=rankers, shoppers=shoppers)
    methods = {
        name: ranking_metrics(per_shopper, prepared.truth, prepared.catalogue, k=k)
        for name, per_shopper in lists.items()
    }
    result: dict[str, Any] = {
        "split": prepared.split.description,
        "k": k,
        "train_events": prepared.train_events,
        "test_users": len(prepared.truth),
        "methods": methods,
        "slices": slices_evaluate(lists, slices, k=k),
        "bootstrap": {**BOOTSTRAP, "baseline": BASELINE},
        "blend": {"hybrid": tuning, "served": {"weights": served_weights}},
    }
    if repeat:
        repeat_lists = methods_lists(prepared, k=k, rankers=rankers, repeat=True)
        result["repeat"] = {
            "test_users": len(prepared.truth_repeat),
            "methods": {
                name: ranking_metrics(per_shopper, prepared.truth_repeat, prepared.catalogue, k=k)
                for name, per_shopper in repeat_lists.items()
            },
        }
    return result


def per_shopper_counts(truth: Mapping[str, Collection[int]]) -> dict[str, float]:
    sizes = [len(products) for products in truth.values()]
    return {"shoppers": len(sizes), "mean_relevant": sum(sizes) / len(sizes) if sizes else 0.0}


# --- Where the events come from ------------------------------------------------------------------


def events_from_database() -> list[EventRow]:
    """Every event in the (scratch) database, as the shop's training reads it (the same selector);
    product ids are the shop's."""
    from events.selectors import training_events

    return list(training_events(chunk_size=20000))


def events_from_files(root, layout: str) -> list[EventRow]:
    """The events of a history read straight from its files by the importer's readers (no database).

    Products are numbered by SKU in order of first appearance; bad rows are left out as the
    importer leaves them out.
    """
    return _events_from_files(root, layout)[0]


def history_from_files(root, layout: str) -> tuple[list[EventRow], dict[int, int]]:
    """events_from_files and each product's article type (numbered in order of first appearance), as
    the importer files them: H&M's (index group, product group, product type); the other layouts
    have none."""
    from pathlib import Path

    from events.imports import hm_articles

    events, ids = _events_from_files(root, layout)
    categories: dict[int, int] = {}
    if layout == "hm":
        numbers: dict[tuple[str, str, str], int] = {}
        for row in hm_articles(Path(root), {}):
            if getattr(row, "category", None) and row.sku in ids:
                categories[ids[row.sku]] = numbers.setdefault(row.category, len(numbers) + 1)
    return events, categories


def _events_from_files(root, layout: str) -> tuple[list[EventRow], dict[str, int]]:
    from pathlib import Path

    from events.imports import hm_transactions, movielens_events, retail_events, retail_file

    root = Path(root)
    readers = {
        "hm": lambda: hm_transactions(root),
        "online-retail": lambda: retail_events(retail_file(root)),
        "movielens": lambda: movielens_events(root),
    }
    if layout not in readers:
        raise EvaluationError(f"unknown layout {layout!r}; expected one of {', '.join(readers)}.")
    ids: dict[str, int] = {}
    events = []
    for event in readers[layout]():
        if not hasattr(event, "sku"):
            continue  # a Problem: the importer reports and skips it
        product = ids.setdefault(event.sku, len(ids) + 1)
        shopper = f"customer:{event.customer_key}" if event.customer_key else ""
        events.append(EventRow(shopper, product, event.kind, event.quantity, event.created_at, event.basket))
    events.sort(key=lambda event: event.created_at)
    return events, ids


def visual_ranker(vectors: Mapping[int, Sequence[float]], candidates: Collection[int], *, recent: int = 10):
    """A `visual` method: products closest in image embedding to the shopper's latest purchases.

    Score of a candidate: the sum of its cosine similarities to the shopper's `recent` latest
    products (one matrix product). Candidates are products sold before the split with a vector.
    """
    import numpy as np

    ids = sorted(product for product in candidates if product in vectors)
    if not ids:
        return None
    matrix = np.asarray([vectors[product] for product in ids], dtype=np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    position = {product: row for row, product in enumerate(ids)}

    def rank(history: Sequence[int], exclude: Collection[int], k: int) -> list[int]:
        rows = [position[product] for product in history[:recent] if product in position]
        if not rows:
            return []
        scores = matrix @ matrix[rows].sum(axis=0)
        order = np.lexsort((np.asarray(ids), -scores))  # best first, ties by id
        banned = set(exclude) | set(history)
        return _top_excluding([ids[row] for row in order[: k + len(banned) + 1]], banned, k)

    return rank


def categories_from_database() -> dict[int, int]:
    """Each product's article type (category id), for products that have one."""
    from shop.models import Product

    rows = Product.objects.filter(category__isnull=False).values_list("pk", "category_id")
    return dict(rows.iterator(chunk_size=5000))


def vectors_from_database() -> dict[int, list[float]]:
    """Ready image vectors of the active model, by product id."""
    from recommendations.models import ProductEmbedding
    from recommendations.services import active_model_name

    rows = ProductEmbedding.objects.filter(
        model_name=active_model_name(), status=ProductEmbedding.Status.READY
    ).values_list("product_id", "vector")
    return {product: list(vector) for product, vector in rows.iterator(chunk_size=2000)}


def split_make(
    events: Iterable[EventRow],
    *,
    split_date: str | None,
    split: str | None,
    seed: int,
    test_until: str | None = None,
) -> Split:
    """The split the options ask for: --split-date YYYY-MM-DD [--test-until] or --split stratified:SHARE."""
    if (split_date is None) == (split is None):
        raise EvaluationError("give exactly one of --split-date YYYY-MM-DD and --split stratified:SHARE.")
    if split_date is not None:
        start = _date(split_date, "--split-date")
        until = _date(test_until, "--test-until") if test_until else None
        if until is not None and until <= start:
            raise EvaluationError("--test-until must be after --split-date.")
        return split_by_date(events, split=start, until=until)
    if test_until:
        raise EvaluationError("--test-until goes with --split-date.")
    kind, _, share = split.partition(":")
    try:
        train_share = float(share)
    except ValueError:
        train_share = -1.0
    if kind != "stratified" or not 0 < train_share < 1:
        raise EvaluationError(f"--split must look like stratified:0.75 (a share between 0 and 1), got {split!r}.")
    return split_stratified(events, train_share=train_share, seed=seed)


def _date(text: str, option: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise EvaluationError(f"{option} must be a date YYYY-MM-DD, got {text!r}.") from None


def interactions_evaluate(
    events: Sequence[EventRow],
    *,
    layout: str,
    split_date: str | None = None,
    split: str | None = None,
    seed: int = 42,
    test_until: str | None = None,
    k: int = DEFAULT_K,
    vectors: Mapping[int, Sequence[float]] | None = None,
    products: Collection[int] | None = None,
    categories: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """The whole run: split, train every method, evaluate. Returns report.json's content.

    `products` is the catalogue (the `new` slice's); by default the products of the events."""
    if k < 1:
        raise EvaluationError(f"--k must be at least 1, got {k}.")
    if not events:
        raise EvaluationError("the history has no events.")
    prepared = prepare(
        split_make(events, split_date=split_date, split=split, seed=seed, test_until=test_until), products=products
    )
    if not prepared.truth:
        raise EvaluationError(
            "no test shopper: nobody with a purchase before the split bought a new product after it "
            f"({prepared.split.description})."
        )
    visual = visual_ranker(vectors, prepared.catalogue) if vectors else None
    result = evaluate(prepared, k=k, visual=visual, repeat=True, vectors=vectors, categories=categories)
    repeat = result.pop("repeat")
    return {"interactions": {"layout": layout, **result}, "repeat": repeat}


def interactions_evaluate_database(**options: Any) -> dict[str, Any]:
    """interactions_evaluate over the events (and, for H&M, the image vectors) in this database."""
    from evaluation.runs import git_commit
    from shop.models import Product

    vectors = vectors_from_database() if options["layout"] == "hm" else None
    products = set(Product.objects.values_list("pk", flat=True))
    report = interactions_evaluate(
        events_from_database(),
        vectors=vectors,
        products=products,
        categories=categories_from_database(),
        **options,
    )
    report["git_commit"] = git_commit()
    report["created_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    return report


def interactions_report_write(report: dict[str, Any], output) -> tuple[str, list[str]]:
    """report.json, report.md and the plot into `output`; returns the terminal text and the files."""
    import json
    from pathlib import Path

    from evaluation.interactions_report import interactions_plot, interactions_text, slices_plot

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    plot = interactions_plot(report, output)
    plots = [plot, slices_plot(report, output)] if report["interactions"].get("slices") else [plot]
    (output / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown = f"# Purchase-history evaluation\n\n`{report.get('command', '')}`\n\n"
    markdown += interactions_text(report, markdown=True) + "".join(f"\n![{name}]({name})\n" for name in plots)
    (output / "report.md").write_text(markdown, encoding="utf-8")
    return interactions_text(report), ["report.json", "report.md", *plots]


def interactions_steps(*, manage_py, path, layout: str, embed: bool, evaluate_args: Sequence[str]) -> list:
    """The subprocesses of an --interactions run: migrate, import, (embed), evaluate."""
    import sys

    base = [sys.executable, str(manage_py)]
    steps = [
        ("Creating the tables", [*base, "migrate", "--no-input", "--verbosity", "0"], {}),
        (
            "Importing the history",
            [*base, "import_interactions", str(path), "--layout", layout, "--no-queue", "--show", "5"],
            {},
        ),
    ]
    if embed:
        steps.append(("Computing the image embeddings", [*base, "embed_products", "--missing", "--now"], {}))
    steps.append(("Evaluating", [*base, "evaluate_recommendations", *evaluate_args], {}))
    return steps
