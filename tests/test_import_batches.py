"""A bulk import hands its embeddings and thumbnails to the worker chunk by chunk, while it runs.

Observed on the real broker through Celery's own `after_task_publish` signal: each message
is recorded with the number of products committed when it went out.
"""

import pytest
from celery.signals import after_task_publish
from django.core.management import call_command

from recommendations.models import ProductEmbedding
from shop import services as shop_services
from shop.models import Product
from tests.helpers import purge_queues, queue_length
from tests.test_import import JEANS, SHIRT, WATCH, make_catalog

pytestmark = pytest.mark.django_db(transaction=True)

EMBED = "recommendations.tasks.product_embeddings_compute_task"
THUMBS = "shop.tasks.product_thumbnails_task"


def six_rows() -> list[str]:
    """Six products (two of each kind, new ids): three chunks of two."""
    rows = []
    for offset, line in enumerate([SHIRT, JEANS, WATCH, SHIRT, JEANS, WATCH]):
        sku, rest = line.split(",", 1)
        rows.append(f"{int(sku) + 100 + offset},{rest}")
    return rows


@pytest.fixture
def sends():
    """(task name, products committed at that moment, ids sent) for every message published."""
    published: list[tuple[str, int, list[int]]] = []

    def record(sender=None, body=None, **kwargs):
        args = body[0] if isinstance(body, tuple) else []
        published.append((sender, Product.objects.count(), list(args[0]) if args else []))

    after_task_publish.connect(record, weak=False)
    purge_queues()
    yield published
    after_task_publish.disconnect(record)
    purge_queues()


def test_the_import_command_sends_each_chunk_while_the_import_runs(tmp_path, monkeypatch, sends):
    """With chunks of 2, the first chunk's embeddings and thumbnails leave before chunk 2 is read."""
    monkeypatch.setattr(shop_services, "IMPORT_CHUNK", 2)
    call_command("import_catalog", str(make_catalog(tmp_path, six_rows())), verbosity=0)

    embeds = [(count, ids) for name, count, ids in sends if name == EMBED]
    thumbs = [(count, ids) for name, count, ids in sends if name == THUMBS]
    # One message per chunk, each sent as soon as its chunk committed.
    assert [count for count, _ in embeds] == [2, 4, 6]
    assert [count for count, _ in thumbs] == [2, 4, 6]
    assert sorted(pk for _, ids in embeds for pk in ids) == sorted(Product.objects.values_list("pk", flat=True))
    assert queue_length("embeddings") == 3


def test_no_queue_import_sends_nothing_and_leaves_embeddings_pending(tmp_path, monkeypatch, sends):
    """--no-queue still holds back every chunk: nothing reaches the broker, rows stay pending."""
    monkeypatch.setattr(shop_services, "IMPORT_CHUNK", 2)
    call_command("import_catalog", str(make_catalog(tmp_path, six_rows())), no_queue=True, verbosity=0)

    assert sends == []
    assert queue_length("embeddings") == 0
    assert ProductEmbedding.objects.filter(status=ProductEmbedding.Status.PENDING).count() == 6
