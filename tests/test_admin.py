"""The admin: products (stock, list columns, attribute values, image errors) and the category tree's rules."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from shop.models import Category, Product
from shop.services import category_get_or_create
from tests.factories import jpeg_bytes, product_with_image, solid_image
from tests.test_api import bad_uploads

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/shop/product/add/"


@pytest.fixture
def tshirts():
    return category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")


@pytest.fixture
def in_use(tshirts):
    """Attribute values in use: Men/Women, Blue/Red, Summer, Casual."""
    for sku, gender, colour in (("U1", "Men", "Blue"), ("U2", "Men", "Red"), ("U3", "Women", "Blue")):
        Product.objects.create(
            sku=sku, name=f"Tee {sku}", category=tshirts, gender=gender, base_colour=colour, season="Summer",
            usage="Casual",
        )  # fmt: skip


def product_post(**fields) -> dict:
    data = {"sku": "ADM1", "name": "Admin Tee", "is_active": "on", "stock": "0"}
    data.update(fields)
    return data


def test_admin_sets_stock_on_a_new_product(admin_client, in_use, tshirts):
    """Stock is on the form: a product added in the admin can be sold at once."""
    response = admin_client.post(
        ADD_URL,
        product_post(category=tshirts.pk, price="799", stock="7", gender="Men", image=_upload()),
    )
    assert response.status_code == 302, _errors(response)
    assert Product.objects.get(sku="ADM1").stock == 7


def test_admin_product_list_shows_the_thumbnail_image_and_stock(admin_client, tshirts):
    """The first column is the picture, not the thumbnail field's file path; price and stock are listed."""
    product = product_with_image(
        "LIST1", solid_image(), name="Listed Tee", category=tshirts, price=Decimal("999"), stock=7
    )
    product.refresh_from_db()
    html = admin_client.get(reverse("admin:shop_product_changelist")).content.decode()
    row = re.search(r'<tr[^>]*>\s*<td class="action-checkbox">.*?</tr>', html, re.S).group(0)
    first = re.search(r"<t[hd] class=\"field-[^\"]+\">(.*?)</t[hd]>", row, re.S).group(1)
    assert "<img" in first and product.thumbnail_url in first
    assert "thumbnails/" not in re.sub(r"<[^>]+>", "", first)  # no path shown as text
    assert re.search(r'class="field-price">999[.,]00<', row) and 'class="field-stock">7<' in row


def test_admin_offers_attribute_values_in_use(admin_client, in_use):
    """Gender, colour, season and usage boxes list the values already used (a datalist)."""
    html = admin_client.get(ADD_URL).content.decode()
    for name, values in (("gender", ["Men", "Women"]), ("base_colour", ["Blue", "Red"]), ("usage", ["Casual"])):
        box = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert f'list="id_{name}-values"' in box
        datalist = re.search(rf'<datalist id="id_{name}-values">(.*?)</datalist>', html, re.S).group(1)
        assert re.findall(r'<option value="([^"]*)">', datalist) == values  # most used first


def test_admin_refuses_a_new_attribute_value_unless_asked(admin_client, in_use):
    """A typo is not a new facet value by accident; a case slip takes the spelling in use;
    a new value is added when "Allow new values" is ticked."""
    response = admin_client.post(ADD_URL, product_post(gender="Mne"))
    assert response.status_code == 200 and not Product.objects.filter(sku="ADM1").exists()
    assert "“Mne” is not a gender in use (Men, Women)" in _errors(response)

    response = admin_client.post(ADD_URL, product_post(gender="men", base_colour="blue"))
    assert response.status_code == 302, _errors(response)
    product = Product.objects.get(sku="ADM1")
    assert (product.gender, product.base_colour) == ("Men", "Blue")

    response = admin_client.post(ADD_URL, product_post(sku="ADM2", gender="Unisex", new_values="on"))
    assert response.status_code == 302, _errors(response)
    assert Product.objects.get(sku="ADM2").gender == "Unisex"


