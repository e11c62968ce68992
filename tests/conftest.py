import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded and imported images go to a fresh folder per test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session", autouse=True)
def vacuum_embeddings(django_db_setup, django_db_blocker):
    """Clear dead rows that rolled-back tests of earlier runs (--reuse-db) left in the HNSW index.

    Many dead copies of one vector can exhaust an iterative index scan before k live rows are
    found; autovacuum clears them in a running shop, but may not have run between test runs.
    """
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("VACUUM recommendations_productembedding")


@pytest.fixture
def worker():
    """A real Celery worker in a thread, on the test broker, consuming both queues (needs transaction=True)."""
    from tests.helpers import purge_queues, running_worker

    purge_queues()  # tasks left by other tests refer to rows that no longer exist
    with running_worker() as running:
        yield running


# Browser tests (tests/test_browser.py): one Chromium per module, one context per test.


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
