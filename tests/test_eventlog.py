"""The event log as the shop captures it: pages, API, cart, checkout, clicks; bots, privacy settings, purge."""

from __future__ import annotations

import logging
import re
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
from events.selectors import interaction_recent_list, training_events
from events.services import interactions_purge
from events.tasks import interactions_purge_task
from shop.models import Order, Product

pytestmark = pytest.mark.django_db

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
PASSWORD = "correct horse battery"
DETAILS = {
    "email": "asha@example.com",
    "full_name": "Asha Rao",
    "address_line1": "12 MG Road",
    "city": "Bengaluru",
    "postal_code": "560001",
    "country": "India",
}


def make_product(sku: str, stock: int = 5, price: str = "499.00") -> Product:
    return Product.objects.create(sku=sku, name=f"Product {sku}", price=Decimal(price), stock=stock)


def make_user(username: str = "asha"):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.com")


def shopper_client() -> Client:
    return Client(HTTP_USER_AGENT=CHROME)


def events(**filters) -> list[tuple]:
    rows = Interaction.objects.filter(**filters).order_by("id")
    return list(rows.values_list("kind", "product_id", "quantity", "source_list", "surface"))


# --- Capture ---


def test_product_page_view_is_logged_under_the_new_session():
    """A first-time visitor gets a session; the view is logged under its key, once per page view."""
    product = make_product("V1")
    client = shopper_client()
    assert client.get(product.get_absolute_url()).status_code == 200
    assert client.get(product.get_absolute_url()).status_code == 200
    session_key = client.cookies["sessionid"].value
    assert events(session_key=session_key) == [("view", product.pk, 1, "", "product_page")] * 2
    assert Interaction.objects.get(pk=Interaction.objects.first().pk).user is None


def test_api_product_view_is_logged_for_known_shoppers_only():
    """The product API logs a logged-in user's view (surface api); a cookieless script makes no session rows."""
    product = make_product("A1")
    user = make_user()
    client = shopper_client()
    client.force_login(user)
    assert client.get(f"/api/products/{product.pk}/").status_code == 200
    assert events(user=user) == [("view", product.pk, 1, "", "api")]
    assert shopper_client().get(f"/api/products/{product.pk}/").status_code == 200
    assert Interaction.objects.count() == 1


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    ],
)
def test_bots_are_not_logged(agent):
    """Crawlers and scripts see the page, and nothing is logged (a browser on the same page is)."""
    product = make_product("B1")
    bot = Client(HTTP_USER_AGENT=agent)
    assert bot.get(product.get_absolute_url()).status_code == 200
    assert bot.get(product.get_absolute_url() + "?ref=also_bought").status_code == 302
    assert Interaction.objects.count() == 0
    shopper_client().get(product.get_absolute_url())
    assert Interaction.objects.count() == 1


def test_cart_changes_are_logged_with_the_units():
    """Adding logs add_to_cart with the units added; raising, lowering and removing log the difference."""
    product = make_product("C1", stock=9)
    client = shopper_client()
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 2})
    client.post(reverse("shop:cart_update", args=[product.pk]), {"quantity": 5})
    client.post(reverse("shop:cart_update", args=[product.pk]), {"quantity": 1})
    client.post(reverse("shop:cart_remove", args=[product.pk]))
    key = client.cookies["sessionid"].value
    assert [(kind, quantity) for kind, _, quantity, _, _ in events(session_key=key)] == [
        ("add_to_cart", 2),
        ("add_to_cart", 3),
        ("remove_from_cart", 4),
        ("remove_from_cart", 1),
    ]


def test_refused_cart_change_logs_nothing():
    """An add the shop refuses (out of stock) is not an add_to_cart."""
    product = make_product("C2", stock=0)
    client = shopper_client()
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    assert Interaction.objects.filter(kind="add_to_cart").count() == 0


def test_checkout_logs_one_purchase_per_line_with_the_order_as_basket(django_capture_on_commit_callbacks):
    """Each order line is a purchase with its quantity and basket "order:<id>", written when the order commits."""
    first, second = make_product("P1"), make_product("P2")
    user = make_user()
    client = shopper_client()
    client.force_login(user)
    client.post(reverse("shop:cart_add", args=[first.pk]), {"quantity": 2})
    client.post(reverse("shop:cart_add", args=[second.pk]), {"quantity": 1})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("shop:checkout"), DETAILS)
    assert response.status_code == 302
    order = Order.objects.get()
    purchases = Interaction.objects.filter(kind="purchase").order_by("product_id")
    assert [(p.user_id, p.product_id, p.quantity, p.basket, p.surface) for p in purchases] == [
        (user.pk, first.pk, 2, f"order:{order.pk}", "checkout"),
        (user.pk, second.pk, 1, f"order:{order.pk}", "checkout"),
    ]


def test_refused_checkout_logs_no_purchase(django_capture_on_commit_callbacks):
    """An order that is not placed (sold out meanwhile) logs nothing."""
    product = make_product("P3", stock=3)
    client = shopper_client()
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 2})
    Product.objects.filter(pk=product.pk).update(stock=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("shop:checkout"), DETAILS).status_code == 409
    assert not Interaction.objects.filter(kind="purchase").exists()


