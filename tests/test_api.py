"""The JSON endpoints and the storefront pages: contracts, real model, bad input."""

import io
import random
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from demo.catalog import draw_product
from recommendations.services import product_embeddings_compute
from tests.factories import jpeg_bytes, product_with_image

pytestmark = pytest.mark.django_db

RESULT_KEYS = {"id", "sku", "name", "url", "image_url", "score"}


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def pdf_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(buffer, "PDF")
    return buffer.getvalue()


def bad_uploads() -> dict[str, tuple[bytes, str]]:
    good = jpeg_bytes(draw_product("Tshirts", "Blue", "solid", random.Random(0)))
    return {
        "empty.jpg": (b"", "empty"),
        "text.jpg": (b"this is not an image\n" * 50, "not an image"),
        "truncated.jpg": (good[: len(good) // 3], "truncated"),
        "bomb.png": (png_claiming(60000, 60000), "pixels"),
        "drawing.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>', "not an image"),
        "document.pdf": (pdf_bytes(), "supported format"),
    }


@pytest.fixture
def catalogue():
    """Eight products with real vectors from the real model, computed here (no worker needed)."""
    kinds = [("Tshirts", "Red"), ("Tshirts", "Red"), ("Tshirts", "Red"), ("Watches", "Grey")]
    kinds += [("Watches", "Grey"), ("Casual Shoes", "Black"), ("Casual Shoes", "Black"), ("Handbags", "Brown")]
    products = [
        product_with_image(f"SKU{i}", draw_product(kind, colour, "solid", random.Random(i)), name=f"{colour} {kind}")
        for i, (kind, colour) in enumerate(kinds)
    ]
    product_embeddings_compute(product_ids=[p.pk for p in products])
    return products


def test_similar_api_contract(client, catalogue):
    """GET /api/products/<id>/similar/?k=5 returns 5 others with the documented keys, best first."""
    product = catalogue[0]
    response = client.get(f"/api/products/{product.pk}/similar/?k=5")
    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert len(results) == 5 and body["status"] == "ready"
    assert all(set(item) == RESULT_KEYS for item in results)
    assert product.pk not in [item["id"] for item in results]
    scores = [item["score"] for item in results]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    first = results[0]
    assert first["url"].endswith(f"/products/{first['id']}/")
    assert first["image_url"].startswith("http://testserver/media/")
    assert {item["sku"] for item in results[:2]} == {"SKU1", "SKU2"}, "other red t-shirts come first"


def test_similar_api_default_k_and_limits(client, catalogue):
    product = catalogue[0]
    assert len(client.get(f"/api/products/{product.pk}/similar/").json()["results"]) == 5
    assert len(client.get(f"/api/products/{product.pk}/similar/?k=50").json()["results"]) == 7
    for k in ("0", "51", "abc", "-3"):
        response = client.get(f"/api/products/{product.pk}/similar/?k={k}")
        assert response.status_code == 400 and "k" in response.json()["error"]


def test_similar_api_unknown_product_is_404_with_error(client):
    response = client.get("/api/products/999999/similar/")
    assert response.status_code == 404
    assert "error" in response.json()


def test_photo_search_api_finds_the_same_kind(client, catalogue):
    """A new photo of a red t-shirt finds the red t-shirts first."""
    photo = jpeg_bytes(draw_product("Tshirts", "Red", "solid", random.Random(123)))
    response = client.post("/api/search/photo/", {"image": SimpleUploadedFile("q.jpg", photo), "k": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["sku"] for item in results] and len(results) == 3
    assert {item["sku"] for item in results} == {"SKU0", "SKU1", "SKU2"}
    assert all(set(item) == RESULT_KEYS for item in results)


def test_photo_search_api_k_from_query_string_and_default(client, catalogue):
    photo = jpeg_bytes(draw_product("Watches", "Grey", "solid", random.Random(5)))
    assert len(client.post("/api/search/photo/", {"image": SimpleUploadedFile("q.jpg", photo)}).json()["results"]) == 5
    response = client.post("/api/search/photo/?k=2", {"image": SimpleUploadedFile("q.jpg", photo)})
    assert len(response.json()["results"]) == 2


@pytest.mark.parametrize("name", list(bad_uploads()))
def test_photo_search_api_bad_upload_is_400_with_message(client, name):
    data, phrase = bad_uploads()[name]
    response = client.post("/api/search/photo/", {"image": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    assert phrase in response.json()["error"].lower()


def test_photo_search_api_missing_image_and_bad_k(client):
    response = client.post("/api/search/photo/", {})
    assert response.status_code == 400 and "image" in response.json()["error"]
    photo = jpeg_bytes(draw_product("Watches", "Grey", "solid", random.Random(5)))
    response = client.post("/api/search/photo/", {"image": SimpleUploadedFile("q.jpg", photo), "k": 500})
    assert response.status_code == 400 and "k" in response.json()["error"]


def test_photo_search_api_too_large_file(client, settings):
    settings.IMAGE_MAX_UPLOAD_BYTES = 50_000
    big = Image.effect_noise((400, 400), 100).convert("RGB")
    data = jpeg_bytes(big, quality=100)
    assert len(data) > 50_000
    response = client.post("/api/search/photo/", {"image": SimpleUploadedFile("big.jpg", data)})
    assert response.status_code == 400 and "too large" in response.json()["error"]


def test_product_page_shows_similar_items(client, catalogue):
    html = client.get(f"/products/{catalogue[0].pk}/").content.decode()
    block = html.split('data-testid="similar-items"')[1].split("</section>")[0]
    assert block.count('href="/products/') == 5
    assert f'href="/products/{catalogue[0].pk}/"' not in block


def test_product_page_404_for_unknown_product(client):
    assert client.get("/products/424242/").status_code == 404


def test_home_lists_products_and_links_photo_search(client, catalogue):
    html = client.get("/").content.decode()
    assert 'href="/search/photo/"' in html
    assert f'href="/products/{catalogue[0].pk}/"' in html


def test_photo_search_page_form_and_results(client, catalogue):
    """GET shows the form; POST shows results with thumbnails, names and scores."""
    page = client.get("/search/photo/").content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="image"' in page
    photo = jpeg_bytes(draw_product("Casual Shoes", "Black", "solid", random.Random(77)))
    response = client.post("/search/photo/", {"image": SimpleUploadedFile("shoe.jpg", photo), "k": 2})
    assert response.status_code == 200
    html = response.content.decode()
    block = html.split('data-testid="search-results"')[1].split("</section>")[0]
    assert block.count("<img") == 2 and 'class="score"' in block
    assert "Black Casual Shoes" in block


@pytest.mark.parametrize("name", list(bad_uploads()))
def test_photo_search_page_bad_upload_shows_form_error(client, name):
    data, phrase = bad_uploads()[name]
    response = client.post("/search/photo/", {"image": SimpleUploadedFile(name, data)})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="form-error"' in html and 'data-testid="search-results"' not in html


@pytest.mark.parametrize("name", list(bad_uploads()))
def test_admin_rejects_bad_image_with_message(admin_client, name):
    data, _ = bad_uploads()[name]
    response = admin_client.post(
        "/admin/shop/product/add/",
        {"sku": "BAD", "name": "Bad", "image": SimpleUploadedFile(name, data), "is_active": "on"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert "errorlist" in response.content.decode()
    from shop.models import Product

    assert not Product.objects.filter(sku="BAD").exists()
