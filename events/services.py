"""Writes to the event log: what the shop records about its shoppers, and the privacy duties.

Recording must never break a page: one INSERT statement per event (committed without waiting
for the disk), nothing for bots or when EVENT_LOG_ENABLED is off, and a database error is logged
and swallowed (inside a savepoint when a transaction is open, so the caller's transaction
survives it).

    interaction_record_request(request=request, product_id=12, kind=Interaction.Kind.VIEW,
                               surface=Interaction.Surface.PRODUCT_PAGE)
    order_purchases_record(order_id=7, session_key="...")   # one purchase per line, after commit
"""

from __future__ import annotations

import atexit
import functools
import logging
import re
import threading
import time
from collections.abc import Mapping, MutableMapping
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from events.models import Interaction, ListImpression

logger = logging.getLogger(__name__)

# The session remembers the key its anonymous events were logged under: Django gives the
# session a new key at login (session fixation), and the events must still be found then.
SESSION_EVENTS_KEY = "events_session_key"

# Obvious crawlers, link previewers and scripted clients. Headless browsers are not in the
# list: they are how the shop's own browser tests (and some real shoppers' tools) visit.
BOT_USER_AGENT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|mediapartners|facebookexternalhit|embedly|preview|"
    r"curl/|wget/|python-requests|python-urllib|httpx|aiohttp|go-http-client|java/|okhttp|"
    r"scrapy|phantomjs|lighthouse|pingdom|uptime|monitor",
    re.IGNORECASE,
)

# The lists a `ref` may name: recommendation lists, and search-by-photo results.
RECOMMENDATION_LISTS = (
    "similar_items",
    "also_bought",
    "bought_together",
    "more_in_type",
    "recommended_for_you",
    "recently_viewed",
)
PHOTO_SEARCH_REF = "photo_search"


def logging_enabled() -> bool:
    return bool(settings.EVENT_LOG_ENABLED)


def is_bot(user_agent: str) -> bool:
    """True for user agents that announce a crawler or a script."""
    return bool(user_agent) and BOT_USER_AGENT.search(user_agent) is not None


def _insert(rows: list[Interaction]) -> int:
    """Write the rows; a database error is logged and leaves the caller's transaction usable."""
    try:
        if connection.in_atomic_block:
            # A savepoint: a failed INSERT must not poison the caller's transaction, whose commit
            # (a cart change, say) is the caller's to make.
            with transaction.atomic():
                Interaction.objects.bulk_create(rows)
        else:
            _insert_async_commit(rows)
    except DatabaseError:
        logger.exception("Could not record %s event(s) of kind %s", len(rows), rows[0].kind if rows else "?")
        return 0
    return len(rows)


def _insert_async_commit(rows: list[Interaction]) -> None:
    """One statement that commits without waiting for the WAL flush.

    A page must not wait on the disk for its event: a plain INSERT's commit took 5-8 ms at p50 on a
    busy machine, this one 0.2-0.5 ms (BEGIN; SET LOCAL; INSERT; COMMIT about 1 ms). A crash may
    lose the last few events and never corrupts anything: PostgreSQL's documented trade-off of
    synchronous_commit, set here for this one statement's transaction only.
    """
    fields = _insert_fields()
    params = []
    for row in rows:
        params += [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(len(rows)), params)


@functools.cache
def _insert_fields() -> list:
    return [field for field in Interaction._meta.concrete_fields if not field.primary_key]


@functools.lru_cache(maxsize=8)
def _insert_sql(count: int) -> str:
    fields = _insert_fields()
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    # Typed placeholders: VALUES would otherwise guess text for NULLs and dates.
    row_sql = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in fields) + ")"
    return (
        "WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "
        f"INSERT INTO {connection.ops.quote_name(Interaction._meta.db_table)} ({columns}) "
        f"SELECT v.* FROM async, (VALUES {', '.join([row_sql] * count)}) AS v"
    )


# Per process: list impressions counted but not yet written, (day, list) -> [lists, items]. Every
# product page counts the same few rows of the day, so writing each page's counts at once makes
# concurrent pages queue on those rows' locks; they are written at most every
# LIST_IMPRESSIONS_FLUSH_SECONDS instead (0: at once), and when the process exits.
_pending_impressions: dict[tuple[date, str], list[int]] = {}
_pending_lock = threading.Lock()
_pending_since: float | None = None


