"""The REST API: permissions, catalogue reads and staff writes, error format, pagination, throttling."""

import random
from decimal import Decimal

import pytest
import redis
from django.core.cache import caches
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.test.client import encode_multipart
from rest_framework.authtoken.models import Token

from config import embedded
from demo.catalog import draw_product
from shop.models import Category, Order, OrderLine, Product
from shop.services import category_get_or_create
from tests.factories import jpeg_bytes, product_with_image, solid_image

pytestmark = pytest.mark.django_db

PAGE_KEYS = {"count", "next", "previous", "results"}


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", "staff@example.com", "staff-pass-123", is_staff=True)


@pytest.fixture
def shopper(django_user_model):
    return django_user_model.objects.create_user("ann", "ann@example.com", "ann-pass-123")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def shopper_client(client, shopper):
    client.force_login(shopper)
    return client


@pytest.fixture
def tshirts():
    return category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")


@pytest.fixture
def products(tshirts):
    watches = category_get_or_create(master="Accessories", sub="Watches", article="Watches")
    rows = [
        ("P1", "Red Cotton Tshirt", tshirts, "Red", "Men", Decimal("500"), None),
        ("P2", "Blue Slim Tshirt", tshirts, "Blue", "Women", Decimal("900"), Decimal("700")),
        ("P3", "Black Steel Watch", watches, "Black", "Men", Decimal("3000"), None),
        ("P4", "Green Polo Tshirt", tshirts, "Green", "Men", Decimal("1200"), None),
    ]
    return [
        Product.objects.create(
            sku=sku, name=name, category=category, base_colour=colour, gender=gender, price=price,
            discounted_price=discounted, stock=5,
        )
        for sku, name, category, colour, gender, price, discounted in rows
    ]  # fmt: skip


def assert_error(response, status: int, phrase: str = "") -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert phrase.lower() in body["error"].lower(), body
    return body


# --- Permissions ---


def _writes(product: Product, category: Category) -> list[tuple[str, str, dict]]:
    return [
        ("post", "/api/products/", {"sku": "NEW1", "name": "New product"}),
        ("patch", f"/api/products/{product.pk}/", {"name": "Renamed"}),
        ("put", f"/api/products/{product.pk}/", {"sku": product.sku, "name": "Replaced"}),
        ("delete", f"/api/products/{product.pk}/", {}),
        ("post", "/api/categories/", {"name": "Footwear"}),
        ("patch", f"/api/categories/{category.pk}/", {"name": "Tees"}),
    ]


def test_reads_are_open_to_everyone(client, products, tshirts):
    for url in (
        "/api/products/",
        f"/api/products/{products[0].pk}/",
        "/api/categories/",
        f"/api/categories/{tshirts.pk}/",
    ):
        assert client.get(url).status_code == 200, url


def test_anonymous_writes_are_401_with_error_and_challenge(client, products, tshirts):
    for method, url, data in _writes(products[0], tshirts):
        response = getattr(client, method)(url, data, content_type="application/json")
        assert_error(response, 401, "authentication credentials were not provided")
        assert response["WWW-Authenticate"] == 'Token realm="api"' or response["WWW-Authenticate"].startswith("Token")
    assert client.delete(f"/api/categories/{tshirts.pk}/").status_code == 401
    assert Product.objects.get(pk=products[0].pk).is_active and not Product.objects.filter(sku="NEW1").exists()


def test_shopper_writes_are_403(shopper_client, products, tshirts):
    for method, url, data in _writes(products[0], tshirts):
        response = getattr(shopper_client, method)(url, data, content_type="application/json")
        assert_error(response, 403, "permission")
    assert_error(shopper_client.delete(f"/api/categories/{tshirts.pk}/"), 403)
    assert Product.objects.get(pk=products[0].pk).name == "Red Cotton Tshirt"


