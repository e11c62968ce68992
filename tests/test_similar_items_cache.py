"""Cached similar items: a repeat visit skips the vector search, and no change waits for the cache.

The test settings turn the cache off (tests change categories of the same products one after
another); these tests turn it on.
"""

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations.models import ProductEmbedding
from recommendations.selectors import product_similar_list
from shop.models import Product
from tests.factories import clustered_vectors, products_with_vectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(settings):
    settings.SIMILAR_ITEMS_CACHE_SECONDS = 300
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def products(cached):
    vectors = clustered_vectors(40, 1280, clusters=4, seed=11, noise=(0.2, 0.8))
    return products_with_vectors(vectors), vectors


def similar(product: Product) -> tuple[list[int], int]:
    """The similar items' ids, and how many vector searches it took to get them."""
    product = Product.objects.select_related("category").get(pk=product.pk)
    with CaptureQueriesContext(connection) as queries:
        ids = [item.product.pk for item in product_similar_list(product=product)]
    return ids, sum("<=>" in query["sql"] for query in queries.captured_queries)


def test_a_repeat_visit_is_served_without_a_vector_search(products):
    items, _ = products
    first, searches = similar(items[0])
    assert len(first) == 5 and searches >= 1
    assert similar(items[0]) == (first, 0)


def test_cache_off_searches_every_time(products, settings):
    settings.SIMILAR_ITEMS_CACHE_SECONDS = 0
    items, _ = products
    assert similar(items[0])[1] >= 1
    assert similar(items[0])[1] >= 1


def test_a_new_embedding_shows_at_once(products):
    items, vectors = products
    before, _ = similar(items[0])
    twin = vectors[0] + np.float32(1e-3)
    (new,) = products_with_vectors((twin / np.linalg.norm(twin))[None, :].astype(np.float32), sku_prefix="NEW")
    after, searches = similar(items[0])
    assert searches >= 1 and after[0] == new.pk and after[1:] == before[:4]


def test_a_hidden_product_leaves_cached_lists_at_once(products):
    items, _ = products
    before, _ = similar(items[0])
    Product.objects.filter(pk=before[0]).update(is_active=False)
    assert similar(items[0]) == (before[1:], 0)


def test_a_product_without_its_embedding_leaves_cached_lists_at_once(products):
    items, _ = products
    before, _ = similar(items[0])
    ProductEmbedding.objects.filter(product_id=before[1]).delete()
    assert similar(items[0]) == ([before[0], *before[2:]], 0)


def test_editing_the_product_itself_searches_again(products):
    items, _ = products
    # As if its image were the one its vector came from, so a save keeps the embedding.
    Product.objects.filter(pk=items[0].pk).update(image="products/V000000/a.jpg", image_sha256="test")
    similar(items[0])
    product = Product.objects.get(pk=items[0].pk)
    product.gender = "Women"  # its similar items now prefer women's and unisex products
    product.save(update_fields=["gender", "updated_at"])
    assert similar(items[0])[1] >= 1
