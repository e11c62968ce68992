"""recommendations.collaborative: the item-item algorithms on small hand-made histories."""

from datetime import UTC, datetime, timedelta

import pytest

from recommendations.collaborative import (
    ALSO_BOUGHT_METHOD,
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_WEIGHTS,
    EventRow,
    bought_together,
    interaction_matrix,
    item_item_neighbours,
    popular_products,
    recommend_from_history,
    served_list,
)

NOW = datetime(2024, 1, 31, tzinfo=UTC)


def event(shopper: str, product: int, kind: str = "purchase", *, days_ago: float = 0, quantity: int = 1, basket=""):
    return EventRow(shopper, product, kind, quantity, NOW - timedelta(days=days_ago), basket)


def test_matrix_weighs_kinds_decays_with_age_and_floors_returns_at_zero():
    data = interaction_matrix(
        [
            event("customer:a", 1),
            event("customer:a", 2, "view"),
            event("customer:a", 3, days_ago=DEFAULT_HALF_LIFE_DAYS),  # one half-life old
            event("customer:a", 4),
            event("customer:a", 4, "return", quantity=3),  # more returned than bought
            event("", 5, basket="invoice-1"),  # basket-only rows have no shopper to train
        ],
        now=NOW,
    )
    assert data.shoppers == ["customer:a"]
    assert 5 not in data.products
    row = dict(zip(data.products, data.matrix.toarray()[0], strict=True))
    assert row[1] == pytest.approx(DEFAULT_WEIGHTS["purchase"])
    assert row[2] == pytest.approx(DEFAULT_WEIGHTS["view"])
    assert row[3] == pytest.approx(DEFAULT_WEIGHTS["purchase"] / 2)
    assert row.get(4, 0.0) == 0.0, "a product returned more than bought carries no weight"
    assert DEFAULT_WEIGHTS["purchase"] > DEFAULT_WEIGHTS["add_to_cart"] > DEFAULT_WEIGHTS["view"] > 0
    assert DEFAULT_WEIGHTS["return"] <= 0


def test_bulk_quantities_count_more_than_one_unit_but_not_linearly():
    data = interaction_matrix([event("customer:a", 1, quantity=1), event("customer:b", 1, quantity=1000)], now=NOW)
    one, thousand = data.matrix.toarray()[:, 0]
    assert one < thousand < 100 * one


def shared_history():
    """Products 1 and 2 are bought by the same three shoppers; 3 shares one shopper with 1."""
    events = []
    for shopper in ("a", "b", "c"):
        events += [event(f"customer:{shopper}", 1), event(f"customer:{shopper}", 2)]
    events += [event("customer:a", 3), event("customer:d", 3), event("customer:d", 4), event("customer:e", 4)]
    return events


@pytest.mark.parametrize("method", ["cosine", "bm25", "tfidf"])
def test_neighbours_need_min_support_and_never_include_the_product_itself(method):
    data = interaction_matrix(shared_history(), now=NOW)
    neighbours = item_item_neighbours(data, method=method, n=5, min_support=2)
    assert [product for product, _ in neighbours[1]] == [2]
    assert [product for product, _ in neighbours[2]] == [1]
    assert 3 not in neighbours, "3 shares one shopper with 1 and one with 4: below min_support"
    loose = item_item_neighbours(data, method=method, n=5, min_support=1)
    if method == "cosine":  # BM25 and TF-IDF give shopper a, who bought 3 of the 4 products, no weight
        assert 3 in {product for product, _ in loose[1]}
    for product, items in loose.items():
        assert product not in {neighbour for neighbour, _ in items}
        scores = [score for _, score in items]
        assert scores == sorted(scores, reverse=True)


def test_unknown_method_is_a_clear_error():
    data = interaction_matrix(shared_history(), now=NOW)
    with pytest.raises(ValueError, match="unknown item-item method 'svd'"):
        item_item_neighbours(data, method="svd")
    assert ALSO_BOUGHT_METHOD in {"cosine", "bm25", "tfidf"}


def test_bought_together_damps_best_sellers():
    """Product 9 is in every basket; 1 and 2 are together in two of their two baskets each.

    Scores: 1-2: 2 / sqrt(2 * 2) = 1.0; 1-9: 2 / sqrt(2 * 6) = 0.577.
    """
    events = [event("", 9, basket=f"b{n}") for n in range(6)]
    events += [event("", product, basket=basket) for basket in ("b0", "b1") for product in (1, 2)]
    events += [event("", 3, "return", basket="b0"), event("", 3, "return", basket="b1")]  # returns are not purchases
    together = bought_together(events, n=5, min_support=2)
    assert together[1] == [(2, pytest.approx(1.0)), (9, pytest.approx(2 / 12**0.5))]
    assert all(product != 3 for items in together.values() for product, _ in items)
    assert together[9][0][1] == pytest.approx(2 / 12**0.5)


def test_recommend_from_history_sums_scores_and_leaves_out_history_and_exclusions():
    neighbours = {1: [(2, 0.5), (3, 0.4), (4, 0.1)], 5: [(3, 0.3), (1, 0.9), (6, 0.2)]}
    assert recommend_from_history(neighbours, [1, 5], k=3) == [(3, pytest.approx(0.7)), (2, 0.5), (6, 0.2)]
    assert recommend_from_history(neighbours, [1, 5, 1], k=2, exclude={3}) == [(2, 0.5), (6, 0.2)]
    again = recommend_from_history(neighbours, [1, 5], k=2, include_history=True)
    assert again == [(1, 0.9), (3, pytest.approx(0.7))]


def test_served_list_blends_item_item_with_best_sellers_by_the_evidence_behind_it():
    """Rank fusion: item-item weight = (share of the latest products with neighbours)^2, best-sellers 0.5.

    History [1, 5]: only 1 has neighbours, so item-item weighs (1/2)^2 = 0.25: 2 scores 0.25/10 = 0.025,
    3 scores 0.25/11 = 0.0227; best-sellers 7, 9 (8 is excluded, 1 is history) score 0.5/10 and 0.5/11.
    """
    neighbours = {1: [(2, 0.5), (3, 0.1)]}
    served = served_list(neighbours, [1, 5], [1, 7, 8, 9], k=3, exclude={8})
    assert served == [(7, pytest.approx(0.05)), (9, pytest.approx(0.5 / 11)), (2, pytest.approx(0.025))]
    full = served_list(neighbours, [1], [7, 2], k=3)
    assert full == [(2, pytest.approx(0.1 + 0.5 / 11)), (3, pytest.approx(1 / 11)), (7, pytest.approx(0.05))]
    assert served_list({}, [], [1, 7], k=2) == [(1, 0.05), (7, pytest.approx(0.5 / 11))], "new shopper: best-sellers"


def test_popular_products_counts_purchase_lines_since_a_date():
    events = [event("customer:a", 1, days_ago=30), event("customer:b", 1, days_ago=30), event("customer:a", 2)]
    events += [event("customer:c", 3, "view")]
    assert popular_products(events) == [1, 2]
    assert popular_products(events, since=NOW - timedelta(days=7)) == [2]
