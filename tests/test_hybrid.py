""" "Recommended for you" as served: the hybrid blend of every source (recommendations/hybrid.py), its
filters and reasons in the shop, cold start, and the tuning of its weights on a validation split
carved from the training period (evaluation/interactions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from evaluation.interactions import Split, blend_tune, prepare, split_by_date, validation_split
from events.models import Interaction
from recommendations.candidates import Candidate
from recommendations.collaborative import EventRow
from recommendations.hybrid import (
    RRF_OFFSET,
    Blended,
    blend,
    exclusions,
    popular_in_categories,
    reason,
    repeat_products,
    weights_tune,
)
from recommendations.models import ProductEmbedding
from recommendations.selectors import shopper_recommended_list
from shop.models import Product
from shop.services import category_get_or_create
from tests.helpers import checkout
from tests.test_recommended_for_you import CHROME, home_items, make_products, purchases


def ranked(source: str, products: list[int], because: int | None = None) -> list[Candidate]:
    return [Candidate(product, 1.0 / (rank + 1), source, because) for rank, product in enumerate(products)]


# --- The blend (pure) ---


def test_blend_is_weighted_reciprocal_rank_fusion_with_the_best_contributor_as_source():
    lists = {
        "item_item_bm25": ranked("item_item_bm25", [1, 2, 3], because=9),
        "bought_together": ranked("bought_together", [3, 4], because=8),
    }
    fused = blend(lists, {"item_item_bm25": 1.0, "bought_together": 2.0}, k=3)
    assert fused == [
        Blended(3, pytest.approx(1 / 12 + 2 / 10), "bought_together", 8),
        Blended(4, pytest.approx(2 / 11), "bought_together", 8),
        Blended(1, pytest.approx(1 / 10), "item_item_bm25", 9),
    ]
    # Weighted normalised scores instead: each source's scores over its best, times its weight.
    by_score = blend(lists, {"item_item_bm25": 1.0, "bought_together": 2.0}, k=2, method="score")
    assert [(item.product_id, item.score) for item in by_score] == [
        (3, pytest.approx(1 / 3 + 2)),
        (1, 1.0),  # ties with 4 (2 x 1/2): by id
    ]


def test_a_source_is_picked_up_by_name_with_its_tuned_weight():
    """A new source (say `als`) counts once the weights name it; an untuned one is not served."""
    lists = {"popularity_recent": ranked("popularity_recent", [1, 2]), "als": ranked("als", [5, 6])}
    assert [item.product_id for item in blend(lists, {"popularity_recent": 1.0}, k=4)] == [1, 2]
    with_als = blend(lists, {"popularity_recent": 1.0, "als": 3.0}, k=4)
    assert [item.product_id for item in with_als] == [5, 6, 1, 2]


def test_exclusions_leave_out_what_was_seen_unless_bought_again_and_never_what_is_excluded():
    assert exclusions([1, 2, 3], {2}, extra=[7]) == {1, 3, 7}
    lists = {"popularity_recent": ranked("popularity_recent", [1, 2, 3, 7, 8])}
    assert [item.product_id for item in blend(lists, {"popularity_recent": 1}, k=5, exclude={1, 3, 7})] == [2, 8]


def test_no_article_type_fills_more_than_its_share_of_the_list():
    """k=5: at most floor(0.4 x 5) = 2 dresses while other products remain; the list is still full."""
    lists = {"popularity_recent": ranked("popularity_recent", [1, 2, 3, 4, 5, 6, 7, 8])}
    types = {1: "dress", 2: "dress", 3: "dress", 4: "dress", 5: "shoe", 6: "shoe", 7: "shoe", 8: None}
    fused = [item.product_id for item in blend(lists, {"popularity_recent": 1}, k=5, type_of=types)]
    assert fused == [1, 2, 5, 6, 8]
    # Nothing else to show: the held-back ones fill the list rather than leave it short.
    only_dresses = blend(lists, {"popularity_recent": 1}, k=5, type_of=dict.fromkeys(range(1, 9), "dress"))
    assert [item.product_id for item in only_dresses] == [1, 2, 3, 4, 5]


def test_every_source_explains_its_items():
    names = {9: "Red dress", 8: "Blue bag"}
    cases = {
        "item_item_bm25": "Because you viewed Red dress",
        "bought_together": "Bought together with Red dress",
        "popular_category": "Popular in Women's Dresses this week",
        "popularity_recent": "Popular this week",
        "popularity": "Popular in the shop",
        "similar_items": "Looks like Red dress",
        "content_profile": "Looks like Red dress",
        "user_user": "Shoppers with similar taste bought this",
    }
    for source, text in cases.items():
        assert reason(Blended(1, 1.0, source, 9), names=names, categories={1: "Women's Dresses"}) == text
    assert reason(Blended(1, 1.0, "some_new_source", None), names=names) == "Recommended for you"


def test_repeat_purchase_kinds_are_measured_from_the_history():
    """A product a fifth of its (at least 3) buyers bought on two occasions is a repeat kind; rated
    once per shopper (MovieLens) nothing is."""
    retail = [("a", 1, "b1"), ("a", 1, "b2"), ("b", 1, "b3"), ("c", 1, "b4"), ("d", 1, "b5"), ("a", 2, "b1")]
    retail += [("b", 2, "b3"), ("c", 2, "b4")]
    assert repeat_products(retail) == {1}
    assert repeat_products([(f"u{i}", i % 5, "") for i in range(50)]) == set()


def test_popular_in_categories_weighs_each_category_by_its_share_of_the_latest_history():
    history = [10, 11, 12]  # two dresses and a bag, most recent first
    found = popular_in_categories(
        history,
        category_of={10: "dress", 11: "bag", 12: "dress"},
        popular_by_category={"dress": [12, 20, 21], "bag": [30]},
        k=3,
    )
    assert found == [
        Candidate(20, pytest.approx(2 / 3 / RRF_OFFSET), "popular_category"),
        Candidate(21, pytest.approx(2 / 3 / (RRF_OFFSET + 1)), "popular_category"),
        Candidate(30, pytest.approx(1 / 3 / RRF_OFFSET), "popular_category"),
    ]


# --- Tuning on a validation split of the training period ---

START = datetime(2024, 1, 1, tzinfo=UTC)
SPLIT = START + timedelta(days=90)


def tuning_history(*, validation: str, test: str) -> list[EventRow]:
    """Twenty pairs of products bought together (by three shoppers each, early on) and a best-seller
    bought by a crowd every week; twenty shoppers each bought one product of a pair early on. In the
    validation weeks (the 4 before the split) and in the test period they buy either the pair's other
    product ("pairs") or the best-seller ("popular")."""
    events: list[EventRow] = []

    def buy(shopper: str, product: int, when: datetime) -> None:
        events.append(EventRow(shopper, product, "purchase", 1, when, f"{shopper}-{when.date()}"))

    for pair in range(20):
        for n in range(3):
            buy(f"pairs{pair}-{n}", 2 * pair, START + timedelta(days=1 + n))
            buy(f"pairs{pair}-{n}", 2 * pair + 1, START + timedelta(days=1 + n))
        buy(f"shopper{pair}", 2 * pair, START + timedelta(days=10))
    for week in range(0, 20):
        for n in range(4):
            buy(f"crowd{week}-{n}", 100, START + timedelta(days=7 * week + 1))
    for kind, when in ((validation, SPLIT - timedelta(days=10)), (test, SPLIT + timedelta(days=3))):
        for pair in range(20):
            buy(f"shopper{pair}", 2 * pair + 1 if kind == "pairs" else 100, when + timedelta(hours=pair))
    return sorted(events, key=lambda event: event.created_at)


def test_the_validation_split_holds_only_training_period_events():
    split = split_by_date(tuning_history(validation="pairs", test="popular"), split=SPLIT)
    inner = validation_split(split)
    assert inner.description == "validation:2024-03-03..2024-03-31"
    assert all(event.created_at < SPLIT - timedelta(days=28) for event in inner.train)
    shoppers = {f"shopper{pair}" for pair in range(20)}
    assert shoppers <= set(inner.test_purchases)  # with the crowd of those weeks
    assert all(inner.test_purchases[shopper] == [int(shopper[7:]) * 2 + 1] for shopper in shoppers)


def test_weights_are_tuned_on_the_training_period_and_never_see_the_test_period():
    """What shoppers did in the validation weeks decides the weights; changing the test period alone
    changes nothing."""

    def tuned(validation: str, test: str) -> dict[str, float]:
        prepared = prepare(split_by_date(tuning_history(validation=validation, test=test), split=SPLIT))
        return blend_tune(prepared, k=5, variants=("bm25",))["weights"]

    pairs = tuned("pairs", "popular")
    assert pairs == tuned("pairs", "pairs")
    assert pairs["item_item_bm25"] > 0 and pairs["popularity_recent"] == 0
    popular = tuned("popular", "pairs")
    assert popular == tuned("popular", "popular")
    assert popular["popularity_recent"] > 0 and popular["item_item_bm25"] == 0


def test_weights_tune_is_a_coordinate_ascent_on_the_validation_lists():
    lists = {
        "s1": {"a": ranked("a", [1, 2]), "b": ranked("b", [3, 4])},
        "s2": {"a": ranked("a", [5, 6]), "b": ranked("b", [7, 8])},
    }

    def hit(top, relevant, k):
        return float(bool(set(top[:k]) & set(relevant)))

    weights, score = weights_tune(lists, {"s1": {3}, "s2": {7}}, k=1, score=hit)
    assert (weights, score) == ({"a": 0.0, "b": 0.25}, 1.0)


# --- In the shop ---


def test_already_bought_is_left_out_unless_shoppers_buy_it_again(db):
    """R is bought again by two of its three buyers (a repeat kind); N by none. A shopper who bought
    both sees R among the best-sellers, never N."""
    products = make_products("RNX")
    r, n, x = products["R"], products["N"], products["X"]
    purchases([(f"c{i}", [r, n, x]) for i in range(3)])
    purchases([("c0", [r]), ("c1", [r])], days_ago=1)
    user = get_user_model().objects.create_user("again", password="x-long-password")
    for product in (r, n):
        Interaction.objects.create(user=user, product=product, kind="purchase", basket="own")
    shown = [item.product for item in shopper_recommended_list(user=user, k=5).items]
    assert shown == [r, x]
    # Without the repeat rule R would be left out like N: the rule is what brings it back.
    Interaction.objects.filter(customer_key__in=["c0", "c1"], basket__endswith="-1").delete()
    assert [item.product for item in shopper_recommended_list(user=user, k=5).items] == [x]


def article_type(name: str):
    return category_get_or_create(master="Apparel", sub="Topwear", article=name)


def test_type_cap_holds_on_the_served_list(db):
    """Six dresses sell best, then two bags and a pair of shoes: of five places no type takes more than
    two (0.4 x 5), so the list reaches the bags and the shoes."""
    dresses, bags, shoes = article_type("Dresses"), article_type("Bags"), article_type("Shoes")
    products = make_products("ABCDEFGHI")
    for names, category in (("ABCDEF", dresses), ("GH", bags), ("I", shoes)):
        Product.objects.filter(pk__in=[products[name].pk for name in names]).update(category=category)
    purchases([(f"c{name}{i}", [products[name]]) for name in "ABCDEF" for i in range(5)])
    purchases([(f"g{i}", [products["G"]]) for i in range(2)] + [("h0", [products["H"]]), ("i0", [products["I"]])])
    found = shopper_recommended_list(k=5)
    assert [item.product for item in found.items] == [products[name] for name in "ABGHI"]


def test_a_shopper_gets_the_best_sellers_of_their_categories_with_the_kind_named(db, settings, tmp_path):
    """A shopper who viewed a women's dress sees the week's best-selling dresses, "Popular in Women's
    Dresses this week", ahead of the shop's overall best-sellers, with weights that favour the
    shopper's types (the shop reads them from RECOMMENDED_BLEND_WEIGHTS_FILE)."""
    import json

    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"weights": {"popular_category": 1.0, "popularity_recent": 1.0}}))
    settings.RECOMMENDED_BLEND_WEIGHTS_FILE = str(weights)
    dresses, bags = article_type("Dresses"), article_type("Bags")
    products = make_products("VDBS")
    for name, category in (("V", dresses), ("D", dresses), ("B", bags)):
        Product.objects.filter(pk=products[name].pk).update(category=category, gender="Women")
    purchases([(f"s{i}", [products["S"]]) for i in range(6)] + [(f"b{i}", [products["B"]]) for i in range(4)])
    purchases([("d0", [products["D"]])])
    user = get_user_model().objects.create_user("dresses", password="x-long-password")
    found = shopper_recommended_list(user=user, k=3)
    assert (found.strategy, found.items[0].product, found.items[0].reason) == (
        "popular",
        products["S"],
        "Popular this week",
    )
    Interaction.objects.create(user=user, product=products["V"], kind="view")
    found = shopper_recommended_list(user=user, k=3)
    assert found.strategy == "personal"
    assert (found.items[0].product, found.items[0].reason) == (products["D"], "Popular in Women's Dresses this week")
    client = Client(HTTP_USER_AGENT=CHROME)
    client.force_login(user)
    assert "Popular in Women&#x27;s Dresses this week" in client.get("/").content.decode()


