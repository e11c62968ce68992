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
