"""Services of the behavioural recommenders: train from the event log, store, switch versions.

    recommenders_train()        # every kind, from every event; called by the task and train_recommenders

Training reads events through events.selectors.training_events, computes the lists with the
pure functions of recommendations.collaborative, writes the new version's rows while the old
version keeps serving, then switches the active version in one short transaction and prunes
old versions. With RECOMMENDER_EVALUATION_DAYS, each version is also scored on the shop's recent
purchases with the offline evaluation's protocol (metrics["evaluation"], shown in the admin).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from recommendations import collaborative, ease, factorisation
from recommendations.models import ProductFactor, ProductNeighbour, RecommenderModel, ShopperFactor
from shop.models import Product

if TYPE_CHECKING:
    from evaluation.interactions import Prepared

logger = logging.getLogger(__name__)

Kind = RecommenderModel.Kind
# One training at a time (beat and `train_recommenders` may overlap): a PostgreSQL advisory lock.
TRAINING_LOCK = 0x5EC0_4D5


def recommender_model_store(
    *,
    kind: str,
    neighbours: Mapping[int, Sequence[tuple[int, float]]],
    params: dict,
    n_events: int,
    up_to: datetime | None,
    metrics: dict | None = None,
    trained_at: datetime | None = None,
) -> RecommenderModel:
    """Write a new, inactive version of `kind` with its neighbour rows (products since deleted are left out)."""
    existing = set(Product.objects.filter(pk__in=_all_ids(neighbours)).values_list("pk", flat=True))
    # Versions count up per kind (a concurrent training taking the same number fails on the constraint).
    latest = RecommenderModel.objects.filter(kind=kind).aggregate(v=Max("version"))["v"] or 0
    model = RecommenderModel.objects.create(
        kind=kind,
        version=latest + 1,
        params=params,
        trained_at=trained_at or timezone.now(),
        n_events=n_events,
        up_to=up_to,
        metrics=metrics or {},
    )
    rows = []
    products = 0
    for product_id, items in neighbours.items():
        if product_id not in existing:
            continue
        kept = [(other, score) for other, score in items if other in existing and other != product_id]
        products += bool(kept)
        rows += [
            ProductNeighbour(model=model, product_id=product_id, neighbour_id=other, rank=rank, score=score)
            for rank, (other, score) in enumerate(kept, start=1)
        ]
    ProductNeighbour.objects.bulk_create(rows, batch_size=5000)
    model.n_products, model.n_neighbours = products, len(rows)
    active = Product.objects.filter(is_active=True).count()
    model.metrics = {
        "products_with_neighbours": products,
        "neighbour_rows": len(rows),
        # Share of the products on sale that have a list (before stock filtering).
        "catalogue_coverage": round(products / active, 4) if active else 0.0,
        **model.metrics,
    }
    model.save(update_fields=["n_products", "n_neighbours", "metrics"])
    return model


def recommender_factors_store(
    *,
    kind: str,
    factors: factorisation.Factors,
    n_events: int,
    up_to: datetime | None,
    metrics: dict | None = None,
    trained_at: datetime | None = None,
) -> RecommenderModel:
    """Write a new, inactive ALS/BPR version: its product and shopper factors as pgvector rows and
    the product factors' Gram matrix (for folding shoppers in). Products since deleted are left out."""
    import numpy as np

    existing = set(Product.objects.filter(pk__in=factors.products).values_list("pk", flat=True))
    latest = RecommenderModel.objects.filter(kind=kind).aggregate(v=Max("version"))["v"] or 0
    model = RecommenderModel.objects.create(
        kind=kind,
        version=latest + 1,
        params={**factors.params.as_dict(), "dimensions": factors.dimensions},
        trained_at=trained_at or timezone.now(),
        n_events=n_events,
        up_to=up_to,
        metrics=metrics or {},
        gramian=np.ascontiguousarray(factors.gramian, dtype=np.float64).tobytes(),
    )
    ProductFactor.objects.bulk_create(
        (
            ProductFactor(model=model, product_id=product_id, vector=vector)
            for product_id, vector in zip(factors.products, factors.item_factors, strict=True)
            if product_id in existing
        ),
        batch_size=5000,
    )
    ShopperFactor.objects.bulk_create(
        (
            ShopperFactor(model=model, shopper=shopper, vector=vector)
            for shopper, vector in zip(factors.shoppers, factors.user_factors, strict=True)
        ),
        batch_size=5000,
    )
    products = len(existing)
    active = Product.objects.filter(is_active=True).count()
    model.n_products = products
    model.metrics = {
        "products_with_factors": products,
        "shoppers_with_factors": len(factors.shoppers),
        "catalogue_coverage": round(products / active, 4) if active else 0.0,
        **model.metrics,
    }
    model.save(update_fields=["n_products", "metrics"])
    return model


