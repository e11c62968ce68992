"""Celery tasks of the catalogue: thin wrappers that take ids and call services."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

# Worth a retry; a bad image is not (it is recorded as failed by the service).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
RETRY = {
    "acks_late": True,
    "ignore_result": True,  # nobody waits on it; also keeps a broker outage from blocking the sender
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(**RETRY)
def product_thumbnail_task(product_id: int) -> str:
    """Make one product's thumbnail (after a save in the admin or a form)."""
    from shop.models import Product
    from shop.thumbnails import product_thumbnail_make

    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        logger.info("Product %s deleted before its thumbnail was made", product_id)
        return "skipped"
    return product_thumbnail_make(product=product)


@shared_task(**RETRY)
def product_thumbnails_task(product_ids: list[int]) -> dict[str, int]:
    """Make a batch of products' thumbnails (after an import)."""
    from shop.thumbnails import product_thumbnails_make

    counts = product_thumbnails_make(product_ids=product_ids)
    logger.info("Thumbnails for %s products: %s", len(product_ids), counts)
    return counts


@shared_task(acks_late=True, ignore_result=True)
def thumbnails_sweep_task() -> dict[str, int]:
    """Periodic: make thumbnails that are missing or outdated (a lost message, a --no-queue import)."""
    from shop.thumbnails import thumbnails_sweep

    return thumbnails_sweep()
