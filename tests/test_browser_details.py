"""Issue 11's page details in real Chromium: the admin product list at 1440 px, sold-out cards.

Screenshots go to test-artifacts/ like the other browser tests' (see the `page` fixture).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from shop.services import category_get_or_create
from tests.browser import picture
from tests.factories import product_with_image

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("served_media"),
]

PASSWORD = "browser-pass-5113"


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture
def products():
    """Six drawn t-shirts with long names and category paths; the first is sold out."""
    tshirts = category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")
    return [
        product_with_image(
            f"TEE-{i}",
            picture("Tshirts", ["Red", "Blue"][i % 2], seed=i),
            name=f"Roadster Men {['Red', 'Blue'][i % 2]} Slim Fit Round Neck Pure Cotton Tshirt {i}",
            category=tshirts,
            gender="Men",
            price=Decimal(1220 + i),
            stock=0 if i == 0 else 4,
        )
        for i in range(6)
    ]


def test_admin_product_list_fits_1440_px(page, products):
    """Thumbnail, price, stock and embedding status are all on screen at 1440 px, no sideways scroll."""
    assert page.viewport_size["width"] == 1440
    get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)
    page.goto("/admin/login/?next=/admin/shop/product/")
    page.locator("#id_username").fill("staff")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/shop/product/")
    page.wait_for_load_state("load")
    first_image = page.locator("#result_list tbody tr td.field-list_image img, #result_list tbody tr th img").first
    expect(first_image).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", first_image.element_handle()) > 0, "the thumbnail did not load"
    for column in ("price", "stock", "embedding"):
        header = page.locator(f"#result_list thead th.column-{column}")
        expect(header).to_be_visible()
        box = header.bounding_box()
        assert box and box["x"] + box["width"] <= 1440, f"the {column} column is off screen at 1440 px"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    # Nor is any column cut off inside the results box (it scrolls sideways when the table is too wide).
    overflow = page.evaluate("(box) => box.scrollWidth - box.clientWidth", page.locator(".results").element_handle())
    assert overflow <= 0, f"the product table is {overflow} px wider than its box at 1440 px"


def test_a_sold_out_card_is_marked_in_the_listing(page, products):
    page.goto("/products/?gender=Men&article_type=Tshirts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Men's Tshirts")
    sold = page.get_by_test_id("product-card").filter(has_text=products[0].name)
    expect(sold.get_by_test_id("sold-out")).to_be_visible()
    expect(sold.get_by_test_id("sold-out")).to_have_text("Sold out")
    expect(page.get_by_test_id("sold-out")).to_have_count(1)
    expect(page.get_by_test_id("product-card").first).to_contain_text("₹")