def recommender_model_activate(*, model: RecommenderModel, keep: int | None = None) -> None:
    """Make `model` the one that serves its kind, in one transaction; then delete old versions.

    Readers join on `is_active`, so they see the old lists until the commit and the new ones
    after it: never none. Only the newest `keep` versions (RECOMMENDER_KEEP_VERSIONS) stay.
    """
    keep = settings.RECOMMENDER_KEEP_VERSIONS if keep is None else keep
    recommender_model_switch(model=model)
    old = RecommenderModel.objects.filter(kind=model.kind, is_active=False, version__lt=model.version).order_by(
        "-version"
    )[max(keep - 1, 0) :]
    # Outside the switch: deleting the old rows takes longer and must not hold it up.
    RecommenderModel.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()


def recommender_model_switch(*, model: RecommenderModel) -> RecommenderModel | None:
    """Make this kept version the one that serves its kind, in one transaction, pruning nothing.

    The admin's "Make this version active" (a rollback to an older version, or forward again to a
    newer one) calls this: the other versions stay, so the switch can be undone. Returns the version
    that served before (None if none did). Readers see the old lists until the commit, then the new.
    """
    with transaction.atomic():
        # Locks the kind's rows: a training switching at the same moment waits for this one.
        rows = list(RecommenderModel.objects.select_for_update().filter(kind=model.kind).order_by("version"))
        if model.pk not in {row.pk for row in rows}:
            raise RecommenderModel.DoesNotExist(f"{model} is no longer kept (pruned)")
        previous = next((row for row in rows if row.is_active), None)
        RecommenderModel.objects.filter(kind=model.kind, is_active=True).exclude(pk=model.pk).update(is_active=False)
        RecommenderModel.objects.filter(pk=model.pk).update(is_active=True)
    model.is_active = True
    return previous