def test_a_new_product_enters_through_its_look_alikes(db, exact_scans):
    """Nobody bought N yet, so no collaborative source knows it; it looks like what the shopper viewed
    (V), so it is recommended, "Looks like V", ahead of F, new too but far from V."""
    rng = np.random.default_rng(7)
    base = np.abs(rng.normal(size=1280))
    vectors = {"V": base, "N": base + 0.2 * np.abs(rng.normal(size=1280)), "F": np.abs(rng.normal(size=1280))}
    products = make_products("VNFP")
    for name, vector in vectors.items():
        ProductEmbedding.objects.create(
            product=products[name],
            model_name="efficientnet_lite0",
            status=ProductEmbedding.Status.READY,
            source_sha256="test",
            vector=(vector / np.linalg.norm(vector)).astype(np.float32),
        )
    purchases([(f"p{i}", [products["P"]]) for i in range(3)])
    client = Client(HTTP_USER_AGENT=CHROME)
    client.get(products["V"].get_absolute_url())
    title, items = home_items(client)
    assert title == "Recommended for you"
    assert (products["N"].get_absolute_url(), "Looks like Item V") in items
    urls = [url for url, _ in items]
    assert urls.index(products["N"].get_absolute_url()) < urls.index(products["F"].get_absolute_url())
    # The new-products source offers N while nobody has bought it; once N sells, it is no longer
    # new and that source leaves it to the others (the content profile may still find it).
    from recommendations.selectors import shopper_history, similar_items_candidates

    history = shopper_history(session_key=client.session.session_key)
    assert products["N"].pk in [c.product_id for c in similar_items_candidates(history=history, k=10, exclude=set())]
    purchases([("q0", [products["N"]])])
    assert products["N"].pk not in [
        c.product_id for c in similar_items_candidates(history=history, k=10, exclude=set())
    ]


