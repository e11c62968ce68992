"""Template context for every page: units in the shopper's cart (header badge) and the per-line maximum."""

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from shop.cart import cart_get


def cart(request: HttpRequest) -> dict:
    # Lazy: pages that never show the header (admin, API errors) run no cart query.
    def count() -> int:
        session = getattr(request, "session", None)
        if session is None:
            return 0
        return cart_get(user=getattr(request, "user", None), session=session).count()

    return {"cart_count": SimpleLazyObject(count), "cart_max_quantity": settings.CART_MAX_QUANTITY}
