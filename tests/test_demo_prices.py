"""The demo sells: `load_demo` on a catalogue without prices (the Kaggle sample has none) gives
each product a demo price by article type; the importer itself never invents one."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from demo.prices import demo_price, demo_price_range
from shop.models import Product
from shop.services import catalog_import
from tests.test_import import JEANS, SHIRT, WATCH, make_catalog, style_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_var(settings, tmp_path):
    """load_demo keeps the admin's password under BASE_DIR/var: a scratch one, not the checkout's."""
    settings.BASE_DIR = tmp_path / "base"
    settings.BASE_DIR.mkdir()
    return settings.BASE_DIR / "var"


def test_load_demo_prices_the_products_the_dataset_left_without(tmp_path, demo_var, client):
    """No styles/<id>.json for the jeans and the watch: they get a demo price in their type's range;
    the shirt keeps the dataset's own price; the product page can then sell them."""
    root = make_catalog(tmp_path / "dataset", [SHIRT, JEANS, WATCH], extras={"901001": style_json()})
    call_command("load_demo", dataset=root, count=0)

    shirt, jeans, watch = (Product.objects.get(sku=sku) for sku in ("901001", "901002", "901003"))
    assert (shirt.price, shirt.discounted_price) == (Decimal("2495"), Decimal("1497"))
    for product, article, master in ((jeans, "Jeans", "Apparel"), (watch, "Watches", "Accessories")):
        low, high = demo_price_range(article_type=article, master_category=master)
        assert product.price is not None and low <= product.price <= high
        assert (product.price, product.discounted_price) == demo_price(
            sku=product.sku, article_type=article, master_category=master
        )
        page = client.get(product.get_absolute_url()).content.decode()
        assert "Price not available" not in page


def test_importing_alone_never_invents_a_price(tmp_path):
    catalog_import(root=make_catalog(tmp_path, [JEANS]))
    assert Product.objects.get(sku="901002").price is None


def test_demo_prices_follow_the_article_type_and_repeat_for_a_sku():
    socks = [demo_price(sku=str(i), article_type="Socks", master_category="Apparel")[0] for i in range(50)]
    watches = [demo_price(sku=str(i), article_type="Watches", master_category="Accessories")[0] for i in range(50)]
    assert max(socks) < min(watches)
    assert demo_price(sku="7", article_type="Socks", master_category="Apparel") == demo_price(
        sku="7", article_type="Socks", master_category="Apparel"
    )
    assert len(set(socks)) > 1  # not one price for every pair
    for sku in range(200):  # unknown types fall back to the master category, then a default
        for article, master in (("Lip Care", "Personal Care"), ("Ipad", ""), ("Tshirts", "Apparel")):
            price, discounted = demo_price(sku=str(sku), article_type=article, master_category=master)
            low, high = demo_price_range(article_type=article, master_category=master)
            assert low <= price <= high and (price % 50 == 49 or price in (low, high))  # ..49 or ..99
            assert discounted is None or 0 < discounted < price
