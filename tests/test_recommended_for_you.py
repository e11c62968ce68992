""" "Recommended for you": the shopper's own list on the home page and the API, every source over
their live history (item-item and basket neighbours stored by training, recent best-sellers overall
and in their categories, new look-alikes) fused by hybrid.blend with the served weights, the same
blend the offline evaluation's `served` method calls."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from evaluation.interactions import Split, categories_from_database, method_rankers, prepare
from events.models import Interaction
from events.selectors import training_events
from recommendations.hybrid import RRF_OFFSET, weights_load
from recommendations.models import RecommenderModel
from recommendations.recommenders import recommenders_train
from recommendations.selectors import shopper_recommended_list
from shop.models import Cart, CartLine, Product

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
RESULT_KEYS = {"id", "sku", "name", "url", "image_url", "score", "reason"}


def make_products(names: str) -> dict[str, Product]:
    return {
        name: Product.objects.create(sku=f"RFY-{name}", name=f"Item {name}", price=Decimal("499.00"), stock=5)
        for name in names
    }


def purchases(baskets: list[tuple[str, list[Product]]], *, days_ago: float = 0) -> None:
    """Imported-style purchases: each basket one order of its customer, `days_ago` days back."""
    now = timezone.now() - timedelta(days=days_ago)
    Interaction.objects.bulk_create(
        [
            Interaction(
                customer_key=customer,
                product=product,
                kind="purchase",
                basket=f"{customer}-{number}-{days_ago}",
                created_at=now - timedelta(minutes=number),
            )
            for number, (customer, products) in enumerate(baskets)
            for product in products
        ]
    )


def home_items(client: Client) -> tuple[str, list[tuple[str, str]]]:
    """The home page's block: its title and (product URL, reason) per card, or ("", []) when absent."""
    response = client.get("/")
    assert response.status_code == 200
    recommended = response.context["recommended"]
    html = response.content.decode()
    if 'data-testid="recommended-for-you"' not in html:
        return "", []
    title = "Recommended for you" if "Recommended for you</h2>" in html else "Popular now"
    assert f"{title}</h2>" in html
    for item in recommended.items:
        assert f'href="{item.product.get_absolute_url()}" data-ref="recommended_for_you"' in html
        assert f'data-testid="reason">{item.reason}</span>' in html
    return title, [(item.product.get_absolute_url(), item.reason) for item in recommended.items]


@pytest.fixture
def shop(db):
    """A was bought with B by four customers and with C by three (recently); D and E are best-sellers
    of the last week bought alone; F sold best a month ago."""
    products = make_products("ABCDEF")
    a, b, c, d, e, f = (products[name] for name in "ABCDEF")
    purchases([("c1", [a, b, c]), ("c2", [a, b, c]), ("c3", [a, b, c]), ("c4", [a, b])])
    purchases([(f"d{i}", [d]) for i in range(6)] + [(f"e{i}", [e]) for i in range(5)])
    purchases([(f"f{i}", [f]) for i in range(20)], days_ago=30)
    return products


def test_a_shoppers_purchases_train_their_personal_list_with_reasons(shop):
    """A logged-in shopper who bought A sees A's neighbours first, each saying why; never A itself."""
    a, b, c = shop["A"], shop["B"], shop["C"]
    user = get_user_model().objects.create_user("buyer", password="x-long-password")
    Interaction.objects.create(user=user, product=a, kind="purchase", basket="own-1")
    recommenders_train(kinds=["also_bought"])
    client = Client(HTTP_USER_AGENT=CHROME)
    client.force_login(user)
    title, items = home_items(client)
    assert title == "Recommended for you"
    assert items[:2] == [
        (b.get_absolute_url(), "Bought together with Item A"),
        (c.get_absolute_url(), "Bought together with Item A"),
    ]
    assert a.get_absolute_url() not in [url for url, _ in items]
    # The rest are this week's best-sellers (D sold 6, E 5; F's 20 sales were a month ago).
    assert items[2:] == [
        (shop["D"].get_absolute_url(), "Popular this week"),
        (shop["E"].get_absolute_url(), "Popular this week"),
    ]
    found = shopper_recommended_list(user=user, k=12)
    assert (found.strategy, found.model) == ("personal", "hybrid: also_bought v1")


def test_a_new_anonymous_session_gets_popular_now_from_recent_purchases(shop):
    """No history: the last week's best-sellers, most purchase lines first; older sales do not count."""
    title, items = home_items(Client(HTTP_USER_AGENT=CHROME))
    assert title == "Popular now"
    counts = Counter(
        Interaction.objects.filter(kind="purchase", created_at__gte=timezone.now() - timedelta(days=7)).values_list(
            "product__sku", flat=True
        )
    )
    assert counts == {"RFY-D": 6, "RFY-E": 5, "RFY-A": 4, "RFY-B": 4, "RFY-C": 3}
    by_count = ["D", "E", "A", "B", "C"]  # ties (A, B) by id
    assert items == [(shop[name].get_absolute_url(), "Popular this week") for name in by_count]
    assert shop["F"].get_absolute_url() not in [url for url, _ in items]


