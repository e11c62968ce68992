from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from shop.models import Product


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded and imported images go to a fresh folder per test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session", autouse=True)
def vacuum_embeddings(request, django_db_setup, django_db_blocker):
    """Start from an empty catalogue and a vacuumed HNSW index.

    The test database is reused (--reuse-db) and module fixtures commit their rows: a run stopped
    before their teardown leaves products that later runs would count (an import then reports
    them as updated, not created). Dead rows that rolled-back tests of earlier runs left in the
    HNSW index are cleared too: many dead copies of one vector can exhaust an iterative index
    scan before k live rows are found; autovacuum clears them in a running shop, but may not have
    run between test runs.
    """
    from pytest_django.fixtures import _get_databases_for_setup

    from tests.helpers import catalogue_clear, vacuum_embeddings

    # pytest-django sets up the test database only when a collected test uses it (the same check).
    if "default" not in _get_databases_for_setup(request.session.items)[0]:
        return
    with django_db_blocker.unblock():
        catalogue_clear()
        vacuum_embeddings()


@pytest.fixture
def exact_scans(db):
    """Similarity queries in this test scan every row instead of the HNSW index: exact neighbours.

    The index is approximate (now and then a true neighbour is missed), so tests of the ranking
    logic (tiers, exclusions, order) use exact scans, and the index has its own recall tests.
    SET LOCAL lasts until the test's transaction rolls back; the selector's queries run inside it.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")


@pytest.fixture
def worker():
    """A real Celery worker in a thread, on the test broker, consuming both queues (needs transaction=True)."""
    from tests.helpers import purge_queues, running_worker

    purge_queues()  # tasks left by other tests refer to rows that no longer exist
    with running_worker() as running:
        yield running


# Browser tests (tests/test_browser*.py): one Chromium per module, one context per test.


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright; skips without it (fails in CI, see tests/browser.py)."""
    from tests.browser import CHROMIUM, LAUNCH_ARGS, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps its event loop marked as running in this thread, which trips
    # Django's async-unsafe guard on every ORM call the test makes; the calls are still plain
    # synchronous ones, so allow them, only while Playwright runs.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def viewport() -> dict[str, int]:
    """Desktop by default; parametrize `viewport` with tests.browser.PHONE for the 375 px variant."""
    from tests.browser import DESKTOP

    return DESKTOP


@pytest.fixture
def page(browser, live_server, viewport, request):
    """A fresh context (cookies, storage) on the live server; the final page is saved as a screenshot."""
    from tests.browser import artifact_path

    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    try:
        tab.screenshot(path=artifact_path(request.node.name), full_page=True)
    finally:
        context.close()


@pytest.fixture
def served_media(media_root, monkeypatch):
    """Let the live server serve this test's MEDIA_ROOT: the URLconf fixed the folder at import."""
    from django.urls import get_resolver

    for pattern in get_resolver().url_patterns:
        if "document_root" in getattr(pattern, "default_args", {}):
            monkeypatch.setitem(pattern.default_args, "document_root", str(media_root))
    return media_root


@pytest.fixture
def catalogue(worker, served_media) -> dict[str, list[Product]]:
    """16 products with categories, prices and stock, embedded by the real worker (needs transaction=True).

    Keyed by article type (tests.browser.KINDS), each a list of PER_KIND products.
    """
    from decimal import Decimal

    from recommendations.models import ProductEmbedding
    from shop.services import category_get_or_create
    from tests.browser import KINDS, PER_KIND, picture
    from tests.factories import product_with_image
    from tests.helpers import wait_for

    products = {}
    for master, sub, article, gender, colours, word in KINDS:
        category = category_get_or_create(master=master, sub=sub, article=article)
        products[article] = [
            product_with_image(
                f"{article[:3].upper()}-{i}",
                picture(article, colours[i % 2], seed=i),
                name=f"{gender} {colours[i % 2]} {word} {i}",
                category=category,
                gender=gender,
                base_colour=colours[i % 2],
                price=Decimal(499 + 100 * i),
                stock=10,
            )
            for i in range(PER_KIND)
        ]
    total = len(KINDS) * PER_KIND
    wait_for(lambda: ProductEmbedding.objects.filter(status=ProductEmbedding.Status.READY).count() == total)
    return products
