""" "Customers who bought this also bought" and "Frequently bought together": training from the
event log, stored versions and the switch between them, the filtered reads, pages, API and schema,
and the whole flow through checkout and a real worker."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events.models import Interaction
from recommendations.models import ProductNeighbour, RecommenderModel
from recommendations.recommenders import recommender_model_activate, recommender_model_store, recommenders_train
from recommendations.selectors import product_also_bought_list, products_bought_together_list
from shop.models import Product
from tests.helpers import checkout

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
RESULT_KEYS = {"id", "sku", "name", "url", "image_url", "score"}


def make_products(count: int, prefix: str = "X") -> list[Product]:
    return [
        Product.objects.create(sku=f"{prefix}{i}", name=f"Product {prefix}{i}", price=Decimal("499.00"), stock=5)
        for i in range(count)
    ]


def purchases(baskets: list[tuple[str, list[Product]]]) -> None:
    """Imported-style history: one purchase per product, each basket one order of its customer."""
    now = timezone.now()
    Interaction.objects.bulk_create(
        [
            Interaction(
                customer_key=customer,
                product=product,
                kind="purchase",
                basket=f"{customer}-{number}",
                created_at=now - timedelta(hours=number),
            )
            for number, (customer, products) in enumerate(baskets)
            for product in products
        ]
    )


def ids(items) -> list[int]:
    return [item.product.pk for item in items]


@pytest.fixture
def shop(db):
    """A bought with B by three customers, with C by two, with D by one (too little evidence)."""
    a, b, c, d, e = make_products(5)
    purchases(
        [
            ("c1", [a, b, c]),
            ("c2", [a, b, c]),
            ("c3", [a, b]),
            ("c4", [a, d]),
            ("c5", [e]),
        ]
    )
    return a, b, c, d, e


# --- Training and reading ---


def test_training_serves_both_lists_from_the_event_log(shop, django_assert_num_queries):
    """Pairs with enough shoppers (also bought) or baskets (bought together) are served, best first;
    a pair seen once is not. The product page's list is one query, its products included."""
    a, b, c, d, _ = shop
    trained = recommenders_train()
    assert sorted(model.kind for model in trained) == ["also_bought", "bought_together", "ease"]
    with django_assert_num_queries(1):
        assert [item.product.category for item in product_also_bought_list(product=a)] == [None, None]
    assert ids(product_also_bought_list(product=a)) == [b.pk, c.pk]
    assert ids(products_bought_together_list(product_ids=[a.pk])) == [b.pk, c.pk]
    assert ids(product_also_bought_list(product=d)) == []
    model = RecommenderModel.objects.get(kind="also_bought", is_active=True)
    assert (model.version, model.n_events, model.params["min_support"]) == (1, 11, 2)
    assert model.up_to is not None and model.trained_at is not None
    assert model.metrics["products_with_neighbours"] == model.n_products == 3  # a, b, c
    assert model.metrics["catalogue_coverage"] == 0.6  # of the 5 products on sale


def test_lists_leave_out_what_a_shopper_cannot_or_need_not_buy(shop):
    """Never the product itself, nor inactive or sold-out products, nor what is in the cart."""
    a, b, c, _, _ = shop
    recommenders_train()
    assert ids(product_also_bought_list(product=b)) == [a.pk, c.pk]
    Product.objects.filter(pk=b.pk).update(stock=0)
    assert ids(product_also_bought_list(product=a)) == [c.pk]
    Product.objects.filter(pk=b.pk).update(stock=3, is_active=False)
    assert ids(products_bought_together_list(product_ids=[a.pk])) == [c.pk]
    Product.objects.filter(pk=b.pk).update(is_active=True)
    assert ids(product_also_bought_list(product=a, exclude_ids=[b.pk])) == [c.pk]
    # A whole cart: neighbours of every line, never a line itself.
    assert ids(products_bought_together_list(product_ids=[a.pk, b.pk])) == [c.pk]


def test_min_score_hides_weak_pairs(shop, settings):
    a, b, c, _, _ = shop
    recommenders_train()
    scores = {item.product.pk: item.score for item in product_also_bought_list(product=a)}
    settings.RECOMMENDER_MIN_SCORE = (scores[b.pk] + scores[c.pk]) / 2
    assert ids(product_also_bought_list(product=a)) == [b.pk]


def test_too_few_events_keep_the_previous_version(shop):
    """A training that finds no pairs (the log was purged) leaves the active lists serving."""
    a, b, c, _, _ = shop
    recommenders_train()
    Interaction.objects.all().delete()
    assert recommenders_train() == []
    assert ids(product_also_bought_list(product=a)) == [b.pk, c.pk]


def test_train_recommenders_command(shop):
    from io import StringIO

    out = StringIO()
    call_command("train_recommenders", "--kind", "bought_together", stdout=out)
    assert "bought_together v1: 3 products with neighbours" in out.getvalue()
    assert list(RecommenderModel.objects.values_list("kind", flat=True)) == ["bought_together"]


