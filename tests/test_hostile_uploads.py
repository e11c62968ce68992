"""Uploaded "images" that carry a page or a script: stored as the image they are, never served as a page."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from shop.models import Product
from shop.services import catalog_import
from tests.factories import solid_image

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = b"<script>alert(document.cookie)</script>"
PAGE_NAMES = ["evil.html", "evil.htm", "evil.xhtml", "evil.svg", "evil.js"]


def gif_with_script() -> bytes:
    """A valid GIF (Pillow decodes it fully) with a script after its trailer, as a polyglot would be."""
    buffer = io.BytesIO()
    solid_image((200, 30, 30), size=(8, 8)).save(buffer, "GIF")
    return buffer.getvalue() + SCRIPT


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staff", "s@example.com", "staff-pass-123", is_staff=True))
    return client


def assert_served_as_an_image(client, product: Product, content_type: str) -> None:  # needs served_media
    response = client.get(product.image.url)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_api_upload_is_stored_under_its_real_format(staff_client, served_media, name):
    """A GIF named evil.html is stored as products/<sku>/evil.gif and served as image/gif."""
    response = staff_client.post(
        "/api/products/", {"sku": "EVIL1", "name": "Evil", "image": SimpleUploadedFile(name, gif_with_script())}
    )
    assert response.status_code == 201, response.content
    product = Product.objects.get(sku="EVIL1")
    assert product.image.name == "products/EVIL1/evil.gif"
    assert response.json()["image_url"] == "http://testserver/media/products/EVIL1/evil.gif"
    assert_served_as_an_image(staff_client, product, "image/gif")


def test_admin_upload_is_stored_under_its_real_format(admin_client, served_media):
    """The admin checks the content (shop/images.py), not the name: a GIF named .html or .png is
    stored as the GIF it is and served as an image."""

    def add(sku: str, name: str):
        data = {"sku": sku, "name": "Evil", "image": SimpleUploadedFile(name, gif_with_script()), "stock": "1"}
        return admin_client.post("/admin/shop/product/add/", data | {"is_active": "on"})

    for sku, name, stored in (("EVIL2", "evil.html", "evil.gif"), ("EVIL3", "photo.png", "photo.gif")):
        response = add(sku, name)
        assert response.status_code == 302, response.context["adminform"].form.errors
        product = Product.objects.get(sku=sku)
        assert product.image.name == f"products/{sku}/{stored}"
        assert_served_as_an_image(admin_client, product, "image/gif")


def test_import_stores_images_under_their_real_format(tmp_path, client, served_media):
    """The dataset names every image <id>.jpg; a PNG among them is stored as a .png."""
    root = tmp_path / "dataset"
    (root / "images").mkdir(parents=True)
    header = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
    row = "7001,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Red Tshirt"
    (root / "styles.csv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    buffer = io.BytesIO()
    solid_image().save(buffer, "PNG")
    (root / "images" / "7001.jpg").write_bytes(buffer.getvalue())
    report = catalog_import(root=root)
    assert report.created == 1, report.skipped
    product = Product.objects.get(sku="7001")
    assert product.image.name == "products/7001/7001.png"
    assert_served_as_an_image(client, product, "image/png")


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_media_serves_image_files_only(client, served_media, name):
    """A page left in MEDIA_ROOT (stored before the fix, or put there by hand) is not served."""
    folder = Path(served_media) / "products" / "OLD1"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(gif_with_script())
    (folder / "photo.jpg").write_bytes(b"\xff\xd8" + SCRIPT)
    assert client.get(f"/media/products/OLD1/{name}").status_code == 404
    served = client.get("/media/products/OLD1/photo.jpg")
    assert served["Content-Type"] == "image/jpeg" and served["X-Content-Type-Options"] == "nosniff"


def _media_routed(settings_module: str, **env: str) -> str:
    """Whether /media/ has a URL pattern under these settings, asked of a fresh process."""
    code = (
        "import django; django.setup(); from django.urls import resolve, Resolver404\n"
        "try:\n    resolve('/media/products/X/x.jpg'); print('routed')\n"
        "except Resolver404:\n    print('not routed')\n"
    )
    environment = {key: value for key, value in os.environ.items() if key not in ("SERVE_MEDIA", "DEBUG")}
    environment |= {"DJANGO_SETTINGS_MODULE": settings_module, **env}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_production_does_not_serve_media_unless_asked():
    production = {
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "shop.example.com",
        # Never connected to: resolving a URL needs no database.
        "DATABASE_URL": "postgres://nobody:nothing@127.0.0.1:9/none",
    }
    assert _media_routed("config.settings.production", **production) == "not routed"
    assert _media_routed("config.settings.production", SERVE_MEDIA="true", **production) == "routed"
    assert _media_routed("config.settings.local", DATABASE_URL=production["DATABASE_URL"]) == "routed"


def test_gif_with_script_is_a_valid_image():
    """The test file is a real image, so only its name, not its content, was ever the problem."""
    image = Image.open(io.BytesIO(gif_with_script()))
    image.load()
    assert image.format == "GIF"
