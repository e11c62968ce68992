"""The user-user source's SQL (`recommendations.selectors.user_user_candidates`) timed on the shop's
own database, e.g. after importing a real history:

    .venv/bin/python manage.py import_interactions ../shared/data/interactions/online-retail \
        --layout online-retail --no-queue
    .venv/bin/python -m benchmarks.user_user --shoppers 200

Each sampled imported shopper's history (every product they touched, most recent first, as
`shopper_history` reads it) is the query; one untimed warm-up call, then one timed call each.
Prints p50/p90/max in ms, the mean history length and the plan of one call.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time


def main() -> None:
    import django

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--pool", type=int, help="USER_USER_POOL for this run (default: the module's)")
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from django.db import connection
    from django.db.models import Count, Max, Q

    from benchmarks.common import loadavg
    from events.models import Interaction
    from recommendations import selectors

    keys = sorted(
        Interaction.objects.filter(kind="purchase")
        .exclude(customer_key="")
        .values_list("customer_key", flat=True)
        .distinct()
    )
    if not keys:
        raise SystemExit("no imported shopper in this database: import a history first (see the docstring)")
    sample = random.Random(options.seed).sample(keys, min(options.shoppers, len(keys)))

    def history(key: str) -> selectors.ShopperHistory:
        rows = (
            Interaction.objects.filter(customer_key=key, user__isnull=True)
            .exclude(kind="return")
            .values("product_id")
            .annotate(last=Max("created_at"), purchases=Count("id", filter=Q(kind="purchase")))
            .order_by("-last", "-product_id")
        )
        return selectors.ShopperHistory(
            products=[row["product_id"] for row in rows], bought={row["product_id"] for row in rows if row["purchases"]}
        )

    if options.pool:
        selectors.USER_USER_POOL = options.pool
    histories = [history(key) for key in sample]
    selectors.user_user_candidates(history=histories[0], k=options.k, exclude=set())  # warm-up
    timings = []
    for item in histories:
        started = time.perf_counter()
        selectors.user_user_candidates(history=item, k=options.k, exclude=set())
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    mean = statistics.mean(len(h.products) for h in histories)
    print(
        f"user_user_candidates on {len(histories)} imported shoppers ({Interaction.objects.count()} events; "
        f"mean history {mean:.0f} products), pool {selectors.USER_USER_POOL}, k={options.k}, "
        f"load average {loadavg()}:"
    )
    print(
        f"p50 {statistics.median(timings):.1f} ms, p90 {timings[int(0.9 * (len(timings) - 1))]:.1f} ms, "
        f"max {timings[-1]:.1f} ms"
    )
    middle = histories[len(histories) // 2]
    params = {
        "history": middle.products,
        "size": len(set(middle.products)),
        "banned": middle.products or [0],
        "kinds": list(selectors.TOUCH_KINDS),
        "pool": selectors.USER_USER_POOL,
        "neighbours": selectors.USER_USER_NEIGHBOURS,
        "k": options.k,
    }
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + selectors.USER_USER_SQL, params)
        print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
