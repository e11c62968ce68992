import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded and imported images go to a fresh folder per test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
