"""Tests: same services as development, faster hashing, no outgoing mail."""

from .environment import embedded_servers_fallback

# Before base.py reads DATABASE_URL / REDIS_URL; production settings have no such fallback.
embedded_servers_fallback()

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="django-insecure-tests-only")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Many tests search by photo; the 429 test sets its own small rate.
PHOTO_SEARCH_THROTTLE_RATE = "100000/minute"
RECOMMENDATIONS_THROTTLE_RATE = "100000/minute"
# Tests (and schemathesis) log in wrongly on purpose; the lockout tests set their own rate.
LOGIN_FAILURE_RATE = "100000/hour"
# Tests build catalogues one after another in one process; the caching test sets its own.
CATEGORY_MENU_CACHE_SECONDS = 0
SIMILAR_ITEMS_CACHE_SECONDS = 0
# The test process imports config.wsgi (the API schema test): only test_web_start turns this on.
PHOTO_SEARCH_WARM = env.bool("PHOTO_SEARCH_WARM", default=False)
# The tests read the impression counters right after the pages (tests/test_list_impressions_buffer.py
# covers the buffered writes).
LIST_IMPRESSIONS_FLUSH_SECONDS = env.float("LIST_IMPRESSIONS_FLUSH_SECONDS", default=0.0)
RECOMMENDED_POPULAR_CACHE_SECONDS = 0
# The browser tests load product images from the live server.
SERVE_MEDIA = True