@pytest.mark.django_db(transaction=True)
def test_clicks_and_purchases_train_on_the_worker_and_change_the_home_page_with_reasons(worker):
    """Other shoppers buy shirts with jeans; ours views a shirt and buys it. Before training the home
    page can only show best-sellers; after the worker trains, it recommends the jeans, saying why."""
    from recommendations.tasks import recommenders_train_task

    shirt, jeans, belt, cap = (
        Product.objects.create(sku=f"HY-{name}", name=name, price=Decimal("100.00"), stock=50)
        for name in ("Shirt", "Jeans", "Belt", "Cap")
    )
    for number, basket in enumerate([[shirt, jeans], [shirt, jeans], [shirt, jeans, belt], [cap], [cap], [cap]]):
        other = Client(HTTP_USER_AGENT=CHROME)
        other.force_login(get_user_model().objects.create_user(f"other{number}", password="x-long-password"))
        checkout(other, basket)
    client = Client(HTTP_USER_AGENT=CHROME)
    client.force_login(get_user_model().objects.create_user("ours", password="x-long-password"))
    client.get(shirt.get_absolute_url())
    checkout(client, [shirt])
    title, before = home_items(client)
    assert title == "Popular now"
    # Best-sellers but the shirt, already bought: jeans and cap sold 3 each (ties by id), the belt 1.
    assert [url for url, _ in before] == [jeans.get_absolute_url(), cap.get_absolute_url(), belt.get_absolute_url()]
    assert recommenders_train_task.delay().get(timeout=120) == ["also_bought v1", "bought_together v1", "ease v1"]
    title, after = home_items(client)
    assert title == "Recommended for you"
    assert after[0] == (jeans.get_absolute_url(), "Bought together with Shirt")
    assert shirt.get_absolute_url() not in [url for url, _ in after]
    body = client.get("/api/recommendations/").json()
    assert body["model"] == "hybrid: also_bought v1, bought_together v1, ease v1"
    assert body["results"][0]["reason"] == "Bought together with Shirt"