def test_staff_writes_succeed(staff_client, products, tshirts):
    expected = [201, 200, 200, 204, 201, 200]
    for (method, url, data), status in zip(_writes(products[0], tshirts), expected, strict=True):
        response = getattr(staff_client, method)(url, data, content_type="application/json")
        assert response.status_code == status, (method, url, response.content)
    assert Product.objects.filter(sku="NEW1").exists()
    assert Category.objects.get(pk=tshirts.pk).name == "Tees"


def test_session_writes_need_the_csrf_token(staff, tshirts):
    """A staff member's browser session cannot be used by another site to write through the API."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    response = browser.post("/api/products/", {"sku": "CSRF1", "name": "Forged"}, content_type="application/json")
    assert_error(response, 403, "csrf")
    assert not Product.objects.filter(sku="CSRF1").exists()


def test_token_auth_flow(client, staff, tshirts):
    response = client.post("/api/auth/token/", {"username": "staff", "password": "staff-pass-123"})
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=staff).key
    # The same token again, and it authorises writes with no session.
    again = client.post(
        "/api/auth/token/", {"username": "staff", "password": "staff-pass-123"}, content_type="application/json"
    )
    assert again.json()["token"] == token
    created = client.post(
        "/api/products/",
        {"sku": "TOK1", "name": "By token", "category": tshirts.pk},
        content_type="application/json",
        headers={"authorization": f"Token {token}"},
    )
    assert created.status_code == 201, created.content
    bad = client.post("/api/products/", {"sku": "TOK2", "name": "x"}, headers={"authorization": "Token nonsense"})
    assert_error(bad, 401, "invalid token")


def test_token_with_wrong_password_is_400(client, staff):
    body = assert_error(
        client.post("/api/auth/token/", {"username": "staff", "password": "nope"}), 400, "unable to log in"
    )
    assert "non_field_errors" in body["fields"]
    body = assert_error(client.post("/api/auth/token/", {}, content_type="application/json"), 400, "required")
    assert set(body["fields"]) == {"username", "password"}


# --- Products ---


def test_product_list_pagination_shape(client, products, settings):
    body = client.get("/api/products/").json()
    assert set(body) == PAGE_KEYS and body["count"] == 4 and body["next"] is None and body["previous"] is None
    product = body["results"][0]
    assert product["sku"] == "P4", "newest first by default"
    assert product["url"] == f"http://testserver/products/{products[3].pk}/"
    assert product["category"]["name"] == "Tshirts" and product["master_category"]["name"] == "Apparel"
    assert product["price"] == "1200.00" and product["unit_price"] == "1200.00"


def test_product_list_pages(client, tshirts):
    Product.objects.bulk_create([Product(sku=f"B{i:03d}", name=f"Bulk {i}", category=tshirts) for i in range(30)])
    first = client.get("/api/products/").json()
    assert first["count"] == 30 and len(first["results"]) == 24 and first["next"].endswith("/api/products/?page=2")
    second = client.get("/api/products/?page=2").json()
    assert len(second["results"]) == 6 and second["previous"] and second["next"] is None
    assert not {p["id"] for p in first["results"]} & {p["id"] for p in second["results"]}
    assert_error(client.get("/api/products/?page=3"), 404, "invalid page")
    assert_error(client.get("/api/products/?page=abc"), 404, "invalid page")


def test_product_list_filters_search_and_sort(client, products, tshirts):
    def skus(query: str) -> list[str]:
        response = client.get(f"/api/products/?{query}")
        assert response.status_code == 200, response.content
        return [item["sku"] for item in response.json()["results"]]

    assert sorted(skus("colour=Red&colour=Blue")) == ["P1", "P2"]
    assert skus("gender=Men&sort=price_asc") == ["P1", "P4", "P3"]
    assert skus("sort=price_desc&price_max=1000") == ["P2", "P1"], "P2 costs its discounted 700"
    assert skus("price_min=600&price_max=1500&sort=name") == ["P2", "P4"]
    assert skus("article_type=Watches") == ["P3"]
    assert sorted(skus(f"category={tshirts.parent.parent_id}")) == ["P1", "P2", "P4"], "a master category"
    assert skus("q=watch") == ["P3"]
    assert "P4" in skus("q=polo%20tshirt")[:1]
    assert skus("q=zzzzqqq") == []


def test_product_list_hides_inactive(client, products):
    Product.objects.filter(pk=products[0].pk).update(is_active=False)
    assert "P1" not in [item["sku"] for item in client.get("/api/products/").json()["results"]]
    assert_error(client.get(f"/api/products/{products[0].pk}/"), 404)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=cheapest", "sort"),
        ("price_min=-5", "price_min"),
        ("price_max=abc", "price_max"),
        ("category=0", "category"),
    ],
)
def test_product_list_bad_parameters_are_400_with_field(client, products, query, field):
    body = assert_error(client.get(f"/api/products/?{query}"), 400, field)
    assert field in body["fields"]


@pytest.mark.parametrize("key", ["q", "gender", "article_type", "colour", "season", "usage"])
def test_product_list_nul_byte_is_400_with_field(client, products, key):
    body = assert_error(client.get("/api/products/", {key: "Red\x00"}), 400, key)
    assert body["fields"] == {key: ["Null characters are not allowed."]}


def test_product_list_validates_like_the_storefront(client, products):
    """One filter set for pages and API: what the pages refuse, the API refuses too."""
    body = assert_error(client.get("/api/products/?price_min=900&price_max=100"), 400, "price_max")
    assert body["fields"] == {"price_max": ["The maximum price must not be below the minimum price."]}
    many = {"colour": [f"Colour {i}" for i in range(51)]}
    assert_error(client.get("/api/products/", many), 400, "at most 50 values")
    assert client.get("/products/", many).status_code == 400
    assert_error(client.get("/api/products/", {"colour": "x" * 101}), 400, "at most 100 characters")
    assert_error(client.get(f"/api/products/?category={2**63}"), 400, "category")
    fifty = {"colour": ["Red", *(f"Colour {i}" for i in range(49))]}
    assert [item["sku"] for item in client.get("/api/products/", fifty).json()["results"]] == ["P1"]


def test_product_detail_and_unknown(client, products):
    body = client.get(f"/api/products/{products[1].pk}/").json()
    assert body["sku"] == "P2" and body["unit_price"] == "700.00" and body["sub_category"]["name"] == "Topwear"
    assert_error(client.get("/api/products/999999/"), 404, "no product matches")


def test_staff_creates_product_with_image_multipart(staff_client, tshirts):
    photo = jpeg_bytes(draw_product("Tshirts", "Red", "solid", random.Random(1)))
    response = staff_client.post(
        "/api/products/",
        {"sku": "IMG1", "name": "Pictured", "category": tshirts.pk, "price": "10.50"}
        | {"image": SimpleUploadedFile("a.jpg", photo)},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["image_url"].startswith("http://testserver/media/products/IMG1/")
    assert body["is_active"] is True, "multipart without is_active keeps the default"
    product = Product.objects.get(sku="IMG1")
    assert len(product.image_sha256) == 64 and product.price == Decimal("10.50")


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("empty.jpg", b"", "empty"),
        ("text.jpg", b"this is plain text, not a JPEG\n" * 20, "not an image"),
        ("truncated.jpg", None, "truncated"),
    ],
)
def test_product_bad_image_is_400_and_nothing_saved(staff_client, products, name, data, phrase):
    if data is None:
        good = jpeg_bytes(draw_product("Tshirts", "Blue", "solid", random.Random(0)))
        data = good[: len(good) // 3]
    response = staff_client.post(
        "/api/products/", {"sku": "BAD1", "name": "Bad", "image": SimpleUploadedFile(name, data)}
    )
    body = assert_error(response, 400, phrase)
    assert "image" in body["fields"]
    assert not Product.objects.filter(sku="BAD1").exists()
    # The same file on an existing product leaves its image as it was.
    product = product_with_image("KEEP", solid_image())
    before = product.image_sha256
    response = staff_client.generic(  # Django's test client encodes multipart bodies only for POST
        "PATCH",
        f"/api/products/{product.pk}/",
        _multipart({"image": (name, data)}),
        content_type="multipart/form-data; boundary=BoUnDaRy",
    )
    assert_error(response, 400, phrase)
    product.refresh_from_db()
    assert product.image_sha256 == before


def _multipart(files: dict[str, tuple[str, bytes]], fields: dict[str, str] | None = None) -> bytes:
    data = {key: SimpleUploadedFile(name, content) for key, (name, content) in files.items()}
    data.update(fields or {})
    return encode_multipart("BoUnDaRy", data)


def test_product_patch_image_multipart_replaces_it(staff_client):
    product = product_with_image("SWAP", solid_image((10, 10, 200)))
    before = product.image_sha256
    photo = jpeg_bytes(solid_image((200, 10, 10)))
    response = staff_client.generic(
        "PATCH",
        f"/api/products/{product.pk}/",
        _multipart({"image": ("new.jpg", photo)}, {"stock": "7"}),
        content_type="multipart/form-data; boundary=BoUnDaRy",
    )
    assert response.status_code == 200, response.content
    product.refresh_from_db()
    assert product.image_sha256 != before and product.stock == 7 and product.is_active


def test_product_validation_errors(staff_client, products, tshirts):
    body = assert_error(
        staff_client.post("/api/products/", {"sku": "P1", "name": "Dup"}, content_type="application/json"), 400, "sku"
    )
    assert "sku" in body["fields"]
    body = assert_error(
        staff_client.post(
            "/api/products/", {"sku": "X1", "name": "X", "category": tshirts.parent_id}, content_type="application/json"
        ),
        400,
        "article type",
    )
    assert "category" in body["fields"]
    body = assert_error(
        staff_client.patch(
            f"/api/products/{products[0].pk}/",
            {"price": "10", "discounted_price": "20"},
            content_type="application/json",
        ),
        400,
        "discounted price",
    )
    assert "discounted_price" in body["fields"]
    body = assert_error(staff_client.post("/api/products/", {}, content_type="application/json"), 400, "required")
    assert {"sku", "name"} <= set(body["fields"])
    assert Product.objects.get(pk=products[0].pk).price == Decimal("500")


def test_product_delete_deactivates_and_keeps_order_history(client, staff, shopper, products):
    product = products[0]
    order = Order.objects.create(
        user=shopper, email="ann@example.com", full_name="Ann", address_line1="1 Road", city="Pune",
        postal_code="411001", country="India", total=Decimal("500"),
    )  # fmt: skip
    line = OrderLine.objects.create(
        order=order, product=product, sku=product.sku, product_name=product.name, unit_price=product.price, quantity=1
    )
    client.force_login(staff)
    assert client.delete(f"/api/products/{product.pk}/").status_code == 204
    product.refresh_from_db()
    line.refresh_from_db()
    assert product.is_active is False and line.product_id == product.pk
    client.logout()
    assert_error(client.get(f"/api/products/{product.pk}/"), 404)
    # Staff still see it and can put it back on sale.
    client.force_login(staff)
    assert client.get(f"/api/products/{product.pk}/").json()["is_active"] is False
    response = client.patch(f"/api/products/{product.pk}/", {"is_active": True}, content_type="application/json")
    assert response.status_code == 200 and response.json()["is_active"] is True


# --- Categories ---


def test_category_tree_shape_and_counts(client, products):
    body = client.get("/api/categories/").json()
    assert set(body) == PAGE_KEYS and body["count"] == 2
    apparel = next(node for node in body["results"] if node["name"] == "Apparel")
    assert apparel["level"] == 0 and apparel["product_count"] == 3
    topwear = apparel["children"][0]
    assert topwear["name"] == "Topwear" and topwear["children"][0] == {
        "id": products[0].category_id,
        "name": "Tshirts",
        "level": 2,
        "product_count": 3,
    }


def test_category_detail_path(client, tshirts):
    body = client.get(f"/api/categories/{tshirts.pk}/").json()
    assert body["level"] == 2 and [node["name"] for node in body["path"]] == ["Apparel", "Topwear", "Tshirts"]
    assert_error(client.get("/api/categories/999999/"), 404)


def test_category_create_levels_and_limits(staff_client, tshirts):
    def create(name: str, parent: int | None):
        return staff_client.post("/api/categories/", {"name": name, "parent": parent}, content_type="application/json")

    root = create("Footwear", None).json()
    sub = create("Shoes", root["id"]).json()
    article = create("Sneakers", sub["id"]).json()
    assert (root["level"], sub["level"], article["level"]) == (0, 1, 2)
    body = assert_error(create("Too deep", article["id"]), 400, "three levels")
    assert "parent" in body["fields"]
    assert not Category.objects.filter(name="Too deep").exists()
    assert_error(create("Footwear", None), 400, "name")  # a second root of the same name
    assert_error(create("", None), 400, "name")
    assert_error(create("Orphan", 999999), 400, "parent")


def test_category_moves_cannot_make_cycles_or_relevel_used_nodes(staff_client, tshirts, products):
    topwear, apparel = tshirts.parent, tshirts.parent.parent

    def move(category: Category, parent: int | None):
        return staff_client.patch(
            f"/api/categories/{category.pk}/", {"parent": parent}, content_type="application/json"
        )

    assert_error(move(apparel, apparel.pk), 400, "under itself")
    assert_error(move(apparel, tshirts.pk), 400, "under itself")
    assert_error(move(topwear, tshirts.pk), 400, "under itself")
    assert_error(move(topwear, None), 400, "same level")
    assert_error(move(tshirts, topwear.parent_id), 400, "same level")
    other = staff_client.post("/api/categories/", {"name": "Sportswear"}, content_type="application/json").json()
    response = move(topwear, other["id"])
    assert response.status_code == 200 and response.json()["parent"] == other["id"]
    topwear.refresh_from_db()
    assert topwear.level == 1 and topwear.parent_id == other["id"]


def test_category_delete_rules(staff_client, tshirts, products):
    body = assert_error(staff_client.delete(f"/api/categories/{tshirts.pk}/"), 409, "3 products")
    assert "fields" not in body
    assert_error(staff_client.delete(f"/api/categories/{tshirts.parent_id}/"), 409, "sub-categories")
    empty = staff_client.post("/api/categories/", {"name": "Empty"}, content_type="application/json").json()
    assert staff_client.delete(f"/api/categories/{empty['id']}/").status_code == 204
    assert not Category.objects.filter(pk=empty["id"]).exists()
    assert Category.objects.filter(pk=tshirts.pk).exists()


# --- Error format ---


def test_error_format_for_405_415_bad_json_and_unknown_urls(staff_client, client):
    assert_error(client.put("/api/categories/", {}, content_type="application/json"), 405, "not allowed")
    assert_error(client.get("/api/search/photo/"), 405, "not allowed")
    assert_error(staff_client.post("/api/categories/", "{not json", content_type="application/json"), 400, "json parse")
    assert_error(staff_client.post("/api/categories/", "x", content_type="text/plain"), 415, "unsupported media type")
    response = client.get("/api/no-such-thing/")
    assert_error(response, 404, "not found")
    assert response["Content-Type"] == "application/json"
    # Pages outside the API keep their HTML 404.
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")


# --- Throttling of search by photo ---


@pytest.fixture
def shared_cache():
    """The throttle's counts start empty and are removed after."""
    caches["shared"].clear()
    yield caches["shared"]
    caches["shared"].clear()


