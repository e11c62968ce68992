"""Reads of the event log: the training reads and a shopper's recent events."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from events.models import Interaction, ListImpression
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


def recently_viewed_list(*, user=None, session_key: str = "", limit: int = 8) -> list:
    """The products this shopper (their user, else their session) viewed last, most recent first,
    each once; products taken off sale are left out, sold-out ones kept (their cards say so).
    Two queries: the product ids by their latest view, then the products."""
    from shop.models import Product

    if user is not None and user.is_authenticated:
        rows = Interaction.objects.filter(user=user)
    elif session_key:
        rows = Interaction.objects.filter(session_key=session_key)
    else:
        return []
    ids = list(
        rows.filter(kind=Interaction.Kind.VIEW, product__is_active=True)
        .values("product_id")
        .annotate(last=Max("created_at"))
        .order_by("-last", "-product_id")
        .values_list("product_id", flat=True)[:limit]
    )
    products = Product.objects.in_bulk(ids)
    return [products[pk] for pk in ids if pk in products]


# The lists whose click-through the admin shows, in its order, with the name a card's `ref` carries.
CLICK_THROUGH_LISTS = {
    "similar_items": "Similar items",
    "also_bought": "Customers who bought this also bought",
    "bought_together": "Frequently bought together",
    "recommended_for_you": "Recommended for you",
    "recently_viewed": "Recently viewed",
    "more_in_type": "More in <article type>",
    "photo_search": "Search by photo results",
}


@dataclass(frozen=True)
class ListClickThrough:
    surface: str
    label: str
    lists: int  # times the list was shown
    items: int  # cards shown in it
    clicks: int  # recommendation_click (photo_search_click) events from it

    @property
    def rate(self) -> float | None:
        """Clicks per list shown, None before it was shown."""
        return self.clicks / self.lists if self.lists else None


def list_click_through(*, days: int, today: date | None = None) -> list[ListClickThrough]:
    """Impressions and clicks per list over the last `days` days (today included, in the shop's time
    zone): the day counters of ListImpression and the log's click events. Two queries."""
    from events.services import PHOTO_SEARCH_REF

    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    shown = {
        row["surface"]: row
        for row in ListImpression.objects.filter(day__gte=first, day__lte=today)
        .values("surface")
        .annotate(lists=Sum("lists"), items=Sum("items"))
    }
    until = timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))
    kinds = [Interaction.Kind.RECOMMENDATION_CLICK, Interaction.Kind.PHOTO_SEARCH_CLICK]
    clicks = Interaction.objects.filter(kind__in=kinds, created_at__gte=since, created_at__lt=until).aggregate(
        **{
            surface: Count(
                "id",
                filter=Q(kind=Interaction.Kind.PHOTO_SEARCH_CLICK)
                if surface == PHOTO_SEARCH_REF
                else Q(kind=Interaction.Kind.RECOMMENDATION_CLICK, source_list=surface),
            )
            for surface in CLICK_THROUGH_LISTS
        }
    )
    return [
        ListClickThrough(
            surface=surface,
            label=label,
            lists=shown.get(surface, {}).get("lists") or 0,
            items=shown.get(surface, {}).get("items") or 0,
            clicks=clicks[surface],
        )
        for surface, label in CLICK_THROUGH_LISTS.items()
    ]
