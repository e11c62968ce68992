"""Cart, checkout and orders: the services, a real two-connection race, and the pages through the test client."""

from __future__ import annotations

import io
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import reverse

from demo.catalog import demo_stock
from shop.cart import (
    DbCart,
    SessionCart,
    cart_add,
    cart_merge,
    cart_remove,
    cart_summary,
    cart_update,
)
from shop.checkout import CheckoutError, order_get_for_user, order_list_for_user, order_place
from shop.models import Cart, CartLine, Order, OrderLine, Product
from shop.services import catalog_import, product_stock_set
from tests.test_import import JEANS, SHIRT, make_catalog

pytestmark = pytest.mark.django_db

DETAILS = {
    "email": "Asha.Rao@Example.COM",
    "full_name": "Asha Rao",
    "address_line1": "12 MG Road",
    "address_line2": "",
    "city": "Bengaluru",
    "postal_code": "560001",
    "country": "India",
    "phone": "+91 98765 43210",
}


def make_product(sku: str, price: str | None = "499.00", stock: int = 5, **fields) -> Product:
    return Product.objects.create(
        sku=sku,
        name=fields.pop("name", f"Product {sku}"),
        price=None if price is None else Decimal(price),
        stock=stock,
        **fields,
    )


def make_user(username: str = "asha", password: str = "correct horse battery", **fields):
    return get_user_model().objects.create_user(
        username=username, password=password, email=fields.pop("email", f"{username}@example.com"), **fields
    )


@pytest.fixture(params=["session", "db"])
def cart(request, db):
    """Both storages behind the one interface."""
    if request.param == "session":
        return SessionCart(SessionStore())
    return DbCart(make_user(f"cart-{uuid.uuid4().hex[:12]}"))


# --- Adding, changing, removing ---


def test_add_accumulates_and_update_sets(cart):
    """Adding twice adds quantities; update sets the line; 0 removes it."""
    product = make_product("C1", stock=8)
    assert cart_add(cart=cart, product_id=product.pk, quantity=2) == 2
    assert cart_add(cart=cart, product_id=product.pk, quantity=3) == 5
    assert cart.quantities() == {product.pk: 5}
    assert cart_update(cart=cart, product_id=product.pk, quantity=7) == 7
    assert cart.count() == 7
    assert cart_update(cart=cart, product_id=product.pk, quantity=0) == 0
    assert cart.quantities() == {}


@pytest.mark.parametrize(
    ("fields", "quantity", "phrase"),
    [
        ({"price": None}, 1, "has no price"),
        ({"is_active": False}, 1, "no longer available"),
        ({"stock": 0}, 1, "out of stock"),
        ({"stock": 3}, 4, "Only 3"),
        ({"stock": 50}, 11, "at most 10"),
        ({}, 0, "at least 1"),
        ({}, -2, "at least 1"),
    ],
)
def test_add_refuses_what_cannot_be_bought(cart, settings, fields, quantity, phrase):
    """Unpriced, inactive, sold-out products and bad quantities are refused with a reason; the cart is unchanged."""
    settings.CART_MAX_QUANTITY = 10
    fields = dict(fields)  # the parameter dict is shared by both cart kinds
    price = fields.pop("price", "250.00")
    product = make_product("C2", price=price, **fields)
    with pytest.raises(ValidationError) as caught:
        cart_add(cart=cart, product_id=product.pk, quantity=quantity)
    assert phrase in caught.value.messages[0]
    assert cart.quantities() == {}


def test_add_counts_what_is_already_in_the_cart(cart):
    """The stock check covers the line's total, and says how many are already in the cart."""
    product = make_product("C3", stock=4)
    cart_add(cart=cart, product_id=product.pk, quantity=3)
    with pytest.raises(ValidationError, match="Only 4 .* already have 3 in your cart"):
        cart_add(cart=cart, product_id=product.pk, quantity=2)
    assert cart.quantities() == {product.pk: 3}


def test_add_unknown_product_and_update_of_missing_line(cart):
    with pytest.raises(ValidationError, match="does not exist"):
        cart_add(cart=cart, product_id=987654321, quantity=1)
    product = make_product("C4")
    with pytest.raises(ValidationError, match="not in your cart"):
        cart_update(cart=cart, product_id=product.pk, quantity=2)
    cart_add(cart=cart, product_id=product.pk, quantity=1)
    with pytest.raises(ValidationError, match="Only 5"):
        cart_update(cart=cart, product_id=product.pk, quantity=6)
    assert cart.quantities() == {product.pk: 1}
    cart_remove(cart=cart, product_id=product.pk)
    cart_remove(cart=cart, product_id=product.pk)  # removing twice is harmless
    assert cart.quantities() == {}


