"""Production settings refuse to start without secrets and pass Django's deployment checks."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="x" * 60 + "-a-long-random-secret",
        ALLOWED_HOSTS="shop.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_require_a_secret_key():
    environment = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings.production", "ALLOWED_HOSTS": "x"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_settings_require_the_database_and_broker_urls(tmp_path):
    """Production names its servers: without DATABASE_URL or REDIS_URL it stops with the variable's
    name, and never starts an embedded server (VAR_DIR points at an empty folder to see that)."""
    common = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    common |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 60 + "-a-long-random-secret",
        "ALLOWED_HOSTS": "shop.example.com",
        "VAR_DIR": str(tmp_path / "var"),
    }
    for missing, present in (("DATABASE_URL", {}), ("REDIS_URL", {"DATABASE_URL": "postgres://shop@db.example/shop"})):
        result = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env={**common, **present},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0, result.stdout
        assert f"Set the {missing} environment variable" in result.stderr, result.stderr
    assert not (tmp_path / "var").exists(), "an embedded server was started under production settings"


def test_only_settings_read_the_environment():
    """Environment variables are read in config/settings only, apart from the code that runs before
    the settings exist; tests and benchmarks (scripts that configure Django themselves) aside."""
    allowed = {
        "config/embedded.py",  # the embedded servers, started before settings are read
        "config/demo.py",  # `make demo`: starts them and hands DATABASE_URL/REDIS_URL to its children
        "config/celery_app.py",  # the DJANGO_SETTINGS_MODULE default
        "config/wsgi.py",
        "config/healthcheck.py",  # the container healthcheck: a plain process that reads ALLOWED_HOSTS
        "manage.py",
        "evaluation/runs.py",  # passes the environment on to a child process
    }
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    pattern = re.compile(r"os\.environ|os\.getenv|environ\.Env\(")
    readers = {
        name
        for name in tracked
        if not name.startswith(("config/settings/", "tests/", "benchmarks/"))
        and pattern.search((ROOT / name).read_text(encoding="utf-8"))
    }
    assert readers <= allowed, sorted(readers - allowed)