def test_without_sales_last_week_the_all_time_best_sellers_are_shown(db):
    products = make_products("XYZ")
    purchases([(f"x{i}", [products["X"]]) for i in range(2)] + [("y0", [products["Y"]])], days_ago=30)
    found = shopper_recommended_list(k=5)
    assert found.strategy == "popular" and found.model is None
    assert [(item.product, item.reason) for item in found.items] == [
        (products["X"], "Popular in the shop"),
        (products["Y"], "Popular in the shop"),
    ]


def test_empty_shop_shows_no_block(db):
    html = Client(HTTP_USER_AGENT=CHROME).get("/").content.decode()
    assert 'data-testid="recommended-for-you"' not in html


def test_an_anonymous_sessions_views_change_its_list_at_once(shop):
    """Views are read live: the list follows a click without retraining (only neighbours are trained)."""
    recommenders_train(kinds=["also_bought"])
    trained = list(RecommenderModel.objects.values_list("kind", "version"))
    client = Client(HTTP_USER_AGENT=CHROME)
    title, _ = home_items(client)
    assert title == "Popular now"
    assert client.get(shop["A"].get_absolute_url()).status_code == 200  # a view, logged under the session
    title, items = home_items(client)
    assert title == "Recommended for you"
    assert items[:2] == [
        (shop["B"].get_absolute_url(), "Because you viewed Item A"),
        (shop["C"].get_absolute_url(), "Because you viewed Item A"),
    ]
    assert shop["A"].get_absolute_url() not in [url for url, _ in items]  # seen already: not recommended
    assert list(RecommenderModel.objects.values_list("kind", "version")) == trained
    # The API answers for the same session.
    body = client.get("/api/recommendations/").json()
    assert body["strategy"] == "personal"
    assert [(r["id"], r["reason"]) for r in body["results"][:2]] == [
        (shop["B"].pk, "Because you viewed Item A"),
        (shop["C"].pk, "Because you viewed Item A"),
    ]


def test_sold_out_inactive_unpriced_bought_and_in_cart_never_appear(db):
    """A's neighbours B..G are all best-sellers too; only G can be shown to a shopper who bought A and
    F and has E in the cart, while B is sold out, C inactive and D without a price."""
    products = make_products("ABCDEFG")
    neighbours = [products[name] for name in "BCDEFG"]
    purchases([(f"c{i}", [products["A"], *neighbours]) for i in range(3)])
    recommenders_train(kinds=["also_bought"])
    user = get_user_model().objects.create_user("picky", password="x-long-password")
    Interaction.objects.create(user=user, product=products["A"], kind="purchase", basket="own-1")
    earlier = timezone.now() - timedelta(hours=1)  # A is the latest purchase: it explains G (equal scores)
    Interaction.objects.create(user=user, product=products["F"], kind="purchase", basket="own-0", created_at=earlier)
    Product.objects.filter(pk=products["B"].pk).update(stock=0)
    Product.objects.filter(pk=products["C"].pk).update(is_active=False)
    Product.objects.filter(pk=products["D"].pk).update(price=None)
    client = Client(HTTP_USER_AGENT=CHROME)
    client.force_login(user)
    # A cart line without an event (as carts from before the event log): only the cart keeps E out.
    CartLine.objects.create(cart=Cart.objects.create(user=user), product=products["E"], quantity=1)
    title, items = home_items(client)
    assert title == "Recommended for you"
    assert items == [(products["G"].get_absolute_url(), "Bought together with Item A")]
    assert [r["id"] for r in client.get("/api/recommendations/").json()["results"]] == [products["G"].pk]
    # Without the cart's exclusion E would be there: the exclusion is what keeps it out.
    assert [item.product for item in shopper_recommended_list(user=user, k=12).items] == [products["E"], products["G"]]