def test_summary_uses_current_prices_and_flags_unavailable_lines(cart):
    """Prices come from the products now, not from when they were added; broken lines are flagged and not totalled."""
    shirt = make_product("S1", price="500.00", stock=5)
    jeans = make_product("S2", price="1200.00", stock=5)
    watch = make_product("S3", price="3000.00", stock=5)
    for product, quantity in ((shirt, 2), (jeans, 3), (watch, 1)):
        cart_add(cart=cart, product_id=product.pk, quantity=quantity)
    Product.objects.filter(pk=shirt.pk).update(discounted_price=Decimal("400.00"))
    Product.objects.filter(pk=jeans.pk).update(stock=2)
    Product.objects.filter(pk=watch.pk).update(is_active=False)
    summary = cart_summary(cart=cart)
    lines = {line.product.sku: line for line in summary.lines}
    assert lines["S1"].unit_price == Decimal("400.00") and lines["S1"].problem is None
    assert "Only 2" in lines["S2"].problem
    assert "no longer available" in lines["S3"].problem
    assert summary.total == Decimal("800.00")
    assert summary.count == 6
    assert not summary.is_orderable


def test_session_cart_ignores_tampered_entries():
    session = SessionStore()
    session["cart"] = {"12": 2, "x": 3, "13": "lots", "14": -1}
    assert SessionCart(session).quantities() == {12: 2}
    session["cart"] = "garbage"
    assert SessionCart(session).quantities() == {}


# --- Merging on login ---


def test_merge_adds_quantities_capped_by_stock_and_maximum(settings):
    settings.CART_MAX_QUANTITY = 6
    user = make_user("merger")
    both = make_product("M1", stock=4)
    capped = make_product("M2", stock=20)
    gone = make_product("M3", stock=3)
    db_cart, guest = DbCart(user), SessionCart(SessionStore())
    cart_add(cart=db_cart, product_id=both.pk, quantity=2)
    cart_add(cart=guest, product_id=both.pk, quantity=2)
    cart_add(cart=guest, product_id=capped.pk, quantity=5)
    cart_add(cart=db_cart, product_id=capped.pk, quantity=4)
    cart_add(cart=guest, product_id=gone.pk, quantity=1)
    Product.objects.filter(pk=gone.pk).update(stock=0)
    notes = cart_merge(source=guest, target=db_cart)
    assert db_cart.quantities() == {both.pk: 4, capped.pk: 6}
    assert guest.quantities() == {}
    assert any("out of stock" in note for note in notes)
    assert any("holds 6" in note for note in notes)


# --- Placing orders ---


def test_order_freezes_prices_decrements_stock_and_empties_cart(cart, django_capture_on_commit_callbacks):
    shirt = make_product("O1", price="999.00", stock=5, name="Blue Shirt")
    Product.objects.filter(pk=shirt.pk).update(discounted_price=Decimal("799.50"))
    jeans = make_product("O2", price="1500.00", stock=2, name="Jeans")
    cart_add(cart=cart, product_id=shirt.pk, quantity=2)
    cart_add(cart=cart, product_id=jeans.pk, quantity=2)
    user = getattr(cart, "user", None)
    with django_capture_on_commit_callbacks(execute=True):
        order = order_place(cart=cart, user=user, details=DETAILS, expected_total=Decimal("4599.00"))
    assert order.total == Decimal("4599.00")
    assert order.email == "Asha.Rao@example.com"  # the domain is case-insensitive, the local part is not
    assert order.user == user
    assert order.payment_method == Order.PaymentMethod.PAY_ON_DELIVERY
    lines = list(order.lines.order_by("sku").values_list("sku", "product_name", "unit_price", "quantity"))
    assert lines == [("O1", "Blue Shirt", Decimal("799.50"), 2), ("O2", "Jeans", Decimal("1500.00"), 2)]
    assert dict(Product.objects.filter(sku__in=["O1", "O2"]).values_list("sku", "stock")) == {"O1": 3, "O2": 0}
    assert cart.quantities() == {}
    # Later catalogue changes do not touch the order.
    Product.objects.filter(pk=shirt.pk).update(price=Decimal("5.00"), discounted_price=None, name="Renamed")
    order.refresh_from_db()
    line = order.lines.get(sku="O1")
    assert (line.unit_price, line.product_name, order.total) == (Decimal("799.50"), "Blue Shirt", Decimal("4599.00"))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["Asha.Rao@example.com"]
    assert f"#{order.pk}" in mail.outbox[0].subject and "pay on delivery" in mail.outbox[0].body.lower()


