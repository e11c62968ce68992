"""User-user: the SQL over the live event log (selectors.user_user_candidates) is the pure rule of
recommendations.neighbourhoods on the same events, a new click counts at once, and only buyable
products come back."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from events.models import Interaction
from events.selectors import training_events
from recommendations import selectors
from recommendations.neighbourhoods import shopper_sets, touched_matrix, user_user_recommend
from recommendations.selectors import ShopperHistory, shopper_history, user_user_candidates
from shop.models import Product

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
KINDS = ["view", "view", "add_to_cart", "purchase", "purchase", "remove_from_cart", "recommendation_click"]


@pytest.fixture
def log(db):
    """30 products; 70 shoppers (imported customers, accounts and sessions) with mixed events,
    quantities and a few returns."""
    products = [
        Product.objects.create(sku=f"UU-{i}", name=f"Item {i}", price=Decimal("10.00"), stock=3) for i in range(30)
    ]
    rng = np.random.default_rng(5)
    users = [get_user_model().objects.create_user(f"uu{i}", password="x-long-password") for i in range(10)]
    now = timezone.now()
    rows = []
    for shopper in range(70):
        who = (
            {"customer_key": f"k{shopper}"}
            if shopper < 50
            else {"user": users[shopper - 50]}
            if shopper < 60
            else {"session_key": f"s{shopper:038d}"}
        )
        centre = rng.integers(0, 30)
        for _ in range(int(rng.integers(3, 12))):
            product = products[int((centre + rng.integers(-4, 5)) % 30)]
            kind = KINDS[int(rng.integers(0, len(KINDS)))]
            when = now - timedelta(days=float(rng.random() * 60))
            quantity = int(rng.integers(1, 4))
            rows.append(Interaction(product=product, kind=kind, quantity=quantity, created_at=when, **who))
            if kind == "purchase" and rng.random() < 0.15:
                later = when + timedelta(hours=1)
                rows.append(Interaction(product=product, kind="return", quantity=quantity, created_at=later, **who))
    Interaction.objects.bulk_create(rows)
    return products


def pure(history: ShopperHistory, *, k: int, exclude: set[int], pool: int, neighbours: int):
    events = list(training_events())
    bought: dict[str, set[int]] = {}
    for event in events:
        if event.kind == "purchase" and event.shopper:
            bought.setdefault(event.shopper, set()).add(event.product_id)
    sets = shopper_sets(touched_matrix(events), bought)
    return user_user_recommend(sets, history.products, k=k, exclude=exclude, pool=pool, neighbours=neighbours)


def rounded(pairs) -> list[tuple[int, float]]:
    # Sums of the same similarities in another order can differ in the last bit: compare at 1e-9.
    return sorted(((product, round(score, 9)) for product, score in pairs), key=lambda pair: (-pair[1], pair[0]))


@pytest.mark.parametrize(("pool", "neighbours"), [(300, 50), (12, 4), (6, 2)])
def test_sql_gives_the_pure_functions_top_k_on_the_same_events(log, monkeypatch, pool, neighbours):
    """Every shopper of the log as the query (their own events included, as in the shop): the same
    products with the same scores, for a pool and neighbour count that cut and that do not."""
    monkeypatch.setattr(selectors, "USER_USER_POOL", pool)
    monkeypatch.setattr(selectors, "USER_USER_NEIGHBOURS", neighbours)
    users = get_user_model().objects.filter(username__startswith="uu")
    sessions = Interaction.objects.exclude(session_key="").values_list("session_key", flat=True).distinct()
    histories = [shopper_history(user=user) for user in users]
    histories += [shopper_history(session_key=key) for key in sessions]
    histories += [ShopperHistory(products=[log[3].pk, log[4].pk, log[20].pk], bought=set())]  # a new visitor
    compared = 0
    for history in histories:
        exclude = {log[5].pk}
        found = user_user_candidates(history=history, k=8, exclude=exclude)
        expected = pure(history, k=8, exclude=exclude, pool=pool, neighbours=neighbours)
        assert rounded((c.product_id, c.score) for c in found) == rounded(expected)
        assert {c.source for c in found} <= {"user_user"} and all(c.because is None for c in found)
        assert not {c.product_id for c in found} & (set(history.products) | exclude)
        compared += bool(found)
    assert compared >= 15, "most shoppers get a list: the comparison is not of empty lists"


def test_a_new_click_counts_at_once_and_only_buyable_products_come_back(log):
    """A session's first view gives it neighbours; a second view changes them; sold-out and
    inactive products are never returned."""
    client = Client(HTTP_USER_AGENT=CHROME)
    assert client.get(log[10].get_absolute_url()).status_code == 200  # a view, logged under the session
    key = client.session.session_key
    first = user_user_candidates(history=shopper_history(session_key=key), k=10, exclude=set())
    assert first, "one view is enough to have neighbours"
    assert client.get(log[25].get_absolute_url()).status_code == 200
    second = user_user_candidates(history=shopper_history(session_key=key), k=10, exclude=set())
    assert [c.product_id for c in second] != [c.product_id for c in first]
    sold_out, inactive = second[0].product_id, second[1].product_id
    Product.objects.filter(pk=sold_out).update(stock=0)
    Product.objects.filter(pk=inactive).update(is_active=False)
    Product.objects.filter(pk=second[2].product_id).update(price=None)
    left = [c.product_id for c in user_user_candidates(history=shopper_history(session_key=key), k=10, exclude=set())]
    hidden = {sold_out, inactive, second[2].product_id}
    assert left and not hidden & set(left)
    kept = [c.product_id for c in second if c.product_id not in hidden]
    assert left[: len(kept)] == kept, "the others keep their order; more come in behind them"


def test_no_history_gives_no_candidates(log):
    assert user_user_candidates(history=ShopperHistory(products=[], bought=set()), k=5, exclude=set()) == []
