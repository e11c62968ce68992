"""Helpers shared by the tests: a real Celery worker (pipeline and browser flows), the HNSW index."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from config.celery_app import app as celery_app

QUEUES = ("celery", "embeddings")
T = TypeVar("T")


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
