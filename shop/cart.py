"""The shopper's cart: one interface over the session (guests) and Cart/CartLine (logged-in users).

Storage classes only keep product ids and quantities. The services below validate every
change against the product (active, priced, in stock, CART_MAX_QUANTITY) and take any
`BaseCart`, so the storefront views and the REST API share them without a request:

    cart = cart_get(user=request.user, session=request.session)   # or DbCart(user=...), SessionCart(session)
    cart_add(cart=cart, product_id=12, quantity=2)                 # raises ValidationError with a clear message
    summary = cart_summary(cart=cart)                              # prices and totals from current products
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum

from shop.models import Cart, CartLine, Product

SESSION_KEY = "cart"
# First key of the two-key PostgreSQL advisory lock a guest's cart takes (the second is the session's).
SESSION_CART_LOCK_CLASS = 0x63617274  # "cart"


class BaseCart:
    """Product id → quantity, stored somewhere. Validation lives in the services, not here."""

    def quantities(self) -> dict[int, int]:
        raise NotImplementedError

    def set_quantity(self, product_id: int, quantity: int) -> None:
        raise NotImplementedError

    def remove(self, product_id: int) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def lock(self) -> None:
        """Serialise concurrent changes to this cart for the rest of the current transaction."""

    def count(self) -> int:
        """Units in the cart, for the header badge."""
        return sum(self.quantities().values())


class SessionCart(BaseCart):
    """A guest's cart, kept in the session as {"<product id>": quantity}."""

    def __init__(self, session: MutableMapping) -> None:
        self.session = session
        self._locked = False

    def _data(self) -> dict[str, int]:
        data = self.session.get(SESSION_KEY)
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, int]) -> None:
        self.session[SESSION_KEY] = data
        if hasattr(self.session, "modified"):
            self.session.modified = True
        self._store()

    def _store(self) -> None:
        # Under the lock the change is written in the locking transaction, so it commits (or rolls
        # back) with the order and the next request that takes the lock reads it.
        if self._locked and transaction.get_connection().in_atomic_block:
            self.session.save()

    def lock(self) -> None:
        """Serialise this guest's concurrent requests (e.g. two checkout posts) until the transaction ends.

        Each request loaded the session when it began, so once the lock is held the session is
        read again from the store: a request that waited sees what the first one committed (an
        emptied cart after an order), not its own stale copy. Needs a server-side session store
        (the database one by default); a session not stored yet has no other request to race.
        """
        key = getattr(self.session, "session_key", None)
        if not key:
            return
        digest = hashlib.sha256(key.encode()).digest()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [SESSION_CART_LOCK_CLASS, int.from_bytes(digest[:4], "big", signed=True)],
            )
        stored = type(self.session)(session_key=key)
        data = stored.load()
        if stored.session_key is None:  # the stored session is gone (expired): keep what is in memory
            return
        self.session.clear()
        self.session.update(data)
        self._locked = True

    def quantities(self) -> dict[int, int]:
        result = {}
        for key, quantity in self._data().items():
            # A tampered or stale session must not break the page: keep only well-formed entries.
            if str(key).isdigit() and isinstance(quantity, int) and quantity > 0:
                result[int(key)] = quantity
        return result

    def set_quantity(self, product_id: int, quantity: int) -> None:
        data = self._data()
        data[str(product_id)] = quantity
        self._save(data)

    def remove(self, product_id: int) -> None:
        data = self._data()
        if data.pop(str(product_id), None) is not None:
            self._save(data)

    def clear(self) -> None:
        if SESSION_KEY in self.session:
            del self.session[SESSION_KEY]
            self._store()


class DbCart(BaseCart):
    """A logged-in user's cart: one Cart row (made on first write) with CartLines."""

    def __init__(self, user) -> None:
        self.user = user

    def _cart(self, *, create: bool) -> Cart | None:
        if create:
            return Cart.objects.get_or_create(user=self.user)[0]
        return Cart.objects.filter(user=self.user).first()

    def quantities(self) -> dict[int, int]:
        return dict(CartLine.objects.filter(cart__user=self.user).values_list("product_id", "quantity"))

    def count(self) -> int:
        return CartLine.objects.filter(cart__user=self.user).aggregate(n=Sum("quantity"))["n"] or 0

    def set_quantity(self, product_id: int, quantity: int) -> None:
        CartLine.objects.update_or_create(
            cart=self._cart(create=True), product_id=product_id, defaults={"quantity": quantity}
        )

    def remove(self, product_id: int) -> None:
        CartLine.objects.filter(cart__user=self.user, product_id=product_id).delete()

    def clear(self) -> None:
        CartLine.objects.filter(cart__user=self.user).delete()

    def lock(self) -> None:
        Cart.objects.get_or_create(user=self.user)
        Cart.objects.select_for_update().get(user=self.user)


def cart_get(*, user, session: MutableMapping) -> BaseCart:
    """The cart of whoever is shopping: the user's own when logged in, else the session's."""
    if user is not None and user.is_authenticated:
        return DbCart(user)
    return SessionCart(session)


# --- Rules ---


def max_quantity() -> int:
    return settings.CART_MAX_QUANTITY


def product_problem(product: Product | None, quantity: int = 1) -> str | None:
    """Why `quantity` units of this product cannot be bought now, or None if they can."""
    if product is None or not product.is_active:
        return "This product is no longer available."
    if product.unit_price is None:
        return "This product has no price yet and cannot be ordered."
    if product.stock <= 0:
        return f"“{product.name}” is out of stock."
    if quantity > product.stock:
        return f"Only {product.stock} of “{product.name}” left in stock."
    if quantity > max_quantity():
        return f"You can buy at most {max_quantity()} of one product."
    return None