def recommenders_train(*, now: datetime | None = None, kinds: Iterable[str] | None = None) -> list[RecommenderModel]:
    """Train the behavioural recommenders from the whole event log and make the new versions active.

    also_bought: item-item (collaborative.ALSO_BOUGHT_METHOD) over shopper x product, event kinds
    weighted and recent events counting more; bought_together: products in the same baskets;
    als/bpr: matrix factorisation of the same matrix (recommendations/factorisation.py), factors
    stored in pgvector; ease: EASE (recommendations.ease), its stored lists served like
    also_bought's for "recommended for you". A kind with no lists at all (too few events or
    shoppers) keeps its previous version.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [TRAINING_LOCK])
        if not cursor.fetchone()[0]:
            logger.info("Another training of the recommenders is running: this one is skipped")
            return []
    try:
        return _train(now=now, kinds=kinds)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [TRAINING_LOCK])


def _train(*, now: datetime | None, kinds: Iterable[str] | None) -> list[RecommenderModel]:
    from events.models import Interaction
    from events.selectors import training_events

    kinds = list(kinds or Kind.values)
    now = now or timezone.now()
    # Streamed from the database per kind rather than held in memory (an imported log has 400k+ rows).
    window = Interaction.objects.filter(created_at__lt=now)
    n_events = window.count()
    up_to = window.aggregate(latest=Max("created_at"))["latest"]
    n = settings.RECOMMENDER_NEIGHBOURS
    min_support = settings.RECOMMENDER_MIN_SUPPORT
    days = settings.RECOMMENDER_EVALUATION_DAYS
    prepared = None  # the evaluation's split, made once for both kinds and only if a kind trains
    trained = []
    for kind in kinds:
        if kind == Kind.ALSO_BOUGHT:
            params = {
                "method": collaborative.ALSO_BOUGHT_METHOD,
                "weights": dict(collaborative.DEFAULT_WEIGHTS),
                "half_life_days": collaborative.DEFAULT_HALF_LIFE_DAYS,
                "n": n,
                "min_support": min_support,
            }
            # Decay is relative to the newest event, so an imported history is not decayed to nothing.
            data = collaborative.interaction_matrix(training_events(until=now))
            lists = collaborative.item_item_neighbours(data, method=params["method"], n=n, min_support=min_support)
            metrics = {"shoppers": len(data.shoppers), "products_seen": len(data.products)}
        elif kind in (Kind.ALS, Kind.BPR):
            factor_params = factorisation.DEFAULTS[kind]
            params = factor_params.as_dict()
            data = collaborative.interaction_matrix(training_events(until=now))
            if not factorisation.enough_data(data):
                logger.info(
                    "Too few shoppers for %s from %s events: the previous version keeps serving", kind, n_events
                )
                continue
            started = time.monotonic()
            factors = factorisation.factorisation_fit(data, factor_params)
            metrics = {
                "shoppers": len(data.shoppers),
                "products_seen": len(data.products),
                "fit_seconds": round(time.monotonic() - started, 3),
            }
            if days > 0 and up_to is not None:
                if prepared is None:
                    prepared = recommender_evaluation_prepare(until=now, split=up_to - timedelta(days=days))
                metrics["evaluation"] = recommender_model_evaluate(
                    kind=kind, params=params, prepared=prepared, days=days
                )
            model = recommender_factors_store(
                kind=kind, factors=factors, n_events=n_events, up_to=up_to, metrics=metrics
            )
            recommender_model_activate(model=model)
            logger.info("Trained %s on %s events: %s products with factors", model, n_events, model.n_products)
            trained.append(model)
            continue
        elif kind == Kind.BOUGHT_TOGETHER:
            params = {"n": n, "min_support": min_support}
            purchases = training_events(until=now, kinds=["purchase"])
            lists = collaborative.bought_together(purchases, n=n, min_support=min_support)
            metrics = {"baskets": window.exclude(basket="").values("basket").distinct().count()}
        elif kind == Kind.EASE:
            if days > 0 and up_to is not None and prepared is None:
                prepared = recommender_evaluation_prepare(until=now, split=up_to - timedelta(days=days))
            params, lists, metrics = _ease_train(until=now, up_to=up_to, prepared=prepared)
        else:
            raise ValueError(f"unknown recommender kind {kind!r}")
        if not any(lists.values()):
            logger.info("No %s lists from %s events: the previous version keeps serving", kind, n_events)
            continue
        if days > 0 and up_to is not None:
            if prepared is None:
                prepared = recommender_evaluation_prepare(until=now, split=up_to - timedelta(days=days))
            metrics["evaluation"] = recommender_model_evaluate(kind=kind, params=params, prepared=prepared, days=days)
        model = recommender_model_store(
            kind=kind, neighbours=lists, params=params, n_events=n_events, up_to=up_to, metrics=metrics
        )
        recommender_model_activate(model=model)
        logger.info("Trained %s on %s events: %s products with neighbours", model, n_events, model.n_products)
        trained.append(model)
    return trained


def _ease_train(
    *, until: datetime, up_to: datetime | None, prepared: Prepared | None
) -> tuple[dict, dict[int, list[tuple[int, float]]], dict]:
    """EASE over the whole log; lambda chosen on the last ease.VALIDATION_DAYS before the admin
    evaluation's split (or before the newest event), so neither the evaluation's test days nor
    anything after the training's end is used to choose it."""
    from evaluation.interactions import DEFAULT_K, Split, prepare
    from events.selectors import training_events

    started = time.monotonic()
    events = list(training_events(until=until))
    if prepared is None:
        prepared = prepare(Split(description="shop", train=events, test_purchases={}, test_time=up_to))
    lam = ease.ease_validation_lambda(prepared, k=DEFAULT_K) if up_to is not None else ease.EASE_LAMBDA
    data = collaborative.interaction_matrix(events)
    model = ease.ease_fit(data, lam=lam)
    lists = ease.ease_neighbours(model, n=ease.EASE_STORED_NEIGHBOURS)
    params = {
        "lambda": lam,
        "n": ease.EASE_STORED_NEIGHBOURS,
        "max_products": ease.EASE_MAX_PRODUCTS,
        "min_shoppers": ease.EASE_MIN_SHOPPERS,
    }
    seconds = time.monotonic() - started
    # The dense Gram matrix and its inverse: two N x N float64 arrays at the peak.
    peak_mb = 2 * len(model.products) ** 2 * 8 / 1e6
    logger.info(
        "EASE on %s products (lambda %s) in %.1f s, about %.0f MB at the peak",
        len(model.products),
        lam,
        seconds,
        peak_mb,
    )
    metrics = {"shoppers": len(data.shoppers), "products_modelled": len(model.products), "seconds": round(seconds, 2)}
    return params, lists, metrics