def test_order_refused_when_an_item_became_unavailable(cart):
    """Nothing is written, stock and cart stay, and the error names each item."""
    ok = make_product("U1", stock=5, name="Still here")
    sold_out = make_product("U2", stock=1, name="Sold out scarf")
    unpriced = make_product("U3", stock=4, name="Priceless hat")
    for product in (ok, sold_out, unpriced):
        cart_add(cart=cart, product_id=product.pk, quantity=1)
    Product.objects.filter(pk=sold_out.pk).update(stock=0)
    Product.objects.filter(pk=unpriced.pk).update(price=None)
    before = Order.objects.count()
    with pytest.raises(CheckoutError) as caught:
        order_place(cart=cart, details=DETAILS)
    assert set(caught.value.unavailable) == {sold_out.pk, unpriced.pk}
    text = " ".join(caught.value.messages)
    assert "“Sold out scarf” is no longer available" in text and "“Priceless hat” is no longer available" in text
    assert Order.objects.count() == before
    assert Product.objects.get(pk=ok.pk).stock == 5
    assert len(cart.quantities()) == 3


def test_order_refused_when_prices_changed_since_the_page(cart):
    product = make_product("P1", price="100.00")
    cart_add(cart=cart, product_id=product.pk, quantity=1)
    Product.objects.filter(pk=product.pk).update(price=Decimal("120.00"))
    with pytest.raises(CheckoutError, match="Prices changed.*now ₹120\\. "):
        order_place(cart=cart, details=DETAILS, expected_total=Decimal("100.00"))
    assert not OrderLine.objects.filter(sku="P1").exists()
    assert Product.objects.get(pk=product.pk).stock == 5


def test_empty_cart_cannot_be_ordered(cart):
    with pytest.raises(CheckoutError, match="empty"):
        order_place(cart=cart, details=DETAILS)


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("email", "not-an-email", "valid email"),
        ("email", "", "cannot be blank"),
        ("full_name", "   ", "cannot be blank"),
        ("address_line1", "", "cannot be blank"),
        ("city", "", "cannot be blank"),
        ("country", "", "cannot be blank"),
        ("postal_code", "56#001", "valid postal code"),
        ("postal_code", "12345678901", "valid postal code"),
        ("phone", "call me", "valid phone"),
        ("full_name", "x" * 201, "at most 200"),
    ],
)
def test_bad_details_are_refused_by_field(cart, field, value, phrase):
    product = make_product("D1")
    cart_add(cart=cart, product_id=product.pk, quantity=1)
    with pytest.raises(ValidationError) as caught:
        order_place(cart=cart, details={**DETAILS, field: value})
    assert phrase in " ".join(caught.value.message_dict[field])
    assert Product.objects.get(pk=product.pk).stock == 5
    assert cart.quantities() == {product.pk: 1}


def test_orders_are_read_only_by_their_owner():
    owner, other = make_user("owner"), make_user("other")
    product = make_product("R1")
    cart = DbCart(owner)
    cart_add(cart=cart, product_id=product.pk, quantity=1)
    mine = order_place(cart=cart, user=owner, details=DETAILS)
    guest_cart = SessionCart(SessionStore())
    cart_add(cart=guest_cart, product_id=product.pk, quantity=1)
    guests = order_place(cart=guest_cart, details=DETAILS)
    assert guests.user is None
    assert list(order_list_for_user(user=owner)) == [mine]
    assert list(order_list_for_user(user=other)) == []
    assert order_get_for_user(order_id=mine.pk, user=owner) == mine
    assert order_get_for_user(order_id=mine.pk, user=other) is None
    assert order_get_for_user(order_id=mine.pk, user=other, guest_order_ids=[mine.pk]) is None
    assert order_get_for_user(order_id=guests.pk, user=None, guest_order_ids=[guests.pk]) == guests
    assert order_get_for_user(order_id=guests.pk, user=other) is None


