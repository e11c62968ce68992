"""Helpers shared by the tests: the real data folder, a real Celery worker (pipeline and browser
flows), the HNSW index, a clean catalogue for module fixtures."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from config.celery_app import app as celery_app

QUEUES = ("celery", "embeddings")
T = TypeVar("T")
# The real catalogue and interaction data (read-only, never copied into the repository):
# ../shared/data beside the repository, as on the development machines and in CI.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def in_ci() -> bool:
    """Whether this run is CI (CI=true), where a test that cannot run must fail, not skip."""
    return os.environ.get("CI", "").lower() in {"true", "1"}


def shared_data(relative: str | Path = "") -> Path:
    """The path `relative` inside ../shared/data, for tests that read real data.

    When it is absent the test skips with the reason, except under CI=true, where it fails: the
    real-data tests are the only guards on the published quality and must not silently not run.
    """
    path = SHARED_DATA / relative
    if path.exists():
        return path
    reason = f"real data not present: {path} (only on machines with ../shared/data)"
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def catalogue_clear() -> None:
    """Delete every product and category, committed (for module fixtures, outside test transactions).

    Module fixtures commit their rows into the reused test database; a run stopped before their
    teardown leaves them behind, so they start from this clean state as well as end with it.
    """
    from shop.models import Category, Product

    Product.objects.all().delete()
    for level in (2, 1, 0):  # children first: the tree is protected against orphaning
        Category.objects.filter(level=level).delete()


def vacuum_embeddings() -> None:
    """Clear dead rows out of the embedding table and its HNSW index (outside any transaction).

    Every rolled-back or deleted test row stays in the HNSW graph until VACUUM. Thousands of
    them, many exact copies of the same hand-made vectors, leave new rows linked mostly to dead
    ones, and exact-neighbour assertions on small sets then fail now and then.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM recommendations_productembedding")


def queue_length(name: str = "embeddings") -> int:
    with celery_app.connection_for_write() as connection:
        return connection.default_channel.client.llen(name)


def purge_queues() -> None:
    """Drop tasks other tests left on the broker: they refer to rows that no longer exist."""
    with celery_app.connection_for_write() as connection:
        for queue in QUEUES:
            connection.default_channel.client.delete(queue)


def wait_for(condition: Callable[[], T], timeout: float = 90.0, interval: float = 0.2) -> T:
    """Poll `condition` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@contextlib.contextmanager
def running_worker() -> Iterator[object]:
    """A real Celery worker in a thread of this process, on the test broker, consuming both queues."""
    import celery.contrib.testing.tasks  # noqa: F401  (registers celery.ping for the start check)
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app, pool="solo", queues=list(QUEUES), shutdown_timeout=30) as worker:
        yield worker


# A shopper's delivery details that pass the checkout form.
CHECKOUT_DETAILS = {
    "email": "buyer@example.com",
    "full_name": "A Buyer",
    "address_line1": "1 Main Street",
    "city": "Pune",
    "postal_code": "411001",
    "country": "India",
}


def checkout(client, products) -> None:
    """Put one of each product in the client's cart and check out (the storefront's own views)."""
    from django.urls import reverse

    for product in products:
        assert client.post(reverse("shop:cart_add", args=[product.pk]), {"quantity": 1}).status_code == 302
    assert client.post(reverse("shop:checkout"), CHECKOUT_DETAILS).status_code == 302
