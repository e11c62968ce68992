"""Cart, checkout and order pages: thin views over shop.cart and shop.checkout.

The small forms only parse input; every rule is checked again in the services.
"""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.sessions.backends.base import UpdateError
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from events.services import list_impressions_record
from recommendations.selectors import products_bought_together_list
from shop import cart as carts
from shop import checkout as checkouts
from shop.models import Order, Product

LINE_TAG = re.compile(r"\bcart-line-(\d+)\b")


class QuantityForm(forms.Form):
    quantity = forms.IntegerField(
        label="Quantity",
        min_value=0,
        error_messages={"required": "Enter a quantity.", "invalid": "Enter a whole number for the quantity."},
    )


class CheckoutForm(forms.ModelForm):
    # The total the shopper was shown; the order is refused if prices changed since.
    expected_total = forms.DecimalField(required=False, widget=forms.HiddenInput, max_digits=12, decimal_places=2)

    class Meta:
        model = Order
        fields = checkouts.DETAIL_FIELDS
        labels = {"email": "E-mail", "phone": "Phone (optional)", "address_line2": "Address line 2 (optional)"}
        autocomplete = {
            "email": "email",
            "full_name": "name",
            "address_line1": "address-line1",
            "address_line2": "address-line2",
            "city": "address-level2",
            "postal_code": "postal-code",
            "country": "country-name",
            "phone": "tel",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["postal_code"].validators.append(checkouts.postal_code_validator)
        self.fields["phone"].validators.append(checkouts.phone_validator)
        for name, value in self.Meta.autocomplete.items():
            self.fields[name].widget.attrs["autocomplete"] = value


def _cart(request: HttpRequest) -> carts.BaseCart:
    return carts.cart_get(user=request.user, session=request.session)


def _next_url(request: HttpRequest) -> str | None:
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return None


def cart_detail(request: HttpRequest) -> HttpResponse:
    """shop/cart.html: lines priced now (`summary`), each with its own error messages (`rows`), and
    what is frequently bought together with them (`bought_together`)."""
    summary = carts.cart_summary(cart=_cart(request))
    line_errors: dict[int, list[str]] = {}
    general = []
    for message in messages.get_messages(request):
        match = LINE_TAG.search(message.extra_tags or "")
        if match:
            line_errors.setdefault(int(match.group(1)), []).append(str(message))
        else:
            general.append(message)
    rows = [{"line": line, "errors": line_errors.get(line.product.pk, [])} for line in summary.lines]
    bought_together = products_bought_together_list(product_ids=[line.product.pk for line in summary.lines])
    list_impressions_record(request=request, shown={"bought_together": len(bought_together)})
    return render(
        request,
        "shop/cart.html",
        {
            "summary": summary,
            "rows": rows,
            "general_messages": general,
            "max_quantity": settings.CART_MAX_QUANTITY,
            "bought_together": bought_together,
        },
    )


@require_POST
def cart_add(request: HttpRequest, product_id: int) -> HttpResponse:
    """POST `quantity` (default 1): to the cart page, or back to the product page with the reason."""
    product = get_object_or_404(Product, pk=product_id)
    back = _next_url(request) or product.get_absolute_url()
    form = QuantityForm(request.POST if "quantity" in request.POST else {"quantity": 1})
    if not form.is_valid():
        messages.error(request, form.errors["quantity"][0], extra_tags="inline add-to-cart")
        return redirect(back)
    quantity = form.cleaned_data["quantity"]
    try:
        carts.cart_add(cart=_cart(request), product_id=product.pk, quantity=quantity)
    except ValidationError as exc:
        messages.error(request, exc.messages[0], extra_tags="inline add-to-cart")
        return redirect(back)
    messages.success(request, f"Added {quantity} × “{product.name}” to your cart.")
    return redirect("shop:cart")


@require_POST
def cart_update(request: HttpRequest, product_id: int) -> HttpResponse:
    """POST `quantity` (0 removes the line); back to the cart page."""
    form = QuantityForm(request.POST)
    tag = f"inline cart-line-{product_id}"
    if not form.is_valid():
        messages.error(request, form.errors["quantity"][0], extra_tags=tag)
        return redirect("shop:cart")
    try:
        quantity = carts.cart_update(cart=_cart(request), product_id=product_id, quantity=form.cleaned_data["quantity"])
    except ValidationError as exc:
        messages.error(request, exc.messages[0], extra_tags=tag)
        return redirect("shop:cart")
    messages.success(request, "Cart updated." if quantity else "Item removed from your cart.")
    return redirect("shop:cart")


@require_POST
def cart_remove(request: HttpRequest, product_id: int) -> HttpResponse:
    carts.cart_remove(cart=_cart(request), product_id=product_id)
    messages.success(request, "Item removed from your cart.")
    return redirect("shop:cart")


def _checkout_initial(request: HttpRequest) -> dict[str, str]:
    """Prefill for logged-in shoppers: their e-mail and name, and the address of their last order."""
    if not request.user.is_authenticated:
        return {}
    initial = {"email": request.user.email, "full_name": request.user.get_full_name()}
    last = checkouts.order_list_for_user(user=request.user).first()
    if last is not None:
        initial.update({name: getattr(last, name) for name in checkouts.DETAIL_FIELDS if name != "email"})
    return initial


def checkout(request: HttpRequest) -> HttpResponse:
    """shop/checkout.html: shipping details and the cart (`form`, `summary`, `errors`); POST places the order."""
    cart = _cart(request)
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        form = CheckoutForm(request.POST)
        if form.is_valid():
            details = {name: form.cleaned_data[name] for name in checkouts.DETAIL_FIELDS}
            expected: Decimal | None = form.cleaned_data.get("expected_total")
            try:
                with transaction.atomic():
                    order = checkouts.order_place(
                        cart=cart, user=request.user, details=details, expected_total=expected
                    )
                    # Stored with the order: a second post of this session that waited on the
                    # cart's lock reloads the session and must not drop this order from it.
                    checkouts.session_order_remember(request.session, order.pk)
                    if request.session.session_key:
                        with contextlib.suppress(UpdateError):  # expired meanwhile: the middleware copes
                            request.session.save()
            except checkouts.CheckoutError as exc:
                placed = None
                if not cart.quantities():
                    placed = checkouts.order_just_placed(user=request.user, session=request.session)
                if placed is not None:
                    # The same post twice (a double click): the browser shows this answer, so it
                    # must be the order the first post placed, not "your cart is empty".
                    messages.info(request, f"Your order #{placed.pk} is placed.")
                    return redirect("shop:order_detail", order_id=placed.pk)
                errors, status = exc.messages, 409
            except ValidationError as exc:
                for field, field_errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, field_errors)
                status = 400
            else:
                messages.success(request, f"Thank you! Your order #{order.pk} is placed.")
                return redirect("shop:order_detail", order_id=order.pk)
        else:
            status = 400
    else:
        form = CheckoutForm(initial=_checkout_initial(request))
    summary = carts.cart_summary(cart=cart)
    if not summary.lines and not errors:
        messages.info(request, "Your cart is empty: add something before checking out.")
        return redirect("shop:cart")
    return render(request, "shop/checkout.html", {"form": form, "summary": summary, "errors": errors}, status=status)


def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    """shop/order_detail.html: one order (`order`), for its owner or the guest session that placed it."""
    order = checkouts.order_get_for_user(
        order_id=order_id, user=request.user, guest_order_ids=checkouts.session_order_ids(request.session)
    )
    if order is None:
        raise Http404("No such order.")
    return render(request, "shop/order_detail.html", {"order": order})