def test_split_without_an_instant_cannot_be_validated():
    from evaluation.common import EvaluationError

    with pytest.raises(EvaluationError, match="split instant"):
        validation_split(Split(description="date:x", train=[], test_purchases={}))


# --- The served weights, chosen across histories (tune_blend_weights) ---


def test_served_weights_are_chosen_on_the_validation_weeks_only():
    from evaluation.blend_tuning import TuningRun, served_weights_tune

    def tuned(validation: str, test: str) -> dict:
        split = split_by_date(tuning_history(validation=validation, test=test), split=SPLIT)
        return served_weights_tune([TuningRun("pairs", split, {}, 5)])

    pairs = tuned("pairs", "popular")
    assert pairs == tuned("pairs", "pairs")
    assert pairs["weights"]["item_item_bm25"] > 0 and pairs["weights"]["popularity_recent"] == 0
    assert pairs["histories"][0]["validation"] == "validation:2024-03-03..2024-03-31"
    popular = tuned("popular", "popular")
    assert popular["weights"]["item_item_bm25"] == 0 and popular["weights"]["ease"] == 0
    # The best-seller comes from the best-sellers or from ALS, whose factors rank it first as well.
    assert popular["weights"]["popularity_recent"] + popular["weights"]["als"] > 0


def movielens_files(folder, ratings: list[tuple[int, int, int]]) -> None:
    folder.mkdir()
    items = sorted({item for _, item, _ in ratings})
    (folder / "u.item").write_text("".join(f"{item}|Movie {item}|01-Jan-1995\n" for item in items), encoding="latin-1")
    rows = "".join(f"{user}\t{item}\t4\t{stamp}\n" for user, item, stamp in ratings)
    (folder / "u.data").write_text(rows, encoding="latin-1")


