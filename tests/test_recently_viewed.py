"""The home page's "Recently viewed", the account page's "Recommended for you", and the impression
counters behind the admin's click-through (one upsert per page, never for bots or with the log off)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone

from events.models import Interaction, ListImpression
from events.selectors import recently_viewed_list
from events.services import list_impressions_flush, list_impressions_record
from recommendations.recommenders import recommenders_train
from shop.models import Product

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def make_products(names: str, **fields) -> dict[str, Product]:
    return {
        name: Product.objects.create(
            sku=f"RV-{name}", name=f"Viewed {name}", price=Decimal("499.00"), stock=fields.get("stock", 5)
        )
        for name in names
    }


def recently_viewed_block(client: Client) -> list[str]:
    """The product URLs of the home page's "Recently viewed" cards, in page order ([] when absent)."""
    html = client.get("/").content.decode()
    match = re.search(r'<section[^>]*data-testid="recently-viewed".*?</section>', html, re.S)
    if not match:
        return []
    return re.findall(r'<a href="([^"]+)" data-ref="recently_viewed"', match.group(0))


def counts() -> dict[str, tuple[int, int]]:
    return {row.surface: (row.lists, row.items) for row in ListImpression.objects.filter(day=timezone.localdate())}


@pytest.fixture
def products(db):
    return make_products("ABCD")


def test_home_shows_the_sessions_views_most_recent_first_each_once(products):
    a, b, c, d = (products[name] for name in "ABCD")
    shopper = Client(HTTP_USER_AGENT=CHROME)
    assert recently_viewed_block(shopper) == []  # nothing viewed: no block at all
    assert 'data-testid="recently-viewed"' not in shopper.get("/").content.decode()
    for product in (a, b, c, a):
        assert shopper.get(product.get_absolute_url()).status_code == 200
    assert recently_viewed_block(shopper) == [a.get_absolute_url(), c.get_absolute_url(), b.get_absolute_url()]
    # Another browser has its own history.
    assert recently_viewed_block(Client(HTTP_USER_AGENT=CHROME)) == []
    assert d.get_absolute_url() not in recently_viewed_block(shopper)


def test_sold_out_products_are_marked_and_products_off_sale_left_out(products):
    a, b, c, _ = (products[name] for name in "ABCD")
    shopper = Client(HTTP_USER_AGENT=CHROME)
    for product in (a, b, c):
        shopper.get(product.get_absolute_url())
    Product.objects.filter(pk=b.pk).update(stock=0)
    Product.objects.filter(pk=c.pk).update(is_active=False)
    html = shopper.get("/").content.decode()
    block = re.search(r'<section[^>]*data-testid="recently-viewed".*?</section>', html, re.S).group(0)
    assert re.findall(r'<a href="([^"]+)" data-ref="recently_viewed"', block) == [
        b.get_absolute_url(),
        a.get_absolute_url(),
    ]
    assert block.count('data-testid="sold-out"') == 1
    sold_out_card = r"data-sold-out>\s*<a href=\"" + re.escape(b.get_absolute_url()) + '"'
    assert re.search(sold_out_card, block)


def test_a_logged_in_shoppers_views_follow_the_account(products, settings):
    a, b, _, _ = (products[name] for name in "ABCD")
    user = get_user_model().objects.create_user("viewer", password="pw-viewer-1")
    shopper = Client(HTTP_USER_AGENT=CHROME)
    shopper.get(a.get_absolute_url())  # anonymous, joins the account at login
    shopper.login(username="viewer", password="pw-viewer-1")
    shopper.get(b.get_absolute_url())
    assert recently_viewed_block(shopper) == [b.get_absolute_url(), a.get_absolute_url()]
    assert [p.pk for p in recently_viewed_list(user=user, limit=1)] == [b.pk]
    # Only views count: a cart addition alone does not make a product "viewed".
    Interaction.objects.create(user=user, product=products["C"], kind="add_to_cart")
    assert [p.pk for p in recently_viewed_list(user=user)] == [b.pk, a.pk]


def test_recently_viewed_count_setting(products, settings):
    settings.RECENTLY_VIEWED_COUNT = 2
    shopper = Client(HTTP_USER_AGENT=CHROME)
    for name in "ABCD":
        shopper.get(products[name].get_absolute_url())
    assert recently_viewed_block(shopper) == [products["D"].get_absolute_url(), products["C"].get_absolute_url()]


def test_a_click_on_a_recently_viewed_card_is_logged_with_its_list(products):
    a = products["A"]
    shopper = Client(HTTP_USER_AGENT=CHROME)
    response = shopper.get(f"{a.get_absolute_url()}?ref=recently_viewed")
    assert response.status_code == 302
    click = Interaction.objects.get(kind="recommendation_click")
    assert (click.product_id, click.source_list) == (a.pk, "recently_viewed")


# --- Impressions ---


