"""End to end on the real parts: admin upload → Celery worker → pgvector → product page.

A real worker (celery.contrib.testing.worker, not eager mode) consumes the real broker.
"""

import random
import re

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from demo.catalog import draw_product
from recommendations.models import ProductEmbedding
from recommendations.services import product_embeddings_compute
from shop.models import Product
from tests import plugin
from tests.factories import jpeg_bytes, product_with_image
from tests.helpers import purge_queues, queue_length, running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

KINDS = [("Tshirts", "Red"), ("Casual Shoes", "Black"), ("Watches", "Grey"), ("Handbags", "Brown")]


def all_embeddings_settled() -> bool:
    return not ProductEmbedding.objects.filter(status=ProductEmbedding.Status.PENDING).exists()


def picture(kind: str, colour: str, seed: int) -> bytes:
    return jpeg_bytes(draw_product(kind, colour, "solid", random.Random(seed)))


def make_catalogue(per_kind: int = 4) -> dict[str, list[Product]]:
    catalogue: dict[str, list[Product]] = {}
    for kind, colour in KINDS:
        catalogue[kind] = [
            product_with_image(f"{kind[:3].upper()}{i}", picture(kind, colour, seed=i), name=f"{colour} {kind} {i}")
            for i in range(per_kind)
        ]
    return catalogue


def similar_links(html: str) -> list[int]:
    block = re.search(r'data-testid="similar-items"(.*?)</section>', html, re.S)
    assert block, "no similar-items block on the page"
    return [int(pk) for pk in re.findall(r'href="/products/(\d+)/"', block.group(1))]


def test_admin_upload_reaches_similar_items_through_the_worker(client, worker):
    """A product added in the admin is embedded by the worker and shows up on a similar product's page."""
    catalogue = make_catalogue()
    wait_for(all_embeddings_settled)
    assert ProductEmbedding.objects.filter(status="ready").count() == 16

    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "secret-pass-123")
    client.force_login(admin)
    upload = picture("Tshirts", "Red", seed=99)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/admin/shop/product/add/",
        {
            "sku": "NEW-TEE",
            "name": "New red tee",
            "image": SimpleUploadedFile("tee.jpg", upload, content_type="image/jpeg"),
            "price": "499.00",  # only what can be bought is recommended
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    new = Product.objects.get(sku="NEW-TEE")
    Product.objects.filter(pk=new.pk).update(stock=5)  # not in the admin form; set as an import would

    # The web process only enqueued the work; the worker computes it.
    embedding = wait_for(
        lambda: ProductEmbedding.objects.filter(product=new, status=ProductEmbedding.Status.READY).first()
    )
    assert embedding.vector is not None and len(embedding.vector) == 1280

    tee = catalogue["Tshirts"][0]
    assert new.pk in similar_links(client.get(f"/products/{tee.pk}/").content.decode())

    own = similar_links(client.get(f"/products/{new.pk}/").content.decode())
    assert len(own) == 5 and new.pk not in own
    tshirt_ids = {p.pk for p in catalogue["Tshirts"]}
    assert set(own[:3]) <= tshirt_ids, "the nearest items to a t-shirt should be t-shirts"

    listing = client.get("/admin/shop/product/").content.decode()
    assert "ready" in listing


def test_changed_image_is_embedded_again_and_unchanged_save_is_not(worker):
    """Editing other fields keeps the vector; a new image replaces it."""
    product = product_with_image("P1", picture("Watches", "Grey", 1))
    first = wait_for(lambda: ProductEmbedding.objects.filter(product=product, status="ready").first())

    product.name = "Renamed"
    product.save()
    assert ProductEmbedding.objects.get(pk=first.pk).status == "ready"

    from django.core.files.base import ContentFile

    product.image.save("other.jpg", ContentFile(picture("Handbags", "Brown", 2)), save=False)
    product.save()
    second = wait_for(lambda: ProductEmbedding.objects.filter(product=product, status="ready").first())
    assert second.source_sha256 == product.image_sha256 != first.source_sha256
    assert not np.array_equal(second.vector, first.vector)


def test_bad_stored_image_is_marked_failed_with_reason(worker, client):
    """A corrupt image that bypassed the forms fails once, readably, without endless retries."""
    product = product_with_image("BROKEN", b"this is not a jpeg at all" * 20)
    failed = wait_for(lambda: ProductEmbedding.objects.filter(product=product, status="failed").first())
    assert "not an image" in failed.error
    assert failed.attempts == 1
    page = client.get(f"/products/{product.pk}/").content.decode()
    assert "could not be processed" in page


def test_embedding_is_enqueued_only_after_commit():
    """Inside a transaction nothing reaches the broker; the commit sends the task."""
    purge_queues()
    with transaction.atomic():
        product_with_image("TX1", picture("Tshirts", "Red", 5))
        assert queue_length() == 0
    assert queue_length() == 1


def test_rolled_back_save_sends_nothing():
    purge_queues()
    with pytest.raises(RuntimeError), transaction.atomic():
        product_with_image("TX2", picture("Tshirts", "Red", 6))
        raise RuntimeError("abort")
    assert queue_length() == 0
    assert not Product.objects.filter(sku="TX2").exists()


def test_compute_is_idempotent():
    """Running the same task twice changes nothing the second time."""
    product = product_with_image("IDEM", picture("Casual Shoes", "Black", 3))
    assert product_embeddings_compute(product_ids=[product.pk]) == {"ready": 1, "failed": 0, "skipped": 0}
    before = ProductEmbedding.objects.get(product=product)
    assert product_embeddings_compute(product_ids=[product.pk]) == {"ready": 0, "failed": 0, "skipped": 1}
    after = ProductEmbedding.objects.get(product=product)
    assert np.array_equal(after.vector, before.vector) and after.computed_at == before.computed_at


def test_save_while_broker_is_down_loses_nothing():
    """With the broker down the product still saves; the sweep sends it once the broker is back."""
    if plugin.valkey_server is None:
        pytest.skip("needs the embedded broker (REDIS_URL points at an external one that tests must not stop)")
    purge_queues()
    plugin.valkey_server.stop()
    try:
        product = product_with_image("OUTAGE", picture("Handbags", "Brown", 4))
    finally:
        plugin.valkey_server.start()
    assert Product.objects.filter(sku="OUTAGE").exists()
    embedding = ProductEmbedding.objects.get(product=product)
    assert embedding.status == "pending" and embedding.queued_at is None

    call_command("embed_products", "--missing")
    with running_worker():
        wait_for(lambda: ProductEmbedding.objects.filter(product=product, status="ready").exists())
