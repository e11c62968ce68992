"""Each trained recommender is scored on the shop's own recent purchases with the offline
evaluation's protocol, and the admin shows the figures."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from evaluation.interactions import evaluate, events_from_database, prepare, split_by_date
from events.models import Interaction
from recommendations.models import RecommenderModel
from recommendations.recommenders import recommenders_train
from shop.models import Product

METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")
# The neighbour-list kinds these figures are about (ALS/BPR have theirs in tests/test_factorisation.py).
NEIGHBOUR_KINDS = ["also_bought", "bought_together"]


def make_products(names: str) -> dict[str, Product]:
    return {
        name: Product.objects.create(sku=f"EV{name}", name=f"Product {name}", price=Decimal("499.00"), stock=5)
        for name in names
    }


# The served weights this file's figures were worked out by hand with (the shop reads them from
# RECOMMENDED_BLEND_WEIGHTS_FILE): item-item 4, recent best-sellers 1, nothing else.
HAND_WEIGHTS = {"item_item_bm25": 4.0, "popularity_recent": 1.0}


@pytest.fixture
def hand_weights(settings, tmp_path):
    path = tmp_path / "blend_weights.json"
    path.write_text(json.dumps({"weights": HAND_WEIGHTS}), encoding="utf-8")
    settings.RECOMMENDED_BLEND_WEIGHTS_FILE = str(path)
    return HAND_WEIGHTS


@pytest.fixture
def history(db, hand_weights):
    """A hand-made history around a split 7 days before its newest event (T).

    Before the split: c1 and c2 bought A with B, c3 and c4 C with D (the only pairs with two
    shoppers or baskets in common); c5 and c6 bought E and c7 D in the last week before the split
    (the recent best-sellers: E, then D); the test shoppers t1 (A, and a view of F), t2 (C) and
    t3 (E) bought once. After it, at T: t1 buys B and A again, t2 D and F (never sold before), t3
    A, and t4 (no earlier purchase) A.

    So there are three test shoppers, with the truths t1 {B}, t2 {D}, t3 {A}.
    """
    p = make_products("ABCDEF")
    newest = timezone.now() - timedelta(hours=1)
    split = newest - timedelta(days=7)
    rows = []

    def buy(customer: str, names: str, when, basket: str) -> None:
        for name in names:
            rows.append(
                Interaction(
                    customer_key=customer,
                    product=p[name],
                    kind="purchase",
                    basket=f"{customer}-{basket}",
                    created_at=when,
                    source="import",
                )
            )

    old, last_week = split - timedelta(days=10), split - timedelta(days=2)
    buy("c1", "AB", old, "1")
    buy("c2", "AB", old, "1")
    buy("c3", "CD", old, "1")
    buy("c4", "CD", old, "1")
    buy("c5", "E", last_week, "1")
    buy("c6", "E", last_week, "1")
    buy("c7", "D", split - timedelta(days=1), "1")
    buy("t1", "A", old, "1")
    buy("t2", "C", old, "1")
    buy("t3", "E", old, "1")
    rows.append(
        Interaction(customer_key="t1", product=p["F"], kind="view", created_at=old + timedelta(days=1), source="import")
    )
    buy("t1", "BA", newest, "2")
    buy("t2", "DF", newest, "2")
    buy("t3", "A", newest, "2")
    buy("t4", "A", newest, "1")
    Interaction.objects.bulk_create(rows)
    return p, split


def figures(model: RecommenderModel) -> dict:
    evaluation = model.metrics["evaluation"]
    return {name: evaluation[name] for name in METRICS}


def test_training_stores_the_hand_computed_figures(history):
    """Three test shoppers. also_bought through the served blend (HAND_WEIGHTS:
    item-item 4, recent best-sellers 1): t1's history (F without neighbours, then A) has half its
    products with neighbours, so item-item weighs 4 x 0.5^2 = 1 and B (A's neighbour) scores 1/10,
    tying the recent best-seller E (1/10) and ranking first by id. t2 gets D first (C's neighbour
    with full evidence), t3 (E has no neighbours) only D. bought_together: t1 gets [B], t2 [D], t3 nothing. The recent
    best-sellers' list excludes each shopper's purchases: t2's D at rank 2, nothing else hits.
    Coverage counts the 5 products sold before the split (F never was)."""
    _, split = history
    recommenders_train()
    also = RecommenderModel.objects.get(kind="also_bought", is_active=True)
    together = RecommenderModel.objects.get(kind="bought_together", is_active=True)
    one_third_ndcg = 1 / math.log2(3)  # a single relevant product at rank 2
    for model in (also, together):
        evaluation = model.metrics["evaluation"]
        assert evaluation["split"] == f"date:{split.date().isoformat()}"
        assert (evaluation["days"], evaluation["k"], evaluation["test_users"]) == (7, 12, 3)
        assert evaluation["popularity_recent"] == pytest.approx(
            {
                "precision": 1 / 36,
                "recall": 1 / 3,
                "ndcg": one_third_ndcg / 3,
                "map": 1 / 6,
                "hit_rate": 1 / 3,
                "coverage": 2 / 5,
            },
            rel=1e-12,
        )
    assert figures(also) == pytest.approx(
        {"precision": 1 / 18, "recall": 2 / 3, "ndcg": 2 / 3, "map": 2 / 3, "hit_rate": 2 / 3, "coverage": 3 / 5},
        rel=1e-12,
    )
    assert figures(together) == pytest.approx(
        {"precision": 1 / 18, "recall": 2 / 3, "ndcg": 2 / 3, "map": 2 / 3, "hit_rate": 2 / 3, "coverage": 2 / 5},
        rel=1e-12,
    )
    # The training's own counts are still there beside the evaluation.
    assert also.metrics["products_with_neighbours"] == also.n_products > 0


def test_figures_are_those_of_the_offline_evaluation(history):
    """Same protocol as evaluate_recommendations --interactions: its served, bought_together and
    popularity_recent methods give the same numbers on the same events and split."""
    _, split = history
    recommenders_train()
    offline = evaluate(
        prepare(split_by_date(events_from_database(), split=split)), repeat=False, served_weights=HAND_WEIGHTS
    )
    assert offline["test_users"] == 3
    methods = offline["methods"]
    for kind, method in (("also_bought", "served"), ("bought_together", "bought_together")):
        evaluation = RecommenderModel.objects.get(kind=kind, is_active=True).metrics["evaluation"]
        assert {name: evaluation[name] for name in METRICS} == pytest.approx(methods[method], rel=1e-12)
        assert evaluation["popularity_recent"] == pytest.approx(methods["popularity_recent"], rel=1e-12)


def test_evaluation_is_off_with_zero_days(history, settings):
    settings.RECOMMENDER_EVALUATION_DAYS = 0
    trained = recommenders_train(kinds=NEIGHBOUR_KINDS)
    assert len(trained) == 2
    for model in trained:
        model.refresh_from_db()
        assert "evaluation" not in model.metrics
        assert model.metrics["products_with_neighbours"] > 0


def test_the_window_follows_the_setting(history, settings):
    """RECOMMENDER_EVALUATION_DAYS moves the split: 20 days before the newest event nothing had
    been bought yet, so nobody can be tested."""
    settings.RECOMMENDER_EVALUATION_DAYS = 20
    recommenders_train()
    evaluation = RecommenderModel.objects.get(kind="also_bought", is_active=True).metrics["evaluation"]
    assert (evaluation["days"], evaluation["test_users"]) == (20, 0)


@pytest.fixture
def only_old_history(db):
    """Two shoppers bought A with B a month ago, nothing since: nobody to test."""
    p = make_products("AB")
    when = timezone.now() - timedelta(days=30)
    Interaction.objects.bulk_create(
        [
            Interaction(customer_key=c, product=p[n], kind="purchase", basket=c, created_at=when, source="import")
            for c in ("c1", "c2")
            for n in "AB"
        ]
    )


def test_no_recent_purchases_is_the_not_enough_state(only_old_history, admin_client):
    trained = recommenders_train(kinds=NEIGHBOUR_KINDS)
    assert len(trained) == 2
    for model in trained:
        model.refresh_from_db()
        evaluation = model.metrics["evaluation"]
        assert evaluation["test_users"] == 0
        assert "ndcg" not in evaluation and "popularity_recent" not in evaluation
    html = admin_client.get(reverse("admin:recommendations_recommendermodel_changelist")).content.decode()
    assert html.count("not enough recent purchases to evaluate (last 7 days)") == 2


def test_admin_shows_the_figures(history, admin_client):
    recommenders_train(kinds=NEIGHBOUR_KINDS)
    html = admin_client.get(reverse("admin:recommendations_recommendermodel_changelist")).content.decode()
    assert "NDCG@12 0.667 (popular 0.210), recall@12 0.667 (popular 0.333), hit rate 0.667 on 3 shoppers" in html
    assert "NDCG@12 0.667 (popular 0.210)" in html
    assert html.count("on 3 shoppers, last 7 days") == 2  # each kind trained
    model = RecommenderModel.objects.get(kind="also_bought", is_active=True)
    detail = admin_client.get(
        reverse("admin:recommendations_recommendermodel_change", args=[model.pk])
    ).content.decode()
    assert "NDCG@12 0.667 (popular 0.210)" in detail


def test_admin_says_when_a_model_was_not_evaluated(history, admin_client, settings):
    settings.RECOMMENDER_EVALUATION_DAYS = 0
    recommenders_train()
    html = admin_client.get(reverse("admin:recommendations_recommendermodel_changelist")).content.decode()
    assert "not evaluated" in html
    assert "NDCG@12" not in html
