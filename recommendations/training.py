"""Training the behavioural recommenders as the worker runs it: one kind at a time, timed, its
peak memory measured, BLAS single-threaded.

    recommenders_train_measured()            # the task and `train_recommenders` call this

Each version's metrics get "training_seconds" (wall time of reading the events, training,
evaluating and storing the version) and "peak_memory_mb" (the process's peak resident memory
while it trained), beside "memory_before_mb" (resident memory when it started) and
"blas_threads" (what BLAS was limited to, read inside the limit).

Peak memory is the kernel's own high-water mark of the process (VmHWM in /proc/self/status),
reset before each kind by writing 5 to /proc/self/clear_refs (Linux 4.0+). Unlike tracemalloc it
sees every allocation (numpy, scipy and implicit's C++ buffers, PostgreSQL's client) and costs
nothing while training runs (tracemalloc slows every Python allocation, and reading the events
is Python-heavy); unlike getrusage's ru_maxrss alone it is per training, not the process's
lifetime peak. Where the reset is refused, ru_maxrss is stored instead and
"peak_memory_scope" says "process" (the peak since the worker started).
"""

from __future__ import annotations

import contextlib
import logging
import resource
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recommendations.models import RecommenderModel

logger = logging.getLogger(__name__)

PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class Measurement:
    seconds: float = 0.0
    memory_before_mb: float | None = None
    peak_memory_mb: float = 0.0
    scope: str = "training"  # "training": peak reset before it; "process": peak since the process started
    blas_threads: list[int] = field(default_factory=list)

    def as_metrics(self) -> dict:
        metrics = {
            "training_seconds": round(self.seconds, 3),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "peak_memory_scope": self.scope,
            "blas_threads": max(self.blas_threads, default=None),
        }
        if self.memory_before_mb is not None:
            metrics["memory_before_mb"] = round(self.memory_before_mb, 1)
        return metrics


def _status_mb(key: str) -> float | None:
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        PROC_CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@contextlib.contextmanager
def training_measured() -> Iterator[Measurement]:
    """Time the block, measure its peak memory, and run it with BLAS limited to one thread.

    `implicit` warns (implicit.utils.check_blas_config) and trains up to 10x slower when
    OpenBLAS/MKL run their own thread pools inside its parallel loops; one BLAS thread also
    leaves the worker's other core to the rest of its work.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    measurement = Measurement()
    reset = _reset_peak()
    measurement.memory_before_mb = _status_mb("VmRSS")
    started = time.monotonic()
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            measurement.blas_threads = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
            yield measurement
    finally:
        measurement.seconds = time.monotonic() - started
        peak = _status_mb("VmHWM") if reset else None
        if peak is None:
            # ru_maxrss is in kB on Linux; it cannot be reset, so it is the process's lifetime peak.
            peak, measurement.scope = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process"
        measurement.peak_memory_mb = peak


def recommenders_train_measured(*, kinds: Iterable[str] | None = None) -> list[RecommenderModel]:
    """Train each kind (default: every RecommenderModel kind) on its own, measured; store the
    figures in each new version's metrics and log them. A kind that trains nothing (too few
    events, or another training running) is logged and skipped."""
    from recommendations.recommenders import recommenders_train

    trained = []
    for kind in list(kinds or RecommenderModel.Kind.values):
        with training_measured() as measurement:
            models = recommenders_train(kinds=[kind])
        figures = measurement.as_metrics()
        logger.info(
            "Training %s took %.2f s, peak memory %.0f MB (%s; %.0f MB before), BLAS threads %s: %s",
            kind,
            measurement.seconds,
            measurement.peak_memory_mb,
            measurement.scope,
            measurement.memory_before_mb or 0,
            figures["blas_threads"],
            ", ".join(str(model) for model in models) or "nothing new",
        )
        for model in models:
            RecommenderModel.objects.filter(pk=model.pk).update(metrics={**model.metrics, **figures})
            model.metrics = {**model.metrics, **figures}
        trained += models
    return trained
