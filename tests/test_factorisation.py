"""Matrix factorisation (ALS, BPR) for "recommended for you": trained from the event log, factors
stored in pgvector, served by inner product in SQL, shoppers folded in from their live events."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.utils import timezone

from events.models import Interaction
from events.selectors import training_events
from recommendations import factorisation
from recommendations.collaborative import interaction_matrix
from recommendations.models import ProductFactor, RecommenderModel, ShopperFactor
from recommendations.recommenders import recommenders_train
from recommendations.selectors import (
    ShopperHistory,
    als_candidates,
    bpr_candidates,
    factor_shopper_vector,
    shopper_history,
)
from shop.models import Product
from tests.test_recommender_evaluation import hand_weights  # noqa: F401

# A fixture: the hand-made split of test_recommender_evaluation, used by the last test.
from tests.test_recommender_evaluation import history as split_history  # noqa: F401

K = 5
SELECTORS = {"als": als_candidates, "bpr": bpr_candidates}


def make_history(products: list[Product], *, shoppers: int = 60, seed: int = 7) -> None:
    """Imported customers with tastes: each mostly buys within one of four groups of products, now
    and then something else, over the last weeks (so recency decay gives varied confidences)."""
    rng = random.Random(seed)
    groups = [products[i::4] for i in range(4)]
    now = timezone.now() - timedelta(hours=1)
    rows = []
    for number in range(shoppers):
        group = groups[number % 4]
        bought = rng.sample(group, 4) + rng.sample(products, 2)
        for position, product in enumerate(dict.fromkeys(bought)):
            rows.append(
                Interaction(
                    customer_key=f"c{number}",
                    product=product,
                    kind="purchase" if position % 3 else "view",
                    quantity=1 + position % 2,
                    basket=f"c{number}-{position}",
                    created_at=now - timedelta(days=rng.randint(0, 40), minutes=number),
                )
            )
    Interaction.objects.bulk_create(rows)


# Parameters for a 40-product shop: the shop's defaults were tuned on histories of thousands of
# shoppers, and their strong regularisation (not scaled by the data's size) flattens a tiny one.
SMALL_SHOP = {
    "als": factorisation.FactorParams(kind="als", factors=16, regularization=0.05, iterations=15, alpha=2.0),
    "bpr": factorisation.FactorParams(kind="bpr", factors=16, regularization=0.01, iterations=100, learning_rate=0.05),
}


@pytest.fixture
def small_shop_params(monkeypatch):
    for kind, params in SMALL_SHOP.items():
        monkeypatch.setitem(factorisation.DEFAULTS, kind, params)


@pytest.fixture
def trained(db, settings, small_shop_params):
    """40 products, 60 customers, ALS and BPR trained (small factors for a small shop)."""
    settings.RECOMMENDER_EVALUATION_DAYS = 0
    products = [
        Product.objects.create(sku=f"MF{i}", name=f"Product MF{i}", price=Decimal("299.00"), stock=5) for i in range(40)
    ]
    make_history(products)
    recommenders_train(kinds=["als", "bpr"])
    return products


def implicit_model(kind: str):
    """implicit's own model of `kind`, fitted on the same events with the stored version's params
    (seeded, so the same factors), and the matrix it was fitted on."""
    from threadpoolctl import threadpool_limits

    version = RecommenderModel.objects.get(kind=kind, is_active=True)
    params = factorisation.FactorParams.from_dict(version.params)
    data = interaction_matrix(training_events())
    with threadpool_limits(1, "blas"):
        model = factorisation._model(params)
        model.fit(factorisation.confidence(data.matrix, params), show_progress=False)
    return version, params, model, data


@pytest.mark.parametrize("kind", ["als", "bpr"])
def test_factors_read_back_from_pgvector_give_implicits_top_k(trained, kind):
    """The stored factors are implicit's (BPR's bias column included), and the SQL exact scan by
    inner product ranks every shopper's top k as implicit's `recommend` does on the same model."""
    version, params, model, data = implicit_model(kind)
    stored = dict(ProductFactor.objects.filter(model=version).values_list("product_id", "vector"))
    assert len(stored) == 40 and version.params["dimensions"] == model.item_factors.shape[1]
    for row, product in enumerate(data.products):
        np.testing.assert_allclose(stored[product], model.item_factors[row], rtol=1e-5, atol=1e-6)
    shoppers = dict(ShopperFactor.objects.filter(model=version).values_list("shopper", "vector"))
    assert set(shoppers) == set(data.shoppers)
    if kind == "bpr":
        assert all(vector[-1] == 1.0 for vector in shoppers.values())
    compared = 0
    for row, shopper in enumerate(data.shoppers):
        expected_rows, _ = model.recommend(row, data.matrix[row], N=K, filter_already_liked_items=True)
        expected = [data.products[i] for i in expected_rows]
        history = shopper_history_of(shopper)
        got = SELECTORS[kind](history=history, k=K, exclude=set())
        assert [candidate.product_id for candidate in got] == expected, shopper
        assert all(candidate.source == kind for candidate in got)
        compared += 1
    assert compared == 60


def shopper_history_of(shopper: str) -> ShopperHistory:
    customer = shopper.removeprefix("customer:")
    rows = Interaction.objects.filter(customer_key=customer).order_by("-created_at", "-product_id")
    products = list(dict.fromkeys(rows.values_list("product_id", flat=True)))
    bought = set(rows.filter(kind="purchase").values_list("product_id", flat=True))
    return ShopperHistory(products=products, bought=bought, shopper=shopper)


def test_new_events_fold_an_anonymous_session_in_at_once_as_implicits_recalculate_user(trained):
    """A session unknown to the version gets factors from its few events at once (each click changes
    its list), equal to implicit's recalculate_user on the same model with the same confidences."""
    from scipy import sparse

    version, params, model, data = implicit_model("als")
    column = {product: row for row, product in enumerate(data.products)}
    products = trained
    session = "fold-in-session"
    assert als_candidates(history=shopper_history(session_key=session), k=K, exclude=set()) == []

    def click(product: Product, kind: str) -> list[int]:
        Interaction.objects.create(session_key=session, product=product, kind=kind)
        history = shopper_history(session_key=session)
        model_id, user, _, folded = factor_shopper_vector(kind="als", history=history)
        assert folded and model_id == version.pk
        # implicit's own fold-in on the session's row of the shop's matrix (same weights and decay).
        own = interaction_matrix(e for e in training_events() if e.shopper == f"session:{session}")
        cells = own.matrix.getrow(0).tocoo()
        user_items = sparse.csr_matrix(
            (cells.data * np.float32(params.alpha), ([0] * cells.nnz, [column[own.products[c]] for c in cells.col])),
            shape=(1, len(data.products)),
            dtype=np.float32,
        )
        np.testing.assert_allclose(user, model.recalculate_user(0, user_items), rtol=1e-3, atol=1e-4)
        return [candidate.product_id for candidate in als_candidates(history=history, k=K, exclude=set())]

    first = click(products[0], "add_to_cart")
    second = click(products[4], "purchase")
    third = click(products[8], "view")
    # BPR has no recalculate_user: its fold-in is the mean of the products' latent factors, bias column kept at 1.
    bpr = RecommenderModel.objects.get(kind="bpr", is_active=True)
    rows = dict(ProductFactor.objects.filter(model=bpr).values_list("product_id", "vector"))
    _, user, _, folded = factor_shopper_vector(kind="bpr", history=shopper_history(session_key=session))
    latent = np.mean([rows[p.pk][:-1] for p in (products[0], products[4], products[8])], axis=0)
    assert folded
    np.testing.assert_allclose(user, np.append(latent, 1.0), rtol=1e-5, atol=1e-6)
    assert len(first) == len(second) == len(third) == K
    assert first != second and second != third, "each new event refreshes the session's list"
    assert not {products[0].pk, products[4].pk, products[8].pk} & set(third), "never what the session touched"


