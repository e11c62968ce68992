"""Shopper-facing details of the pages: one price format, titles by the filters, "More in",
sold-out cards, the shop footer and the favicon."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import numpy as np
import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from recommendations.models import ProductEmbedding
from shop.models import Product
from shop.prices import format_price
from shop.services import category_get_or_create
from tests.test_storefront_catalogue import element, elements

pytestmark = pytest.mark.django_db


@pytest.fixture
def tshirts():
    return category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")


def make(sku: str, category, *, gender: str = "Men", stock: int = 5, price: str = "1220.00", **fields) -> Product:
    return Product.objects.create(
        sku=sku, name=fields.pop("name", f"{gender} Tee {sku}"), category=category, gender=gender, stock=stock,
        price=Decimal(price), **fields,
    )  # fmt: skip


def cards(html: str) -> dict[int, str]:
    """Product id → the card's HTML, for every product card on the page."""
    return {int(re.search(r'href="/products/(\d+)/"', card).group(1)): card for card in elements(html, "product-card")}


# --- Prices ---


@pytest.mark.parametrize(
    ("amount", "shown"),
    [("1220.00", "₹1,220"), ("649.50", "₹649.50"), ("0", "₹0"), ("1234567.8", "₹1,234,567.80"), (None, "")],
)
def test_format_price(amount, shown):
    assert format_price(None if amount is None else Decimal(amount)) == shown


def test_a_price_reads_the_same_in_listings_cart_checkout_and_order(client, tshirts):
    """₹1,220 on the card, the product page, the cart, the checkout and the order, not ₹1220.00 in some."""
    product = make("P1", tshirts, price="1220.00", name="Plain Tee")
    listing = client.get("/products/").content.decode()
    assert '<span class="price">₹1,220</span>' in cards(listing)[product.pk]
    assert "₹1,220" in element(client.get(product.get_absolute_url()).content.decode(), "product-price")
    client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": "1"})
    cart = client.get(reverse("shop:cart")).content.decode()
    assert "₹1220.00" not in cart
    assert 'data-testid="cart-total">₹1,220<' in cart and cart.count("₹1,220") == 3  # price, line, total
    checkout = client.get(reverse("shop:checkout")).content.decode()
    assert "₹1220.00" not in checkout and "Place order · ₹1,220" in checkout
    assert 'name="expected_total" value="1220.00"' in checkout  # the machine value stays exact
    details = {
        "email": "a@example.com",
        "full_name": "A B",
        "address_line1": "1 Road",
        "city": "Pune",
        "postal_code": "411001",
        "country": "India",
        "expected_total": "1220.00",
    }
    order_page = client.get(client.post(reverse("shop:checkout"), details).url).content.decode()
    assert 'data-testid="order-total">₹1,220<' in order_page and "₹1220.00" not in order_page


def test_paise_are_shown_not_rounded_away(client, tshirts):
    """A discounted ₹649.50 is shown as such on a card (floatformat:"0g" showed ₹650)."""
    product = make("P2", tshirts, price="1299.00", discounted_price=Decimal("649.50"))
    card = cards(client.get("/products/").content.decode())[product.pk]
    assert "₹1,299</del>" in card and "₹649.50</ins>" in card


# --- Titles ---


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("", "All products"),
        ("?gender=Men&article_type=Tshirts", "Men's Tshirts"),
        ("?gender=Women", "Women's products"),
        ("?gender=Boys&colour=Blue&article_type=Tshirts", "Boys' Blue Tshirts"),
        ("?article_type=Tshirts&article_type=Shirts", "Tshirts and Shirts"),
        ("?price_min=500", "All products"),
    ],
)
def test_a_filtered_list_is_titled_by_its_filters(client, tshirts, query, title):
    make("T1", tshirts)
    html = unescape(client.get(f"/products/{query}").content.decode())
    assert re.search(r"<h1>(.*?)</h1>", html).group(1) == title
    assert f"<title>{title} · Storefront</title>" in html


def test_a_category_page_with_a_gender_is_titled_by_both(client, tshirts):
    make("T2", tshirts)
    html = unescape(client.get(f"/categories/{tshirts.parent_id}/?gender=Men").content.decode())
    assert "<h1>Men's Topwear</h1>" in html


# --- More in <type> ---


def test_more_in_type_respects_gender_and_skips_the_similar_items(client, tshirts, settings):
    """A men's tee's "More in" shows men's and unisex tees, none of the similar items above it."""
    settings.SIMILAR_ITEMS_COUNT = 3
    men = [make(f"M{i}", tshirts) for i in range(6)]
    unisex = make("U1", tshirts, gender="Unisex")
    women = [make(f"W{i}", tshirts, gender="Women") for i in range(3)]
    rng = np.random.default_rng(3)
    for product in [*men, unisex, *women]:
        vector = np.abs(rng.normal(size=1280)).astype(np.float32)
        ProductEmbedding.objects.create(
            product=product,
            model_name="efficientnet_lite0",
            status=ProductEmbedding.Status.READY,
            source_sha256="test",
            vector=vector / np.linalg.norm(vector),
        )
    html = client.get(men[0].get_absolute_url()).content.decode()
    similar = set(cards(element(html, "similar-items")))
    more_block = element(html, "more-in-type")
    more = set(cards(more_block))
    assert len(similar) == 3 and more
    assert not similar & more, "More in repeats the similar items"
    assert more <= {p.pk for p in [*men[1:], unisex]}
    assert more == {p.pk for p in [*men[1:], unisex]} - similar
    assert "More in Men's Tshirts" in unescape(more_block)
    assert f'href="/categories/{tshirts.pk}/?gender=Men"' in more_block


# --- Sold out ---


def test_sold_out_cards_say_so_on_every_listing(client, tshirts):
    """Home, lists, categories, search and "More in" mark a sold-out product's card; others are unmarked."""
    gone = make("S0", tshirts, stock=0, name="Men Sold Tee")
    left = make("S1", tshirts, stock=3, name="Men Stocked Tee")
    viewed = make("S2", tshirts, stock=3, name="Men Viewed Tee")
    for url in ("/", "/products/", f"/categories/{tshirts.pk}/", "/search/?q=tee", viewed.get_absolute_url()):
        found = cards(client.get(url).content.decode())
        assert 'data-testid="sold-out">Sold out<' in found[gone.pk], url
        assert "data-sold-out" in found[gone.pk], url
        assert "Sold out" not in found[left.pk], url


# --- Footer and favicon ---


def test_footer_is_a_shop_footer(client):
    footer = element(client.get("/").content.decode(), "site-footer")
    assert "pgvector" not in footer and "embeddings" not in footer
    for url in (reverse("shop:product_list"), reverse("shop:photo_search"), reverse("shop:cart")):
        assert f'href="{url}' in footer
    assert "Pay on delivery" in footer


def test_every_page_links_a_favicon_that_is_a_static_file(client, admin_client):
    """base.html and the admin link the icon; the file is found by the static files finders."""
    for page in (client.get("/"), client.get("/products/"), admin_client.get("/admin/")):
        icons = re.findall(r'<link rel="icon" href="/static/([^"]+)"', page.content.decode())
        assert icons, page.request["PATH_INFO"]
        for icon in icons:
            assert finders.find(icon), icon
