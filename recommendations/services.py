"""Writes: scheduling and computing product embeddings."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from pgvector.django import VectorField
from PIL import Image

from config.batching import ids_deferred
from recommendations.colours import image_colour_lab
from recommendations.models import EMBEDDING_DIMENSIONS, ProductEmbedding
from shop.images import ImageError, load_image
from shop.models import Product

logger = logging.getLogger(__name__)

# While set, scheduled product ids are collected here and enqueued in batches at the end.
_deferred_ids: ContextVar[list[int] | None] = ContextVar("deferred_embedding_ids", default=None)


def active_model_name() -> str:
    name = settings.EMBEDDING_MODEL
    if name not in EMBEDDING_DIMENSIONS:
        raise ValueError(f"EMBEDDING_MODEL={name!r} is not one of {sorted(EMBEDDING_DIMENSIONS)}")
    return name


def embedder_get(model_name: str | None = None):
    """The embedder of a model (default: the active one), built once per process on first use."""
    from recommendations.embeddings import get_embedder

    model_name = model_name or active_model_name()
    # EMBEDDING_BACKEND applies to Lite0 only (ResNet50 runs on Keras alone).
    backend = settings.EMBEDDING_BACKEND if model_name == "efficientnet_lite0" else None
    return get_embedder(
        model_name,
        resnet50_weights=settings.RESNET50_WEIGHTS,
        backend=backend,
        cache_dir=Path(settings.EMBEDDING_MODEL_CACHE),
    )


def image_embed(*, image: Image.Image) -> np.ndarray:
    """The active model's L2-normalised vector for one decoded image."""
    return embedder_get().embed([image])[0]


@contextmanager
def embeddings_deferred(*, enqueue: bool = True) -> Iterator[list[int]]:
    """Collect the product ids scheduled inside the block; enqueue them in batches after.

    Bulk imports use it so that the worker embeds batches, not one image per task.
    With enqueue=False the caller computes them itself. Nested blocks share the outer list.
    """
    send = (lambda ids: embeddings_enqueue(product_ids=ids)) if enqueue else None
    with ids_deferred(_deferred_ids, send) as ids:
        yield ids


def product_embedding_schedule(
    *, product: Product, model_name: str | None = None, force: bool = False
) -> ProductEmbedding | None:
    """Mark the product's embedding pending and enqueue it if its image is new or changed."""
    model_name = model_name or active_model_name()
    if not product.image:
        ProductEmbedding.objects.filter(product=product).delete()
        return None
    embedding, created = ProductEmbedding.objects.get_or_create(
        product=product,
        model_name=model_name,
        defaults={"source_sha256": product.image_sha256, "queued_at": timezone.now()},
    )
    unchanged = embedding.source_sha256 == product.image_sha256
    if not created and unchanged and not force:
        return embedding
    if not created:
        embedding.status = ProductEmbedding.Status.PENDING
        embedding.error = ""
        embedding.vector = None
        embedding.colour_lab = None
        embedding.source_sha256 = product.image_sha256
        embedding.queued_at = timezone.now()
        embedding.save(
            update_fields=["status", "error", "vector", "colour_lab", "source_sha256", "queued_at", "updated_at"]
        )
    deferred = _deferred_ids.get()
    if deferred is not None:
        deferred.append(product.pk)
    else:
        embeddings_enqueue(product_ids=[product.pk])
    return embedding


def embeddings_enqueue(*, product_ids: Iterable[int], batch_size: int | None = None) -> None:
    """Send compute tasks once the current transaction commits, in batches."""
    ids = list(dict.fromkeys(product_ids))
    batch_size = batch_size or settings.EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        transaction.on_commit(lambda batch=batch: _send_compute_task(batch))


