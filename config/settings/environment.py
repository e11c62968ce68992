"""The environment the settings read: django-environ over os.environ and the project's .env file.

Apart from base.py so that local and test settings can fall back to the embedded servers before
base.py reads DATABASE_URL and REDIS_URL; production has no fallback and requires both.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"))  # never overrides a variable that is already set


def embedded_servers_fallback() -> None:
    """Unset DATABASE_URL / REDIS_URL mean the embedded servers (development and tests only).

    The embedded PostgreSQL is started (or joined) here; the embedded Valkey is started on that
    port by `make demo` (config/demo.py), and the tests start their own (tests/plugin.py).
    """
    from config import embedded

    if "DATABASE_URL" not in env:
        env.ENVIRON["DATABASE_URL"] = embedded.postgres_url()
    env.ENVIRON.setdefault("REDIS_URL", f"redis://127.0.0.1:{embedded.DEFAULT_REDIS_PORT}/0")
