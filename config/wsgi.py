"""WSGI entry point for gunicorn.

Each web process loads and warms the image model here, before it answers its first request
(PHOTO_SEARCH_WARM, on by default): otherwise the first search by photo a process gets pays for
importing TensorFlow and building the interpreter (10-20 s on a loaded machine). gunicorn imports
this module in every worker after the fork (run it without --preload: a model built before a
fork hangs the children). What it costs each process is measured by `benchmarks.pages_load`
(the photo-start rows of docs/benchmarks.md).
"""

import logging
import os
import time

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

application = get_wsgi_application()

logger = logging.getLogger(__name__)

# True once this process has run a search photo through the model (photo_search_warm).
photo_search_warmed = False


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def photo_search_warm() -> None:
    """Build the active model and run a photo's whole embedding path once (the photo and its
    garment crop, as search by photo does), so the interpreter's first-call setup is done too.
    A failure is logged and leaves the model to be loaded by the first search, as before."""
    global photo_search_warmed
    from PIL import Image

    from recommendations.photo import PHOTO_SEARCH
    from recommendations.selectors import photo_vector

    started, before = time.perf_counter(), _rss_mb()
    try:
        photo_vector(image=Image.new("RGB", (300, 400), (200, 190, 180)), views=PHOTO_SEARCH.views)
    except Exception:
        logger.exception("Could not load the image model at start; the first search by photo will load it")
        return
    photo_search_warmed = True
    after = _rss_mb()
    logger.info(
        "Image model loaded for search by photo in %.1f s (process memory %s -> %s MB)",
        time.perf_counter() - started,
        f"{before:.0f}" if before else "?",
        f"{after:.0f}" if after else "?",
    )


def _warm_if_configured() -> None:
    from django.conf import settings

    if settings.PHOTO_SEARCH_WARM:
        photo_search_warm()


_warm_if_configured()