def _send_compute_task(product_ids: list[int]) -> None:
    from recommendations.tasks import product_embeddings_compute_task

    try:
        product_embeddings_compute_task.delay(product_ids)
    except Exception as exc:  # broker down: the saved product must not be lost or fail
        logger.warning("Could not enqueue embeddings for %s products: %s", len(product_ids), exc)
        # No queued_at = never sent: the next sweep sends these rows at once.
        ProductEmbedding.objects.filter(product_id__in=product_ids, status=ProductEmbedding.Status.PENDING).update(
            queued_at=None
        )


# Rows are written in statements of this many while the model works on the next images, so
# PostgreSQL's HNSW inserts (its own process, the other core) overlap with inference.
EMBEDDING_WRITE_CHUNK = 16


@dataclass
class _Embedded:
    """One row's outcome, computed on a pool thread: a vector and colour, or the failure reason."""

    row: ProductEmbedding
    vector: np.ndarray | None = None
    colour_lab: tuple[float, float, float] | None = None
    error: str = ""


def _embedding_make(row: ProductEmbedding, embedder) -> _Embedded:
    """Read, decode and embed one row's image (no database access: runs on a pool thread)."""
    try:
        with row.product.image.open("rb") as file:
            image = load_image(file.read())
    except FileNotFoundError:
        return _Embedded(row, error="The image file is missing from storage.")
    except ImageError as exc:
        return _Embedded(row, error=str(exc))
    return _Embedded(row, vector=embedder.embed_one(image), colour_lab=image_colour_lab(image))


def product_embeddings_compute(*, product_ids: Iterable[int], model_name: str | None = None) -> dict[str, int]:
    """Compute and store the embeddings of these products, and the item colour measured from the
    same image (similar items rank by both). Safe to run twice.

    A bad image marks its row failed with the reason; other rows still get their vector.
    Images are read, decoded and embedded on `embedder.parallel` threads, one image per model
    call (a vector never depends on its batch), while this thread writes the finished ones,
    EMBEDDING_WRITE_CHUNK rows per UPDATE. Returns counts of "ready", "failed" and "skipped" rows.
    """
    model_name = model_name or active_model_name()
    counts = {"ready": 0, "failed": 0, "skipped": 0}
    rows = list(
        ProductEmbedding.objects.filter(product_id__in=list(product_ids), model_name=model_name)
        .select_related("product")
        .order_by("product_id")
    )
    todo: list[ProductEmbedding] = []
    for row in rows:
        product = row.product
        if not product.image or row.source_sha256 != product.image_sha256:
            counts["skipped"] += 1  # image changed or removed since: a newer task handles it
        elif row.status == ProductEmbedding.Status.READY:
            counts["skipped"] += 1
        else:
            todo.append(row)
    if not todo:
        return counts
    embedder = embedder_get(model_name)
    pool = ThreadPoolExecutor(embedder.parallel, thread_name_prefix="embed-rows")
    try:
        done: list[_Embedded] = []
        for result in pool.map(lambda row: _embedding_make(row, embedder), todo):
            if result.vector is None:
                _mark_failed(result.row, result.error)
                counts["failed"] += 1
                continue
            done.append(result)
            if len(done) >= EMBEDDING_WRITE_CHUNK:
                stored = _embeddings_store(done)
                counts["ready"] += stored
                counts["skipped"] += len(done) - stored
                done = []
        if done:
            stored = _embeddings_store(done)
            counts["ready"] += stored
            counts["skipped"] += len(done) - stored
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a failed write stops the images not started
    return counts


# SKIP LOCKED: a row another transaction holds (e.g. an import re-scheduling a changed image) is
# left as it is rather than waited for. The old one-row UPDATEs held one lock at a time; waiting
# here while holding 15 others could deadlock with such a transaction. A row left pending this way
# gets its vector from the task that transaction sends, or from the sweep.
_STORE_SQL = """
UPDATE {table} AS e
SET status = %s, vector = v.vector::vector, colour_lab = ARRAY[v.l, v.a, v.b], error = '',
    computed_at = %s, updated_at = %s, attempts = e.attempts + 1
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::float8[], %s::float8[], %s::float8[])
    AS v(id, sha, vector, l, a, b)
WHERE e.id = v.id AND e.source_sha256 = v.sha
    AND e.id IN (SELECT id FROM {table} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE SKIP LOCKED)
RETURNING e.id
"""