def list_impressions_record(*, request: HttpRequest, shown: Mapping[str, int]) -> int:
    """Count the lists a page showed: `shown` maps a list's name (its cards' `ref`) to how many
    cards it showed; empty lists are left out. Returns how many lists were counted (0 when off or
    for bots). A database error is logged, never breaks the page, and keeps the counts for the
    next write.

    The counts go into the day's counters (ListImpression), one upsert statement for all of them,
    at most every LIST_IMPRESSIONS_FLUSH_SECONDS per process.
    """
    global _pending_since
    if not logging_enabled() or is_bot(request.META.get("HTTP_USER_AGENT", "")):
        return 0
    counted = [(surface, count) for surface, count in shown.items() if count > 0]
    if not counted:
        return 0
    day = timezone.localdate()
    with _pending_lock:
        for surface, count in counted:
            totals = _pending_impressions.setdefault((day, surface), [0, 0])
            totals[0] += 1
            totals[1] += count
        now = time.monotonic()
        if _pending_since is None:
            _pending_since = now
        if now - _pending_since < settings.LIST_IMPRESSIONS_FLUSH_SECONDS:
            return len(counted)
    list_impressions_flush()
    return len(counted)


def list_impressions_flush() -> int:
    """Write this process's pending list impressions; returns how many counters were written."""
    global _pending_since
    with _pending_lock:
        rows = sorted((day, surface, lists, items) for (day, surface), (lists, items) in _pending_impressions.items())
        _pending_impressions.clear()
        _pending_since = None
    if not rows:
        return 0
    # Sorted, so concurrent writers lock the counter rows in one order (no deadlocks).
    params = [value for row in rows for value in row]
    values = ", ".join(["(%s::date, %s::varchar, %s::bigint, %s::bigint)"] * len(rows))
    table = connection.ops.quote_name(ListImpression._meta.db_table)
    upsert = (
        f"INSERT INTO {table} (day, surface, lists, items) "
        f"SELECT v.* FROM {{source}} (VALUES {values}) AS v WHERE true "
        f"ON CONFLICT (day, surface) DO UPDATE SET lists = {table}.lists + EXCLUDED.lists, "
        f"items = {table}.items + EXCLUDED.items"
    )
    try:
        with connection.cursor() as cursor:
            if connection.in_atomic_block:
                with transaction.atomic():  # a savepoint, as in _insert
                    cursor.execute(upsert.format(source=""), params)
            else:
                # Committed without waiting for the WAL flush, as the events are (_insert_async_commit).
                cursor.execute(
                    "WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "
                    + upsert.format(source="async,"),
                    params,
                )
    except DatabaseError:
        logger.exception("Could not count the impressions of %s", ", ".join(sorted({row[1] for row in rows})))
        with _pending_lock:  # kept for the next write
            for day, surface, lists, items in rows:
                totals = _pending_impressions.setdefault((day, surface), [0, 0])
                totals[0] += lists
                totals[1] += items
        return 0
    return len(rows)


def _list_impressions_flush_at_exit() -> None:
    try:
        list_impressions_flush()
    except Exception:  # the process is ending: nothing left to tell
        logger.exception("Could not write the pending list impressions at exit")


atexit.register(_list_impressions_flush_at_exit)


def session_shopper_key(session: MutableMapping) -> str:
    """The key an anonymous shopper's events are logged under, creating the session if needed.

    The first key is kept in the session's data, so it survives the key change at login.
    """
    key = session.get(SESSION_EVENTS_KEY)
    if isinstance(key, str) and key:
        return key
    session_key = getattr(session, "session_key", None)
    if not session_key and hasattr(session, "save"):
        session.save()  # a new visitor: the session row (and its cookie) is made now
        session_key = session.session_key
    if not session_key:
        return ""
    session[SESSION_EVENTS_KEY] = session_key
    return session_key