# --- Two shoppers racing for the last unit, on two real connections ---

WAIT_LIMIT_SECONDS = 10


def _waiting_on_lock() -> bool:
    """Whether another backend of this database is blocked on a lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


@dataclass
class Race:
    """What two checkouts placed at the same moment did: each one's result (an Order or the error),
    when the winner started to commit and when each finished, and whether one was seen waiting on a
    lock while the other held it."""

    results: dict[str, object]
    committing_at: dict[str, float]
    finished_at: dict[str, float]
    saw_waiter: bool


def _race_checkouts(carts: dict) -> Race:
    """Place an order from each cart at once, each on its own thread and connection; the first to
    get its locks keeps them until the other is seen blocked on a lock (or WAIT_LIMIT_SECONDS)."""
    barrier = threading.Barrier(len(carts) + 1)
    race = Race(results={}, committing_at={}, finished_at={}, saw_waiter=False)
    waiter_seen = threading.Event()

    def place(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                try:
                    race.results[name] = order_place(cart=carts[name], details=DETAILS)
                except CheckoutError as exc:
                    race.results[name] = exc
                else:
                    # Keep the locks until the other checkout is seen blocked on them.
                    waiter_seen.wait(timeout=WAIT_LIMIT_SECONDS)
                    race.committing_at[name] = time.monotonic()
            race.finished_at[name] = time.monotonic()
        except Exception as exc:  # surfaced by the callers' assertions
            race.results[name] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=place, args=(name,)) for name in carts]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=10)
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline and not race.saw_waiter:
        race.saw_waiter = _waiting_on_lock()
        time.sleep(0.02)
    waiter_seen.set()
    for thread in threads:
        thread.join(timeout=30)
    return race


@pytest.mark.django_db(transaction=True)
def test_two_checkouts_racing_for_the_last_unit():
    """Exactly one order; the other shopper waits on the row lock, then learns the item is gone."""
    product = make_product("RACE1", price="2999.00", stock=1, name="Last Leather Jacket")
    shoppers = {}
    for name in ("a", "b"):
        shoppers[name] = SessionCart(SessionStore())
        cart_add(cart=shoppers[name], product_id=product.pk, quantity=1)
    race = _race_checkouts(shoppers)
    results, committing_at, finished_at, saw_waiter = (
        race.results,
        race.committing_at,
        race.finished_at,
        race.saw_waiter,
    )

    orders = [r for r in results.values() if isinstance(r, Order)]
    errors = [r for r in results.values() if isinstance(r, CheckoutError)]
    assert len(orders) == 1 and len(errors) == 1, results
    winner = next(name for name, r in results.items() if isinstance(r, Order))
    loser = next(name for name, r in results.items() if isinstance(r, CheckoutError))
    assert saw_waiter, "the second checkout never blocked on the row lock"
    assert finished_at[loser] >= committing_at[winner], "the loser finished before the winner committed"
    assert errors[0].unavailable == {product.pk: "“Last Leather Jacket” is no longer available: it has sold out."}
    assert Product.objects.get(pk=product.pk).stock == 0
    assert OrderLine.objects.filter(product=product).count() == 1
    assert Order.objects.filter(pk=orders[0].pk).exists()
    assert shoppers[winner].quantities() == {} and shoppers[loser].quantities() == {product.pk: 1}
    assert len(mail.outbox) == 1  # only the placed order is confirmed, after its commit


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_both_succeed_when_stock_allows():
    """Locks serialise checkouts without refusing any while units remain."""
    product = make_product("RACE2", stock=2)
    carts = [SessionCart(SessionStore()) for _ in range(2)]
    for cart in carts:
        cart_add(cart=cart, product_id=product.pk, quantity=1)
    barrier = threading.Barrier(2)
    results = []

    def shop(cart) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(order_place(cart=cart, details=DETAILS))
        except Exception as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=shop, args=(cart,)) for cart in carts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(isinstance(r, Order) for r in results) and len(results) == 2, results
    assert Product.objects.get(pk=product.pk).stock == 0


@pytest.mark.django_db(transaction=True)
def test_one_guest_session_posting_checkout_twice_gets_one_order():
    """Two simultaneous checkout posts of one guest session (two requests, two connections): one order.

    Each request loaded the session before either placed its order, as two posts in flight do;
    the second waits on the session cart's lock, reads the emptied cart and is refused.
    """
    product = make_product("TWICE1", price="1220.00", stock=5, name="Double-click Shirt")
    session = SessionStore()
    cart_add(cart=SessionCart(session), product_id=product.pk, quantity=1)
    session.save()
    requests = {name: SessionCart(SessionStore(session_key=session.session_key)) for name in ("a", "b")}
    for cart in requests.values():
        assert cart.quantities() == {product.pk: 1}  # both loaded the session with the cart in it
    race = _race_checkouts(requests)
    results, committing_at, finished_at, saw_waiter = (
        race.results,
        race.committing_at,
        race.finished_at,
        race.saw_waiter,
    )

    orders = [r for r in results.values() if isinstance(r, Order)]
    errors = [r for r in results.values() if isinstance(r, CheckoutError)]
    assert len(orders) == 1 and len(errors) == 1, results
    assert errors[0].messages == ["Your cart is empty."]
    winner = next(name for name, r in results.items() if isinstance(r, Order))
    loser = next(name for name, r in results.items() if isinstance(r, CheckoutError))
    assert saw_waiter, "the second checkout never waited for the first"
    assert finished_at[loser] >= committing_at[winner]
    assert Order.objects.count() == 1 and OrderLine.objects.filter(product=product).count() == 1
    assert Product.objects.get(pk=product.pk).stock == 4
    # The emptied cart was stored with the order, not only in the winner's copy of the session.
    assert SessionCart(SessionStore(session_key=session.session_key)).quantities() == {}


def test_a_stale_second_checkout_post_keeps_the_first_order_in_the_session(client):
    """A second post of the session, loaded before the first order, is refused and the guest still sees the order."""
    product = make_product("TWICE2", price="750.00", stock=5, name="Blue Cap")
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    key = client.session.session_key
    stale = SessionStore(session_key=key)
    assert SessionCart(stale).quantities() == {product.pk: 1}  # the second request loaded its session
    response = checkout_post(client)
    order = Order.objects.get()
    assert response.status_code == 302
    with pytest.raises(CheckoutError, match="Your cart is empty"):
        order_place(cart=SessionCart(stale), details=DETAILS)
    stale.save()  # what the session middleware does at the end of that request
    assert Order.objects.count() == 1
    assert client.get(reverse("shop:order_detail", args=[order.pk])).status_code == 200


def _post_checkout_at_once(first: Client, second: Client, *, expected_total: str) -> dict[str, object]:
    """Both clients post the checkout form at the same moment, each on its own thread and connection:
    {"a": first's response, "b": second's} (or the exception a post raised)."""
    barrier = threading.Barrier(2)
    responses: dict[str, object] = {}

    def post(name: str, client: Client) -> None:
        try:
            barrier.wait(timeout=10)
            responses[name] = checkout_post(client, expected_total=expected_total)
        except Exception as exc:  # surfaced by the callers' assertions
            responses[name] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=item) for item in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return responses


@pytest.mark.django_db(transaction=True)
def test_a_double_clicked_place_order_answers_both_posts_with_the_one_order():
    """Two checkout posts of one browser session at once (two requests, two connections): one order,
    and both answers lead to it, so the page the browser keeps shows the placed order."""
    product = make_product("TWICE3", price="1220.00", stock=5, name="Double-click Cap")
    first = Client()
    first.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    second = Client()
    second.cookies = first.cookies  # the same browser: the same session cookie
    responses = _post_checkout_at_once(first, second, expected_total="1220.00")

    order = Order.objects.get()  # exactly one
    assert Product.objects.get(pk=product.pk).stock == 4
    for name, response in responses.items():
        assert getattr(response, "status_code", response) == 302, (name, response)
        assert response.url == reverse("shop:order_detail", args=[order.pk]), name
    assert first.get(reverse("shop:order_detail", args=[order.pk])).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_logged_in_double_click_answers_both_posts_with_the_one_order():
    """The same for a logged-in shopper (the cart's row lock serialises the two posts)."""
    product = make_product("TWICE5", price="700.00", stock=5)
    make_user("dbl")
    first = Client()
    first.login(username="dbl", password="correct horse battery")
    first.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    second = Client()
    second.cookies = first.cookies
    responses = _post_checkout_at_once(first, second, expected_total="700.00")
    order = Order.objects.get()
    for name, response in responses.items():
        assert getattr(response, "status_code", response) == 302, (name, response)
        assert response.url == reverse("shop:order_detail", args=[order.pk]), name


def test_an_empty_cart_checkout_long_after_an_order_is_still_refused(client):
    """Only a repeat within minutes of the order is answered with it; later an empty cart is just empty."""
    product = make_product("TWICE4", price="500.00", stock=5)
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    assert checkout_post(client).status_code == 302
    order = Order.objects.get()
    response = checkout_post(client)  # the same post again, at once
    assert response.status_code == 302 and response.url == reverse("shop:order_detail", args=[order.pk])
    Order.objects.filter(pk=order.pk).update(created_at=order.created_at - timedelta(hours=1))
    response = checkout_post(client)
    assert response.status_code == 409 and "Your cart is empty." in element_text(response, "checkout-error")
    assert Order.objects.count() == 1


def element_text(response, testid: str) -> str:
    html = response.content.decode()
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</div>", start)]


# --- Pages, through the test client ---


def checkout_post(client: Client, **overrides):
    return client.post(reverse("shop:checkout"), {**DETAILS, **overrides})


def test_guest_adds_checks_out_and_sees_the_order(client):
    product = make_product("G1", price="750.00", stock=3, name="Red Cap")
    response = client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "2"})
    assert response.status_code == 302 and response.url == reverse("shop:cart")
    page = client.get(reverse("shop:cart"))
    html = page.content.decode()
    assert page.context["cart_count"] == 2
    assert 'data-testid="cart-lines"' in html and html.count('data-testid="cart-line"') == 1
    assert "Added 2 × “Red Cap” to your cart." in html
    assert 'data-testid="cart-total">₹1,500<' in html
    assert 'data-testid="checkout-link"' in html
    page = client.get(reverse("shop:checkout"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="checkout-form"' in html and 'data-testid="place-order"' in html
    assert "Pay on delivery" in html
    response = checkout_post(client, expected_total="1500.00")
    order = Order.objects.get(lines__sku="G1")
    assert response.status_code == 302 and response.url == reverse("shop:order_detail", args=[order.pk])
    page = client.get(response.url)
    html = page.content.decode()
    assert 'data-testid="order-confirmation"' in html
    assert f'data-testid="order-number">#{order.pk}<' in html
    assert "Red Cap" in html and 'data-testid="order-total">₹1,500<' in html
    assert Product.objects.get(pk=product.pk).stock == 1
    assert client.get(reverse("shop:cart")).context["cart_count"] == 0
    # Another browser (another session) cannot see the guest's order.
    assert Client().get(reverse("shop:order_detail", args=[order.pk])).status_code == 404


def test_add_to_cart_refusals_go_back_with_the_reason(client):
    unpriced = make_product("G2", price=None, name="Unpriced Scarf")
    product = make_product("G3", stock=2)
    for target, data, phrase in (
        (unpriced, {"quantity": "1"}, "has no price"),
        (product, {"quantity": "abc"}, "whole number"),
        (product, {"quantity": "0"}, "at least 1"),
        (product, {"quantity": "3"}, "Only 2"),
    ):
        response = client.post(reverse("shop:cart_add", args=[target.pk]), data, follow=False)
        assert response.status_code == 302 and response.url == target.get_absolute_url()
        stored = [m for m in response.wsgi_request._messages]
        assert phrase in str(stored[-1]) and "add-to-cart" in stored[-1].extra_tags
    assert client.get(reverse("shop:cart")).context["cart_count"] == 0
    assert client.post(reverse("shop:cart_add", args=[987654321]), {"quantity": "1"}).status_code == 404
    assert client.get(reverse("shop:cart_add", args=[product.pk])).status_code == 405


def test_update_and_remove_through_the_cart_page(client):
    product = make_product("G4", stock=3, name="Green Tee")
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    response = client.post(reverse("shop:cart_update", args=[product.pk]), {"quantity": "9"}, follow=True)
    html = response.content.decode()
    assert f'id="line-{product.pk}-error" role="alert">Only 3 of “Green Tee” left in stock.<' in html
    assert f'aria-describedby="line-{product.pk}-error' in html
    assert html.count("Only 3 of “Green Tee” left in stock.") == 1  # by its line only, not again at the top
    client.post(reverse("shop:cart_update", args=[product.pk]), {"quantity": "3"})
    assert client.get(reverse("shop:cart")).context["summary"].count == 3
    response = client.post(reverse("shop:cart_remove", args=[product.pk]), follow=True)
    assert 'data-testid="empty-cart"' in response.content.decode()


def test_cart_page_flags_a_line_that_became_unavailable(client):
    product = make_product("G5", stock=3, name="Vanishing Belt")
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    Product.objects.filter(pk=product.pk).update(is_active=False)
    html = client.get(reverse("shop:cart")).content.decode()
    assert 'data-testid="line-problem">This product is no longer available.<' in html
    assert 'data-testid="checkout-link"' not in html
    assert "cannot be ordered as they are" in html


def test_checkout_errors_are_tied_to_their_fields(client):
    product = make_product("G6")
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    response = checkout_post(client, email="nope", postal_code="??")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_email_error"' in html and 'id="id_email_error"' in html
    assert 'id="id_postal_code_error"' in html and "valid postal code" in html
    assert not OrderLine.objects.filter(sku="G6").exists()


def test_checkout_lost_race_through_the_page(client):
    """The item sold out between cart and checkout: the page names it, nothing is created."""
    product = make_product("G7", stock=1, name="Only Pair Of Boots")
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    Product.objects.filter(pk=product.pk).update(stock=0)
    response = checkout_post(client)
    assert response.status_code == 409
    html = response.content.decode()
    assert 'data-testid="checkout-error"' in html
    assert "“Only Pair Of Boots” is no longer available: it has sold out." in html
    assert "nothing was charged" in html
    assert not OrderLine.objects.filter(sku="G7").exists()


def test_empty_cart_checkout_goes_to_the_cart(client):
    response = client.get(reverse("shop:checkout"))
    assert response.status_code == 302 and response.url == reverse("shop:cart")


def test_login_merges_the_guest_cart(client):
    user = make_user("merge-me", password="pw-Merge-2024!")
    product = make_product("L1", stock=5)
    other = make_product("L2", stock=5)
    cart_add(cart=DbCart(user), product_id=product.pk, quantity=1)
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "2"})
    client.post(reverse("shop:cart_add", args=[other.pk]), {"quantity": "1"})
    response = client.post(reverse("login"), {"username": "merge-me", "password": "pw-Merge-2024!"})
    assert response.status_code == 302
    assert DbCart(user).quantities() == {product.pk: 3, other.pk: 1}
    assert "cart" not in client.session
    assert client.get(reverse("shop:cart")).context["cart_count"] == 4