def post_not_an_image(client, **headers):
    image = SimpleUploadedFile("x.jpg", b"not an image at all" * 10)
    return client.post("/api/search/photo/", {"image": image}, **headers)


def test_photo_search_is_throttled_with_429_in_the_error_format(client, shared_cache):
    with override_settings(PHOTO_SEARCH_THROTTLE_RATE="2/minute"):
        for _ in range(2):
            assert post_not_an_image(client).status_code == 400
        response = post_not_an_image(client)
        assert_error(response, 429, "throttled")
        assert 0 < int(response["Retry-After"]) <= 60
        assert set(response.json()) == {"error"}
    # The other endpoints are not throttled by it.
    assert client.get("/api/products/").status_code == 200


def test_photo_search_counts_are_in_redis_so_every_web_process_shares_them(client, settings, shared_cache):
    shared = settings.CACHES["shared"]
    with override_settings(PHOTO_SEARCH_THROTTLE_RATE="5/minute"):
        post_not_an_image(client)
    keys = redis.Redis.from_url(shared["LOCATION"]).keys(f"{shared['KEY_PREFIX']}:*photo_search*")
    assert len(keys) == 1


def test_photo_search_goes_on_while_the_shared_cache_is_unreachable(client, settings, caplog):
    unreachable = {**settings.CACHES["shared"], "LOCATION": f"redis://127.0.0.1:{embedded.free_port()}/1"}
    with override_settings(CACHES={**settings.CACHES, "shared": unreachable}, PHOTO_SEARCH_THROTTLE_RATE="1/minute"):
        for _ in range(3):
            assert post_not_an_image(client).status_code == 400  # the upload's own error, neither 429 nor 500
    assert any("throttle skipped" in record.getMessage() for record in caplog.records)


