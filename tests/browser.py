"""Real Chromium for the browser tests: Debian's /usr/bin/chromium driven by Playwright.

Nothing is downloaded at run time (`playwright install` is never used). Without a browser the
tests skip with the reason, except in CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 812}

# The drawn catalogue of the `catalogue` fixture (conftest.py):
# (master, sub, article type, gender, colours, word in the product name)
KINDS = [
    ("Apparel", "Topwear", "Tshirts", "Men", ["Red", "Blue"], "Tshirt"),
    ("Apparel", "Dress", "Dresses", "Women", ["Green", "Black"], "Dress"),
    ("Footwear", "Shoes", "Casual Shoes", "Men", ["Black", "Brown"], "Casual Shoes"),
    ("Accessories", "Bags", "Handbags", "Women", ["Brown", "Pink"], "Handbag"),
]
PER_KIND = 4


def picture(article_type: str, colour: str, seed: int) -> bytes:
    """A drawn product photo as JPEG bytes, the same for the same arguments."""
    import random

    from demo.catalog import draw_product
    from tests.factories import jpeg_bytes

    return jpeg_bytes(draw_product(article_type, colour, "solid", random.Random(seed)))


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -r requirements.txt)"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


def require_browser() -> None:
    """Skip without a browser; in CI fail instead, so browser tests cannot silently not run."""
    reason = browser_missing_reason()
    if reason is None:
        return
    from tests.helpers import in_ci

    if in_ci():
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def artifact_path(name: str) -> Path:
    """test-artifacts/<name>.png, with characters unsafe in file names replaced."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
