"""Content profile: the shopper's visual taste (recommendations.profiles) searched in pgvector
(selectors.content_profile_candidates) equals the pure computation on exact scans, follows an
anonymous session's first click, and returns only buyable products."""

from __future__ import annotations

import numpy as np
import pytest
from django.test import Client

from recommendations.profiles import (
    CONTENT_PROFILE_HALF_LIFE,
    CONTENT_PROFILE_PURCHASE_WEIGHT,
    content_profile_inputs,
    content_profile_ranker,
    content_profile_vector,
)
from recommendations.selectors import ShopperHistory, content_profile_candidates, shopper_history
from shop.models import Product
from tests.factories import clustered_vectors, products_with_vectors

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def catalogue(db):
    vectors = clustered_vectors(150, 1280, clusters=30, seed=4)
    products = products_with_vectors(vectors, sku_prefix="CP")
    return products, {product.pk: vector for product, vector in zip(products, vectors, strict=True)}


def test_recent_products_and_purchases_weigh_more():
    inputs = dict(content_profile_inputs([30, 20, 10, 20], bought={10}))
    assert list(inputs) == [30, 20, 10], "each product once, most recent first"
    assert inputs[30] == 1.0
    assert inputs[20] == pytest.approx(0.5 ** (1 / CONTENT_PROFILE_HALF_LIFE))
    assert inputs[10] == pytest.approx(0.5 ** (2 / CONTENT_PROFILE_HALF_LIFE) * CONTENT_PROFILE_PURCHASE_WEIGHT)
    a, b = np.array([1.0, 0.0], dtype=np.float32), np.array([0.0, 3.0], dtype=np.float32)
    profile = content_profile_vector({1: a, 2: b}, [1, 2], bought=set())
    expected = np.array([1.0, 0.5 ** (1 / CONTENT_PROFILE_HALF_LIFE)])  # vectors unit-normalised first
    assert np.allclose(profile, expected / np.linalg.norm(expected), atol=1e-6)
    assert content_profile_vector({1: None}, [1], bought=set()) is None


def test_selector_equals_the_pure_computation_on_exact_scans(catalogue, exact_scans):
    products, vectors = catalogue
    ranker = content_profile_ranker(vectors, vectors.keys(), {"shopper": {products[17].pk}})
    histories = [
        [products[5].pk, products[17].pk, products[40].pk],
        [products[99].pk],
        [products[i].pk for i in range(60, 90, 2)],
    ]
    for products_seen in histories:
        history = ShopperHistory(products=products_seen, bought={products[17].pk})
        exclude = {products[3].pk, products[6].pk}
        found = content_profile_candidates(history=history, k=10, exclude=exclude)
        expected = ranker("shopper", products_seen, exclude, 10, False)
        assert len(found) == 10
        assert [c.product_id for c in found] == [c.product_id for c in expected]
        assert [c.because for c in found] == [c.because for c in expected]
        # The index stores halfvec: scores agree to float16 precision.
        assert np.allclose([c.score for c in found], [c.score for c in expected], atol=2e-3)
        assert {c.source for c in found} == {"content_profile"}


def test_a_first_click_changes_an_anonymous_sessions_list(catalogue):
    products, vectors = catalogue
    client = Client(HTTP_USER_AGENT=CHROME)
    assert client.get(products[0].get_absolute_url()).status_code == 200  # the session starts here
    key = client.session.session_key
    first = content_profile_candidates(history=shopper_history(session_key=key), k=8, exclude=set())
    assert first and {c.because for c in first} == {products[0].pk}, "one click is a profile"
    nearest = sorted(
        (pk for pk in vectors if pk != products[0].pk), key=lambda pk: -float(vectors[pk] @ vectors[products[0].pk])
    )
    assert first[0].product_id in nearest[:3]  # the index is approximate: the best is among the nearest
    assert client.get(products[120].get_absolute_url()).status_code == 200
    second = content_profile_candidates(history=shopper_history(session_key=key), k=8, exclude=set())
    assert [c.product_id for c in second] != [c.product_id for c in first]
    assert products[120].pk in {c.because for c in second}, "the latest click weighs most"


def test_sold_out_inactive_and_unpriced_products_never_come_back(catalogue, exact_scans):
    products, _ = catalogue
    history = ShopperHistory(products=[products[7].pk], bought=set())
    before = [c.product_id for c in content_profile_candidates(history=history, k=10, exclude=set())]
    Product.objects.filter(pk=before[0]).update(stock=0)
    Product.objects.filter(pk=before[1]).update(is_active=False)
    Product.objects.filter(pk=before[2]).update(price=None)
    after = [c.product_id for c in content_profile_candidates(history=history, k=10, exclude=set())]
    assert len(after) == 10 and not set(before[:3]) & set(after)
    assert after[:7] == before[3:]


def test_without_vectors_or_history_there_is_no_list(catalogue):
    products, _ = catalogue
    bare = Product.objects.create(sku="CP-BARE", name="No image", price=10, stock=1)
    for seen in ([bare.pk], []):
        assert content_profile_candidates(history=ShopperHistory(products=seen, bought=set()), k=5, exclude=set()) == []