def _embeddings_store(results: list[_Embedded]) -> int:
    """Write these vectors and colours in one statement; returns how many rows took them.

    A row is written only if its image is still the one embedded (it may have changed meanwhile).
    """
    now = timezone.now()
    to_text = VectorField().get_prep_value  # the text the ORM sends: the same float32 values
    colours = [result.colour_lab for result in results]
    params = [
        ProductEmbedding.Status.READY,
        now,
        now,
        [result.row.pk for result in results],
        [result.row.source_sha256 for result in results],
        [to_text(result.vector.astype(np.float32)) for result in results],
        *([float(colour[i]) for colour in colours] for i in range(3)),
        [result.row.pk for result in results],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_STORE_SQL.format(table=ProductEmbedding._meta.db_table), params)
        return len(cursor.fetchall())


def _mark_failed(row: ProductEmbedding, reason: str) -> None:
    ProductEmbedding.objects.filter(pk=row.pk, source_sha256=row.source_sha256).update(
        status=ProductEmbedding.Status.FAILED,
        error=reason,
        vector=None,
        colour_lab=None,
        attempts=F("attempts") + 1,
        updated_at=timezone.now(),
    )


def product_embeddings_fail(*, product_ids: Iterable[int], reason: str, model_name: str | None = None) -> None:
    """Record a failure that retries could not fix, so the admin shows why."""
    ProductEmbedding.objects.filter(
        product_id__in=list(product_ids),
        model_name=model_name or active_model_name(),
        status=ProductEmbedding.Status.PENDING,
    ).update(status=ProductEmbedding.Status.FAILED, error=reason[:2000], updated_at=timezone.now())


def embeddings_recompute(*, product_ids: Iterable[int]) -> int:
    """Force a fresh embedding of these products (admin action, command)."""
    count = 0
    with embeddings_deferred():
        for product in Product.objects.filter(pk__in=list(product_ids)):
            if product_embedding_schedule(product=product, force=True) is not None:
                count += 1
    return count


def embeddings_sweep(*, model_name: str | None = None, stuck_after: timedelta | None = None) -> int:
    """Enqueue every product whose active-model embedding is missing, outdated or stuck.

    This is what makes a save during a broker outage safe: the row stays pending and the
    periodic sweep (and `embed_products --missing`) sends it again.
    """
    model_name = model_name or active_model_name()
    if stuck_after is None:
        stuck_after = timedelta(seconds=settings.EMBEDDING_STUCK_SECONDS)
    embedding = ProductEmbedding.objects.filter(product=OuterRef("pk"), model_name=model_name)
    products = Product.objects.exclude(image="").annotate(
        embedding_sha=Subquery(embedding.values("source_sha256")[:1]),
        embedding_status=Subquery(embedding.values("status")[:1]),
        embedding_queued=Subquery(embedding.values("queued_at")[:1]),
    )
    stale = products.filter(
        Q(embedding_sha__isnull=True)
        | ~Q(embedding_sha=F("image_sha256"))
        | Q(embedding_status=ProductEmbedding.Status.PENDING, embedding_queued__lt=timezone.now() - stuck_after)
        | Q(embedding_status=ProductEmbedding.Status.PENDING, embedding_queued__isnull=True)
    )
    count = 0
    with embeddings_deferred():
        for product in stale.iterator():
            force = product.embedding_status == ProductEmbedding.Status.PENDING
            product_embedding_schedule(product=product, model_name=model_name, force=force)
            count += 1
    if count:
        logger.info("Embedding sweep enqueued %s products for %s", count, model_name)
    return count