def test_a_known_shopper_with_newer_events_is_folded_in_and_one_without_is_served_stored_factors(trained):
    """Stored factors serve a shopper the version knows; one new event switches them to fold-in."""
    version = RecommenderModel.objects.get(kind="als", is_active=True)
    history = shopper_history_of("customer:c2")
    _, user, _, folded = factor_shopper_vector(kind="als", history=history)
    stored = ShopperFactor.objects.get(model=version, shopper="customer:c2").vector
    assert not folded
    np.testing.assert_allclose(user, stored, rtol=1e-6)
    Interaction.objects.create(customer_key="c2", product=trained[1], kind="purchase")
    _, user, _, folded = factor_shopper_vector(kind="als", history=shopper_history_of("customer:c2"))
    assert folded and not np.allclose(user, stored)


@pytest.mark.parametrize("kind", ["als", "bpr"])
def test_sold_out_and_inactive_products_are_never_returned(trained, kind):
    """The scan joins buyable products: sold out, taken off sale or without a price, never listed,
    and the list is still k long from the next best."""
    history = shopper_history_of("customer:c0")
    before = [c.product_id for c in SELECTORS[kind](history=history, k=K, exclude=set())]
    assert len(before) == K
    Product.objects.filter(pk=before[0]).update(stock=0)
    Product.objects.filter(pk=before[1]).update(is_active=False)
    Product.objects.filter(pk=before[2]).update(price=None)
    after = [c.product_id for c in SELECTORS[kind](history=history, k=K, exclude={before[3]})]
    assert len(after) == K
    assert not set(before[:4]) & set(after)
    assert after[0] == before[4]


