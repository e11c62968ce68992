"""A web process loads the image model when it starts, so its first search by photo does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

# What a freshly started web process holds once gunicorn has imported the WSGI module.
PROBE = """
import json
import config.wsgi as wsgi
from recommendations import embeddings
print(json.dumps({"warmed": wsgi.photo_search_warmed, "models": sorted(key[0] for key in embeddings._cache)}))
"""


def start_web_process(*, warm: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PHOTO_SEARCH_WARM": warm}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("warm", ["true", "false"])
def test_the_model_is_loaded_before_the_first_request_only_when_configured(warm):
    """With PHOTO_SEARCH_WARM (the default outside tests) the model is built and has embedded a photo
    by the time the WSGI application exists; without it nothing is loaded until a search needs it."""
    found = start_web_process(warm=warm)
    if warm == "true":
        assert found == {"warmed": True, "models": [settings.EMBEDDING_MODEL]}
    else:
        assert found == {"warmed": False, "models": []}
