"""Celery tasks of the event log: thin wrappers over services."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def interactions_purge_task() -> int:
    """Periodic: delete the shop's events older than EVENT_LOG_RETENTION_DAYS."""
    from events.services import interactions_purge

    deleted = interactions_purge()
    logger.info("Event log purge: %s events older than the retention period deleted", deleted)
    return deleted