def test_each_page_counts_the_lists_it_showed_once(products):
    a, b, c, _ = (products[name] for name in "ABCD")
    shopper = Client(HTTP_USER_AGENT=CHROME)
    shopper.get("/")  # nothing to show yet but best-sellers: none sold
    assert counts() == {}
    for product in (a, b, c):
        shopper.get(product.get_absolute_url())
    response = shopper.get("/")
    shown = len(response.context["recently_viewed"])
    assert shown == 3
    assert counts() == {"recently_viewed": (1, 3)}
    shopper.get("/")
    assert counts() == {"recently_viewed": (2, 6)}


def test_home_counts_recommended_for_you_with_its_cards(products):
    a, b, c, d = (products[name] for name in "ABCD")
    Interaction.objects.bulk_create(
        [
            Interaction(customer_key=f"c{i}", product=product, kind="purchase", basket=f"b{i}")
            for i in range(3)
            for product in (a, b, c)
        ]
    )
    recommenders_train()
    shopper = Client(HTTP_USER_AGENT=CHROME)
    shopper.get(a.get_absolute_url())
    response = shopper.get("/")
    recommended = len(response.context["recommended"].items)
    assert recommended > 0
    assert counts()["recommended_for_you"] == (1, recommended)
    assert counts()["recently_viewed"] == (1, 1)
    # The product page counted its "also bought" list (B and C) when A was viewed.
    assert counts()["also_bought"] == (1, 2)


def test_bots_and_a_disabled_log_count_nothing(products, settings):
    a = products["A"]
    bot = Client(HTTP_USER_AGENT=GOOGLEBOT)
    Interaction.objects.create(session_key="s", product=a, kind="purchase")  # a best-seller for everyone
    bot.get("/")
    bot.get(a.get_absolute_url())
    assert counts() == {}
    settings.EVENT_LOG_ENABLED = False
    Client(HTTP_USER_AGENT=CHROME).get("/")
    assert counts() == {}
    settings.EVENT_LOG_ENABLED = True
    Client(HTTP_USER_AGENT=CHROME).get("/")
    assert counts() == {"recommended_for_you": (1, 1)}


def test_an_impression_error_never_breaks_the_page(products, monkeypatch, caplog):
    """A failed upsert is logged; the page and its transaction go on."""
    Interaction.objects.create(session_key="s", product=products["A"], kind="purchase")
    monkeypatch.setattr(ListImpression._meta, "db_table", "no_such_table")
    response = Client(HTTP_USER_AGENT=CHROME).get("/")
    assert response.status_code == 200
    assert "Could not count the impressions of recommended_for_you" in caplog.text
    monkeypatch.undo()  # the counts were kept: the next write adds them
    assert list_impressions_flush() == 1
    assert counts() == {"recommended_for_you": (1, 1)}


@pytest.mark.django_db(transaction=True)
def test_counters_add_up_outside_a_transaction_with_one_statement_per_page():
    """The web path (autocommit): one upsert statement per page, adding to the day's counters."""
    request = RequestFactory().get("/", HTTP_USER_AGENT=CHROME)
    assert not connection.in_atomic_block
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert list_impressions_record(request=request, shown={"similar_items": 5, "also_bought": 3, "more_in_type": 0})
    assert len(queries) == 1
    list_impressions_record(request=request, shown={"similar_items": 4})
    assert counts() == {"similar_items": (2, 9), "also_bought": (1, 3)}
    yesterday = timezone.localdate() - timedelta(days=1)
    ListImpression.objects.create(day=yesterday, surface="similar_items", lists=7, items=70)
    list_impressions_record(request=request, shown={"similar_items": 1})
    assert counts()["similar_items"] == (3, 10)
    assert ListImpression.objects.get(day=yesterday).lists == 7


# --- The account page ---


def test_account_page_shows_recommended_for_you_with_reasons(products):
    a, b, c, _ = (products[name] for name in "ABCD")
    Interaction.objects.bulk_create(
        [
            Interaction(customer_key=f"c{i}", product=product, kind="purchase", basket=f"b{i}")
            for i in range(3)
            for product in (a, b, c)
        ]
    )
    recommenders_train()
    get_user_model().objects.create_user("acct", password="pw-acct-1")
    shopper = Client(HTTP_USER_AGENT=CHROME)
    shopper.login(username="acct", password="pw-acct-1")
    shopper.get(a.get_absolute_url())
    response = shopper.get("/accounts/orders/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="account-recommended"' in html
    assert "Recommended for you</h2>" in html
    items = response.context["recommended"].items
    assert {item.product.pk for item in items} >= {b.pk, c.pk}
    for item in items:
        assert f'href="{item.product.get_absolute_url()}" data-ref="recommended_for_you"' in html
        assert f'data-testid="reason">{item.reason}</span>' in html
    assert f'data-testid="reason">Because you viewed {a.name}</span>' in html


def test_account_page_without_anything_to_recommend_has_no_block(products):
    get_user_model().objects.create_user("empty", password="pw-empty-1")
    shopper = Client(HTTP_USER_AGENT=CHROME)
    shopper.login(username="empty", password="pw-empty-1")
    html = shopper.get("/accounts/orders/").content.decode()
    assert 'data-testid="account-recommended"' not in html
