"""Shopper and admin flows in real Chromium against the live server and a real Celery worker.

Each test builds a small drawn catalogue (four kinds of product, four of each), lets the worker
embed it, then drives the pages as a person would: links, forms, uploads. The final page of each
test is saved to test-artifacts/<test name>.png (see the `page` and `catalogue` fixtures in conftest.py).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from events.models import Interaction
from recommendations.models import ProductEmbedding
from shop.models import Order, Product
from tests.browser import KINDS, PER_KIND, PHONE, artifact_path, picture
from tests.helpers import wait_for

# The catalogue and served_media fixtures live in conftest.py (shared with test_browser_accessibility.py).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("served_media"),
]

SMALL_SCREEN = 480
PASSWORD = "browser-pass-4821"


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def product_id(url: str) -> int:
    match = re.search(r"/products/(\d+)/", url)
    assert match, f"not a product page: {url}"
    return int(match.group(1))


def check_fits(page) -> None:
    """On a phone-sized viewport: no sideways scrolling, and the header search and cart in reach."""
    width = page.viewport_size["width"]
    if width > SMALL_SCREEN:
        return
    page.wait_for_load_state("load")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} scrolls sideways at {width} px (scrollWidth {scroll_width})"
    for testid in ("search-input", "cart-link"):
        element = page.get_by_test_id(testid)
        expect(element).to_be_visible()
        box = element.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"{testid} is off screen on {page.url}"


def snapshot(page, request, step: str) -> None:
    """An intermediate screenshot next to the final one (test-artifacts/<test>-<step>.png)."""
    page.screenshot(path=artifact_path(f"{request.node.name}-{step}"), full_page=True)


def open_similar_item(page) -> int:
    """Click the first similar item on a product page; returns the id of the product it opened."""
    section = page.get_by_test_id("similar-items")
    link = section.locator("a[href*='/products/']").first
    expect(link).to_be_visible()
    target = product_id(link.get_attribute("href"))
    name = link.inner_text().strip()
    link.click()
    page.wait_for_url(f"**/products/{target}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(Product.objects.get(pk=target).name)
    assert name and name in Product.objects.get(pk=target).name
    return target


def choose_facet(page, key: str, value: str) -> None:
    """Pick a facet value whether options are links or checkboxes (submitted by script or a button)."""
    facets = page.get_by_test_id("facets")
    option = page.get_by_test_id(f"facet-{key}").get_by_text(value).first
    if not option.is_visible():  # small screens fold the filters: open them as a shopper would
        facets.locator("summary").first.click()
    option.click()
    try:
        page.wait_for_url(re.compile(rf"[?&]{key}="), timeout=3_000)
    except Exception:  # checkboxes without auto-submit: use the facets form's button
        page.get_by_test_id("facets").locator("button[type=submit], input[type=submit]").first.click()
        page.wait_for_url(re.compile(rf"[?&]{key}="))


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_load_state("load")
    assert "/accounts/login/" not in page.url, "login failed"


def add_to_cart(page, product: Product, quantity: int) -> None:
    page.goto(f"/products/{product.pk}/")
    check_fits(page)
    form = page.get_by_test_id("add-to-cart-form")
    form.get_by_test_id("quantity-input").fill(str(quantity))
    form.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("cart-count")).to_have_text(str(quantity))


def money(amount: Decimal) -> re.Pattern:
    """The amount as a page may print it: 1398, 1,398 or 1398.00."""
    whole = f"{amount:.0f}"
    grouped = f"{amount:,.0f}"
    return re.compile(rf"(?<![\d,])({re.escape(whole)}|{re.escape(grouped)})(\.00)?(?![\d,])")


ADDRESS = {
    "email": "asha@example.com",
    "full_name": "Asha Rao",
    "address_line1": "12 MG Road",
    "city": "Bengaluru",
    "postal_code": "560001",
    "country": "India",
    "phone": "+91 98450 00000",
}


def fill_checkout(page) -> None:
    form = page.get_by_test_id("checkout-form")
    for name, value in ADDRESS.items():
        field = form.locator(f"[name={name}]")
        if field.count() == 0:
            continue
        if field.evaluate("element => element.tagName") == "SELECT":
            labels = field.locator("option").all_inner_texts()
            field.select_option(label=value if value in labels else labels[-1])
        elif not field.input_value():
            field.fill(value)


def check_out(page) -> str:
    """From the cart page to a placed order; returns the order number shown."""
    page.get_by_test_id("checkout-link").click()
    page.wait_for_url("**/checkout/")
    check_fits(page)
    fill_checkout(page)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    check_fits(page)
    number = page.get_by_test_id("order-number").inner_text().strip()
    assert number
    return number


# Flows on the pages main has today.


def test_product_page_similar_item_opens_that_product(page, catalogue):
    """From a product card on the home page to a handbag, then to one of its similar items (another handbag)."""
    page.goto("/")
    card = page.get_by_test_id("product-card").filter(has_text="Handbag").first
    link = card.locator("a[href*='/products/']").first
    bag = product_id(link.get_attribute("href"))
    link.click()
    page.wait_for_url(f"**/products/{bag}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(Product.objects.get(pk=bag).name)
    cards = page.get_by_test_id("similar-items").locator("li")
    expect(cards).to_have_count(5)
    hrefs = cards.locator("a").evaluate_all("links => links.map(link => link.getAttribute('href'))")
    assert all(re.fullmatch(r"/products/\d+/", href) for href in hrefs), f"links to share stay clean: {hrefs}"
    target = open_similar_item(page)
    assert target != bag
    assert target in {p.pk for p in catalogue["Handbags"]}, "a handbag's first similar item should be a handbag"
    assert "ref=" not in page.url, "the product page drops ref after recording the click"
    clicks = Interaction.objects.filter(kind=Interaction.Kind.RECOMMENDATION_CLICK, product_id=target)
    assert list(clicks.values_list("source_list", flat=True)) == ["similar_items"]


def test_search_by_photo_upload(page, catalogue, tmp_path):
    """Uploading a photo of a handbag finds handbags first."""
    photo = tmp_path / "my-handbag.jpg"
    photo.write_bytes(picture("Handbags", "Brown", seed=77))
    page.goto("/")
    page.get_by_test_id("photo-search-link").click()
    page.wait_for_url("**/search/photo/")
    form = page.get_by_test_id("photo-search-form")
    form.locator("input[type=file]").set_input_files(photo)
    form.locator("button[type=submit]").click()
    results = page.get_by_test_id("search-results")
    expect(results).to_be_visible()
    links = results.locator("a[href*='/products/']")
    expect(links.first).to_be_visible()
    assert links.count() >= 5
    first = product_id(links.first.get_attribute("href"))
    assert first in {p.pk for p in catalogue["Handbags"]}, "the nearest product to a handbag photo is a handbag"


def test_search_by_photo_shows_the_photo_and_switches_kind_in_one_click(page, catalogue, tmp_path):
    """The uploaded photo is shown beside the results; a kind above them re-runs the search within it."""
    photo = tmp_path / "my-handbag.jpg"
    photo.write_bytes(picture("Handbags", "Brown", seed=77))
    page.goto("/search/photo/")
    form = page.get_by_test_id("photo-search-form")
    form.locator("input[type=file]").set_input_files(photo)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("uploaded-photo").locator("img")).to_be_visible()
    kinds = page.get_by_test_id("photo-kind")
    expect(kinds.first).to_be_visible()
    other = kinds.nth(1)
    name = other.inner_text()
    other.click()
    expect(page.get_by_test_id("search-results").locator("h2")).to_contain_text(f"in {name}")
    expect(page.get_by_test_id("photo-kind").filter(has_text=name)).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("uploaded-photo").locator("img")).to_be_visible()


def test_search_by_photo_rejects_a_file_that_is_not_an_image(page, catalogue, tmp_path):
    """A text file named .jpg gets a readable error on the form, and the next good photo still works."""
    bogus = tmp_path / "holiday.jpg"
    bogus.write_text("this is a shopping list, not a photo\n" * 20)
    page.goto("/search/photo/")
    form = page.get_by_test_id("photo-search-form")
    form.locator("input[type=file]").set_input_files(bogus)
    form.locator("button[type=submit]").click()
    error = page.get_by_test_id("form-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"image", re.I))
    expect(page.get_by_test_id("search-results")).to_have_count(0)

    good = tmp_path / "shoe.jpg"
    good.write_bytes(picture("Casual Shoes", "Black", seed=5))
    form = page.get_by_test_id("photo-search-form")
    form.locator("input[type=file]").set_input_files(good)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("search-results")).to_be_visible()
    expect(page.get_by_test_id("form-error")).to_have_count(0)


def test_admin_adds_product_that_becomes_a_similar_item(page, catalogue, tmp_path):
    """A staff member adds a t-shirt with an image; once the worker has embedded it, it shows up on
    another t-shirt's page among the similar items, and clicking it opens the new product."""
    get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)
    upload = tmp_path / "new-tee.jpg"
    upload.write_bytes(picture("Tshirts", "Red", seed=42))

    page.goto("/admin/login/?next=/admin/shop/product/add/")
    page.locator("#id_username").fill("staff")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/shop/product/add/")
    page.locator("#id_sku").fill("NEW-TEE")
    page.locator("#id_name").fill("Men Red Tshirt from the admin")
    # The category is an autocomplete (select2) box.
    page.locator(".field-category .select2-selection").click()
    page.locator(".select2-search__field").fill("Tshirts")
    page.locator(".select2-results__option", has_text="Tshirts").first.click()
    page.locator("#id_image").set_input_files(upload)
    page.locator("#id_price").fill("799")
    page.locator("#id_gender").fill("Men")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")

    new = Product.objects.get(sku="NEW-TEE")
    assert new.category.name == "Tshirts" and new.image_sha256
    # Only what can be bought is recommended; stock is not in the admin form, so set it as an import would.
    Product.objects.filter(pk=new.pk).update(stock=5)
    # The admin request only queued the work; the worker thread computes the vector.
    wait_for(lambda: ProductEmbedding.objects.filter(product=new, status=ProductEmbedding.Status.READY).exists())

    other = catalogue["Tshirts"][1]
    page.goto(f"/products/{other.pk}/")
    similar = page.get_by_test_id("similar-items")
    link = similar.get_by_role("link", name=new.name)
    expect(link).to_be_visible()
    link.click()
    page.wait_for_url(f"**/products/{new.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(new.name)
    expect(page.locator("img.product-image, [data-testid=product-image]").first).to_be_visible()


# Flows on the catalogue and cart pages (branches `catalogue` and `cart`).


def test_browse_facet_product_similar(page, catalogue):
    """Browse all, narrow to t-shirts with a facet, open one, then one of its similar items."""
    page.goto("/products/")
    expect(page.get_by_test_id("result-count")).to_contain_text(str(len(KINDS) * PER_KIND))
    choose_facet(page, "article_type", "Tshirts")
    expect(page.get_by_test_id("result-count")).to_contain_text(str(PER_KIND))
    expect(page.get_by_test_id("active-filters")).to_contain_text("Tshirts")
    cards = page.get_by_test_id("product-card")
    expect(cards).to_have_count(PER_KIND)
    for name in cards.all_inner_texts():
        assert "Tshirt" in name, f"a non-t-shirt after the t-shirt facet: {name!r}"

    cards.first.locator("a[href*='/products/']").first.click()
    page.wait_for_url(re.compile(r"/products/\d+/$"))
    expect(page.get_by_test_id("breadcrumbs")).to_contain_text("Tshirts")
    expect(page.get_by_test_id("product-name")).to_contain_text("Tshirt")
    target = open_similar_item(page)
    assert target in {p.pk for p in catalogue["Tshirts"]}
    expect(page.get_by_test_id("breadcrumbs")).to_contain_text("Tshirts")


def test_text_search_with_a_typo_finds_tshirts(page, catalogue):
    """ "tshrt" typed in the header search finds the t-shirts, and only them."""
    page.goto("/")
    page.get_by_test_id("search-input").fill("tshrt")
    page.get_by_test_id("search-input").press("Enter")
    page.wait_for_url(re.compile(r"/search/\?(.*&)?q=tshrt"))
    cards = page.get_by_test_id("product-card")
    expect(cards.first).to_be_visible()
    found = {
        product_id(href)
        for href in cards.locator("a[href*='/products/']").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
    }
    tees = {p.pk for p in catalogue["Tshirts"]}
    assert found == tees, f"expected the {len(tees)} t-shirts, found products {sorted(found)}"
    expect(page.get_by_test_id("result-count")).to_contain_text(str(PER_KIND))


def test_signed_in_shopper_orders_and_sees_the_order_in_history(page, catalogue):
    """Add to cart → cart → checkout → confirmation → the order is listed in the account's history."""
    get_user_model().objects.create_user("shopper", "shopper@example.com", PASSWORD)
    log_in(page, "shopper")
    tee = catalogue["Tshirts"][2]
    add_to_cart(page, tee, 2)

    page.get_by_test_id("cart-link").click()
    page.wait_for_url("**/cart/")
    lines = page.get_by_test_id("cart-line")
    expect(lines).to_have_count(1)
    expect(lines.first).to_contain_text(tee.name)
    expect(page.get_by_test_id("cart-total")).to_contain_text(money(2 * tee.unit_price))

    number = check_out(page)
    order = Order.objects.get(user__username="shopper")
    assert str(order.pk) in number
    assert order.total == 2 * tee.unit_price
    assert [(line.sku, line.quantity) for line in order.lines.all()] == [(tee.sku, 2)]

    page.goto("/accounts/orders/")
    rows = page.get_by_test_id("order-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(number)
    expect(page.get_by_test_id("cart-count")).to_have_text("0")


def test_guest_orders_without_an_account(page, catalogue):
    """A guest checks out with an e-mail address; the order is stored without a user and the cart empties."""
    bag = catalogue["Handbags"][1]
    add_to_cart(page, bag, 1)
    page.get_by_test_id("cart-link").click()
    page.wait_for_url("**/cart/")
    number = check_out(page)
    order = Order.objects.get()
    assert order.user is None and order.email == ADDRESS["email"]
    assert str(order.pk) in number
    page.get_by_test_id("cart-link").click()
    expect(page.get_by_test_id("empty-cart")).to_be_visible()


@pytest.mark.parametrize("viewport", [PHONE], ids=["375px"])
def test_small_screen_pages_fit(page, catalogue, tmp_path, request):
    """At 375 px every storefront page of the flows above fits the width and keeps search and cart in reach."""
    get_user_model().objects.create_user("phone", "phone@example.com", PASSWORD)
    log_in(page, "phone")
    page.goto("/")
    check_fits(page)
    snapshot(page, request, "home")

    page.get_by_test_id("search-input").fill("tshrt")
    page.get_by_test_id("search-input").press("Enter")
    page.wait_for_url(re.compile(r"/search/"))
    check_fits(page)
    snapshot(page, request, "search")

    page.goto("/products/")
    check_fits(page)
    choose_facet(page, "article_type", "Tshirts")
    check_fits(page)
    snapshot(page, request, "browse")

    tee = catalogue["Tshirts"][0]
    page.goto(f"/products/{tee.pk}/")
    check_fits(page)
    snapshot(page, request, "product")
    open_similar_item(page)
    check_fits(page)

    photo = tmp_path / "dress.jpg"
    photo.write_bytes(picture("Dresses", "Green", seed=11))
    page.goto("/search/photo/")
    check_fits(page)
    form = page.get_by_test_id("photo-search-form")
    form.locator("input[type=file]").set_input_files(photo)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("search-results")).to_be_visible()
    check_fits(page)
    snapshot(page, request, "photo-search")

    add_to_cart(page, tee, 1)
    page.get_by_test_id("cart-link").click()
    page.wait_for_url("**/cart/")
    check_fits(page)
    snapshot(page, request, "cart")
    number = check_out(page)
    snapshot(page, request, "order")

    page.goto("/accounts/orders/")
    check_fits(page)
    expect(page.get_by_test_id("order-row").first).to_contain_text(number)