def recommender_evaluation_prepare(*, until: datetime, split: datetime) -> Prepared:
    """The offline evaluation's protocol (evaluation.interactions) on the shop's own events before
    `until`: train before `split`, test on the purchases from it on; ground truth per test shopper
    is what `evaluation.interactions.prepare` makes it (new products, sold before the split)."""
    # The evaluation's own pure functions (no matplotlib, no Django models at import): one protocol.
    from evaluation.interactions import prepare, split_by_date
    from events.selectors import training_events

    started = time.monotonic()
    prepared = prepare(split_by_date(training_events(until=until), split=split))
    logger.info(
        "Evaluation split at %s: %s training events, %s test shoppers, read in %.2f s",
        split.isoformat(),
        prepared.train_events,
        len(prepared.truth),
        time.monotonic() - started,
    )
    return prepared


def recommender_model_evaluate(
    *, kind: str, params: Mapping[str, Any], prepared: Prepared, days: int
) -> dict[str, Any]:
    """Train `kind` with `params` on the split's training events (in memory, nothing stored) and
    score it at k=12 against the recent-best-sellers baseline, as evaluate_recommendations does.

    also_bought is scored through the shop's per-shopper list (evaluation.interactions.served_ranker:
    the hybrid blend, this version's neighbours as its item-item source); als/bpr by their factors;
    ease and bought_together through the evaluation's per-shopper aggregation of its neighbours
    (collaborative.recommend_from_history over the shopper's history).
    """
    from evaluation.interactions import DEFAULT_K, RECENT_DAYS, categories_from_database, served_ranker
    from evaluation.metrics import ranking_metrics
    from recommendations.hybrid import weights_load

    started = time.monotonic()
    k = DEFAULT_K
    split = prepared.split
    result: dict[str, Any] = {"split": split.description, "days": days, "k": k, "test_users": len(prepared.truth)}
    if prepared.truth:
        train = split.train
        recent = collaborative.popular_products(train, since=split.test_time - timedelta(days=RECENT_DAYS))
        if kind == Kind.ALSO_BOUGHT:
            data = collaborative.interaction_matrix(
                train, now=split.test_time, weights=params["weights"], half_life_days=params["half_life_days"]
            )
            neighbours = collaborative.item_item_neighbours(
                data, method=params["method"], n=params["n"], min_support=params["min_support"]
            )
        elif kind in (Kind.ALS, Kind.BPR):
            data = collaborative.interaction_matrix(train, now=split.test_time)
            ranker = factorisation.factor_ranker(data, factorisation.FactorParams.from_dict(params))
        elif kind == Kind.EASE:
            data = collaborative.interaction_matrix(train, now=split.test_time)
            model = ease.ease_fit(
                data, lam=params["lambda"], max_products=params["max_products"], min_shoppers=params["min_shoppers"]
            )
            neighbours = ease.ease_neighbours(model, n=params["n"])
        else:
            neighbours = collaborative.bought_together(train, n=params["n"], min_support=params["min_support"])
        served = (
            served_ranker(
                prepared,
                categories=categories_from_database(),
                item_item=neighbours,
                weights=weights_load(settings.RECOMMENDED_BLEND_WEIGHTS_FILE or None),
            )
            if kind == Kind.ALSO_BOUGHT
            else None
        )
        lists, baseline = {}, {}
        for shopper in prepared.truth:
            exclude = prepared.bought_before[shopper].keys()
            history = prepared.history.get(shopper, [])
            if served is not None:
                lists[shopper] = [candidate.product_id for candidate in served(shopper, history, exclude, k, False)]
            elif kind in (Kind.ALS, Kind.BPR):
                lists[shopper] = [c.product_id for c in ranker(shopper, history, exclude, k, False)]
            else:
                ranked = collaborative.recommend_from_history(neighbours, history, k=k, exclude=exclude)
                lists[shopper] = [product for product, _ in ranked]
            baseline[shopper] = list(islice((p for p in recent if p not in exclude), k))
        result.update(ranking_metrics(lists, prepared.truth, prepared.catalogue, k=k))
        result["popularity_recent"] = ranking_metrics(baseline, prepared.truth, prepared.catalogue, k=k)
    result["seconds"] = round(time.monotonic() - started, 3)
    logger.info(
        "Evaluated %s on the last %s days (%s test shoppers) in %.2f s: ndcg@%s %.4f (popular %.4f)",
        kind,
        days,
        result["test_users"],
        result["seconds"],
        k,
        result.get("ndcg", 0.0),
        result.get("popularity_recent", {}).get("ndcg", 0.0),
    )
    return result


def _all_ids(neighbours: Mapping[int, Sequence[tuple[int, float]]]) -> set[int]:
    ids = set(neighbours)
    for items in neighbours.values():
        ids.update(other for other, _ in items)
    return ids
