"""List impressions are counted per process and written at most every LIST_IMPRESSIONS_FLUSH_SECONDS:
every product page counts the same rows of the day, and writing them per page made concurrent pages
wait on those rows' locks (docs/benchmarks.md, the event log's cost under load)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events.models import ListImpression
from events.services import list_impressions_flush, list_impressions_record

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

pytestmark = pytest.mark.django_db(transaction=True)


def counts() -> dict[str, tuple[int, int]]:
    return {row.surface: (row.lists, row.items) for row in ListImpression.objects.filter(day=timezone.localdate())}


@pytest.fixture
def request_():
    return RequestFactory().get("/", HTTP_USER_AGENT=CHROME)


def test_pages_within_the_interval_write_nothing_until_the_flush(request_, settings):
    settings.LIST_IMPRESSIONS_FLUSH_SECONDS = 3600
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert list_impressions_record(request=request_, shown={"similar_items": 5, "also_bought": 2}) == 2
    assert len(queries) == 0
    assert counts() == {}
    with CaptureQueriesContext(connection) as queries:
        assert list_impressions_flush() == 2
    assert len(queries) == 1  # one upsert for every counter
    assert counts() == {"similar_items": (3, 15), "also_bought": (3, 6)}
    assert list_impressions_flush() == 0
    assert counts() == {"similar_items": (3, 15), "also_bought": (3, 6)}


def test_the_first_page_after_the_interval_writes_all_that_was_counted(request_, settings):
    settings.LIST_IMPRESSIONS_FLUSH_SECONDS = 0.2
    list_impressions_record(request=request_, shown={"similar_items": 5})
    list_impressions_record(request=request_, shown={"similar_items": 4, "more_in_type": 0})
    assert counts() == {}
    time.sleep(0.25)
    list_impressions_record(request=request_, shown={"similar_items": 1, "also_bought": 3})
    assert counts() == {"similar_items": (3, 10), "also_bought": (1, 3)}


def test_counts_kept_across_a_failed_write_are_written_by_the_next(request_, settings, monkeypatch, caplog):
    settings.LIST_IMPRESSIONS_FLUSH_SECONDS = 0
    monkeypatch.setattr(ListImpression._meta, "db_table", "no_such_table")
    assert list_impressions_record(request=request_, shown={"similar_items": 5}) == 1
    assert "Could not count the impressions of similar_items" in caplog.text
    monkeypatch.undo()
    list_impressions_record(request=request_, shown={"similar_items": 2})
    assert counts() == {"similar_items": (2, 7)}
