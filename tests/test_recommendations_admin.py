"""Operating the recommenders from the admin: rolling a version back (and forward again) without
pruning, who switched, readers never seeing a gap, and the "Recommendations" page's figures."""

from __future__ import annotations

import re
import threading
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import checks
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events.models import Interaction, ListImpression
from recommendations.models import RecommenderModel
from recommendations.recommenders import recommender_model_activate, recommender_model_store, recommender_model_switch
from recommendations.selectors import product_also_bought_list, shopper_recommended_list
from shop.models import Product
from tests.helpers import wait_for

CHANGELIST = "admin:recommendations_recommendermodel_changelist"
OVERVIEW = "admin:recommendations_recommendermodel_overview"


def make_products(count: int, prefix: str = "RB") -> list[Product]:
    return [
        Product.objects.create(sku=f"{prefix}{i}", name=f"Product {prefix}{i}", price=Decimal("499.00"), stock=5)
        for i in range(count)
    ]


def versions(a: Product, lists: list[list[Product]]) -> list[RecommenderModel]:
    """One also_bought version per list (A's neighbours), each activated as training does."""
    stored = []
    for neighbours in lists:
        model = recommender_model_store(
            kind="also_bought",
            neighbours={a.pk: [(p.pk, 1.0 - rank / 10) for rank, p in enumerate(neighbours)]},
            params={"method": "test"},
            n_events=10,
            up_to=timezone.now(),
        )
        recommender_model_activate(model=model)
        stored.append(model)
    return stored


def served(a: Product) -> list[int]:
    return [item.product.pk for item in product_also_bought_list(product=a)]


def post_action(client: Client, model: RecommenderModel):
    return client.post(
        reverse(CHANGELIST), {"action": "make_active", "index": 0, "_selected_action": [model.pk]}, follow=True
    )


# --- Rolling back and forward ---


def test_rollback_from_the_list_action_and_forward_from_the_button_prune_nothing(db, admin_client, admin_user):
    a, b, c, d = make_products(4)
    v1, v2, v3 = versions(a, [[b], [c], [d]])
    assert served(a) == [d.pk]
    response = post_action(admin_client, v2)
    assert "Customers who bought this also bought: v2 now serves (rolled back from v3)." in response.content.decode()
    assert served(a) == [c.pk]
    assert list(RecommenderModel.objects.filter(kind="also_bought").values_list("version", "is_active")) == [
        (3, False),
        (2, True),
        (1, False),
    ]
    # Forward again with the version page's button.
    page = admin_client.get(reverse("admin:recommendations_recommendermodel_change", args=[v3.pk])).content.decode()
    assert "Make this version active" in page
    response = admin_client.post(reverse("admin:recommendations_recommendermodel_activate", args=[v3.pk]))
    assert response.status_code == 302
    assert served(a) == [d.pk]
    assert RecommenderModel.objects.filter(kind="also_bought").count() == 3
    # Who switched, and from what: the admin's history of each version.
    entries = LogEntry.objects.order_by("pk")
    assert [(e.user_id, e.object_id, e.get_change_message()) for e in entries] == [
        (admin_user.pk, str(v2.pk), "Made the active also_bought version (rolled back from v3)."),
        (admin_user.pk, str(v3.pk), "Made the active also_bought version (switched from v2)."),
    ]
    # The active version's page offers no button.
    page = admin_client.get(reverse("admin:recommendations_recommendermodel_change", args=[v3.pk])).content.decode()
    assert 'data-testid="make-active"' not in page


def test_training_after_a_rollback_keeps_the_newer_versions_within_keep(db, settings):
    settings.RECOMMENDER_KEEP_VERSIONS = 3
    a, b, c, d, e = make_products(5)
    v1, v2, v3 = versions(a, [[b], [c], [d]])
    recommender_model_switch(model=v2)
    assert set(RecommenderModel.objects.values_list("version", flat=True)) == {1, 2, 3}
    (v4,) = versions(a, [[e]])
    # Pruning still happens at training: v4 active, v3 and v2 kept, v1 gone.
    assert set(RecommenderModel.objects.values_list("version", "is_active")) == {(4, True), (3, False), (2, False)}
    assert served(a) == [e.pk]


