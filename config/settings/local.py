"""Development: `make demo` and manage.py on a developer's machine."""

from .environment import embedded_servers_fallback

# Before base.py reads DATABASE_URL / REDIS_URL; production settings have no such fallback.
embedded_servers_fallback()

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-only")
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=True)