def test_logged_in_order_is_in_history_and_hidden_from_others(client):
    user = make_user("buyer", password="pw-Buyer-2024!")
    make_user("snoop", password="pw-Snoop-2024!")
    product = make_product("H1", name="History Hoodie")
    client.login(username="buyer", password="pw-Buyer-2024!")
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    assert Cart.objects.filter(user=user).exists() and CartLine.objects.filter(cart__user=user).count() == 1
    # The form is prefilled with the account's e-mail.
    assert client.get(reverse("shop:checkout")).context["form"].initial["email"] == "buyer@example.com"
    response = checkout_post(client)
    order = Order.objects.get(user=user)
    assert response.url == reverse("shop:order_detail", args=[order.pk])
    html = client.get(reverse("shop:order_history")).content.decode()
    assert 'data-testid="order-history"' in html and html.count('data-testid="order-row"') == 1
    assert "History Hoodie" in html
    # The next checkout remembers the address.
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    assert client.get(reverse("shop:checkout")).context["form"].initial["city"] == "Bengaluru"
    snoop = Client()
    snoop.login(username="snoop", password="pw-Snoop-2024!")
    assert snoop.get(reverse("shop:order_detail", args=[order.pk])).status_code == 404
    assert 'data-testid="order-row"' not in snoop.get(reverse("shop:order_history")).content.decode()
    assert Client().get(reverse("shop:order_detail", args=[order.pk])).status_code == 404