def test_action_needs_one_version_and_the_change_permission(db, admin_client):
    a, b, c = make_products(3)
    v1, v2 = versions(a, [[b], [c]])
    response = admin_client.post(
        reverse(CHANGELIST), {"action": "make_active", "index": 0, "_selected_action": [v1.pk, v2.pk]}, follow=True
    )
    assert "Select exactly one version" in response.content.decode()
    assert RecommenderModel.objects.get(is_active=True).pk == v2.pk
    response = post_action(admin_client, v2)
    assert "already the active version" in response.content.decode()
    # A staff member who may only view versions sees no action and cannot post the switch.
    viewer = get_user_model().objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_recommendermodel"))
    client = Client()
    client.force_login(viewer)
    assert "make_active" not in client.get(reverse(CHANGELIST)).content.decode()
    response = client.post(reverse("admin:recommendations_recommendermodel_activate", args=[v1.pk]))
    assert response.status_code == 403
    assert client.get(reverse("admin:recommendations_recommendermodel_activate", args=[v1.pk])).status_code == 405
    assert RecommenderModel.objects.get(is_active=True).pk == v2.pk


def test_keep_versions_below_three_is_warned_about(settings):
    from recommendations.checks import recommender_keep_versions_check

    assert recommender_keep_versions_check(None) == []
    settings.RECOMMENDER_KEEP_VERSIONS = 2
    (warning,) = recommender_keep_versions_check(None)
    assert warning.level == checks.WARNING and warning.id == "recommendations.W001"
    settings.RECOMMENDER_KEEP_VERSIONS = 0
    assert recommender_keep_versions_check(None)[0].id == "recommendations.E001"


@pytest.mark.django_db(transaction=True)
def test_readers_see_full_lists_across_switches_and_rollbacks_from_the_admin():
    """A reader on its own connection reads "Recommended for you" and "also bought" all along while
    an admin rolls the version back and forward: every read is a full, personal list."""
    a, b, c, d = make_products(4, prefix="RR")
    v1, v2, v3 = versions(a, [[b, c], [c, d], [d, b]])
    Interaction.objects.create(session_key="reader", product=a, kind="view")
    get_user_model().objects.create_superuser("switcher", "s@example.com", "pw-switch-1")
    admin = Client()
    admin.login(username="switcher", password="pw-switch-1")
    seen: list[tuple[int, str, int]] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                mine = shopper_recommended_list(session_key="reader", k=2)
                seen.append((len(product_also_bought_list(product=a)), mine.strategy, len(mine.items)))
        except BaseException as error:  # noqa: BLE001  (reported by the test's thread)
            failures.append(error)
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for model in [v1, v3, v2, v3, v1, v2] * 2:
            response = admin.post(reverse("admin:recommendations_recommendermodel_activate", args=[model.pk]))
            assert response.status_code == 302
            # At least one whole read after each switch (however slow the reader on a busy machine).
            read_before = len(seen)
            wait_for(lambda before=read_before: len(seen) > before + 1 or failures, timeout=60, interval=0.01)
    finally:
        stop.set()
        reader.join()
    assert not failures
    assert RecommenderModel.objects.get(is_active=True).pk == v2.pk
    assert RecommenderModel.objects.count() == 3
    assert len(seen) > 12
    assert set(seen) == {(2, "personal", 2)}
    assert LogEntry.objects.count() == 12


# --- The "Recommendations" page ---


def at(days_ago: int, hour: int = 12):
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(hour)))


def click(product: Product, *, days_ago: int, source_list: str = "", kind: str = "recommendation_click") -> None:
    Interaction.objects.create(
        session_key="clicker", product=product, kind=kind, source_list=source_list, created_at=at(days_ago)
    )


def page_rows(html: str, days: int) -> dict[str, tuple[str, str, str, str]]:
    table = re.search(rf'<table data-testid="click-through-{days}">.*?</table>', html, re.S).group(0)
    rows = {}
    for surface, body in re.findall(r'<tr data-surface="([a-z_]+)">(.*?)</tr>', table, re.S):
        values = [re.search(rf'data-testid="{name}">([^<]*)<', body).group(1) for name in ("lists", "items", "clicks")]
        rows[surface] = (*values, re.search(r'data-testid="rate">([^<]*)<', body).group(1))
    return rows


