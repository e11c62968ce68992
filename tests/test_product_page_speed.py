"""The product page's speed work: its card lists rendered once for every visitor (and never stale),
and the number of queries the product and home pages run."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from recommendations.models import ProductNeighbour, RecommenderModel
from shop.models import Product
from shop.services import category_get_or_create
from tests.factories import clustered_vectors, products_with_vectors
from tests.test_storefront_catalogue import element
from tests.test_storefront_pages import cards

pytestmark = pytest.mark.django_db

CARD = "shop/_product_card.html"


@pytest.fixture
def page(settings):
    """A product with 5 similar items, 3 "also bought" and more of its type; caches on, as served."""
    settings.SIMILAR_ITEMS_CACHE_SECONDS = 300
    settings.CATEGORY_MENU_CACHE_SECONDS = 300
    settings.PRODUCT_CARDS_CACHE_SECONDS = 300
    cache.clear()
    items = products_with_vectors(clustered_vectors(30, 1280, clusters=3, seed=5))
    tshirts = category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")
    Product.objects.filter(pk__in=[p.pk for p in items]).update(category=tshirts, gender="Men")
    model = RecommenderModel.objects.create(kind="also_bought", version=1, trained_at=timezone.now(), is_active=True)
    ProductNeighbour.objects.bulk_create(
        ProductNeighbour(model=model, product=items[0], neighbour=other, rank=rank, score=1 / rank)
        for rank, other in enumerate(items[20:23], start=1)
    )
    yield items[0]
    cache.clear()


def card_templates(response) -> int:
    return sum(template.name == CARD for template in response.templates)


def sections(response) -> tuple[dict[int, str], dict[int, str]]:
    html = response.content.decode()
    return cards(element(html, "similar-items")), cards(element(html, "also-bought"))


def test_the_card_lists_are_rendered_once_for_every_visitor(client, page, settings):
    first = client.get(page.get_absolute_url())
    assert card_templates(first) >= 5 + 3
    second = client.get(page.get_absolute_url())
    assert card_templates(second) == 0
    assert sections(second) == sections(first)
    settings.PRODUCT_CARDS_CACHE_SECONDS = 0
    assert card_templates(client.get(page.get_absolute_url())) == card_templates(first)


def test_a_sold_out_or_repriced_item_leaves_the_cached_lists_at_once(client, page):
    similar, also = sections(client.get(page.get_absolute_url()))
    assert len(similar) == 5 and len(also) == 3
    sold_out, repriced, gone = list(similar)[0], list(similar)[1], list(also)[0]
    Product.objects.filter(pk__in=[sold_out, gone]).update(stock=0)
    Product.objects.filter(pk=repriced).update(price=Decimal("649.50"))
    similar_after, also_after = sections(client.get(page.get_absolute_url()))
    assert sold_out not in similar_after and gone not in also_after
    assert "₹649.50" in similar_after[repriced]


def test_the_product_page_runs_a_fixed_number_of_queries(client, page, django_assert_num_queries):
    """Product, session, the view's event (a savepoint, the INSERT, its release), the embeddings'
    version, the similar items' products, "more in" and "also bought", and the lists' impressions
    (one upsert, in its savepoint here as the test runs in a transaction): the lists' searches and
    the menu come from the caches."""
    client.get(page.get_absolute_url())  # the first visit fills the caches
    with django_assert_num_queries(12):
        client.get(page.get_absolute_url())


def test_the_home_page_runs_a_fixed_number_of_queries(client, page, django_assert_num_queries):
    """For a first-time visitor (no session, so no history to read): the also-bought version, the
    best-sellers (this week, then all time: none sold), the category tree (2) and the new arrivals;
    the menu comes from the cache."""
    client.get("/")
    with django_assert_num_queries(6) as queries:
        client.get("/")
    assert sum("events_interaction" in query["sql"] for query in queries.captured_queries) == 2
