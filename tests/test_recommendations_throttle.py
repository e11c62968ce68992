"""GET /api/recommendations/ computes the shopper's list per request, so it is throttled per user
or IP (RECOMMENDATIONS_THROTTLE_RATE) with the shared cache, and the schema says so."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test import Client, override_settings


@pytest.fixture
def shared_cache():
    """The throttle's counts start empty and are removed after."""
    caches["shared"].clear()
    yield caches["shared"]
    caches["shared"].clear()


def test_recommendations_answer_429_beyond_the_rate(db, shared_cache):
    client = Client()
    with override_settings(RECOMMENDATIONS_THROTTLE_RATE="3/minute"):
        for _ in range(3):
            assert client.get("/api/recommendations/?k=5").status_code == 200
        response = client.get("/api/recommendations/?k=5")
        assert response.status_code == 429
        assert set(response.json()) == {"error"}
        assert "throttled" in response.json()["error"].lower()
        assert 0 < int(response["Retry-After"]) <= 60
        # Another client (IP) has its own count; other endpoints are not limited by it.
        assert Client(REMOTE_ADDR="10.0.0.9").get("/api/recommendations/").status_code == 200
        assert client.get("/api/products/").status_code == 200
        # A bad k still counts as a request and is refused by the throttle first.
        assert client.get("/api/recommendations/?k=0").status_code == 429


def test_the_throttle_is_separate_from_search_by_photos(db, shared_cache):
    client = Client()
    with override_settings(RECOMMENDATIONS_THROTTLE_RATE="1/minute", PHOTO_SEARCH_THROTTLE_RATE="1/minute"):
        assert client.get("/api/recommendations/").status_code == 200
        assert client.get("/api/recommendations/").status_code == 429
        # Search by photo still has its one request (400: not an image, not 429).
        assert client.post("/api/search/photo/", {"image": ""}).status_code == 400


def test_schema_documents_the_429(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/recommendations/"]["get"]
    assert "429" in operation["responses"]
    assert "RECOMMENDATIONS_THROTTLE_RATE" in operation["description"]