def test_tune_blend_weights_writes_the_file_the_shop_reads(tmp_path):
    """Fans of one pair of films watch its other film; the command reads the files, tunes on the
    training part of the stratified split and writes the weights, keeping the untuned shop-only ones."""
    import json

    from django.core.management import call_command

    ratings = []
    for user in range(60):
        first = 2 * (user % 6)
        ratings += [(user, first, 1000 + user), (user, first + 1, 2000 + user), (user, 50 + user % 3, 3000 + user)]
        ratings += [(user, 40, 4000 + user)]
    movielens_files(tmp_path / "ml", ratings)
    output = tmp_path / "weights.json"
    output.write_text(json.dumps({"weights": {"similar_items": 0.3, "old_source": 9}}))
    call_command(
        "tune_blend_weights", "--history", f"movielens:{tmp_path / 'ml'}:stratified:0.75:5", "--output", output
    )
    written = json.loads(output.read_text())
    assert set(written["weights"]) == {
        "item_item_bm25",
        "bought_together",
        "popularity_recent",
        "als",
        "ease",
        "similar_items",
    }
    assert written["weights"]["similar_items"] == 0.3
    history = written["tuning"]["histories"][0]
    assert (history["name"], history["validation"], history["k"]) == (
        "movielens",
        "validation:stratified:0.75:seed42",
        5,
    )
    assert written["tuning"]["command"].startswith("manage.py tune_blend_weights --history movielens:")


def test_tune_blend_weights_refuses_bad_histories(tmp_path):
    from django.core.management import CommandError, call_command

    for spec, message in [
        ("movielens:/nowhere:stratified:0.75", "does not exist"),
        (f"movielens:{tmp_path}:weekly:3", "must look like"),
        (f"movielens:{tmp_path}:stratified:0.75:0", "at least 1"),
        (f"movielens:{tmp_path}:stratified:0.75", "u.item not found|u.data not found"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("tune_blend_weights", "--history", spec, "--output", tmp_path / "w.json")
    with pytest.raises(CommandError, match="--type-cap must be above 0"):
        call_command("tune_blend_weights", "--history", f"movielens:{tmp_path}:stratified:0.75", "--type-cap", "0")
    assert not (tmp_path / "w.json").exists()