def test_each_candidate_names_the_history_product_most_like_it(trained):
    """`because` is one of the shopper's own products, the one whose factors are most like the candidate's."""
    history = shopper_history_of("customer:c1")
    version = RecommenderModel.objects.get(kind="als", is_active=True)
    factors = dict(ProductFactor.objects.filter(model=version).values_list("product_id", "vector"))
    for candidate in als_candidates(history=history, k=K, exclude=set()):
        assert candidate.because in history.products
        own = np.asarray(factors[candidate.product_id])
        best = max(history.products[:20], key=lambda p: float(np.dot(factors[p], own)))
        assert candidate.because == best


def test_training_is_reproducible_and_versions_are_pruned(trained, settings):
    """The same events train the same factors (seeded, one thread); old versions go with their factors."""
    settings.RECOMMENDER_KEEP_VERSIONS = 1
    first = dict(
        ProductFactor.objects.filter(model__kind="als", model__is_active=True).values_list("product", "vector")
    )
    recommenders_train(kinds=["als"])
    active = RecommenderModel.objects.get(kind="als", is_active=True)
    assert active.version == 2 and RecommenderModel.objects.filter(kind="als").count() == 1
    again = dict(ProductFactor.objects.filter(model=active).values_list("product", "vector"))
    assert first.keys() == again.keys()
    for product, vector in first.items():
        np.testing.assert_allclose(vector, again[product], rtol=1e-6)
    assert not ProductFactor.objects.exclude(model__in=RecommenderModel.objects.all()).exists()


@pytest.mark.django_db(transaction=True)
def test_training_on_the_real_worker_stores_active_factor_versions(worker, settings, small_shop_params):
    """The training task, run by a real worker on the broker, writes ALS and BPR versions with a
    factor row per product and per shopper, active and ready to serve."""
    from recommendations.tasks import recommenders_train_task

    settings.RECOMMENDER_EVALUATION_DAYS = 0
    products = [
        Product.objects.create(sku=f"MW{i}", name=f"Product MW{i}", price=Decimal("299.00"), stock=5) for i in range(24)
    ]
    make_history(products, shoppers=20)
    assert set(recommenders_train_task.delay().get(timeout=180)) >= {"als v1", "bpr v1"}
    for kind, extra in (("als", 0), ("bpr", 1)):
        version = RecommenderModel.objects.get(kind=kind, is_active=True)
        assert version.params["dimensions"] == factorisation.DEFAULTS[kind].factors + extra
        assert ProductFactor.objects.filter(model=version).count() == 24 == version.n_products
        assert ShopperFactor.objects.filter(model=version).count() == 20
        assert len(SELECTORS[kind](history=shopper_history_of("customer:c3"), k=K, exclude=set())) == K


def test_the_shops_own_evaluation_of_als_and_bpr_is_the_offline_one(split_history, small_shop_params):  # noqa: F811
    """Each trained version is scored on the shop's last RECOMMENDER_EVALUATION_DAYS with the offline
    evaluation's protocol: its figures are those of evaluate_recommendations' `als` and `bpr` rows."""
    from evaluation.interactions import evaluate, events_from_database, prepare, split_by_date
    from tests.test_recommender_evaluation import METRICS

    _, split = split_history
    assert {model.kind for model in recommenders_train(kinds=["als", "bpr"])} == {"als", "bpr"}
    offline = evaluate(prepare(split_by_date(events_from_database(), split=split)), repeat=False)
    for kind in ("als", "bpr"):
        evaluation = RecommenderModel.objects.get(kind=kind, is_active=True).metrics["evaluation"]
        assert evaluation["test_users"] == offline["test_users"] == 3
        assert {name: evaluation[name] for name in METRICS} == pytest.approx(offline["methods"][kind], rel=1e-12)


def test_admin_lists_factor_versions_without_their_gram_matrix(trained, admin_client):
    from django.urls import reverse

    listing = admin_client.get(reverse("admin:recommendations_recommendermodel_changelist")).content.decode()
    assert "shoppers_with_factors: 60" in listing and "matrix factorisation (ALS)" in listing
    version = RecommenderModel.objects.get(kind="als", is_active=True)
    page = admin_client.get(reverse("admin:recommendations_recommendermodel_change", args=[version.pk]))
    assert page.status_code == 200 and "als v1" in page.content.decode()
    assert "Gram matrix" not in page.content.decode()


def test_a_folded_in_list_costs_two_queries(trained, django_assert_num_queries):
    """Version, stored factors, newer-events check, history factors and events in one statement, then
    the scan (the version's Gram matrix is read once per process)."""
    Interaction.objects.create(session_key="queries", product=trained[2], kind="view")
    history = shopper_history(session_key="queries")
    assert als_candidates(history=history, k=K, exclude=set())
    Interaction.objects.create(session_key="queries", product=trained[6], kind="add_to_cart")
    history = shopper_history(session_key="queries")
    with django_assert_num_queries(2):
        assert len(als_candidates(history=history, k=K, exclude=set())) == K
