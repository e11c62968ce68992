"""The embedding service's fast path: images decoded and embedded on threads, one image per model
call, finished rows written several per UPDATE.

What it must keep: a product's stored vector is that of its image alone, whatever batch, order or
companions it came with (the same bits; the documented tolerance is cosine >= 0.99999); every bad
image is recorded as failed with its reason while the others are stored; a row whose image changed
meanwhile is not overwritten.
"""

import io
import random

import numpy as np
import PIL.Image
import pytest

from demo.catalog import draw_product
from recommendations.models import ProductEmbedding
from recommendations.services import (
    EMBEDDING_WRITE_CHUNK,
    _Embedded,
    _embeddings_store,
    embedder_get,
    product_embeddings_compute,
)
from shop.images import load_image
from tests.factories import jpeg_bytes, product_with_image
from tests.helpers import shared_data

pytestmark = pytest.mark.django_db

COLOURS = ("Red", "Blue", "Green", "Black", "White", "Yellow")


def drawn(seed: int) -> bytes:
    return jpeg_bytes(draw_product("Tshirts", COLOURS[seed % len(COLOURS)], "solid", random.Random(seed)))


def stored_vectors(products) -> dict[int, np.ndarray]:
    rows = ProductEmbedding.objects.filter(product__in=products, status=ProductEmbedding.Status.READY)
    return {row.product_id: np.asarray(row.vector, dtype=np.float32) for row in rows}


def alone(data: bytes) -> np.ndarray:
    """The vector of one image computed by itself, outside the service."""
    return embedder_get().embed_one(load_image(data))


def reset_pending(products) -> None:
    ProductEmbedding.objects.filter(product__in=products).update(status="pending", vector=None, colour_lab=None)


def test_stored_vector_of_a_real_image_does_not_depend_on_its_batch():
    """Real catalogue photos (3:4 and stretched squares), a large PNG and a broken file in one batch:
    each stored vector equals the image's vector computed alone, in any batch split and order."""
    sample = sorted(shared_data("fashion-sample/images").glob("*.jpg"))[:6]
    extra = sorted(shared_data("fashion-extra/images").glob("*.jpg"))[:4]
    files = {f"R{n}": path.read_bytes() for n, path in enumerate(sample + extra)}
    big = PIL.Image.open(sample[0]).convert("RGB").resize((900, 1200), PIL.Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    files["BIG"] = buffer.getvalue()
    products = [product_with_image(sku, data) for sku, data in files.items()]
    broken = product_with_image("BROKEN", drawn(1))
    with open(broken.image.path, "wb") as handle:  # the stored file damaged after the upload
        handle.write(b"\xff\xd8\xff\xe0 not a whole jpeg")
    ids = [p.pk for p in [products[0], broken, *products[1:]]]

    assert product_embeddings_compute(product_ids=ids) == {"ready": len(files), "failed": 1, "skipped": 0}
    first = stored_vectors(products)
    for product, data in zip(products, files.values(), strict=True):
        expected = alone(data)
        assert np.array_equal(first[product.pk], expected), product.sku
        assert float(first[product.pk] @ expected) >= 0.99999  # the documented tolerance, implied

    reset_pending(products)
    for start in range(0, len(ids), 3):  # other batches, other companions, reversed order
        product_embeddings_compute(product_ids=ids[::-1][start : start + 3])
    second = stored_vectors(products)
    assert second.keys() == first.keys()
    assert all(np.array_equal(second[pk], first[pk]) for pk in first)
    failed = ProductEmbedding.objects.get(product=broken)
    assert failed.status == "failed" and "corrupt" in failed.error and failed.vector is None


def test_a_batch_is_written_one_statement_per_chunk(django_assert_num_queries):
    """20 images: one SELECT of the rows, then one UPDATE per EMBEDDING_WRITE_CHUNK rows (not one per row)."""
    assert EMBEDDING_WRITE_CHUNK == 16
    products = [product_with_image(f"W{n}", drawn(n)) for n in range(20)]
    embedder_get()  # built outside the count (building reads no database anyway)
    with django_assert_num_queries(3):
        counts = product_embeddings_compute(product_ids=[p.pk for p in products])
    assert counts == {"ready": 20, "failed": 0, "skipped": 0}
    rows = ProductEmbedding.objects.filter(product__in=products)
    assert all(row.status == "ready" and row.attempts == 1 and row.colour_lab is not None for row in rows)
    assert all(row.computed_at is not None and row.error == "" for row in rows)


def test_bad_images_across_chunks_are_recorded_and_the_others_stored():
    """A missing file and a damaged one, on both sides of a chunk boundary: both failed with their
    reason, the 16 others stored with the vectors of their images alone."""
    data = {f"B{n}": drawn(n + 40) for n in range(18)}
    products = [product_with_image(sku, image) for sku, image in data.items()]
    missing, damaged = products[2], products[17]
    missing.image.storage.delete(missing.image.name)
    with open(damaged.image.path, "wb") as handle:
        handle.write(b"GIF89a\x01")

    counts = product_embeddings_compute(product_ids=[p.pk for p in products])

    assert counts == {"ready": 16, "failed": 2, "skipped": 0}
    rows = {row.product_id: row for row in ProductEmbedding.objects.filter(product__in=products)}
    assert rows[missing.pk].status == "failed" and rows[missing.pk].error == "The image file is missing from storage."
    assert rows[damaged.pk].status == "failed" and rows[damaged.pk].error
    assert rows[missing.pk].attempts == rows[damaged.pk].attempts == 1
    vectors = stored_vectors(products)
    for product in products:
        if product not in (missing, damaged):
            assert np.array_equal(vectors[product.pk], alone(data[product.sku])), product.sku


def test_a_row_whose_image_changed_meanwhile_is_not_overwritten():
    """The write checks the image hash it embedded: a newer image's pending row keeps waiting for its own task."""
    product = product_with_image("CH1", drawn(7))
    row = ProductEmbedding.objects.get(product=product)
    embedded_then = _Embedded(row, vector=alone(drawn(7)), colour_lab=(50.0, 10.0, -5.0))
    ProductEmbedding.objects.filter(pk=row.pk).update(source_sha256="0" * 64)  # a new image was saved meanwhile

    assert _embeddings_store([embedded_then]) == 0
    row.refresh_from_db()
    assert row.status == "pending" and row.vector is None and row.colour_lab is None and row.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_a_row_locked_by_another_transaction_is_left_not_waited_for():
    """A row held by another transaction (an import re-scheduling it) is skipped, not waited for
    while the statement holds the other rows' locks (which could deadlock); the rest are stored."""
    import psycopg
    from django.db import connection

    products = [product_with_image(f"LK{n}", drawn(n + 60)) for n in range(4)]
    held = ProductEmbedding.objects.get(product=products[1])
    settings_dict = connection.get_connection_params()
    with psycopg.connect(**settings_dict) as other:
        other.execute("SELECT 1 FROM recommendations_productembedding WHERE id = %s FOR UPDATE", [held.pk])
        with connection.cursor() as cursor:  # waiting would fail the test instead of hanging it
            cursor.execute("SET lock_timeout = '3s'")
        try:
            counts = product_embeddings_compute(product_ids=[p.pk for p in products])
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        other.rollback()
    assert counts == {"ready": 3, "failed": 0, "skipped": 1}
    held.refresh_from_db()
    assert held.status == "pending" and held.vector is None
    assert ProductEmbedding.objects.filter(product__in=products, status="ready").count() == 3
    # Once the lock is gone the next task (or the sweep) stores it.
    assert product_embeddings_compute(product_ids=[products[1].pk])["ready"] == 1
