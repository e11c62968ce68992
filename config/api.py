"""One error format for the whole API: {"error": "<message>"}, plus "fields" on validation errors.

DRF's own exceptions (400, 401, 403, 404, 405, 406, 415, 429) go through `exception_handler`;
URLs under /api/ that match no view, and unhandled errors there, get the same shape from
`not_found` and `server_error` (Django's handler404/handler500).
"""

import logging
import math

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from redis.exceptions import RedisError
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

API_PREFIX = "/api/"
logger = logging.getLogger(__name__)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key in ("non_field_errors", "detail") else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc, context) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body = {"error": _first_message(response.data)}
    if isinstance(exc, exceptions.ValidationError):
        data = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        body["fields"] = data
    response.data = body
    return response


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class SharedCacheThrottle(SimpleRateThrottle):
    """A DRF rate throttle whose counts are in the "shared" cache (Redis) and whose rate is the
    setting named by `rate_setting`, read on each request.

    DRF copies DEFAULT_THROTTLE_RATES into the class at import time, so a rate changed later
    (override_settings, or settings read after import) would otherwise be ignored. The shared
    cache makes the limit hold across all web processes; while Redis is unreachable requests are
    let through (logged) rather than failed. Clients are told apart by user, else by
    `get_ident`: REMOTE_ADDR, or the address NUM_PROXIES trusted proxies put in X-Forwarded-For
    (a client can write any X-Forwarded-For it likes, so it is ignored by default).

    Works on DRF requests and on plain Django ones (the storefront pages), so a page and an
    endpoint that share a scope share the counts.
    """

    rate_setting = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.rate_setting)

    @property
    def cache(self):  # DRF reads self.cache; looked up per request so test settings apply
        return caches["shared"]

    def get_cache_key(self, request, view) -> str:
        user = getattr(request, "user", None)
        ident = f"user-{user.pk}" if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError as error:
            logger.warning("%s: throttle skipped, shared cache unreachable: %s", self.scope, error)
            return True

    def retry_after(self) -> int:
        """Whole seconds until the next request may pass (after allow_request refused one)."""
        return max(1, math.ceil(self.wait() or self.duration))


class PhotoSearchThrottle(SharedCacheThrottle):
    """Search by photo runs the image model: PHOTO_SEARCH_THROTTLE_RATE per user (or client IP),
    one count for the API and the storefront form together."""

    scope = "photo_search"
    rate_setting = "PHOTO_SEARCH_THROTTLE_RATE"


class RecommendationsThrottle(SharedCacheThrottle):
    """ "Recommended for you" is computed per request (history, neighbours, best-sellers):
    RECOMMENDATIONS_THROTTLE_RATE per user (or client IP)."""

    scope = "recommendations"
    rate_setting = "RECOMMENDATIONS_THROTTLE_RATE"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": "Internal server error."}, status=500)
    return defaults.server_error(request)


# --- Schema documentation of the error format ---


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, in plain words.")


class ValidationErrorSerializer(ErrorSerializer):
    fields = serializers.DictField(
        child=serializers.JSONField(),
        required=False,  # absent when the body could not be parsed at all
        help_text=(
            'Messages per input field, usually a list of strings; "non_field_errors" for the input as a whole. '
            "A list field's errors are keyed by item index."
        ),
    )


# Endpoints open to everyone: either way of logging in, or none.
PUBLIC_AUTH = [{"tokenAuth": []}, {"cookieAuth": []}, {}]

ERROR_DESCRIPTIONS = {
    400: "Invalid input.",
    401: "Authentication required (session cookie or `Authorization: Token <key>`).",
    403: "Not allowed for this user.",
    404: "Not found.",
    409: "Conflicts with the current state.",
    415: "The body is not in one of the accepted media types, or cannot be read as one.",
    429: "Too many requests; retry after the `Retry-After` header's seconds.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for these error codes, in the API's error format."""
    return {
        code: OpenApiResponse(
            ValidationErrorSerializer if code == 400 else ErrorSerializer, description=ERROR_DESCRIPTIONS[code]
        )
        for code in codes
    }
