"""Starts the embedded services before pytest-django reads the settings.

Loaded with `-p tests.plugin` (see pyproject.toml). When DATABASE_URL / REDIS_URL are set,
those servers are used and nothing starts here.
"""

import atexit
import os

import pytest

valkey_server = None  # the embedded broker this run started, if any


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global valkey_server
    # Importing the config package loads the Celery app, which defaults the settings module to
    # config.settings.local; name the test settings first so pytest-django picks them.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    from config import embedded

    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = embedded.postgres_url()
    if "REDIS_URL" not in os.environ:
        # A private broker per test run, so a running `make demo` is never disturbed.
        valkey_server = embedded.ValkeyServer(embedded.free_port(), embedded.VAR_DIR / "valkey-test").start()
        # Also when pytest stops before pytest_unconfigure (e.g. a usage error).
        atexit.register(valkey_server.stop)
        os.environ["REDIS_URL"] = valkey_server.url
    return (yield)


def pytest_unconfigure(config):
    if valkey_server is not None:
        valkey_server.stop()
