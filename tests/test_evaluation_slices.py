"""The evaluation's slices (all, cold, new) and bootstrap intervals on a hand-made history whose
metrics are computed by hand below."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from evaluation.interactions import evaluate, method_rankers, prepare, slices_make, split_by_date
from evaluation.metrics import bootstrap_intervals, ranking_metrics
from recommendations.candidates import Candidate
from recommendations.collaborative import EventRow

SPLIT = datetime(2024, 3, 1, tzinfo=UTC)
NEW, OUTSIDE = 9, 8  # first sold in the test period: 9 is in the catalogue, 8 is not


def event(shopper: str, product: int, day: int, kind: str = "purchase") -> EventRow:
    return EventRow(shopper, product, kind, 1, SPLIT + timedelta(days=day), "")


def history() -> list[EventRow]:
    """Products 1, 2, 3 sold before the split (1 five times, 2 twice, 3 once); 9 and 8 first sold after.

    a (2 products before) buys 3 and the new 9; b (1 product) buys 2; c (1 product, twice) only re-orders;
    d (a view, no purchase) buys 3 and 8; e (3 products) buys only 8; f (nothing before) buys only 9.
    """
    return [
        event("a", 1, -10),
        event("a", 2, -9),
        event("b", 1, -8),
        event("c", 1, -7),
        event("c", 1, -6),
        event("d", 2, -5, kind="view"),
        event("e", 1, -4),
        event("e", 2, -3),
        event("e", 3, -2),
        event("a", 3, 1),
        event("a", NEW, 2),
        event("b", 2, 1),
        event("c", 1, 1),
        event("d", 3, 1),
        event("d", OUTSIDE, 1),
        event("e", OUTSIDE, 1),
        event("f", NEW, 1),
    ]


@pytest.fixture
def prepared():
    return prepare(split_by_date(history(), split=SPLIT), products={1, 2, 3, NEW})


def test_slice_membership_skips_and_counts_shoppers_without_relevant_products(prepared):
    assert prepared.products == {1, 2, 3, NEW}, "the catalogue given"
    assert prepare(split_by_date(history(), split=SPLIT)).products == {1, 2, 3, NEW, OUTSIDE}, "by default: the events'"
    slices = slices_make(prepared)
    assert slices["all"].truth == {"a": {3}, "b": {2}}, "the protocol of `methods`"
    assert slices["all"].skipped == 2, "c only re-ordered, e bought only a product outside the catalogue"
    assert slices["cold"].truth == {"b": {2}, "d": {3}}, "a has 2 products before, e 3; c bought twice 1 product"
    assert slices["cold"].skipped == 2, "c only re-ordered; f bought only a product nobody sold before"
    assert slices["cold"].counts == {"without_training_purchase": 1}, "d viewed but never bought before"
    assert slices["new"].truth == {"a": {NEW}}, "first sold in the test period and in the catalogue"
    assert slices["new"].skipped == 3 and slices["new"].counts == {"new_products": 1, "not_in_catalogue": 1}
    assert slices["all"].catalogue == {1, 2, 3} and slices["new"].catalogue == {1, 2, 3, NEW}


def new_first(shopper, history, exclude, k, repeat) -> list[Candidate]:
    """A method that puts the new product first, then 3 (as a content-based method could)."""
    return [Candidate(product, 1.0, "new_first") for product in (NEW, OUTSIDE, 3) if product not in exclude][:k]


def test_every_method_is_measured_in_every_slice_with_hand_computed_metrics(prepared):
    rankers = {**method_rankers(prepared, variants=()), "new_first": new_first}
    result = evaluate(prepared, k=2, variants=(), rankers=rankers, repeat=False)
    slices = result["slices"]
    assert set(slices) == {"all", "cold", "new"}
    for piece in slices.values():
        assert set(piece["methods"]) == set(rankers), "any ranker is sliced without being named"
    assert slices["all"]["methods"] == result["methods"], "`methods` is the all slice"
    assert (slices["all"]["shoppers"], slices["cold"]["shoppers"], slices["new"]["shoppers"]) == (2, 2, 1)
    assert (slices["all"]["skipped"], slices["cold"]["skipped"], slices["new"]["skipped"]) == (2, 2, 3)

    # popularity ranks 1, 2, 3: a (1, 2 bought) gets [3], a hit; b (1 bought) gets [2, 3], a hit at 1;
    # d (nothing bought) gets [1, 2], a miss.
    popularity = {name: piece["methods"]["popularity"] for name, piece in slices.items()}
    assert popularity["all"] == {
        "precision": 0.5,
        "recall": 1.0,
        "ndcg": 1.0,
        "map": 1.0,
        "hit_rate": 1.0,
        "coverage": 2 / 3,
    }
    assert popularity["cold"] == {
        "precision": 0.25,
        "recall": 0.5,
        "ndcg": 0.5,
        "map": 0.5,
        "hit_rate": 0.5,
        "coverage": 1.0,
    }
    assert popularity["new"] == dict.fromkeys(("precision", "recall", "ndcg", "map", "hit_rate"), 0.0) | {
        "coverage": 1 / 4
    }

    # new_first gives a [9, 8] and b [9, 8]: 9 is a's new product, but not part of `all`.
    in_all = slices["all"]["methods"]["new_first"]
    assert in_all["hit_rate"] == 0.0 and in_all["ndcg"] == 0.0, "no credit in `all` for a product never sold before"
    assert in_all["coverage"] == 0.0, "9 and 8 are outside the all slice's catalogue"
    assert slices["new"]["methods"]["new_first"] == {
        "precision": 0.5,
        "recall": 1.0,
        "ndcg": 1.0,
        "map": 1.0,
        "hit_rate": 1.0,
        "coverage": 1 / 4,
    }, "9 is a hit in `new`; 8 is not in the catalogue, so not covered"


def test_a_hit_in_second_place_is_scored_by_hand():
    lists = {"x": [5, 6], "y": [7, 8]}
    truth = {"x": {6}, "y": {1, 2, 3}, "z": set()}
    metrics = ranking_metrics(lists, truth, {5, 6, 7, 8}, k=2)
    assert metrics["precision"] == pytest.approx((1 / 2 + 0) / 2)
    assert metrics["recall"] == pytest.approx((1 + 0) / 2)
    assert metrics["ndcg"] == pytest.approx((1 / math.log2(3)) / 2), "z has nothing relevant: left out"
    assert metrics["map"] == pytest.approx((1 / 2) / 2)
    assert metrics["coverage"] == 1.0


def test_bootstrap_intervals_are_seeded_paired_and_bracket_the_mean():
    per_shopper = {
        "baseline": {f"s{i}": {"map": float(i % 2)} for i in range(40)},
        "same": {f"s{i}": {"map": float(i % 2)} for i in range(40)},
        "better": {f"s{i}": {"map": float(i % 2) + 0.25} for i in range(40)},
    }
    first = bootstrap_intervals(per_shopper, metrics=["map"], resamples=200, seed=7, baseline="baseline")
    again = bootstrap_intervals(per_shopper, metrics=["map"], resamples=200, seed=7, baseline="baseline")
    assert first == again
    low, high = first["baseline"]["map"]
    assert 0.2 < low < 0.5 < high < 0.8
    assert first["same"]["difference"]["map"] == [0.0, 0.0, 0.0], "identical per shopper: no difference at all"
    assert first["better"]["difference"]["map"] == pytest.approx([0.25, 0.25, 0.25])
    assert "difference" not in first["baseline"]


def test_the_report_gives_intervals_for_every_method_and_slice(prepared):
    result = evaluate(prepared, k=2, variants=(), repeat=False)
    assert result["bootstrap"]["resamples"] == 200 and result["bootstrap"]["baseline"] == "popularity_recent"
    intervals = result["slices"]["all"]["intervals"]
    assert set(intervals) == set(result["methods"])
    # popularity scores NDCG 1 for both shoppers of `all`: every resample's mean is 1.
    assert intervals["popularity"]["ndcg"] == [1.0, 1.0]
    assert intervals["popularity"]["difference"]["ndcg"][0] == pytest.approx(
        result["methods"]["popularity"]["ndcg"] - result["methods"]["popularity_recent"]["ndcg"]
    )
    assert result["slices"]["new"]["intervals"]["popularity"]["map"] == [0.0, 0.0]


def test_an_empty_slice_is_reported_as_such_without_intervals():
    """Everyone bought two products before the split (as on MovieLens): the cold slice is empty."""
    from evaluation.interactions_report import slices_text

    events = [event(shopper, product, -5 + product) for shopper in "ab" for product in (1, 2)]
    events += [event("a", 3, 1), event("b", 3, -1), event("b", 1, 2)]
    result = evaluate(prepare(split_by_date(events, split=SPLIT)), k=2, variants=(), repeat=False)
    cold = result["slices"]["cold"]
    assert (cold["shoppers"], cold["skipped"], cold["intervals"]) == (0, 0, {})
    assert result["slices"]["all"]["shoppers"] == 1 and result["slices"]["all"]["skipped"] == 1, "b only re-ordered"
    text = "\n".join(slices_text({"k": 2, **result}))
    assert "Slice cold (cold: shoppers with at most one product bought before the split): 0 shoppers" in text
    assert text.count("No shopper in this slice.") == 2, "cold, and new (nothing first sold after the split)"
