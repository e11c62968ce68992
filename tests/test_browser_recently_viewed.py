"""The home page's personal blocks in real Chromium: "Recently viewed" after browsing, "Recommended
for you" with reasons, a click on a recently viewed card logged with its list, and the account page.

Screenshots go to test-artifacts/ like the other browser tests' (see the `page` fixture).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from events.models import Interaction, ListImpression
from recommendations.recommenders import recommenders_train
from shop.models import Product
from tests.helpers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-pass-7741"


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture
def shop():
    """Four products; A was bought with B and C by three customers (so A's buyers also bought them)."""
    a, b, c, d = (
        Product.objects.create(sku=f"BRV-{n}", name=f"Browser {n}", price=Decimal("799.00"), stock=5) for n in "ABCD"
    )
    Interaction.objects.bulk_create(
        [
            Interaction(customer_key=f"c{i}", product=p, kind="purchase", basket=f"b{i}")
            for i in range(3)
            for p in (a, b, c)
        ]
    )
    recommenders_train()
    return a, b, c, d


def card_names(section) -> list[str]:
    return [name.strip() for name in section.locator(".card-name").all_inner_texts()]


def test_home_shows_recently_viewed_and_recommended_for_you_after_browsing(page, shop):
    a, b, c, d = shop
    page.goto("/")
    expect(page.get_by_test_id("recently-viewed")).to_have_count(0)  # nothing viewed yet: hidden
    for product in (d, a):
        page.goto(product.get_absolute_url())
        expect(page.locator("h1")).to_have_text(product.name)
    page.goto("/")
    recent = page.get_by_test_id("recently-viewed")
    expect(recent).to_be_visible()
    expect(recent.locator("h2")).to_have_text("Recently viewed")
    assert card_names(recent) == [a.name, d.name]
    recommended = page.get_by_test_id("recommended-for-you")
    expect(recommended.locator("h2")).to_have_text("Recommended for you")
    expect(recommended.get_by_test_id("reason").first).to_have_text(f"Because you viewed {a.name}")
    # D sold out meanwhile: still listed, marked.
    Product.objects.filter(pk=d.pk).update(stock=0)
    page.reload()
    sold_out = page.get_by_test_id("recently-viewed").get_by_test_id("product-card").nth(1)
    expect(sold_out.get_by_test_id("sold-out")).to_have_text("Sold out")
    # A click on a recently viewed card lands on the product's own address and is logged with its list.
    page.get_by_test_id("recently-viewed").get_by_text(a.name).click()
    page.wait_for_url(f"**{a.get_absolute_url()}")
    assert "ref=" not in page.url
    click = wait_for(lambda: Interaction.objects.filter(kind="recommendation_click").first())
    assert (click.product_id, click.source_list) == (a.pk, "recently_viewed")
    shown = {row.surface: row.lists for row in ListImpression.objects.all()}
    assert shown["recently_viewed"] == 2 and shown["recommended_for_you"] >= 2


def test_account_page_shows_recommendations_with_reasons(page, shop):
    a, b, c, _ = shop
    get_user_model().objects.create_user("browser-acct", password=PASSWORD)
    page.goto("/accounts/login/")
    page.locator("#id_username").fill("browser-acct")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form [type=submit]").last.click()
    page.wait_for_url("**/")
    page.goto(a.get_absolute_url())
    page.get_by_test_id("account-link").click()
    page.wait_for_url("**/accounts/orders/")
    block = page.get_by_test_id("account-recommended")
    expect(block.locator("h2")).to_have_text("Recommended for you")
    assert sorted(card_names(block)) == sorted([b.name, c.name])
    expect(block.get_by_test_id("reason")).to_have_text([f"Because you viewed {a.name}"] * 2)
