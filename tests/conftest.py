import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded and imported images go to a fresh folder per test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="session", autouse=True)
def vacuum_embeddings(django_db_setup, django_db_blocker):
    """Clear dead rows that rolled-back tests of earlier runs (--reuse-db) left in the HNSW index.

    Many dead copies of one vector can exhaust an iterative index scan before k live rows are
    found; autovacuum clears them in a running shop, but may not have run between test runs.
    """
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("VACUUM recommendations_productembedding")
