"""How long one event write takes, in one process, three ways side by side.

Run: python -m benchmarks.event_write [--writes 1500] [--rounds 2]

Against the configured database (DATABASE_URL, else the embedded one of `make demo`); the rows it
writes (session "bench-event-write") and a product it may create are deleted at the end.

- plain: a Django `bulk_create` in autocommit: its commit waits for the WAL flush;
- set local: BEGIN; SET LOCAL synchronous_commit TO OFF; INSERT; COMMIT;
- shop: `events.services.interaction_record_request` as the product page calls it (one statement
  whose own transaction commits without waiting for the flush; a returning anonymous shopper).
"""

from __future__ import annotations

import argparse
import os
import time

SESSION = "bench-event-write"


def _timed(function, writes: int) -> tuple[float, float]:
    for _ in range(50):  # warm the connection and the statement
        function()
    timings = []
    for _ in range(writes):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[len(timings) // 2], timings[int(len(timings) * 0.95)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction
    from django.test import RequestFactory

    from events.models import Interaction
    from events.services import interaction_record_request
    from shop.models import Product

    product = Product.objects.first()
    made = product is None
    if made:
        product = Product.objects.create(sku="bench-event-write", name="Event write benchmark")

    def plain() -> None:
        Interaction.objects.bulk_create([Interaction(session_key=SESSION, product_id=product.pk, kind="view")])

    def set_local() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            Interaction.objects.bulk_create([Interaction(session_key=SESSION, product_id=product.pk, kind="view")])

    request = RequestFactory().get("/products/1/", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")
    request.user, request.session = AnonymousUser(), SessionStore()
    request.session["events_session_key"] = SESSION  # a returning shopper: the session is known

    def shop() -> None:
        interaction_record_request(request=request, product_id=product.pk, kind="view", surface="product_page")

    try:
        for round_number in range(1, args.rounds + 1):
            for name, function in (("plain", plain), ("set local", set_local), ("shop", shop)):
                p50, p95 = _timed(function, args.writes)
                print(f"round {round_number}  {name:10} p50 {p50:.3f} ms  p95 {p95:.3f} ms  ({args.writes} writes)")
    finally:
        Interaction.objects.filter(session_key=SESSION).delete()
        if made:
            product.delete()


if __name__ == "__main__":
    main()