def test_click_through_per_list_against_hand_counts(db, admin_client):
    (p,) = make_products(1, prefix="CT")
    for days_ago, surface, lists, items in [
        (0, "similar_items", 10, 50),
        (5, "similar_items", 4, 20),
        (6, "similar_items", 6, 30),
        (7, "similar_items", 100, 500),  # 8 days back: in 30 days only
        (29, "similar_items", 1000, 5000),
        (30, "similar_items", 9999, 9999),  # 31 days back: in neither
        (1, "recently_viewed", 8, 24),
        (2, "photo_search", 5, 60),
        (20, "bought_together", 3, 9),
    ]:
        ListImpression.objects.create(
            day=timezone.localdate() - timedelta(days=days_ago), surface=surface, lists=lists, items=items
        )
    for days_ago in (0, 0, 3, 6):
        click(p, days_ago=days_ago, source_list="similar_items")
    click(p, days_ago=7, source_list="similar_items")
    click(p, days_ago=31, source_list="similar_items")  # too old for both
    click(p, days_ago=1, source_list="recently_viewed")
    click(p, days_ago=2, kind="photo_search_click")
    click(p, days_ago=2, kind="photo_search_click")
    click(p, days_ago=25, kind="photo_search_click")
    click(p, days_ago=0, source_list="also_bought")  # a click without a counted impression
    Interaction.objects.create(session_key="clicker", product=p, kind="view", created_at=at(0))  # not a click

    response = admin_client.get(reverse(OVERVIEW))
    assert response.status_code == 200
    html = response.content.decode()
    week, month = page_rows(html, 7), page_rows(html, 30)
    # Last 7 days: similar items shown 10 + 4 + 6 = 20 times (100 cards), clicked 4 times: 20.0%.
    assert week["similar_items"] == ("20", "100", "4", "20.0%")
    assert week["recently_viewed"] == ("8", "24", "1", "12.5%")
    assert week["photo_search"] == ("5", "60", "2", "40.0%")
    assert week["also_bought"] == ("0", "0", "1", "—")
    assert week["bought_together"] == ("0", "0", "0", "—")
    assert week["recommended_for_you"] == ("0", "0", "0", "—")
    # Last 30 days: 20 + 100 + 1000 = 1120 shown, 5 clicks: 0.4%.
    assert month["similar_items"] == ("1120", "5600", "5", "0.4%")
    assert month["photo_search"] == ("5", "60", "3", "60.0%")
    assert month["bought_together"] == ("3", "9", "0", "0.0%")
    # The bars are scaled to the best rate of the window.
    week_lists = {item["row"].surface: item for item in response.context["windows"][0]["lists"]}
    assert week_lists["photo_search"]["bar"] == 100 and week_lists["similar_items"]["bar"] == 50


def test_page_lists_each_kinds_kept_versions_with_their_training(db, admin_client):
    (a, b, c) = make_products(3, prefix="PV")
    v1, v2 = versions(a, [[b], [c]])
    figures = {"training_seconds": 1.234, "peak_memory_mb": 321.5, "memory_before_mb": 300.0}
    RecommenderModel.objects.filter(pk=v2.pk).update(metrics={**v2.metrics, **figures})
    html = admin_client.get(reverse(OVERVIEW)).content.decode()
    section = re.search(r'<section data-testid="kind-also_bought">.*?</section>', html, re.S).group(0)
    rows = re.findall(r'<tr data-testid="version-row".*?</tr>', section, re.S)
    assert len(rows) == 2
    assert "v2</a> (active)" in rows[0] and "data-active" in rows[0]
    assert 'data-testid="training-seconds">1.234<' in rows[0] and 'data-testid="peak-memory">321.5<' in rows[0]
    assert "(active)" not in rows[1] and "Make this version active" in rows[1]
    assert 'data-testid="training-seconds">—<' in rows[1]
    assert "Last training: also_bought v2" in section and "took 1.234 s, peak memory 321.5 MB" in section
    assert "&quot;method&quot;: &quot;test&quot;" in rows[0]  # parameters
    bought_together = re.search(r'<section data-testid="kind-bought_together">.*?</section>', html, re.S).group(0)
    assert "Not trained yet." in bought_together


def test_page_is_linked_from_the_admin_index_and_the_versions_list_and_is_staff_only(db, admin_client):
    url = reverse(OVERVIEW)
    assert f'href="{url}"' in admin_client.get(reverse("admin:index")).content.decode()
    assert f'href="{url}"' in admin_client.get(reverse(CHANGELIST)).content.decode()
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    shopper = get_user_model().objects.create_user("shopper", password="pw-shopper-1")
    client = Client()
    client.force_login(shopper)
    assert client.get(url).status_code == 302
    staff = get_user_model().objects.create_user("staffer", password="pw-staff-1", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403  # staff without the recommender models' view permission
    assert f'href="{url}"' not in client.get(reverse("admin:index")).content.decode()
