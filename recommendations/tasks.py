"""Celery tasks: thin wrappers that take ids and call services."""

import logging

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


class EmbeddingTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        from recommendations.services import product_embeddings_fail

        product_ids = kwargs.get("product_ids") or (args[0] if args else [])
        logger.error("Embedding task %s failed for %s products: %r", task_id, len(product_ids), exc)
        try:
            product_embeddings_fail(product_ids=product_ids, reason=f"Embedding failed: {exc}")
        except Exception:  # the database itself may be what failed
            logger.exception("Could not record the embedding failure")


@shared_task(
    base=EmbeddingTask,
    acks_late=True,
    ignore_result=True,  # nobody waits on it; also keeps a broker outage from blocking the sender
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def product_embeddings_compute_task(product_ids: list[int]) -> dict[str, int]:
    """Embed these products' images with the active model and store the vectors."""
    from recommendations.services import product_embeddings_compute

    counts = product_embeddings_compute(product_ids=product_ids)
    logger.info("Embedded %s products: %s", len(product_ids), counts)
    if counts["ready"]:
        # New vectors change what search by photo should predict; one retraining per burst,
        # run by the periodic category_classifier_retrain_task once due.
        from recommendations.classifier import category_classifier_schedule

        category_classifier_schedule()
    return counts


@shared_task(acks_late=True, ignore_result=True)
def embeddings_sweep_task() -> int:
    """Periodic: re-enqueue embeddings that are missing, outdated or stuck."""
    from recommendations.services import embeddings_sweep

    return embeddings_sweep()


# The result (the new version or None) is kept: a caller may wait for the retraining.
@shared_task(acks_late=True, ignore_result=False, autoretry_for=TRANSIENT_ERRORS, retry_backoff=5, max_retries=3)
def category_classifier_train_task(force: bool = False) -> int | None:
    """Retrain search by photo's category classifier if the catalogue changed; returns the new version."""
    return _classifier_train(force=force)


@shared_task(acks_late=True, ignore_result=True)
def category_classifier_retrain_task() -> int | None:
    """Periodic (beat): retrain once a retraining marked by new embeddings is due."""
    from recommendations.classifier import category_classifier_retrain_claim, category_classifier_schedule

    try:
        if not category_classifier_retrain_claim():
            return None
    except Exception as exc:  # the shared cache is down: nothing is lost, the mark is still there
        logger.warning("Could not check for a due classifier training: %s", exc)
        return None
    try:
        return _classifier_train(force=False)
    except TRANSIENT_ERRORS:
        category_classifier_schedule(delay=0)  # claimed but not done: the next check tries again
        raise


def _classifier_train(*, force: bool) -> int | None:
    from recommendations.classifier import category_classifier_train

    try:
        classifier = category_classifier_train(force=force)
    except ValueError as exc:  # too few article types yet: plain search serves meanwhile
        logger.info("Category classifier not trained: %s", exc)
        return None
    if classifier is None:
        logger.info("Category classifier unchanged: the catalogue is the same")
        return None
    logger.info("Trained %s on %s products: %s", classifier, classifier.n_products, classifier.metrics)
    return classifier.version


# Periodic (beat, RECOMMENDERS_TRAIN_SECONDS) and on demand; the result names the new versions.
@shared_task(acks_late=True, ignore_result=False, autoretry_for=TRANSIENT_ERRORS, retry_backoff=5, max_retries=3)
def recommenders_train_task() -> list[str]:
    """Train every recommender kind (also bought, bought together, ALS, BPR) from the event log and
    switch to the new versions; each kind is timed and its peak memory stored in its version's
    metrics, with BLAS single-threaded (recommendations.training)."""
    from recommendations.training import recommenders_train_measured

    return [str(model) for model in recommenders_train_measured()]
