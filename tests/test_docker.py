"""What can be checked of the Docker image without Docker: the model cache, the user, the
dependencies and the healthchecks (Docker does not run on the machines this is developed on)."""

import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from config import healthcheck
from recommendations import embeddings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SYSFS_DIR = Path("/sys/storefront-model-cache")  # mkdir there fails with PermissionError, even for root


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.splitlines() if not line.startswith("#")))
    return [tuple(line.split(None, 1)) for line in text.splitlines() if line.strip()]


def env_of_image() -> dict[str, str]:
    env = {}
    for instruction, args in instructions():
        if instruction == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


@pytest.fixture
def converted_model() -> Path:
    """The converted Lite0 file, as a build step leaves it in EMBEDDING_MODEL_CACHE."""
    return embeddings.lite0_tflite_path()  # converted once into var/model-cache (about 30 s), then reused


def test_the_image_runs_as_an_unprivileged_user_with_the_model_built_in():
    steps = instructions()
    users = [args.strip() for instruction, args in steps if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    cache = env_of_image()["EMBEDDING_MODEL_CACHE"]
    assert not cache.startswith("/app/var")  # must not depend on a folder the app user cannot write
    # The model is converted while building (as root), before the switch to the app user.
    build = [i for i, (instruction, args) in enumerate(steps) if instruction == "RUN" and "lite0_tflite_path" in args]
    switch = next(i for i, (instruction, _) in enumerate(steps) if instruction == "USER" and i > 2)
    assert build and build[0] < switch


def test_the_image_installs_the_runtime_requirements_only():
    installs = [args for instruction, args in instructions() if instruction == "RUN" and "pip install" in args]
    assert len(installs) == 1 and re.fullmatch(r"pip install (--\S+ )*-r requirements\.txt", installs[0])
    assert not any("requirements-dev" in args or "pytest" in args for _, args in instructions())


def test_web_and_worker_have_healthchecks():
    for service, check in (("web", "web"), ("worker", "worker")):
        test = COMPOSE["services"][service]["healthcheck"]["test"]
        assert test == ["CMD", "python", "-m", "config.healthcheck", check]


def test_the_model_cache_setting_is_honoured(tmp_path, converted_model):
    """The folder the shop passes (settings.EMBEDDING_MODEL_CACHE, the image's built-in model) is where
    the model is looked for and used."""
    (tmp_path / "cache").mkdir()
    shutil.copy(converted_model, tmp_path / "cache" / converted_model.name)
    assert embeddings.lite0_tflite_path(tmp_path / "cache") == tmp_path / "cache" / converted_model.name


def test_the_image_converts_the_model_into_the_cache_the_shop_reads():
    """The build step writes where settings.EMBEDDING_MODEL_CACHE (the same variable) points."""
    env = " ".join(args for instruction, args in instructions() if instruction == "ENV")
    assert "EMBEDDING_MODEL_CACHE=/app/model-cache" in env
    conversion = next(args for instruction, args in instructions() if "lite0_tflite_path" in args)
    assert "lite0_tflite_path(Path(os.environ['EMBEDDING_MODEL_CACHE']))" in conversion


def test_a_read_only_model_cache_with_the_model_in_it_is_used_as_it_is(monkeypatch, converted_model):
    """A read-only folder that already holds the model (the image's) needs no write at all."""
    monkeypatch.setattr(embeddings.os, "access", lambda path, mode: False)  # nothing writable anywhere
    assert embeddings.lite0_tflite_path(converted_model.parent) == converted_model


def test_an_unwritable_model_cache_falls_back_to_a_temporary_folder(tmp_path, monkeypatch, caplog, converted_model):
    """A cache folder the process cannot create (as /app/var for the app user) no longer fails every
    product with PermissionError: the model goes to a per-user temporary folder, with a warning."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fallback = tmp_path / f"storefront-model-cache-{embeddings.os.getuid()}"
    fallback.mkdir()
    shutil.copy(converted_model, fallback / converted_model.name)  # as a first conversion there leaves it
    with caplog.at_level(logging.WARNING):
        assert embeddings.lite0_tflite_path(SYSFS_DIR) == fallback / converted_model.name
    assert f"The model cache {SYSFS_DIR} cannot be written" in caplog.text
    assert "EMBEDDING_MODEL_CACHE" in caplog.text


def test_no_writable_model_cache_at_all_is_a_clear_error(tmp_path, monkeypatch, converted_model):
    monkeypatch.setattr(tempfile, "tempdir", str(SYSFS_DIR / "tmp"))
    with pytest.raises(PermissionError, match="set EMBEDDING_MODEL_CACHE to a writable folder"):
        embeddings.lite0_tflite_path(SYSFS_DIR)


@pytest.mark.django_db
def test_web_healthcheck_passes_on_a_serving_shop_and_fails_without_one(live_server, monkeypatch):
    host, port = live_server.thread.host, live_server.thread.port
    monkeypatch.setenv("ALLOWED_HOSTS", "localhost")
    assert healthcheck.web_check(host=host, port=port) is None
    with __import__("socket").socket() as closed:
        closed.bind(("127.0.0.1", 0))
        free = closed.getsockname()[1]
    assert "no answer" in healthcheck.web_check(host="127.0.0.1", port=free)


@pytest.mark.django_db(transaction=True)
def test_worker_healthcheck_pings_the_named_worker(worker):
    assert healthcheck.worker_check(name=worker.hostname) is None
    assert "did not answer" in healthcheck.worker_check(name="celery@no-such-host", timeout=1)


def test_healthcheck_command_exit_codes():
    done = subprocess.run(
        [sys.executable, "-m", "config.healthcheck", "web", "--port", "1"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 1 and "no answer" in done.stderr
