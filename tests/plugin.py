"""Starts the embedded services before pytest-django reads the settings.

Loaded with `-p tests.plugin` (see pyproject.toml). When DATABASE_URL / REDIS_URL are set,
those servers are used and nothing starts here.
"""

import os

import pytest

_valkey = None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _valkey
    from config import embedded

    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = embedded.postgres_url()
    if "REDIS_URL" not in os.environ:
        # A private broker per test run, so a running `make demo` is never disturbed.
        _valkey = embedded.ValkeyServer(embedded.free_port(), embedded.VAR_DIR / "valkey-test").start()
        os.environ["REDIS_URL"] = _valkey.url
    return (yield)


def pytest_unconfigure(config):
    if _valkey is not None:
        _valkey.stop()