def test_one_training_at_a_time(shop):
    """While another process trains (it holds the advisory lock), a second training does nothing."""
    from django.db import connections

    from recommendations.recommenders import TRAINING_LOCK

    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [TRAINING_LOCK])
        assert recommenders_train() == []
        assert not RecommenderModel.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [TRAINING_LOCK])
        assert len(recommenders_train()) == 3
    finally:
        other.close()


def test_training_runs_on_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["recommenders-train"]
    assert entry["task"] == "recommendations.tasks.recommenders_train_task"


# --- Versions ---


def test_a_new_version_serves_only_once_switched_and_old_ones_are_pruned(shop, settings):
    """The new version's rows are written while the old one serves; the switch is one step; versions
    beyond RECOMMENDER_KEEP_VERSIONS are deleted with their rows."""
    a, b, c, d, _ = shop
    settings.RECOMMENDER_KEEP_VERSIONS = 2
    recommenders_train(kinds=["also_bought"])
    v1 = RecommenderModel.objects.get(kind="also_bought")
    v2 = recommender_model_store(
        kind="also_bought", neighbours={a.pk: [(d.pk, 0.9)]}, params={}, n_events=1, up_to=None
    )
    assert (v2.version, v2.is_active) == (2, False)
    assert ids(product_also_bought_list(product=a)) == [b.pk, c.pk]  # still v1
    recommender_model_activate(model=v2)
    assert ids(product_also_bought_list(product=a)) == [d.pk]
    assert list(RecommenderModel.objects.filter(is_active=True).values_list("pk", flat=True)) == [v2.pk]
    v3 = recommender_model_store(
        kind="also_bought", neighbours={a.pk: [(c.pk, 0.5)]}, params={}, n_events=1, up_to=None
    )
    recommender_model_activate(model=v3)
    assert set(RecommenderModel.objects.values_list("version", flat=True)) == {2, 3}
    assert not ProductNeighbour.objects.filter(model_id=v1.pk).exists()


def test_stored_lists_skip_deleted_products_and_the_product_itself(shop):
    a, b, _, _, _ = shop
    model = recommender_model_store(
        kind="bought_together",
        neighbours={a.pk: [(a.pk, 1.0), (999_999, 0.8), (b.pk, 0.5)], 999_998: [(a.pk, 0.4)]},
        params={},
        n_events=0,
        up_to=None,
    )
    assert list(model.neighbours.values_list("product_id", "neighbour_id", "rank")) == [(a.pk, b.pk, 1)]


@pytest.mark.django_db(transaction=True)
def test_readers_never_see_an_empty_list_while_versions_switch():
    """A reader on its own connection, reading all along while the lists are retrained again and
    again, always gets the product's list."""
    a, b, c, _, _ = make_products(5, prefix="S")
    purchases([("c1", [a, b, c]), ("c2", [a, b, c]), ("c3", [a, b])])
    recommenders_train()
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                seen.append(
                    len(product_also_bought_list(product=a)) and len(products_bought_together_list(product_ids=[a.pk]))
                )
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(8):
            recommenders_train()
    finally:
        stop.set()
        reader.join()
    assert RecommenderModel.objects.filter(kind="also_bought", is_active=True).get().version == 9
    assert len(seen) > 10 and 0 not in seen


# --- Pages and API ---


def test_product_page_shows_also_bought_only_with_evidence(shop):
    a, b, c, d, _ = shop
    recommenders_train()
    client = Client(HTTP_USER_AGENT=CHROME)
    html = client.get(a.get_absolute_url()).content.decode()
    assert 'data-testid="also-bought"' in html
    assert "Customers who bought this also bought" in html
    assert f'href="{b.get_absolute_url()}" data-ref="also_bought"' in html
    assert html.index('data-testid="similar-items"') < html.index('data-testid="also-bought"')
    assert 'data-testid="also-bought"' not in client.get(d.get_absolute_url()).content.decode()
    # What is already in the cart is not recommended.
    client.post(reverse("shop:cart_add", args=[b.pk]), {"quantity": 1})
    html = client.get(a.get_absolute_url()).content.decode()
    assert f'href="{b.get_absolute_url()}" data-ref="also_bought"' not in html
    assert f'href="{c.get_absolute_url()}" data-ref="also_bought"' in html


def test_cart_page_shows_bought_together_and_the_click_is_logged(shop):
    a, b, c, _, _ = shop
    recommenders_train()
    client = Client(HTTP_USER_AGENT=CHROME)
    assert 'data-testid="bought-together"' not in client.get(reverse("shop:cart")).content.decode()
    client.post(reverse("shop:cart_add", args=[a.pk]), {"quantity": 1})
    html = client.get(reverse("shop:cart")).content.decode()
    assert 'data-testid="bought-together"' in html
    assert f'href="{b.get_absolute_url()}" data-ref="bought_together"' in html
    response = client.get(f"{b.get_absolute_url()}?ref=bought_together")
    assert response["Location"] == b.get_absolute_url()
    click = Interaction.objects.get(kind="recommendation_click")
    assert (click.product_id, click.source_list, click.session_key) == (
        b.pk,
        "bought_together",
        client.cookies["sessionid"].value,
    )


