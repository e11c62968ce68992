"""Checkout and orders: placing an order from a cart, and reading orders back.

Request-free, so the storefront and the REST API share them:

    order = order_place(cart=cart, user=user_or_None, details={"email": ..., "full_name": ..., ...})
    orders = order_list_for_user(user=user)
    order = order_get_for_user(order_id=7, user=user, guest_order_ids=session_order_ids(session))
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import RegexValidator
from django.db import transaction
from django.db.models import F, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from events.services import order_purchases_schedule
from shop.cart import BaseCart, product_problem
from shop.models import Order, OrderLine, Product
from shop.prices import format_price

logger = logging.getLogger(__name__)

SESSION_ORDERS_KEY = "order_ids"

postal_code_validator = RegexValidator(
    r"^[A-Za-z0-9](?:[A-Za-z0-9 -]{0,8}[A-Za-z0-9])?$",
    "Enter a valid postal code: letters, digits, spaces or hyphens (up to 10 characters).",
    code="postal_code",
)
phone_validator = RegexValidator(
    r"^\+?[0-9 ()./-]{6,25}$", "Enter a valid phone number, e.g. +91 98765 43210.", code="phone"
)

# The shipping and contact fields a shopper enters; everything else on an Order is set here.
DETAIL_FIELDS = [
    "email",
    "full_name",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "country",
    "phone",
]


class CheckoutError(ValidationError):
    """The cart cannot be ordered as it is; `unavailable` maps product id → reason."""

    def __init__(self, messages: list[str], unavailable: dict[int, str] | None = None) -> None:
        super().__init__(messages, code="checkout")
        self.unavailable = unavailable or {}


def order_details_clean(details: Mapping[str, object]) -> dict[str, str]:
    """Strip and validate the shipping/contact fields; raises ValidationError keyed by field."""
    cleaned = {name: str(details.get(name) or "").strip() for name in DETAIL_FIELDS}
    if "@" in cleaned["email"]:
        cleaned["email"] = _email_normalise(cleaned["email"])
    order = Order(**cleaned, total=Decimal("0"))
    errors: dict[str, list[str]] = {}
    try:
        order.full_clean(exclude=["user", "total", "status", "payment_method"], validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    for name, validator in (("postal_code", postal_code_validator), ("phone", phone_validator)):
        if cleaned[name] and name not in errors:
            try:
                validator(cleaned[name])
            except ValidationError as exc:
                errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)
    return cleaned


def _email_normalise(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def order_place(
    *,
    cart: BaseCart,
    user=None,
    details: Mapping[str, object],
    expected_total: Decimal | None = None,
) -> Order:
    """Turn the cart into an Order with its lines, in one transaction, and empty the cart.

    Products are locked (SELECT ... FOR UPDATE, in id order so concurrent checkouts cannot
    deadlock) and re-checked: active, priced, enough stock. Prices are copied from
    Product.unit_price now, the total is computed here, stock is decremented. If anything is
    wrong nothing is written and CheckoutError says which items. `expected_total`, when given,
    is the total the shopper was shown: a different total (a price changed meanwhile) refuses
    the order so the shopper can review it. The confirmation e-mail is sent after commit.
    """
    cleaned = order_details_clean(details)
    with transaction.atomic():
        cart.lock()
        quantities = cart.quantities()
        if not quantities:
            raise CheckoutError(["Your cart is empty."])
        products = {
            product.pk: product
            for product in Product.objects.select_for_update().filter(pk__in=list(quantities)).order_by("pk")
        }
        unavailable: dict[int, str] = {}
        for product_id, quantity in quantities.items():
            problem = product_problem(products.get(product_id), quantity)
            if problem:
                unavailable[product_id] = _no_longer(products.get(product_id), problem)
        if unavailable:
            raise CheckoutError(list(unavailable.values()), unavailable)
        lines = [
            OrderLine(
                product=products[product_id],
                sku=products[product_id].sku,
                product_name=products[product_id].name,
                unit_price=products[product_id].unit_price,
                quantity=quantity,
            )
            for product_id, quantity in sorted(quantities.items())
        ]
        total = sum((line.line_total for line in lines), Decimal("0.00"))
        if expected_total is not None and total != expected_total:
            raise CheckoutError(
                [
                    f"Prices changed while you were checking out: the total is now {format_price(total)}. "
                    "Please review your order."
                ]
            )
        order = Order(user=user if user is not None and user.is_authenticated else None, total=total, **cleaned)
        order.full_clean()
        order.save()
        for line in lines:
            line.order = order
        OrderLine.objects.bulk_create(lines)
        for line in lines:
            # The row is locked and checked above; F() keeps the write relative all the same.
            Product.objects.filter(pk=line.product_id).update(stock=F("stock") - line.quantity)
        cart.clear()
        transaction.on_commit(lambda: order_confirmation_send(order_id=order.pk))
        # One purchase event per line, written after commit (a guest's under the session's shopper key).
        order_purchases_schedule(order_id=order.pk, session=getattr(cart, "session", None))
    return order


def _no_longer(product: Product | None, problem: str) -> str:
    """The checkout's wording: which item, and why it cannot be ordered any more."""
    if product is None or not product.is_active:
        name = f"“{product.name}”" if product is not None else "An item in your cart"
        return f"{name} is no longer available."
    if product.unit_price is None:
        return f"“{product.name}” is no longer available: it has no price."
    if product.stock <= 0:
        return f"“{product.name}” is no longer available: it has sold out."
    return f"{problem} Reduce the quantity in your cart."  # some left, fewer than wanted