def _check_quantity(quantity: int) -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ValidationError("Enter a whole number for the quantity.", code="invalid")
    if quantity < 1:
        raise ValidationError("The quantity must be at least 1.", code="min_quantity")
    if quantity > max_quantity():
        raise ValidationError(f"You can buy at most {max_quantity()} of one product.", code="max_quantity")


def _product(product_id: int) -> Product:
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise ValidationError("This product does not exist.", code="not_found")
    return product


# --- Services ---


@transaction.atomic
def cart_add(*, cart: BaseCart, product_id: int, quantity: int = 1) -> int:
    """Add `quantity` units to the cart; returns the line's new quantity.

    Refused with a ValidationError (nothing changes) when the product is inactive, unpriced or
    out of stock, or when the line would exceed the stock or CART_MAX_QUANTITY.
    """
    _check_quantity(quantity)
    cart.lock()
    product = _product(product_id)
    current = cart.quantities().get(product.pk, 0)
    new = current + quantity
    problem = product_problem(product, 1)
    if problem:
        raise ValidationError(problem, code="unavailable")
    if new > max_quantity():
        raise ValidationError(
            f"You can buy at most {max_quantity()} of one product; you already have {current} in your cart.",
            code="max_quantity",
        )
    if new > product.stock:
        already = f"; you already have {current} in your cart" if current else ""
        raise ValidationError(f"Only {product.stock} of “{product.name}” left in stock{already}.", code="stock")
    cart.set_quantity(product.pk, new)
    _log_change(cart, product.pk, quantity)
    return new


@transaction.atomic
def cart_update(*, cart: BaseCart, product_id: int, quantity: int) -> int:
    """Set a line's quantity (0 removes it); same checks as cart_add."""
    if quantity == 0:
        cart_remove(cart=cart, product_id=product_id)
        return 0
    _check_quantity(quantity)
    cart.lock()
    current = cart.quantities().get(product_id)
    if current is None:
        raise ValidationError("This product is not in your cart.", code="not_in_cart")
    product = _product(product_id)
    problem = product_problem(product, quantity)
    if problem:
        raise ValidationError(problem, code="unavailable")
    cart.set_quantity(product.pk, quantity)
    _log_change(cart, product.pk, quantity - current)
    return quantity


def cart_remove(*, cart: BaseCart, product_id: int) -> None:
    """Remove a line; removing what is not there is not an error."""
    removed = cart.quantities().get(product_id, 0)
    cart.remove(product_id)
    _log_change(cart, product_id, -removed)


def _log_change(cart: BaseCart, product_id: int, delta: int) -> None:
    """The event log's add_to_cart / remove_from_cart, written once the change commits."""
    from events.services import cart_event_record

    cart_event_record(
        user=getattr(cart, "user", None), session=getattr(cart, "session", None), product_id=product_id, delta=delta
    )


@transaction.atomic
def cart_merge(*, source: BaseCart, target: BaseCart) -> list[str]:
    """Move every line of `source` into `target`, adding quantities, capped by stock and the maximum.

    Lines that cannot be bought at all are dropped. Returns notes for the shopper about lines
    that were capped or dropped. `source` is emptied.
    """
    notes: list[str] = []
    incoming = source.quantities()
    if not incoming:
        return notes
    target.lock()
    existing = target.quantities()
    products = Product.objects.in_bulk(list(incoming))
    for product_id, quantity in incoming.items():
        product = products.get(product_id)
        problem = product_problem(product, 1)
        if problem:
            notes.append(problem)
            continue
        wanted = existing.get(product_id, 0) + quantity
        allowed = min(wanted, product.stock, max_quantity())
        if allowed < wanted:
            notes.append(f"“{product.name}”: your cart holds {allowed}, the most that can be ordered now.")
        target.set_quantity(product_id, allowed)
    source.clear()
    return notes


def cart_merge_on_login(*, user, session: MutableMapping) -> list[str]:
    """Fold the guest cart kept in `session` into the user's own cart (called on login)."""
    return cart_merge(source=SessionCart(session), target=DbCart(user))


# --- Reading ---


@dataclass
class CartLineView:
    product: Product
    quantity: int
    unit_price: Decimal | None
    problem: str | None  # why this line cannot be ordered as it is, or None

    @property
    def line_total(self) -> Decimal | None:
        return None if self.unit_price is None else self.unit_price * self.quantity


@dataclass
class CartSummary:
    lines: list[CartLineView] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """What the orderable lines cost at today's prices."""
        return sum((line.line_total for line in self.lines if line.problem is None), Decimal("0.00"))

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def has_problems(self) -> bool:
        return any(line.problem for line in self.lines)

    @property
    def is_orderable(self) -> bool:
        return bool(self.lines) and not self.has_problems


def cart_summary(*, cart: BaseCart) -> CartSummary:
    """The cart's lines priced from the products as they are now, each flagged if it cannot be ordered.

    Lines whose product was deleted are left out.
    """
    quantities = cart.quantities()
    products = Product.objects.select_related("category").in_bulk(list(quantities))
    summary = CartSummary()
    for product_id, quantity in quantities.items():
        product = products.get(product_id)
        if product is None:
            continue
        problem = product_problem(product, quantity)
        summary.lines.append(CartLineView(product, quantity, product.unit_price, problem))
    return summary