def test_posts_need_the_csrf_token():
    product = make_product("X1")
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"}).status_code == 403
    assert client.post(reverse("shop:checkout"), DETAILS).status_code == 403
    assert client.post(reverse("shop:cart_remove", args=[product.pk])).status_code == 403


# --- The product page's partial and the header ---


def render_partial(name: str, product=None, user=None) -> str:
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = RequestFactory().get("/products/1/")
    request.session = SessionStore()
    request.user = user or AnonymousUser()
    request._messages = FallbackStorage(request)
    return render_to_string(name, {"product": product}, request=request)


@pytest.mark.parametrize(
    ("fields", "phrase"),
    [({"price": None}, "has no price"), ({"stock": 0}, "Out of stock"), ({"is_active": False}, "no longer sold")],
)
def test_add_to_cart_partial_shows_a_note_instead_of_a_form(fields, phrase):
    fields = dict(fields)
    product = make_product("N1", price=fields.pop("price", "100.00"), **fields)
    html = render_partial("shop/_add_to_cart.html", product)
    assert 'data-testid="not-for-sale"' in html and phrase in html
    assert "add-to-cart-form" not in html


def test_add_to_cart_partial_has_a_labelled_quantity(settings):
    settings.CART_MAX_QUANTITY = 10
    product = make_product("N2", stock=4)
    html = render_partial("shop/_add_to_cart.html", product)
    assert 'data-testid="add-to-cart-form"' in html and 'data-testid="add-to-cart"' in html
    assert f'<label for="quantity-{product.pk}">Quantity</label>' in html
    assert f'id="quantity-{product.pk}"' in html and 'data-testid="quantity-input"' in html
    assert 'max="4"' in html and "csrfmiddlewaretoken" in html
    assert 'data-testid="not-for-sale"' not in html


