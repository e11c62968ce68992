"""The classifier's "retrain once per burst" mark is shared by every process, and no message
waits in a worker for it, so a broker outage finds nothing held unacknowledged."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import caches

from config.celery_app import app as celery_app
from recommendations.classifier import RETRAIN_DUE_KEY, category_classifier_retrain_claim, category_classifier_schedule
from recommendations.models import ProductEmbedding
from tests import plugin
from tests.factories import product_with_image
from tests.helpers import queue_length, wait_for
from tests.test_pipeline import picture

shared = caches["shared"]


@pytest.fixture(autouse=True)
def no_retraining_due():
    shared.delete(RETRAIN_DUE_KEY)
    yield
    shared.delete(RETRAIN_DUE_KEY)


def schedule_in_another_process() -> str:
    """category_classifier_schedule() run by a separate Python process (as a second worker child is)."""
    code = (
        "import django; django.setup(); "
        "from recommendations.classifier import category_classifier_schedule as s; print(s())"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_two_processes_schedule_one_retraining():
    """Two worker processes finishing batches in the same burst mark one retraining, not two."""
    assert category_classifier_schedule() is True
    assert schedule_in_another_process() == "False"


def test_a_retraining_is_claimed_once_and_only_when_due():
    assert category_classifier_retrain_claim() is False  # nothing due
    assert category_classifier_schedule(delay=120) is True
    assert category_classifier_retrain_claim() is False  # not yet
    due_at = shared.get(RETRAIN_DUE_KEY)
    assert category_classifier_retrain_claim(now=due_at + 1) is True
    assert category_classifier_retrain_claim(now=due_at + 1) is False  # claimed: the next check finds none
    assert category_classifier_schedule(delay=120) is True  # the next burst marks a new one


def unacked_messages() -> int:
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        return channel.client.hlen(channel.unacked_key)


@pytest.mark.django_db(transaction=True)
def test_worker_holds_nothing_unacked_after_a_batch_and_survives_a_broker_restart(worker):
    """After a batch of embeddings the worker holds no message; the broker restarts and the
    same worker embeds the next product."""
    if plugin.valkey_server is None:
        pytest.skip("needs the embedded broker (REDIS_URL points at an external one that tests must not stop)")
    first = product_with_image("RT1", picture("Tshirts", "Red", 1))
    wait_for(lambda: ProductEmbedding.objects.filter(product=first, status="ready").exists())
    wait_for(lambda: unacked_messages() == 0, timeout=10)
    assert queue_length("embeddings") == 0  # nothing sent that waits for the retraining
    assert shared.get(RETRAIN_DUE_KEY) is not None  # the batch marked it in the shared cache instead

    plugin.valkey_server.stop()
    plugin.valkey_server.start()
    second = product_with_image("RT2", picture("Watches", "Grey", 2))
    wait_for(lambda: ProductEmbedding.objects.filter(product=second, status="ready").exists(), timeout=120)
