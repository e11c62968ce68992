"""How a price reads everywhere: listings, cart, checkout, orders, e-mails, filter labels."""

from __future__ import annotations

from decimal import Decimal

CURRENCY = "₹"


def format_price(amount: Decimal | int | float | None) -> str:
    """₹1,220 for whole rupees, ₹1,220.50 otherwise; "" for no price."""
    if amount is None:
        return ""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    if value == value.to_integral_value():
        return f"{CURRENCY}{int(value):,}"
    return f"{CURRENCY}{value:,.2f}"