def test_photo_search_throttle_ignores_a_forged_x_forwarded_for(client, shared_cache):
    """Without trusted proxies (NUM_PROXIES 0, the default) a client cannot reset its count by
    sending a new X-Forwarded-For with each request."""
    with override_settings(PHOTO_SEARCH_THROTTLE_RATE="2/minute"):
        statuses = [post_not_an_image(client, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(3)]
    assert statuses == [400, 400, 429]


def test_photo_search_throttle_trusts_as_many_proxies_as_configured(client, settings, shared_cache):
    """Behind one proxy the client is the last X-Forwarded-For entry, whatever the client put before it."""
    with override_settings(
        PHOTO_SEARCH_THROTTLE_RATE="2/minute", REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    ):
        forged = [f"10.0.0.{i}, 203.0.113.7" for i in range(3)]
        statuses = [post_not_an_image(client, HTTP_X_FORWARDED_FOR=xff).status_code for xff in forged]
        assert statuses == [400, 400, 429]
        assert post_not_an_image(client, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 400, "another client"


def test_photo_search_page_and_api_share_one_limit(client, shared_cache):
    """The storefront form runs the same model: it counts against the same limit, and says so kindly."""
    page_upload = {"image": SimpleUploadedFile("x.jpg", b"not an image at all" * 10)}
    with override_settings(PHOTO_SEARCH_THROTTLE_RATE="2/minute"):
        assert client.post("/search/photo/", page_upload).status_code == 400
        assert post_not_an_image(client).status_code == 400
        page = client.post("/search/photo/", {"image": SimpleUploadedFile("y.jpg", b"again" * 10)})
        assert page.status_code == 429 and 0 < int(page["Retry-After"]) <= 60
        html = page.content.decode()
        assert "Please try again in" in html and 'data-testid="photo-search-form"' in html
        assert_error(post_not_an_image(client), 429, "throttled")
    assert client.get("/search/photo/").status_code == 200, "showing the form is not limited"


# --- Cart and orders ---

ADDRESS = {
    "email": "ann@example.com",
    "full_name": "Ann Shopper",
    "address_line1": "12 MG Road",
    "city": "Pune",
    "postal_code": "411001",
    "country": "India",
    "phone": "+91 98765 43210",
}


def test_cart_and_orders_need_login(client, products):
    for method, url in [
        ("get", "/api/cart/"),
        ("post", "/api/cart/lines/"),
        ("patch", f"/api/cart/lines/{products[0].pk}/"),
        ("delete", f"/api/cart/lines/{products[0].pk}/"),
        ("get", "/api/orders/"),
        ("post", "/api/orders/"),
        ("get", "/api/orders/1/"),
    ]:
        assert_error(getattr(client, method)(url, {}, content_type="application/json"), 401, "credentials")


def test_cart_lines_add_change_remove(shopper_client, products):
    p1, p2 = products[0], products[1]
    response = shopper_client.post(
        "/api/cart/lines/", {"product": p1.pk, "quantity": 2}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    shopper_client.post("/api/cart/lines/", {"product": p2.pk}, content_type="application/json")
    cart = shopper_client.get("/api/cart/").json()
    assert cart["count"] == 3 and cart["total"] == "1700.00" and cart["is_orderable"] is True
    line = next(line for line in cart["lines"] if line["product"]["id"] == p2.pk)
    assert line == {
        "product": {"id": p2.pk, "sku": "P2", "name": p2.name, "url": f"http://testserver/products/{p2.pk}/",
                    "thumbnail_url": None},
        "quantity": 1, "unit_price": "700.00", "line_total": "700.00", "problem": None,
    }  # fmt: skip
    url = f"/api/cart/lines/{p1.pk}/"
    assert shopper_client.patch(url, {"quantity": 4}, content_type="application/json").json()["count"] == 5
    body = assert_error(shopper_client.patch(url, {"quantity": 6}, content_type="application/json"), 400, "only 5")
    assert "quantity" in body["fields"]
    assert_error(shopper_client.patch(url, {"quantity": -1}, content_type="application/json"), 400, "quantity")
    assert shopper_client.patch(url, {"quantity": 0}, content_type="application/json").json()["count"] == 1
    assert_error(shopper_client.patch(url, {"quantity": 1}, content_type="application/json"), 404, "not in your cart")
    assert shopper_client.delete(f"/api/cart/lines/{p2.pk}/").status_code == 204
    assert_error(shopper_client.delete(f"/api/cart/lines/{p2.pk}/"), 404, "not in your cart")
    assert shopper_client.get("/api/cart/").json() == {"lines": [], "count": 0, "total": "0.00", "is_orderable": False}


def test_cart_refuses_what_cannot_be_bought(shopper_client, products):
    Product.objects.filter(pk=products[2].pk).update(is_active=False)
    Product.objects.filter(pk=products[3].pk).update(stock=0)
    cases = [
        ({"product": products[2].pk}, "no longer available"),
        ({"product": products[3].pk}, "out of stock"),
        ({"product": 999999}, "does not exist"),
        ({"product": products[0].pk, "quantity": 6}, "only 5"),
        ({"product": products[0].pk, "quantity": 0}, "quantity"),
        ({"product": "abc"}, "valid integer"),
    ]
    for data, phrase in cases:
        assert_error(shopper_client.post("/api/cart/lines/", data, content_type="application/json"), 400, phrase)
    assert shopper_client.get("/api/cart/").json()["count"] == 0


def test_checkout_places_order_from_cart(shopper_client, shopper, products):
    shopper_client.post("/api/cart/lines/", {"product": products[1].pk, "quantity": 2}, content_type="application/json")
    response = shopper_client.post(
        "/api/orders/", ADDRESS | {"expected_total": "1400.00"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    order = response.json()
    assert order["total"] == "1400.00" and order["status"] == "placed" and order["payment_method"] == "pay_on_delivery"
    assert order["lines"] == [
        {"product": products[1].pk, "sku": "P2", "product_name": products[1].name, "unit_price": "700.00",
         "quantity": 2, "line_total": "1400.00"}
    ]  # fmt: skip
    assert Order.objects.get(pk=order["id"]).user == shopper
    assert Product.objects.get(pk=products[1].pk).stock == 3
    assert shopper_client.get("/api/cart/").json()["count"] == 0
    listing = shopper_client.get("/api/orders/").json()
    assert set(listing) == PAGE_KEYS and listing["count"] == 1 and listing["results"][0]["id"] == order["id"]
    assert shopper_client.get(f"/api/orders/{order['id']}/").json() == order


def test_checkout_conflicts_and_bad_details(shopper_client, products):
    assert_error(shopper_client.post("/api/orders/", ADDRESS, content_type="application/json"), 409, "cart is empty")
    shopper_client.post("/api/cart/lines/", {"product": products[0].pk, "quantity": 3}, content_type="application/json")
    for field, value, phrase in [("email", "nope", "valid email"), ("postal_code", "!!", "postal code"),
                                 ("phone", "call me", "phone"), ("city", "", "blank")]:  # fmt: skip
        response = shopper_client.post("/api/orders/", ADDRESS | {field: value}, content_type="application/json")
        assert list(assert_error(response, 400, phrase)["fields"]) == [field]
    assert_error(
        shopper_client.post("/api/orders/", ADDRESS | {"expected_total": "1.00"}, content_type="application/json"),
        409,
        "prices changed",
    )
    Product.objects.filter(pk=products[0].pk).update(stock=1)  # someone else bought them meanwhile
    assert_error(shopper_client.post("/api/orders/", ADDRESS, content_type="application/json"), 409, "only 1")
    assert not Order.objects.exists()
    assert Product.objects.get(pk=products[0].pk).stock == 1
    assert shopper_client.get("/api/cart/").json()["count"] == 3, "the cart is kept to be fixed"


def test_a_user_never_sees_another_users_orders(client, shopper, staff, django_user_model, products):
    client.force_login(shopper)
    client.post("/api/cart/lines/", {"product": products[0].pk}, content_type="application/json")
    order_id = client.post("/api/orders/", ADDRESS, content_type="application/json").json()["id"]
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "bob-pass-123")
    bob_token = Token.objects.create(user=bob)
    for intruder in (bob, staff):  # staff too: the API shows a user's own orders only
        client.force_login(intruder)
        assert_error(client.get(f"/api/orders/{order_id}/"), 404, "no order")
        assert client.get("/api/orders/").json()["count"] == 0
    client.logout()
    by_token = client.get(f"/api/orders/{order_id}/", headers={"authorization": f"Token {bob_token.key}"})
    assert_error(by_token, 404)
    client.force_login(shopper)
    assert client.get(f"/api/orders/{order_id}/").status_code == 200


@pytest.mark.parametrize("size", [1, 64, 5000])
def test_photo_search_random_bytes_is_400(client, size):
    data = random.Random(size).randbytes(size)
    body = assert_error(client.post("/api/search/photo/", {"image": SimpleUploadedFile("x.jpg", data)}), 400, "image")
    assert "image" in body["fields"]


@pytest.mark.parametrize("sku", ["../../x", "a/b", "..", "white space"])
def test_product_sku_with_path_characters_is_400_json(staff_client, sku):
    """A SKU names the image folder: path characters are refused in the JSON error format, with or without an image."""
    body = assert_error(
        staff_client.post("/api/products/", {"sku": sku, "name": "X"}, content_type="application/json"), 400, "SKU"
    )
    assert "letters, digits, hyphens, underscores and dots" in " ".join(body["fields"]["sku"])
    response = staff_client.post(
        "/api/products/", {"sku": sku, "name": "X", "image": SimpleUploadedFile("x.jpg", jpeg_bytes(solid_image()))}
    )
    assert response["Content-Type"] == "application/json"
    assert "sku" in assert_error(response, 400, "SKU")["fields"]
    product = Product.objects.create(sku="OK-1", name="Fine")
    response = staff_client.patch(f"/api/products/{product.pk}/", {"sku": sku}, content_type="application/json")
    assert "sku" in assert_error(response, 400, "SKU")["fields"]
    assert not Product.objects.exclude(sku="OK-1").exists()
    product.refresh_from_db()
    assert product.sku == "OK-1"
