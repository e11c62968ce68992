"""Top-k metrics of the purchase-history evaluation against cases computed by hand."""

import math

import pytest

from evaluation.metrics import ranking_metrics


def test_metrics_on_a_hand_computed_case():
    """Two shoppers, k = 3.

    a: list [1, 2, 3], relevant {1, 3}: hits at ranks 1 and 3.
       precision 2/3; recall 1; DCG 1 + 1/log2(4) = 1.5; IDCG 1 + 1/log2(3); AP (1/1 + 2/3) / 2 = 5/6.
    b: list [4, 5, 6], relevant {6, 7, 8, 9}: a hit at rank 3.
       precision 1/3; recall 1/4; DCG 1/2; IDCG 1 + 1/log2(3) + 1/2; AP (1/3) / min(4, 3) = 1/9.
    """
    lists = {"a": [1, 2, 3], "b": [4, 5, 6]}
    truth = {"a": {1, 3}, "b": {6, 7, 8, 9}}
    result = ranking_metrics(lists, truth, catalogue_ids=range(1, 11), k=3)
    assert result["precision"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert result["recall"] == pytest.approx((1 + 1 / 4) / 2)
    ndcg_a = 1.5 / (1 + 1 / math.log2(3))
    ndcg_b = 0.5 / (1 + 1 / math.log2(3) + 0.5)
    assert result["ndcg"] == pytest.approx((ndcg_a + ndcg_b) / 2)
    assert result["map"] == pytest.approx((5 / 6 + 1 / 9) / 2)
    assert result["hit_rate"] == 1.0
    assert result["coverage"] == pytest.approx(6 / 10)


def test_lists_are_cut_at_k_and_a_missing_list_counts_as_empty():
    lists = {"a": [9, 9, 1]}  # the hit is beyond k = 2
    truth = {"a": {1}, "b": {2}}
    result = ranking_metrics(lists, truth, catalogue_ids=[1, 2, 9], k=2)
    assert result == {
        "precision": 0.0,
        "recall": 0.0,
        "ndcg": 0.0,
        "map": 0.0,
        "hit_rate": 0.0,
        "coverage": pytest.approx(1 / 3),
    }


def test_map_is_the_h_and_m_competitions_map_at_12():
    """One relevant product at rank 2 of 12: AP@12 = (1/2) / min(1, 12) = 0.5."""
    lists = {"a": [5, 1, *range(100, 110)]}
    result = ranking_metrics(lists, {"a": {1}}, catalogue_ids=[1, 5], k=12)
    assert result["map"] == pytest.approx(0.5)
    assert result["precision"] == pytest.approx(1 / 12)
    assert result["ndcg"] == pytest.approx(1 / math.log2(3))
    assert result["coverage"] == 1.0, "products outside the catalogue are not counted"


def test_no_test_shopper_gives_zeros_not_a_division_error():
    assert ranking_metrics({}, {}, catalogue_ids=[], k=5)["precision"] == 0.0