def test_header_partial_for_guests_and_users():
    anonymous = render_partial("shop/_header_account.html")
    assert 'data-testid="cart-link"' in anonymous and 'data-testid="cart-count">0<' in anonymous
    assert 'data-testid="account-link"' in anonymous and "Log in" in anonymous and "Sign up" in anonymous
    user = make_user("header")
    cart_add(cart=DbCart(user), product_id=make_product("N3").pk, quantity=2)
    html = render_partial("shop/_header_account.html", user=user)
    assert 'data-testid="cart-count">2<' in html and "Log out" in html and 'method="post"' in html


# --- Admin ---


def test_order_admin_shows_frozen_lines(admin_client):
    product = make_product("A1", name="Admin Tee")
    cart = SessionCart(SessionStore())
    cart_add(cart=cart, product_id=product.pk, quantity=2)
    order = order_place(cart=cart, details=DETAILS)
    listing = admin_client.get(reverse("admin:shop_order_changelist") + "?status__exact=placed")
    assert listing.status_code == 200 and "Asha Rao" in listing.content.decode()
    page = admin_client.get(reverse("admin:shop_order_change", args=[order.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "Admin Tee" in html and "998.00" in html
    assert 'name="lines-0-unit_price"' not in html  # read-only
    assert admin_client.get(reverse("admin:shop_order_add")).status_code == 403
    products = admin_client.get(reverse("admin:shop_product_changelist") + "?stock=in")
    assert products.status_code == 200 and "column-stock" in products.content.decode()


# --- Stock for imported and demo products ---


def test_import_gives_new_products_stock_and_keeps_existing(tmp_path, settings):
    settings.IMPORT_DEFAULT_STOCK = 7
    root = make_catalog(tmp_path, [SHIRT])
    catalog_import(root=root)
    assert Product.objects.get(sku="901001").stock == 7
    Product.objects.filter(sku="901001").update(stock=2)  # shoppers bought some
    root = make_catalog(tmp_path, [SHIRT, JEANS])
    call_command("import_catalog", str(root), "--stock", "30", verbosity=0, stdout=io.StringIO())
    assert dict(Product.objects.filter(sku__in=["901001", "901002"]).values_list("sku", "stock")) == {
        "901001": 2,
        "901002": 30,
    }
    with pytest.raises(CommandError, match="0 or more"):
        call_command("import_catalog", str(root), "--stock", "-1", verbosity=0, stdout=io.StringIO())


def test_demo_stock_is_varied_deterministic_and_applied():
    stocks = [demo_stock(i) for i in range(1, 301)]
    assert stocks == [demo_stock(i) for i in range(1, 301)]
    assert 10 <= stocks.count(0) <= 45  # a few sold out
    assert sum(1 <= s <= 3 for s in stocks) >= 20  # some nearly gone
    assert len(set(stocks)) > 15
    make_product("77", stock=10)
    assert product_stock_set(stock_by_sku={"77": demo_stock(77), "missing": 3}) == 1
    assert Product.objects.get(sku="77").stock == demo_stock(77)