def refused_files() -> dict[str, tuple[bytes, str]]:
    """The API tests' refused files, plus an image in a format Pillow reads but the shop does not take."""
    icon = io.BytesIO()
    solid_image(size=(32, 32)).save(icon, "ICO")
    return {**bad_uploads(), "icon.ico": (icon.getvalue(), "ICO images are not supported")}


@pytest.mark.parametrize("name", list(refused_files()))
def test_admin_image_errors_give_the_reason(admin_client, name):
    """The admin says why a file is refused, in the same words as the API and the search form."""
    data, phrase = refused_files()[name]
    response = admin_client.post(ADD_URL, product_post(image=SimpleUploadedFile(name, data)))
    assert response.status_code == 200 and not Product.objects.filter(sku="ADM1").exists()
    errors = _errors(response)
    assert phrase in errors and "Upload a valid image" not in errors


def test_admin_reports_the_real_size_of_a_large_upload(admin_client):
    """A 12 MB file is "too large (12 MB)", not the 10 MB that was read of it."""
    picture = jpeg_bytes(solid_image())
    data = picture + b"\0" * (12 * 1024 * 1024 - len(picture))
    response = admin_client.post(ADD_URL, product_post(image=SimpleUploadedFile("huge.jpg", data)))
    assert response.status_code == 200
    assert "The file is too large (12 MB); the limit is 10 MB." in _errors(response)


@pytest.mark.parametrize("sku", ["../../x", "a/b", ".hidden", "white space"])
def test_admin_refuses_a_sku_with_path_characters(admin_client, sku):
    response = admin_client.post(ADD_URL, product_post(sku=sku, image=_upload()))
    assert response.status_code == 200 and not Product.objects.exists()
    assert "A SKU may contain only letters, digits, hyphens, underscores and dots" in _errors(response)


# --- Categories ---


def test_category_admin_keeps_the_three_levels(admin_client, tshirts):
    """The admin follows category_create's rules: the level comes from the parent, and an
    article type cannot have children."""
    add = reverse("admin:shop_category_add")
    response = admin_client.post(add, {"name": "Polos", "parent": tshirts.parent_id})
    assert response.status_code == 302
    assert Category.objects.get(name="Polos").level == Category.Level.ARTICLE

    response = admin_client.post(add, {"name": "Crew necks", "parent": tshirts.pk})
    assert response.status_code == 200 and not Category.objects.filter(name="Crew necks").exists()
    assert "an article type cannot have sub-categories" in _errors(response)


def test_category_admin_refuses_a_level_change_of_a_used_category(admin_client, tshirts):
    """A category with products cannot move to another level (its products hang on article types)."""
    Product.objects.create(sku="CAT1", name="Tee", category=tshirts)
    change = reverse("admin:shop_category_change", args=[tshirts.pk])
    response = admin_client.post(change, {"name": "Tshirts", "parent": ""})
    assert response.status_code == 200
    assert "can only move to the same level" in _errors(response)
    tshirts.refresh_from_db()
    assert tshirts.parent_id is not None and tshirts.level == Category.Level.ARTICLE


def test_category_admin_sets_the_level_of_a_moved_empty_category(admin_client, tshirts):
    """An empty sub-category moved to the top becomes a master category (level follows the parent)."""
    empty = category_get_or_create(master="Apparel", sub="Loungewear", article="Robes").parent
    Category.objects.filter(parent=empty).delete()
    change = reverse("admin:shop_category_change", args=[empty.pk])
    response = admin_client.post(change, {"name": "Loungewear", "parent": ""})
    assert response.status_code == 302, _errors(response)
    empty.refresh_from_db()
    assert empty.parent_id is None and empty.level == Category.Level.MASTER


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("tee.jpg", jpeg_bytes(solid_image()), content_type="image/jpeg")


def _errors(response) -> str:
    """The text of the form's error lists."""
    html = response.content.decode()
    return " ".join(
        re.sub(r"<[^>]+>", " ", m) for m in re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    )
