"""The served similar-items lookup reads the product's vector inside its SQL statement."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import selectors
from recommendations.selectors import _similar_ranked, product_similar_plan
from shop.models import Product
from shop.services import category_get_or_create
from tests.factories import clustered_vectors, products_with_vectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def products():
    """60 products in three article types (two of them men's), each with a vector and a colour."""
    items = products_with_vectors(clustered_vectors(60, 1280, clusters=6, seed=21, noise=(0.2, 0.8)))
    kinds = [category_get_or_create(master="Apparel", sub="Topwear", article=name) for name in ("Tshirts", "Shirts")]
    kinds.append(category_get_or_create(master="Footwear", sub="Shoes", article="Sneakers"))
    colours = ["Blue", "Red", "Black", ""]
    for number, product in enumerate(items):
        Product.objects.filter(pk=product.pk).update(
            category=kinds[number % 3], gender="Men" if number % 3 < 2 else "Women", base_colour=colours[number % 4]
        )
    return list(Product.objects.select_related("category__parent").filter(pk__in=[p.pk for p in items]))


def test_no_vector_travels_through_python(products):
    """Each statement is short: the product's 1,280 floats are read where they are used, not sent
    to Python as text and back as a parameter."""
    with CaptureQueriesContext(connection) as queries:
        assert len(_similar_ranked(products[0], 5)) == 5
    assert queries.captured_queries
    assert max(len(query["sql"]) for query in queries.captured_queries) < 2000


def test_the_lists_equal_those_of_the_vector_sent_through_python(products, exact_scans, monkeypatch):
    """Same ids, order and scores (to float rounding) for every product, on exact scans."""
    served = {product.pk: _similar_ranked(product, 5) for product in products}
    monkeypatch.setattr(selectors, "SIMILAR_ITEMS_VECTOR_IN_SQL", False)
    for product in products:
        before = _similar_ranked(product, 5)
        assert [pk for pk, _ in served[product.pk]] == [pk for pk, _ in before]
        assert [score for _, score in served[product.pk]] == pytest.approx([score for _, score in before], abs=1e-6)


def test_the_served_statement_uses_the_hnsw_index(products):
    # 60 rows: left to its statistics the planner may rightly sort them instead (it did, in one run
    # without ../shared, after the table had been analysed at 2 rows). With scans that need a sort
    # of their own disabled, what remains is whether the statement can be served by the index.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    plan = product_similar_plan(product=products[0], k=5)
    assert "Index Scan using embedding_lite0_hnsw" in plan and "InitPlan" in plan, plan
