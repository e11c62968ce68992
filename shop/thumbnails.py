"""Writes: product thumbnails, made once per image (see Product.image_sha256).

A thumbnail is current when `thumbnail_sha256 == image_sha256`. A current row with no
thumbnail file means the image could not be thumbnailed; listings then show the full image
and nobody retries until the image changes (or `make_thumbnails --all`).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, QuerySet
from PIL import Image

from config.batching import ids_deferred
from shop.images import ImageError, load_image
from shop.models import Product, product_thumbnail_path

logger = logging.getLogger(__name__)

# While set, scheduled product ids are collected here and enqueued in batches at the end.
_deferred_ids: ContextVar[list[int] | None] = ContextVar("deferred_thumbnail_ids", default=None)

MADE, CURRENT, FAILED, CLEARED, SKIPPED = "made", "current", "failed", "cleared", "skipped"


def products_thumbnail_stale() -> QuerySet[Product]:
    """Products whose thumbnail is missing or was made from another image."""
    return Product.objects.exclude(thumbnail_sha256=F("image_sha256"))


def thumbnail_render(*, image: Image.Image) -> bytes:
    """The JPEG bytes of `image` fitted into THUMBNAIL_SIZE (aspect kept, never enlarged)."""
    image = image.copy()
    image.thumbnail(settings.THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=settings.THUMBNAIL_QUALITY, optimize=True, progressive=True)
    return buffer.getvalue()


def product_thumbnail_make(*, product: Product, force: bool = False) -> str:
    """Make the product's thumbnail from its current image. Safe to run twice or concurrently.

    Returns "made", "current" (nothing to do), "failed" (the image cannot be decoded: logged and
    recorded, no thumbnail), "cleared" (no image: an old thumbnail is removed) or "skipped" (the
    image changed while this ran; the save that changed it scheduled a newer run).
    Only the thumbnail columns are written, so concurrent edits of other fields are kept.
    """
    sha = product.image_sha256
    if product.thumbnail_sha256 == sha and not force:
        return CURRENT
    if not product.image:
        _thumbnail_store(product=product, sha=sha, name="")
        return CLEARED
    try:
        with product.image.open("rb") as file:
            data = thumbnail_render(image=load_image(file))
    except FileNotFoundError:
        return _thumbnail_fail(product=product, reason="the image file is missing from storage")
    except ImageError as exc:
        return _thumbnail_fail(product=product, reason=str(exc))
    storage = product.thumbnail.storage
    name = product_thumbnail_path(product, f"{sha[:16]}.jpg")
    if name != product.thumbnail.name and storage.exists(name):
        storage.delete(name)  # left by an interrupted run; a fresh copy replaces it
    # If the name is taken by the current thumbnail (force), storage picks a free one.
    saved = storage.save(name, ContentFile(data))
    outcome = _thumbnail_store(product=product, sha=sha, name=saved)
    if outcome == SKIPPED:
        storage.delete(saved)
    return outcome


def _thumbnail_fail(*, product: Product, reason: str) -> str:
    logger.warning("No thumbnail for product %s (%s): %s", product.pk, product.sku, reason)
    outcome = _thumbnail_store(product=product, sha=product.image_sha256, name="")
    return FAILED if outcome != SKIPPED else SKIPPED


def _thumbnail_store(*, product: Product, sha: str, name: str) -> str:
    """Point the row at thumbnail `name` if its image is still `sha`; delete the file it replaces."""
    with transaction.atomic():
        row = Product.objects.select_for_update().filter(pk=product.pk).values("image_sha256", "thumbnail").first()
        if row is None or row["image_sha256"] != sha:
            return SKIPPED
        Product.objects.filter(pk=product.pk).update(thumbnail=name, thumbnail_sha256=sha)
        previous = row["thumbnail"]
        if previous and previous != name:
            storage = product.thumbnail.storage
            transaction.on_commit(lambda: storage.delete(previous))
    product.thumbnail.name = name
    product.thumbnail_sha256 = sha
    return MADE if name else CLEARED


def product_thumbnails_make(*, product_ids: Iterable[int], force: bool = False) -> dict[str, int]:
    """Make the thumbnails of these products; returns how many ended in each outcome."""
    counts = dict.fromkeys((MADE, CURRENT, FAILED, CLEARED, SKIPPED), 0)
    for product in Product.objects.filter(pk__in=list(product_ids)).order_by("pk"):
        counts[product_thumbnail_make(product=product, force=force)] += 1
    return counts


@contextmanager
def thumbnails_deferred(*, enqueue: bool = True) -> Iterator[list[int]]:
    """Collect the product ids scheduled inside the block; enqueue them in batches after.

    Bulk imports use it so that one message carries a batch, not one product.
    With enqueue=False nothing is sent (the sweep or the fallback view makes them later).
    Nested blocks share the outer list.
    """
    send = (lambda ids: thumbnails_enqueue(product_ids=ids)) if enqueue else None
    with ids_deferred(_deferred_ids, send) as ids:
        yield ids


def product_thumbnail_schedule(*, product: Product) -> bool:
    """Enqueue the product's thumbnail after commit if its image is new, changed or removed."""
    if product.thumbnail_sha256 == product.image_sha256:
        return False
    deferred = _deferred_ids.get()
    if deferred is not None:
        deferred.append(product.pk)
    else:
        transaction.on_commit(lambda pk=product.pk: _send(pk))
    return True


def thumbnails_enqueue(*, product_ids: Iterable[int], batch_size: int | None = None) -> None:
    """Send thumbnail tasks once the current transaction commits, in batches."""
    ids = list(dict.fromkeys(product_ids))
    batch_size = batch_size or settings.THUMBNAIL_BATCH_SIZE
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        transaction.on_commit(lambda batch=batch: _send(batch))


def _send(product_ids: int | list[int]) -> None:
    from shop.tasks import product_thumbnail_task, product_thumbnails_task

    try:
        if isinstance(product_ids, int):
            product_thumbnail_task.delay(product_ids)
        else:
            product_thumbnails_task.delay(product_ids)
    except Exception as exc:  # broker down: the save must not fail; the sweep and fallback view cover it
        logger.warning("Could not enqueue thumbnails for %s: %s", product_ids, exc)


def thumbnails_sweep(*, budget_seconds: float | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Make missing or outdated thumbnails here, oldest products first, until done or out of time."""
    budget = settings.THUMBNAIL_SWEEP_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    batch_size = batch_size or settings.THUMBNAIL_BATCH_SIZE
    deadline = time.monotonic() + budget
    counts = dict.fromkeys((MADE, CURRENT, FAILED, CLEARED, SKIPPED), 0)
    after = 0
    while time.monotonic() < deadline:
        batch = list(products_thumbnail_stale().filter(pk__gt=after).order_by("pk")[:batch_size])
        if not batch:
            break
        for product in batch:
            after = product.pk
            try:
                counts[product_thumbnail_make(product=product)] += 1
            except Exception:  # e.g. storage unreachable: not recorded, so the next sweep retries it
                logger.exception("Thumbnail sweep could not process product %s", product.pk)
                counts[SKIPPED] += 1
            if time.monotonic() >= deadline:
                break
    if counts[MADE] or counts[FAILED]:
        logger.info("Thumbnail sweep: %s", counts)
    return counts
