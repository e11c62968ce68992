"""Training in the worker, measured and polite: each version stores its wall time and peak memory,
BLAS runs single-threaded while it trains, and the worker processes start with one BLAS thread."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone
from threadpoolctl import threadpool_info

from config import demo
from events.models import Interaction
from recommendations.models import RecommenderModel
from recommendations.tasks import recommenders_train_task
from recommendations.training import training_measured
from shop.models import Product

ROOT = Path(__file__).resolve().parents[1]


def blas_threads() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


@pytest.fixture
def history(db):
    products = [
        Product.objects.create(sku=f"TR{i}", name=f"Trained {i}", price=Decimal("499.00"), stock=5) for i in range(4)
    ]
    now = timezone.now()
    Interaction.objects.bulk_create(
        [
            Interaction(
                customer_key=f"c{n}", product=p, kind="purchase", basket=f"b{n}", created_at=now - timedelta(hours=n)
            )
            for n in range(3)
            for p in products[:3]
        ]
    )
    return products


def test_the_task_stores_time_and_peak_memory_per_version_with_blas_limited(history, caplog):
    before = blas_threads()
    with caplog.at_level(logging.INFO, logger="recommendations.training"):
        result = recommenders_train_task.apply().get()
    # ALS and BPR wait for five shoppers with two products each; EASE trains on these three.
    assert result == ["also_bought v1", "bought_together v1", "ease v1"]
    for model in RecommenderModel.objects.all():
        figures = model.metrics
        assert figures["training_seconds"] > 0
        assert figures["peak_memory_scope"] == "training"
        # The peak of the process while it trained: at least what it held when it started.
        assert figures["peak_memory_mb"] >= figures["memory_before_mb"] > 0
        assert figures["blas_threads"] == 1
        # What the training itself wrote is still there.
        assert figures["products_with_neighbours"] == 3
    assert "Training also_bought took" in caplog.text and "BLAS threads 1" in caplog.text
    assert blas_threads() == before  # the limit is lifted after training


def test_the_command_measures_too(history, capsys):
    call_command("train_recommenders", "--kind", "also_bought")
    out = capsys.readouterr().out
    model = RecommenderModel.objects.get()
    assert f"{model.metrics['training_seconds']} s, peak memory {model.metrics['peak_memory_mb']} MB" in out


def test_peak_memory_is_the_trainings_own_peak():
    """A block that briefly holds 200 MB shows a peak at least that much above its start, although
    its memory is released before the block ends; a later small block does not inherit that peak."""
    with training_measured() as big:
        block = np.ones(200 * 1024 * 1024 // 8)  # touched: resident
        del block
    assert big.peak_memory_mb - big.memory_before_mb >= 190
    with training_measured() as small:
        np.ones(1024).sum()
    assert small.peak_memory_mb - small.memory_before_mb < 100
    assert small.scope == "training"


def test_blas_is_one_thread_inside_and_restored_after():
    before = blas_threads()
    with training_measured() as measurement:
        assert blas_threads() == 1
    assert measurement.blas_threads and set(measurement.blas_threads) == {1}
    assert blas_threads() == before


def test_worker_processes_start_with_one_blas_thread():
    """make demo's worker and the compose file's worker: OPENBLAS_NUM_THREADS=1, the rest of the
    environment kept (a service's own `environment` would otherwise replace the shared one)."""
    assert demo.WORKER_ENV["OPENBLAS_NUM_THREADS"] == "1"
    probe = "import os, sys; sys.exit(0 if os.environ['OPENBLAS_NUM_THREADS'] == '1' and 'PATH' in os.environ else 3)"
    service = demo.Service("probe", [sys.executable, "-c", probe], env=demo.WORKER_ENV).start()
    assert service.process.wait(timeout=30) == 0
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]["environment"]
    assert worker["OPENBLAS_NUM_THREADS"] == "1"
    assert worker["DATABASE_URL"].startswith("postgres://") and worker["REDIS_URL"].startswith("redis://")
    assert "OPENBLAS_NUM_THREADS" not in compose["services"]["web"]["environment"]
