"""The demo's seeded shopping history: plausible, repeatable, and enough for "also bought" on most pages."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from demo.catalog import generate_demo_catalog
from demo.history import demo_history_generate
from events.models import Interaction
from recommendations.recommenders import recommenders_train
from recommendations.selectors import product_also_bought_list
from shop.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_catalogue(tmp_path_factory) -> list[Product]:
    root = tmp_path_factory.mktemp("demo-history") / "catalog"
    generate_demo_catalog(root, count=120, seed=11)
    call_command("import_catalog", str(root), "--no-queue", "--stock", "20", verbosity=0)
    return list(Product.objects.all())


def test_history_is_plausible_and_written_once(demo_catalogue):
    """Views, cart additions and orders (baskets of purchases) from demo customers, never accounts;
    generating it again adds nothing."""
    counts = demo_history_generate(shoppers=300, seed=3)
    assert counts["orders"] > 200
    kinds = set(Interaction.objects.values_list("kind", flat=True))
    assert kinds == {"view", "add_to_cart", "purchase"}
    assert not Interaction.objects.filter(customer_key="").exists()
    assert not Interaction.objects.filter(user__isnull=False).exists()
    assert not Interaction.objects.filter(kind="purchase", basket="").exists()
    assert Interaction.objects.filter(kind="purchase").values("basket").distinct().count() == counts["orders"]
    total = Interaction.objects.count()
    assert total == counts["events"]
    assert not Interaction.objects.filter(created_at__gt=timezone.now()).exists()
    demo_history_generate(shoppers=300, seed=3)
    assert Interaction.objects.count() == total


def test_history_gives_most_product_pages_an_also_bought_list(demo_catalogue):
    demo_history_generate(shoppers=400)
    recommenders_train()
    with_lists = [product for product in demo_catalogue if product_also_bought_list(product=product)]
    assert len(with_lists) >= 0.6 * len(demo_catalogue), len(with_lists)


def test_a_real_history_can_replace_the_seeded_one(tmp_path):
    """DEMO_INTERACTIONS + DEMO_INTERACTIONS_LAYOUT import a history with import_interactions (its
    products too) and train on it; a path without a layout is a clear error that imports nothing."""
    from io import StringIO

    from demo.history import demo_history_load
    from recommendations.models import RecommenderModel
    from recommendations.selectors import products_bought_together_list
    from tests.test_import_interactions import RETAIL_ROWS, write_retail

    RETAIL_HEADER = RETAIL_ROWS[0]

    root = write_retail(tmp_path / "retail")
    with pytest.raises(ValueError, match="DEMO_INTERACTIONS_LAYOUT"):
        demo_history_load(interactions=root, layout=None, shoppers=0, stdout=StringIO())
    assert not Interaction.objects.exists()
    out = StringIO()
    demo_history_load(interactions=root, layout="online-retail", shoppers=400, stdout=out)
    assert Interaction.objects.filter(source="online-retail").count() == 8
    assert not Interaction.objects.filter(source="demo").exists()
    assert "events: 8 added" in out.getvalue()
    # Then trained: eight events hold no pair seen twice, so the command says there is too little.
    assert "Nothing trained: too few events" in out.getvalue()
    assert not RecommenderModel.objects.exists()
    # A history where three customers bought the lantern with the heart trains "bought together" on it.
    rows = [
        f"6000{n},{code},{name},1,2011-01-0{n} 10:00:00,2.55,1300{n},United Kingdom"
        for n in range(1, 4)
        for code, name in (("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"), ("71053", "WHITE METAL LANTERN"))
    ]
    (root / "online_retail.csv").write_text("\n".join([RETAIL_HEADER, *rows]) + "\n")
    demo_history_load(interactions=root, layout="online-retail", shoppers=0, stdout=StringIO())
    heart = Product.objects.get(sku="or-85123A")
    assert [item.product.sku for item in products_bought_together_list(product_ids=[heart.pk])] == ["or-71053"]