def test_guest_purchases_are_logged_under_the_session_and_join_the_account_later(django_capture_on_commit_callbacks):
    """A guest's order is logged under the session's shopper key; signing up afterwards claims it."""
    product = make_product("G1")
    client = shopper_client()
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("shop:checkout"), DETAILS)
    assert Interaction.objects.filter(kind="purchase", user=None).exclude(session_key="").count() == 1
    client.post(
        reverse("shop:signup"),
        {"username": "newbie", "email": "newbie@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    user = get_user_model().objects.get(username="newbie")
    assert sorted(kind for kind, *_ in events(user=user)) == ["add_to_cart", "purchase"]
    assert not Interaction.objects.filter(user=None).exists()


# --- Clicks on lists: `ref` ---


def test_ref_click_is_logged_and_the_redirect_drops_ref():
    """?ref=also_bought logs a recommendation_click from that list, then redirects to the URL without
    ref (other parameters kept), uncacheable; the page itself names the clean URL as canonical."""
    product = make_product("R1")
    client = shopper_client()
    response = client.get(product.get_absolute_url() + "?ref=also_bought&utm_source=mail")
    assert response.status_code == 302
    assert response["Location"] == product.get_absolute_url() + "?utm_source=mail"
    assert "no-store" in response["Cache-Control"]
    assert events() == [("recommendation_click", product.pk, 1, "also_bought", "product_page")]
    page = client.get(response["Location"])
    assert f'<link rel="canonical" href="http://testserver{product.get_absolute_url()}">' in page.content.decode()
    assert [kind for kind, *_ in events()] == ["recommendation_click", "view"]


def test_photo_search_ref_and_unknown_ref():
    """A search-by-photo result click is a photo_search_click; an unknown ref is dropped unrecorded."""
    product = make_product("R2")
    client = shopper_client()
    assert client.get(product.get_absolute_url() + "?ref=photo_search")["Location"] == product.get_absolute_url()
    assert client.get(product.get_absolute_url() + "?ref=<script>")["Location"] == product.get_absolute_url()
    assert events() == [("photo_search_click", product.pk, 1, "", "product_page")]


def test_list_cards_carry_the_ref_of_their_list():
    """Cards in "More in <type>" link with ref=more_in_type; the product's own links have none."""
    from shop.services import category_get_or_create

    category = category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")
    one, other = make_product("L1"), make_product("L2")
    Product.objects.filter(pk__in=[one.pk, other.pk]).update(category=category)
    html = shopper_client().get(one.get_absolute_url()).content.decode()
    assert f'href="{other.get_absolute_url()}" data-ref="more_in_type"' in html


def test_list_links_stay_plain_product_addresses():
    """The similar-items block links as /products/<id>/ (the form outside checks read, and the one
    people copy and share); the list's name travels in data-ref, not in the address."""
    from shop.services import category_get_or_create

    category = category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")
    one, other = make_product("P1"), make_product("P2")
    Product.objects.filter(pk__in=[one.pk, other.pk]).update(category=category)
    html = shopper_client().get(one.get_absolute_url()).content.decode()
    assert "?ref=" not in html
    assert re.search(rf'<a href="{other.get_absolute_url()}" data-ref="more_in_type">', html)


# --- Joining, privacy ---


def test_anonymous_events_join_the_account_at_login():
    """Views and cart changes made before logging in belong to the account afterwards."""
    product, other = make_product("J1"), make_product("J2")
    user = make_user()
    client = shopper_client()
    client.get(product.get_absolute_url())
    client.post(reverse("shop:cart_add", args=[other.pk]), {"quantity": 1})
    assert Interaction.objects.filter(user=None).count() == 2
    response = client.post(reverse("login"), {"username": "asha", "password": PASSWORD})
    assert response.status_code == 302
    assert sorted(kind for kind, *_ in events(user=user)) == ["add_to_cart", "view"]
    # Another anonymous browser's events stay its own.
    stranger = shopper_client()
    stranger.get(product.get_absolute_url())
    assert Interaction.objects.filter(user=None).count() == 1
    assert [row.kind for row in interaction_recent_list(user=user)] == ["add_to_cart", "view"]


def test_deleting_the_account_deletes_its_events():
    user, other = make_user("gone"), make_user("stays")
    product = make_product("D1")
    for who in (user, other):
        client = shopper_client()
        client.force_login(who)
        client.get(product.get_absolute_url())
    user.delete()
    assert list(Interaction.objects.values_list("user__username", flat=True)) == ["stays"]


def test_logging_off_records_nothing_and_the_shop_works(settings, django_capture_on_commit_callbacks):
    """EVENT_LOG_ENABLED=False: pages, cart, checkout and clicks work and log nothing."""
    settings.EVENT_LOG_ENABLED = False
    product = make_product("O1")
    client = shopper_client()
    assert client.get(product.get_absolute_url()).status_code == 200
    assert client.get(product.get_absolute_url() + "?ref=similar_items").status_code == 302
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("shop:checkout"), DETAILS).status_code == 302
    assert Order.objects.count() == 1
    assert Interaction.objects.count() == 0


def test_retention_purge_deletes_only_old_shop_events(settings):
    """The purge (task and command) deletes the shop's events past EVENT_LOG_RETENTION_DAYS; recent
    events and imported histories stay."""
    settings.EVENT_LOG_RETENTION_DAYS = 30
    product = make_product("T1")
    now = timezone.now()
    old = Interaction.objects.create(session_key="s1", product=product, kind="view", created_at=now - timedelta(40))
    recent = Interaction.objects.create(session_key="s1", product=product, kind="view", created_at=now - timedelta(5))
    imported = Interaction.objects.create(
        customer_key="c1",
        product=product,
        kind="purchase",
        source="hm",
        external_id="x",
        created_at=now - timedelta(900),
    )
    assert interactions_purge_task.apply().get() == 1
    assert set(Interaction.objects.values_list("pk", flat=True)) == {recent.pk, imported.pk}
    assert not Interaction.objects.filter(pk=old.pk).exists()
    call_command("purge_interactions", "--days", "3")
    assert set(Interaction.objects.values_list("pk", flat=True)) == {imported.pk}
    settings.EVENT_LOG_RETENTION_DAYS = 0
    Interaction.objects.create(session_key="s2", product=product, kind="view", created_at=now - timedelta(4000))
    assert interactions_purge() == 0


def test_purge_runs_daily_on_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["interactions-purge"]
    assert entry["task"] == "events.tasks.interactions_purge_task"
    assert entry["schedule"] == 24 * 3600.0


def test_a_failing_event_write_never_breaks_the_page(caplog):
    """With the event table unusable the product page still renders (the INSERT fails inside a
    savepoint, so the page's other queries still run) and the error is logged."""
    product = make_product("E1")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE events_interaction RENAME TO events_interaction_away")
    try:
        with caplog.at_level(logging.ERROR, logger="events.services"):
            response = shopper_client().get(product.get_absolute_url())
        assert response.status_code == 200
        assert "Could not record 1 event(s) of kind view" in caplog.text
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE events_interaction_away RENAME TO events_interaction")


def test_training_events_name_each_shopper():
    """Training reads: user, imported customer, session, or no one (a basket-only row), oldest first."""
    product = make_product("K1")
    user = make_user()
    now = timezone.now()
    Interaction.objects.create(user=user, session_key="s", product=product, kind="view", created_at=now)
    Interaction.objects.create(customer_key="c9", product=product, kind="purchase", created_at=now - timedelta(1))
    Interaction.objects.create(session_key="s", product=product, kind="view", created_at=now - timedelta(2))
    Interaction.objects.create(
        basket="inv-1", product=product, kind="purchase", quantity=3, created_at=now - timedelta(3)
    )
    rows = list(training_events())
    assert [(row.shopper, row.kind, row.quantity, row.basket) for row in rows] == [
        ("", "purchase", 3, "inv-1"),
        ("session:s", "view", 1, ""),
        ("customer:c9", "purchase", 1, ""),
        (f"user:{user.pk}", "view", 1, ""),
    ]
    assert [row.kind for row in training_events(kinds=["view"], since=now - timedelta(days=2, hours=1))] == [
        "view",
        "view",
    ]


@pytest.mark.django_db(transaction=True)
def test_events_written_outside_a_transaction_keep_every_field(caplog):
    """Outside any transaction (a real request, an order's after-commit hook) events are written by one
    statement that commits without waiting for the disk: every field arrives as given, and a
    failure there is logged, not raised."""
    from events.services import order_purchases_record

    product, other = make_product("W1"), make_product("W2")
    user = make_user()
    client = shopper_client()
    client.get(product.get_absolute_url())
    view = Interaction.objects.get()
    assert (view.kind, view.user_id, view.customer_key, view.quantity, view.basket, view.source, view.surface) == (
        "view",
        None,
        "",
        1,
        "",
        "shop",
        "product_page",
    )
    assert view.session_key == client.cookies["sessionid"].value
    assert abs((timezone.now() - view.created_at).total_seconds()) < 60
    order = Order.objects.create(user=user, total=Decimal("3.00"), **DETAILS)
    order.lines.create(product=product, sku=product.sku, product_name="x", unit_price=Decimal("1.00"), quantity=1)
    order.lines.create(product=other, sku=other.sku, product_name="y", unit_price=Decimal("1.00"), quantity=2)
    assert order_purchases_record(order_id=order.pk) == 2
    rows = Interaction.objects.filter(kind="purchase").order_by("product_id")
    assert [(r.user_id, r.product_id, r.quantity, r.basket, r.created_at) for r in rows] == [
        (user.pk, product.pk, 1, f"order:{order.pk}", order.created_at),
        (user.pk, other.pk, 2, f"order:{order.pk}", order.created_at),
    ]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE events_interaction RENAME TO events_interaction_away")
    try:
        with caplog.at_level(logging.ERROR, logger="events.services"):
            assert shopper_client().get(product.get_absolute_url()).status_code == 200
        assert "Could not record 1 event(s) of kind view" in caplog.text
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE events_interaction_away RENAME TO events_interaction")
