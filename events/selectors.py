"""Reads of the event log: the training reads and a shopper's recent events."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime

from django.db.models import QuerySet

from events.models import Interaction
from recommendations.collaborative import EventRow


def training_events(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Collection[str] | None = None,
    sources: Collection[str] | None = None,
    chunk_size: int = 5000,
) -> Iterator[EventRow]:
    """Every event in [since, until) as the trainers read it, oldest first, streamed in chunks.

    The shopper is "user:<id>" for accounts, "customer:<key>" for imported shoppers,
    "session:<key>" for anonymous sessions, "" for basket-only rows.
    """
    rows = Interaction.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    if kinds is not None:
        rows = rows.filter(kind__in=list(kinds))
    if sources is not None:
        rows = rows.filter(source__in=list(sources))
    fields = ("user_id", "customer_key", "session_key", "product_id", "kind", "quantity", "created_at", "basket")
    for user_id, customer, session, product_id, kind, quantity, created_at, basket in (
        rows.order_by("created_at", "id").values_list(*fields).iterator(chunk_size=chunk_size)
    ):
        if user_id is not None:
            shopper = f"user:{user_id}"
        elif customer:
            shopper = f"customer:{customer}"
        elif session:
            shopper = f"session:{session}"
        else:
            shopper = ""
        yield EventRow(
            shopper=shopper,
            product_id=product_id,
            kind=kind,
            quantity=quantity,
            created_at=created_at,
            basket=basket,
        )


def interaction_recent_list(*, user=None, session_key: str = "", limit: int = 20) -> QuerySet[Interaction]:
    """This shopper's most recent events, newest first (served by the user/session indexes)."""
    if user is not None and user.is_authenticated:
        rows = Interaction.objects.filter(user=user)
    elif session_key:
        rows = Interaction.objects.filter(session_key=session_key)
    else:
        return Interaction.objects.none()
    return rows.order_by("-created_at")[:limit]
