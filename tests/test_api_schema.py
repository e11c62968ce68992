"""The OpenAPI 3 schema at /api/schema/, the offline Swagger UI at /api/docs/, and a schemathesis run against it."""

import json
import re

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from shop.models import Product
from shop.services import category_get_or_create

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/schema/?format=json"
METHODS = {"get", "post", "put", "patch", "delete"}


def _schema(client) -> dict:
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    return response.json()


def _api_routes() -> set[str]:
    """Every URL pattern under /api/ in OpenAPI path syntax, as Django resolves them."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)

    return {route for route in walk(get_resolver().url_patterns, "") if route.startswith("/api/")}


def test_schema_is_valid_openapi_3(client):
    schema = _schema(client)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # drf-spectacular's check against the OpenAPI 3 JSON schema
    loaded = schemathesis.openapi.from_dict(schema)
    assert len(list(loaded.get_all_operations())) == sum(len(METHODS & set(item)) for item in schema["paths"].values())


def test_schema_covers_every_api_route(client):
    documented = set(_schema(client)["paths"])
    routes = _api_routes() - {"/api/schema/", "/api/docs/"}
    assert routes == documented
    assert {"/api/products/{product_id}/similar/", "/api/search/photo/", "/api/orders/{order_id}/"} <= documented


def test_every_operation_and_parameter_is_documented(client):
    schema = _schema(client)
    components = schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert operation.get("tags"), where
            for parameter in operation.get("parameters", []):
                assert "schema" in parameter, (where, parameter["name"])
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), where
            for code, response in operation["responses"].items():
                if code == "204":
                    continue
                body = response["content"]["application/json"]["schema"]
                if code.startswith(("4", "5")):
                    # The one error format everywhere.
                    assert body["$ref"].rsplit("/", 1)[1] in {"Error", "ValidationError"}, (where, code)
            validated = [p for p in operation.get("parameters", []) if p["in"] == "query" and p["name"] != "page"]
            if "requestBody" in operation or validated:
                assert "400" in codes, where
            if any(p["name"] == "page" for p in operation.get("parameters", [])):
                assert "404" in codes, (where, "an invalid page is a 404")
            needs_login = method != "get" or path.startswith(("/api/cart/", "/api/orders/"))
            if needs_login and path not in ("/api/search/photo/", "/api/auth/token/"):
                assert "401" in codes, where
    assert set(components["ValidationError"]["properties"]) == {"error", "fields"}
    assert "429" in schema["paths"]["/api/search/photo/"]["post"]["responses"]


def test_docs_page_works_offline(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and not [url for url in assets if url.startswith(("http:", "https:", "//"))], assets
    bundle = next(url for url in assets if url.endswith("swagger-ui-bundle.js"))
    assert bundle.startswith("/static/drf_spectacular_sidecar/")
    assert finders.find(bundle.removeprefix("/static/")), "the Swagger UI bundle is shipped in the sidecar package"


# --- schemathesis: generated requests against the running app, checked against the schema ---

# Everything the schema promises about responses. Left out: "valid data is accepted" (random bytes fit
# the schema of an image upload and random ids fit an id, yet rightly get 400/404) and "invalid data is
# rejected" (DRF reads an empty `?page=` as the first page); test_rest_api.py tests rejections one by one.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _generated_schema() -> dict:
    """The schema /api/schema/ serves, built without a request (no database at import time).

    Loaded eagerly: schemathesis.pytest.from_fixture (4.32.5) reads pytest's private Node._nodeid,
    which pytest 9 no longer has.
    """
    return SchemaGenerator().get_schema(request=None, public=True)


def test_served_schema_is_the_generated_one(client):
    assert _schema(client) == json.loads(json.dumps(_generated_schema(), cls=DjangoJSONEncoder))


schema = schemathesis.openapi.from_dict(json.loads(json.dumps(_generated_schema(), cls=DjangoJSONEncoder)))
schema.app = application  # requests go through the WSGI app, in the test's transaction


@pytest.fixture
def wsgi_in_transaction():
    """Keep the test's database connection open across WSGI requests, as Django's test client does:
    the handler's request_started/request_finished signals would otherwise close it mid-test."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def catalogue(wsgi_in_transaction):
    """Something to find: generated ids mostly miss (404), some hit these."""
    tshirts = category_get_or_create(master="Apparel", sub="Topwear", article="Tshirts")
    for i in range(3):
        Product.objects.create(sku=f"S{i}", name=f"Shirt {i}", category=tshirts, price=100 + i, stock=3)
    cache.clear()


@pytest.fixture
def staff_token(django_user_model) -> str:
    staff = django_user_model.objects.create_user("fuzz-staff", "fuzz@example.com", "fuzz-pass-123", is_staff=True)
    return Token.objects.create(user=staff).key


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same examples every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_generated_requests_as_a_guest(case, catalogue):
    """Anonymous requests: reads answer, writes are 401, bad input is a 4xx in the error format; never a 5xx."""
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_generated_requests_as_staff(case, catalogue, staff_token):
    """The same with a staff token, so writes, cart and orders run their validation and services."""
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Token {staff_token}"})


@schema.include(path="/api/search/photo/", method="POST").parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_photo_search_with_garbage_bodies_is_400(case, wsgi_in_transaction):
    """Whatever bytes arrive as `image`, search by photo answers 400 with a message, never 5xx."""
    response = case.call_and_validate(checks=CHECKS)
    if case.method.upper() == "POST" and response.status_code != 200:  # it also tries other methods (405)
        assert response.status_code in (400, 415), response.text
        assert response.json()["error"]