@pytest.mark.parametrize(("path", "kind"), [("also-bought", "also_bought"), ("bought-together", "bought_together")])
def test_api_lists_have_the_similar_items_shape(shop, path, kind):
    a, b, c, _, _ = shop
    client = Client()
    before = client.get(f"/api/products/{a.pk}/{path}/")
    assert before.status_code == 200
    assert before.json() == {"product": a.pk, "model": None, "results": []}
    recommenders_train()
    body = client.get(f"/api/products/{a.pk}/{path}/?k=1").json()
    assert set(body) == {"product", "model", "results"}
    assert (body["product"], body["model"]) == (a.pk, f"{kind} v1")
    assert len(body["results"]) == 1 and set(body["results"][0]) == RESULT_KEYS
    result = body["results"][0]
    assert (result["id"], result["sku"], result["url"]) == (b.pk, b.sku, f"http://testserver{b.get_absolute_url()}")
    assert result["image_url"] is None and 0 < result["score"] <= 1
    assert [item["id"] for item in client.get(f"/api/products/{a.pk}/{path}/").json()["results"]] == [b.pk, c.pk]
    assert client.get(f"/api/products/{a.pk}/{path}/?k=0").status_code == 400
    assert client.get(f"/api/products/{a.pk}/{path}/?k=lots").json()["fields"]["k"]
    assert client.get(f"/api/products/987654/{path}/").status_code == 404


def test_api_leaves_out_the_logged_in_shoppers_cart(shop):
    a, b, c, _, _ = shop
    recommenders_train()
    user = get_user_model().objects.create_user("cartful", password="x-long-password")
    client = Client()
    client.force_login(user)
    client.post("/api/cart/lines/", {"product": b.pk, "quantity": 1}, content_type="application/json")
    assert [item["id"] for item in client.get(f"/api/products/{a.pk}/also-bought/").json()["results"]] == [c.pk]


@pytest.mark.django_db
def test_openapi_schema_documents_both_lists(client):
    schema = client.get("/api/schema/?format=json").json()
    for path, operation_id in [
        ("/api/products/{product_id}/also-bought/", "products_also_bought_list"),
        ("/api/products/{product_id}/bought-together/", "products_bought_together_list"),
    ]:
        operation = schema["paths"][path]["get"]
        assert operation["operationId"] == operation_id
        assert {p["name"] for p in operation["parameters"]} == {"product_id", "k"}
        assert set(operation["responses"]) == {"200", "400", "404"}
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        component = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert set(component["properties"]) == {"product", "model", "results"}
        item_ref = component["properties"]["results"]["items"]["$ref"]
        assert set(schema["components"]["schemas"][item_ref.rsplit("/", 1)[-1]]["properties"]) == RESULT_KEYS


# --- End to end: checkout, the worker, the pages ---


@pytest.mark.django_db(transaction=True)
def test_orders_through_checkout_train_on_the_worker_and_show_on_pages(worker):
    """Shoppers check out baskets; the training task runs on the real worker; the product page of a
    product bought with others shows them, the cart page shows what is bought with its lines. (Other
    shoppers buy other things, as in any shop: item-item BM25 weighs down what nearly everyone bought.)"""
    from recommendations.tasks import recommenders_train_task

    shirt, jeans, belt, cap, socks = make_products(5, prefix="E")
    baskets = [[shirt, jeans, belt], [shirt, jeans], [shirt, belt, cap], [jeans, belt], [cap], [socks], [cap, socks]]
    for number, basket in enumerate(baskets):
        user = get_user_model().objects.create_user(f"buyer{number}", password="x-long-password")
        client = Client(HTTP_USER_AGENT=CHROME)
        client.force_login(user)
        checkout(client, basket)
    assert Interaction.objects.filter(kind="purchase").count() == 14
    assert recommenders_train_task.delay().get(timeout=120) == [
        "also_bought v1",
        "bought_together v1",
        "als v1",
        "bpr v1",
        "ease v1",
    ]
    visitor = Client(HTTP_USER_AGENT=CHROME)
    html = visitor.get(shirt.get_absolute_url()).content.decode()
    section = html[html.index('data-testid="also-bought"') :]
    assert f'{jeans.get_absolute_url()}" data-ref="also_bought"' in section
    assert f'{belt.get_absolute_url()}" data-ref="also_bought"' in section
    assert socks.get_absolute_url() not in section
    visitor.post(reverse("shop:cart_add", args=[jeans.pk]), {"quantity": 1})
    cart = visitor.get(reverse("shop:cart")).content.decode()
    section = cart[cart.index('data-testid="bought-together"') :]
    assert f'{shirt.get_absolute_url()}" data-ref="bought_together"' in section
    assert f'{belt.get_absolute_url()}" data-ref="bought_together"' in section
    assert f'{cap.get_absolute_url()}" data-ref="bought_together"' not in section  # bought with jeans never
