"""A seeded, plausible shopping history over whatever catalogue the shop holds, for the demo.

Shoppers of the demo are imported-style customers ("demo-<n>", never accounts). Each has a
gender and one or two "looks": a handful of products from different sub-categories (a shirt,
trousers, shoes, a belt...) that go together, mostly of the same usage. They view products of
their looks and some others, put some in the cart, and place a few orders whose baskets come
mostly from their looks. Some looks are far more popular than others, so there are best-sellers.
Events are spread over the last DAYS days and written through events.services with stable
external ids, so running it again adds nothing.

    demo_history_generate(shoppers=400, seed=7)   # -> {"shoppers": .., "orders": .., "events": ..}
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from django.core.management import call_command
from django.utils import timezone

from events.models import Interaction
from events.services import interactions_record_history
from shop.models import Product

SOURCE = "demo"
DAYS = 120
LOOK_SIZE = (4, 6)


def _looks(products: list[Product], rng: random.Random) -> list[list[int]]:
    """Groups of products from different sub-categories for one gender, around a seed product."""
    by_gender_sub: dict[tuple[str, int | None], list[Product]] = defaultdict(list)
    for product in products:
        sub = product.category.parent_id if product.category and product.category.parent_id else product.category_id
        for gender in {product.gender or "Unisex"} | ({"Men", "Women"} if product.gender == "Unisex" else set()):
            by_gender_sub[(gender, sub)].append(product)
    looks = []
    seeds = products[:]
    rng.shuffle(seeds)
    for seed in seeds[: max(len(products) // 5, 1)]:
        gender = seed.gender if seed.gender in ("Men", "Women", "Boys", "Girls") else rng.choice(["Men", "Women"])
        subs = [key for key in by_gender_sub if key[0] == gender and by_gender_sub[key]]
        rng.shuffle(subs)
        look = [seed.pk]
        for key in subs[: rng.randint(*LOOK_SIZE)]:
            same_usage = [p for p in by_gender_sub[key] if p.usage == seed.usage] or by_gender_sub[key]
            choice = rng.choice(same_usage).pk
            if choice not in look:
                look.append(choice)
        if len(look) >= 3:
            looks.append(look)
    return looks


def demo_history_generate(*, shoppers: int = 400, seed: int = 20261129, now: datetime | None = None) -> dict[str, int]:
    """Write the demo shoppers' views, cart additions and orders over the active catalogue."""
    rng = random.Random(seed)
    products = list(Product.objects.filter(is_active=True).select_related("category").order_by("pk"))
    if len(products) < 10:
        return {"shoppers": 0, "orders": 0, "events": 0}
    looks = _looks(products, rng)
    if not looks:
        return {"shoppers": 0, "orders": 0, "events": 0}
    # A few looks are best-sellers (Zipf-like popularity).
    popularity = [1.0 / (rank + 1) ** 0.8 for rank in range(len(looks))]
    ids = [product.pk for product in products]
    now = now or timezone.now()
    rows: list[Interaction] = []
    orders = 0

    def add(customer: str, kind: str, product_id: int, when: datetime, number: int, **fields) -> None:
        rows.append(
            Interaction(
                customer_key=customer,
                product_id=product_id,
                kind=kind,
                created_at=when,
                surface=Interaction.Surface.PRODUCT_PAGE if kind == "view" else Interaction.Surface.CART,
                source=SOURCE,
                external_id=f"{seed}:{customer}:{number}",
                **fields,
            )
        )

    for shopper in range(shoppers):
        customer = f"demo-{shopper}"
        mine = rng.choices(range(len(looks)), weights=popularity, k=rng.choice([1, 1, 2]))
        pool = sorted({pk for index in mine for pk in looks[index]})
        when = now - timedelta(days=rng.uniform(1, DAYS))
        number = 0
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):  # visits; most end in an order
            seen = rng.sample(pool, k=min(len(pool), rng.randint(2, 4))) + rng.sample(ids, k=rng.randint(0, 3))
            for product_id in seen:
                add(customer, "view", product_id, when, number)
                number += 1
                when += timedelta(seconds=rng.randint(20, 200))
            basket = [pk for pk in seen[: rng.randint(1, 3)] if pk in pool or rng.random() < 0.2]
            for product_id in basket:
                add(customer, "add_to_cart", product_id, when, number)
                number += 1
            if basket and rng.random() < 0.8:
                orders += 1
                for product_id in basket:
                    add(
                        customer,
                        "purchase",
                        product_id,
                        when + timedelta(minutes=3),
                        number,
                        basket=f"demo-order:{seed}:{orders}",
                        quantity=1,
                    )
                    rows[-1].surface = Interaction.Surface.CHECKOUT
                    number += 1
            # The next visit, never later than an hour ago (a visit lasts minutes): no events in the future.
            when = min(when + timedelta(days=rng.uniform(2, 20)), now - timedelta(hours=1))
    written = interactions_record_history(rows=rows)
    return {"shoppers": shoppers, "orders": orders, "events": written}


def demo_history_load(*, interactions: Path | None, layout: str | None, shoppers: int, stdout: TextIO) -> None:
    """The demo's history: a real one imported (`interactions` in `layout`, with import_interactions),
    else the seeded one of `shoppers` shoppers (none for 0); then the recommenders trained on it."""
    if interactions is not None:
        if not layout:
            raise ValueError("DEMO_INTERACTIONS needs DEMO_INTERACTIONS_LAYOUT (see import_interactions --help).")
        call_command("import_interactions", str(interactions), "--layout", layout, stdout=stdout)
    elif shoppers > 0:
        counts = demo_history_generate(shoppers=shoppers)
        stdout.write(
            f"Demo history: {counts['shoppers']} shoppers, {counts['orders']} orders, {counts['events']} events\n"
        )
    call_command("train_recommenders", stdout=stdout)