def interaction_record_request(
    *,
    request: HttpRequest,
    product_id: int,
    kind: str,
    surface: str,
    quantity: int = 1,
    source_list: str = "",
    new_session: bool = True,
) -> Interaction | None:
    """Record one event of the shopper behind `request`; None when not recorded (off, bot, error).

    An anonymous shopper without a session gets one (its cookie identifies them next time),
    unless `new_session` is False: then only shoppers already known are logged.
    """
    if not logging_enabled() or is_bot(request.META.get("HTTP_USER_AGENT", "")):
        return None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        row = Interaction(user=user, product_id=product_id, kind=kind, quantity=quantity, surface=surface)
    else:
        session = getattr(request, "session", None)
        if session is None or not (new_session or session.session_key):
            return None
        key = session_shopper_key(session)
        if not key:
            return None
        row = Interaction(session_key=key, product_id=product_id, kind=kind, quantity=quantity, surface=surface)
    row.source_list = source_list
    return row if _insert([row]) else None


def cart_event_record(*, user=None, session: MutableMapping | None = None, product_id: int, delta: int) -> None:
    """Record a cart change: add_to_cart for a positive `delta`, remove_from_cart for a negative
    one (quantity = units). Written in the change's own transaction, so a rolled-back change logs nothing."""
    if not delta or not logging_enabled():
        return
    kind = Interaction.Kind.ADD_TO_CART if delta > 0 else Interaction.Kind.REMOVE_FROM_CART
    if user is not None and user.is_authenticated:
        who = {"user": user}
    elif session is not None:
        key = session_shopper_key(session)
        if not key:
            return
        who = {"session_key": key}
    else:
        return
    row = Interaction(product_id=product_id, kind=kind, quantity=abs(delta), surface=Interaction.Surface.CART, **who)
    _insert([row])


def order_purchases_record(*, order_id: int, session_key: str = "") -> int:
    """One `purchase` per line of the order (quantity, basket "order:<id>"); returns how many were written.

    Called after the order's transaction commits. A guest order is logged under the session's
    shopper key, so it joins the account on a later login like the guest's other events.
    """
    from shop.models import Order

    if not logging_enabled():
        return 0
    order = Order.objects.prefetch_related("lines").filter(pk=order_id).first()
    if order is None:
        return 0
    who = {"user_id": order.user_id} if order.user_id else {"session_key": session_key}
    if not order.user_id and not session_key:
        who = {}  # no shopper known: the basket alone still counts for "bought together"
    rows = [
        Interaction(
            product_id=line.product_id,
            kind=Interaction.Kind.PURCHASE,
            quantity=line.quantity,
            basket=f"order:{order.pk}",
            surface=Interaction.Surface.CHECKOUT,
            created_at=order.created_at,
            **who,
        )
        for line in order.lines.all()
        if line.product_id is not None
    ]
    return _insert(rows) if rows else 0


def order_purchases_schedule(*, order_id: int, session: MutableMapping | None = None) -> None:
    """Record the order's purchases once its transaction has committed (see order_purchases_record)."""
    if not logging_enabled():
        return
    key = session_shopper_key(session) if session is not None else ""
    transaction.on_commit(lambda: order_purchases_record(order_id=order_id, session_key=key))


def interactions_join_session(*, user, session: MutableMapping) -> int:
    """Give the anonymous events of this session to the account that just logged in or signed up."""
    key = session.get(SESSION_EVENTS_KEY)
    if not isinstance(key, str) or not key:
        return 0
    joined = Interaction.objects.filter(session_key=key, user__isnull=True).update(user=user)
    # Later anonymous events of this browser (after a logout) start a new shopper.
    del session[SESSION_EVENTS_KEY]
    return joined


def interactions_purge(*, now: datetime | None = None, days: int | None = None) -> int:
    """Delete the events the shop logged that are older than the retention period; returns how many.

    Imported histories (source other than "shop") are datasets loaded on purpose and are kept.
    EVENT_LOG_RETENTION_DAYS = 0 keeps everything.
    """
    days = settings.EVENT_LOG_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = Interaction.objects.filter(source="shop", created_at__lt=cutoff).delete()
    return deleted


def interactions_record_history(*, rows: list[Interaction], batch_size: int = 5000) -> int:
    """Write a generated or imported history in bulk; rows whose (source, external_id) is already
    stored are skipped, so writing the same history again adds nothing. Returns the rows given."""
    for start in range(0, len(rows), batch_size):
        Interaction.objects.bulk_create(rows[start : start + batch_size], ignore_conflicts=True)
    return len(rows)