def test_the_list_is_the_evaluations_served_method_on_the_same_inputs(shop, django_assert_max_num_queries):
    """The shop's list is the evaluation's `served`: the same sources (BM25 item-item and basket
    neighbours trained from the same events, the last week's best-sellers overall and per category)
    fused by the same blend with the same weights, over the history as the evaluation prepares it,
    leaving out what was bought, what is in the cart and what cannot be bought. At most twelve
    queries: history, repeat rates of what was bought, the two neighbour lists, best-sellers,
    best-sellers per category, image vectors, ALS's shopper statement and EASE's list (no version
    of either here), the content profile's image vectors, products, versions."""
    more = make_products("GHI")
    purchases([(f"g{i}", [shop["B"], more["G"]]) for i in range(3)] + [("h0", [more["H"]]), ("i0", [more["I"]])])
    recommenders_train(kinds=["also_bought", "bought_together"])
    user = get_user_model().objects.create_user("mixed", password="x-long-password")
    now = timezone.now()
    for minutes, name, kind in [(50, "B", "purchase"), (40, "E", "view"), (30, "F", "add_to_cart"), (20, "C", "view")]:
        when = now - timedelta(minutes=minutes)
        Interaction.objects.create(user=user, product=shop[name], kind=kind, created_at=when)
    Product.objects.filter(pk=shop["D"].pk).update(stock=0)  # a best-seller that cannot be bought
    Product.objects.filter(pk=shop["A"].pk).update(is_active=False)  # a neighbour that cannot be bought
    in_cart = [shop["F"].pk]
    with django_assert_max_num_queries(12):
        found = shopper_recommended_list(user=user, k=3, exclude_ids=in_cart)

    events = list(training_events())
    prepared = prepare(Split(description="all", train=events, test_purchases={}, test_time=now))
    shopper = f"user:{user.pk}"
    history = prepared.history[shopper]
    assert history == [shop[name].pk for name in "CFEB"]
    # Only also_bought and bought_together are trained here: the shop's ALS and EASE sources have no
    # version and offer nothing, so the evaluation's served list is built without them too.
    weights = {name: weight for name, weight in weights_load().items() if name not in ("als", "ease")}
    served = method_rankers(prepared, categories=categories_from_database(), hybrid_weights={}, served_weights=weights)[
        "served"
    ]
    buyable = set(Product.objects.filter(is_active=True, stock__gt=0, price__isnull=False).values_list("pk", flat=True))
    unbuyable = set(Product.objects.values_list("pk", flat=True)) - buyable
    expected = served(shopper, history, set(in_cart) | unbuyable, 3, False)
    assert [(item.product.pk, item.score) for item in found.items] == [(c.product_id, c.score) for c in expected]
    assert found.strategy == "personal" and len(found.items) == 3  # G, H, I: all the shop can show
    assert {shop[name] for name in "ABCDEF"}.isdisjoint(item.product for item in found.items)
    assert (found.items[0].product, found.items[0].reason) == (more["G"], "Bought together with Item B")


def test_api_shape_and_validation(shop):
    client = Client()
    body = client.get("/api/recommendations/").json()
    assert set(body) == {"model", "strategy", "results"}
    assert (body["model"], body["strategy"]) == (None, "popular")
    assert len(body["results"]) == 5 and all(set(result) == RESULT_KEYS for result in body["results"])
    recommenders_train(kinds=["also_bought"])
    body = client.get("/api/recommendations/?k=1").json()
    assert (body["model"], body["strategy"]) == ("hybrid: also_bought v1", "popular")
    d = shop["D"]
    assert body["results"] == [
        {
            "id": d.pk,
            "sku": d.sku,
            "name": d.name,
            "url": f"http://testserver{d.get_absolute_url()}",
            "image_url": None,
            "score": pytest.approx(weights_load()["popularity_recent"] / RRF_OFFSET),
            "reason": "Popular this week",
        }
    ]
    for bad in ("0", "51", "lots"):
        response = client.get(f"/api/recommendations/?k={bad}")
        assert response.status_code == 400 and response.json()["fields"]["k"]
    assert len(client.get("/api/recommendations/?k=50").json()["results"]) == 5


@pytest.mark.django_db
def test_openapi_schema_documents_the_list(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/recommendations/"]["get"]
    assert operation["operationId"] == "recommendations_list"
    assert {p["name"] for p in operation["parameters"]} == {"k"}
    assert set(operation["responses"]) == {"200", "400", "429"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(component["properties"]) == {"model", "strategy", "results"}
    item_ref = component["properties"]["results"]["items"]["$ref"]
    assert set(schema["components"]["schemas"][item_ref.rsplit("/", 1)[-1]]["properties"]) == RESULT_KEYS


def test_best_sellers_are_cached_and_products_still_checked(shop, settings, django_assert_num_queries):
    """The home page is hit by everyone: the best-seller ranking is read once per
    RECOMMENDED_POPULAR_CACHE_SECONDS; a product sold out since is still left out."""
    from django.core.cache import cache

    settings.RECOMMENDED_POPULAR_CACHE_SECONDS = 60
    cache.clear()
    with django_assert_num_queries(3):  # the best-sellers, the products, the active versions
        first = shopper_recommended_list(k=5)
    assert [item.product for item in first.items] == [shop[name] for name in "DEABC"]
    Product.objects.filter(pk=shop["D"].pk).update(stock=0)
    with django_assert_num_queries(2):
        second = shopper_recommended_list(k=5)
    assert [item.product for item in second.items] == [shop[name] for name in "EABC"]
    cache.clear()
