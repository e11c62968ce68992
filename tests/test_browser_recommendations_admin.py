"""The admin's "Recommendations" page in real Chromium: reached from the admin index, its versions
and click-through tables, and a rollback with its button.

Screenshots go to test-artifacts/ like the other browser tests' (see the `page` fixture).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from events.models import Interaction, ListImpression
from recommendations.models import RecommenderModel
from recommendations.training import recommenders_train_measured
from shop.models import Product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-pass-3307"


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def test_recommendations_page_from_the_index_and_a_rollback(page):
    a, b, c = (
        Product.objects.create(sku=f"BRA-{n}", name=f"Admin {n}", price=Decimal("599.00"), stock=5) for n in "ABC"
    )
    Interaction.objects.bulk_create(
        [
            Interaction(customer_key=f"c{i}", product=p, kind="purchase", basket=f"b{i}")
            for i in range(3)
            for p in (a, b, c)
        ]
    )
    recommenders_train_measured(kinds=["also_bought"])
    recommenders_train_measured(kinds=["also_bought"])
    today = timezone.localdate()
    ListImpression.objects.create(day=today, surface="similar_items", lists=8, items=40)
    ListImpression.objects.create(day=today - timedelta(days=10), surface="similar_items", lists=12, items=60)
    Interaction.objects.create(session_key="s", product=a, kind="recommendation_click", source_list="similar_items")
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)

    page.goto("/admin/login/?next=/admin/")
    page.locator("#id_username").fill("ops")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/")
    page.get_by_test_id("admin-dashboards").get_by_role("link", name="Recommendations").click()
    page.wait_for_url("**/admin/recommendations/recommendermodel/overview/")
    expect(page.locator("h1")).to_have_text("Recommendations")
    rows = page.get_by_test_id("kind-also_bought").get_by_test_id("version-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("v2 (active)")
    expect(rows.nth(0).get_by_test_id("training-seconds")).not_to_have_text("—")
    week = page.get_by_test_id("click-through-7").locator('tr[data-surface="similar_items"]')
    expect(week.get_by_test_id("lists")).to_have_text("8")
    expect(week.get_by_test_id("rate")).to_have_text("12.5%")
    month = page.get_by_test_id("click-through-30").locator('tr[data-surface="similar_items"]')
    expect(month.get_by_test_id("lists")).to_have_text("20")
    assert week.locator(".bar span").bounding_box()["width"] > 0

    rows.nth(1).get_by_role("button", name="Make this version active").click()
    page.wait_for_url("**/admin/recommendations/recommendermodel/*/change/")
    expect(page.locator(".messagelist")).to_contain_text("v1 now serves (rolled back from v2)")
    assert RecommenderModel.objects.get(is_active=True).version == 1
    assert RecommenderModel.objects.count() == 2