def order_confirmation_send(*, order_id: int) -> None:
    """E-mail the order's confirmation; a mail failure never undoes the order, it is logged."""
    order = Order.objects.prefetch_related("lines").filter(pk=order_id).first()
    if order is None:
        return
    try:
        send_mail(
            subject=f"Your order #{order.pk} is placed",
            message=render_to_string("shop/order_confirmation_email.txt", {"order": order}),
            from_email=None,
            recipient_list=[order.email],
        )
    except Exception:  # the order stands; the shop can resend by hand
        logger.exception("Could not send the confirmation of order %s", order.pk)


# --- Guest orders remembered by the session ---


def session_order_ids(session: Mapping) -> list[int]:
    ids = session.get(SESSION_ORDERS_KEY)
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def session_order_remember(session: MutableMapping, order_id: int) -> None:
    session[SESSION_ORDERS_KEY] = [*session_order_ids(session), order_id][-50:]


# A checkout post that finds the cart empty this soon after the session's last order is taken
# for a repeat of that post (a double click), and answered with that order.
REPEAT_POST_WINDOW = timedelta(minutes=10)


def order_just_placed(*, user=None, session: Mapping) -> Order | None:
    """The shopper's last order (the user's, else the guest session's) if placed within REPEAT_POST_WINDOW."""
    recent = Order.objects.filter(created_at__gte=timezone.now() - REPEAT_POST_WINDOW)
    if user is not None and user.is_authenticated:
        return recent.filter(user=user).order_by("-created_at", "-id").first()
    ids = session_order_ids(session)
    return recent.filter(pk=ids[-1]).first() if ids else None


# --- Selectors ---


def order_list_for_user(*, user) -> QuerySet[Order]:
    """The user's own orders, newest first, with their lines."""
    if user is None or not user.is_authenticated:
        return Order.objects.none()
    return Order.objects.filter(user=user).prefetch_related("lines").order_by("-created_at", "-id")


def order_get_for_user(*, order_id: int, user=None, guest_order_ids: Iterable[int] = ()) -> Order | None:
    """The order if this shopper may see it: their own, or a guest order placed in their session."""
    order = Order.objects.prefetch_related("lines").filter(pk=order_id).first()
    if order is None:
        return None
    if order.user_id is not None:
        return order if user is not None and user.is_authenticated and order.user_id == user.pk else None
    return order if order.pk in set(guest_order_ids) else None
