"""evaluate_recommendations: metrics with known answers, the report files, search by photo, --dataset.

The similar-items cases use hand-made vectors whose visual neighbours are known exactly:
two clusters far apart (one per subCategory), each made of three tight pairs, so a product's
nearest neighbour is its twin, its next four are the rest of its cluster and the five after
are the other cluster (the member of it with the smallest tilt towards this one is never
among them). The exact numbers are checked on the raw visual list, which follows from that
layout alone; the served list (which also weighs article type and gender) is checked against
what `product_similar_list` itself returns.
"""

import json
import os
import random
import tempfile
from io import StringIO
from pathlib import Path

import environ
import numpy as np
import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from recommendations.evaluation import (
    EvaluationError,
    PhotoQuery,
    ProductLabels,
    coverage,
    database_exists,
    database_url,
    gini,
    k_values_parse,
    label_article_types,
    label_map_read,
    photo_queries_read,
    photo_search_evaluate,
    recommendation_counts,
    scratch_database_create,
    scratch_database_drop,
    scratch_database_name,
    share_same,
    similar_items_evaluate,
)
from recommendations.models import EMBEDDING_DIMENSIONS
from recommendations.selectors import product_similar_list
from recommendations.services import product_embeddings_compute
from shop.demo_catalog import draw_product, generate_demo_catalog
from shop.models import Product
from shop.services import category_get_or_create
from tests.factories import jpeg_bytes, product_with_image, products_with_vectors

# Cluster A: Topwear, pairs (0,1) (2,3) (4,5); cluster B: Bottomwear, pairs (6,7) (8,9) (10,11).
ARTICLE_TYPES = ["Tshirts"] * 3 + ["Shirts"] * 3 + ["Jeans"] * 4 + ["Trousers"] * 2
GENDERS = ["Men", "Men", "Women", "Women", "Men", "Men"] + ["Unisex"] * 6
EXPECTED_VISUAL = {
    # k: (same articleType, same subCategory, same gender, coverage, Gini)
    1: (10 / 12, 1.0, 1.0, 1.0, 0.0),
    5: (26 / 60, 1.0, 44 / 60, 1.0, 0.0),
    # Counts in the top 10: the least tilted product of each cluster only 5 times, the others 11.
    10: (26 / 120, 0.5, 44 / 120, 1.0, 1 / 12),
}
# (articleType, products, precision@5, best possible = min(5, products - 1) / 5): each at its best here.
EXPECTED_PER_TYPE = [
    ("Jeans", 4, 0.6, 0.6),
    ("Shirts", 3, 0.4, 0.4),
    ("Tshirts", 3, 0.4, 0.4),
    ("Trousers", 2, 0.2, 0.2),
]


def cluster_vectors() -> np.ndarray:
    dims = EMBEDDING_DIMENSIONS["efficientnet_lite0"]
    vectors = np.zeros((12, dims), dtype=np.float32)
    for index in range(12):
        cluster, other = (0, 1) if index < 6 else (1, 0)
        vectors[index, cluster] = 1.0
        vectors[index, 10 + index // 2] = 0.5  # the pair
        vectors[index, 100 + index] = 0.1  # the twin's own offset
        vectors[index, other] = 0.01 * (index % 6 + 1)  # a distinct tilt towards the other cluster
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def clusters(db):
    assert not Product.objects.exists(), "the test database holds products left by another test run"
    products = products_with_vectors(cluster_vectors())
    subs = {"Tshirts": "Topwear", "Shirts": "Topwear", "Jeans": "Bottomwear", "Trousers": "Bottomwear"}
    for product, article, gender in zip(products, ARTICLE_TYPES, GENDERS, strict=True):
        # update(), not save(): saving a product without an image removes its embedding.
        category = category_get_or_create(master="Apparel", sub=subs[article], article=article)
        Product.objects.filter(pk=product.pk).update(category=category, gender=gender)
    return list(Product.objects.filter(pk__in=[p.pk for p in products]).order_by("pk"))


def assert_expected(result: dict, expected: dict) -> None:
    assert [row["k"] for row in result["at_k"]] == sorted(expected)
    for row in result["at_k"]:
        got = (row["same_article_type"], row["same_sub_category"], row["same_gender"], row["coverage"], row["gini"])
        assert got == pytest.approx(expected[row["k"]], abs=1e-12), f"k={row['k']}"


# --------------------------------------------------------------------------- metric functions


def test_gini_known_values():
    assert gini([]) == 0.0
    assert gini([0, 0, 0]) == 0.0
    assert gini([3, 3, 3, 3]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)  # one has everything: (n-1)/n
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    assert gini([4, 1, 3, 2]) == gini([1, 2, 3, 4])


def test_coverage_and_counts_on_a_constructed_case():
    neighbours = {1: [2, 3], 2: [1, 3], 3: [1, 2], 4: [1, 2]}
    catalogue = [1, 2, 3, 4, 5]
    assert recommendation_counts(neighbours, catalogue, k=1) == {1: 3, 2: 1, 3: 0, 4: 0, 5: 0}
    assert coverage(neighbours, catalogue, k=1) == pytest.approx(2 / 5)
    assert coverage(neighbours, catalogue, k=2) == pytest.approx(3 / 5)
    assert gini(recommendation_counts(neighbours, catalogue, k=1).values()) == pytest.approx(0.7)
    assert coverage({}, [], k=1) == 0.0


def test_share_same_skips_unlabelled_queries_and_counts_unlabelled_neighbours_as_misses():
    def labels(article: int | None, gender: str) -> ProductLabels:
        return ProductLabels(article, f"type {article}", 1, "sub", gender)

    table = {1: labels(10, "Men"), 2: labels(10, ""), 3: labels(20, "Men"), 4: labels(None, "Women")}
    neighbours = {1: [2, 3, 4], 4: [1, 2, 3]}
    # Query 1 only (query 4 has no articleType): neighbours 2 (same), 3 (other), 4 (none).
    assert share_same(neighbours, table, key="article_type", k=3) == pytest.approx(1 / 3)
    assert share_same(neighbours, table, key="article_type", k=1) == 1.0
    # Gender: query 1 (Men) matches 3; query 4 (Women) matches nobody; blank gender never matches.
    assert share_same(neighbours, table, key="gender", k=3) == pytest.approx(1 / 6)
    assert share_same(neighbours, table, key="sub_category", k=3) == 1.0


def test_k_values_and_labels_parsing(tmp_path):
    assert k_values_parse("10,1,5,5") == [1, 5, 10]
    for bad in ("0,5", "a", "", "1.5"):
        with pytest.raises(EvaluationError):
            k_values_parse(bad)
    assert label_article_types("Tshirts") == {"tshirts"}
    assert label_article_types("TOP", {"top": ["Tshirts", "Shirts"]}) == {"tshirts", "shirts"}
    assert label_article_types("watch", {"top": ["Tshirts"]}) == {"watch"}
    (tmp_path / "bad.csv").write_text("image,class\na.jpg,x\n")
    with pytest.raises(EvaluationError, match="file,label"):
        photo_queries_read(tmp_path / "bad.csv")
    (tmp_path / "map.json").write_text('{"top": "Tshirts"}')
    with pytest.raises(EvaluationError, match="JSON object"):
        label_map_read(tmp_path / "map.json")


def test_scratch_database_url_is_read_back_by_django_environ():
    env = environ.Env()
    socket = {"NAME": "shop", "USER": "postgres", "PASSWORD": "", "HOST": "/srv/pg sock", "PORT": 5432}
    tcp = {"NAME": "shop", "USER": "u@x", "PASSWORD": "p:w/", "HOST": "db.example", "PORT": 6543}
    tcp["OPTIONS"] = {"sslmode": "require"}
    for database in (socket, tcp):
        os.environ["EVALUATION_TEST_URL"] = database_url(database, "shop_eval")
        try:
            parsed = env.db("EVALUATION_TEST_URL")
        finally:
            del os.environ["EVALUATION_TEST_URL"]
        assert parsed["NAME"] == "shop_eval"
        for key in ("USER", "PASSWORD", "HOST", "PORT"):
            assert parsed[key] == database[key]
        assert parsed.get("OPTIONS", {}) == database.get("OPTIONS", {})
    assert scratch_database_name("storefront") == "storefront_eval"
    assert len(scratch_database_name("x" * 63)) == 63


def test_scratch_database_is_created_reachable_and_dropped(db):
    """On the test server beside the test database (db: settings name the test database)."""
    database = settings.DATABASES["default"]
    name = scratch_database_name(database["NAME"])
    scratch_database_create(database, name)
    try:
        url = environ.Env.db_url_config(database_url(database, name))
        with psycopg.connect(
            dbname=url["NAME"], user=url["USER"], host=url["HOST"], port=url["PORT"], password=url["PASSWORD"] or None
        ) as connection:
            assert connection.execute("SELECT current_database()").fetchone()[0] == name
        assert database_exists(database, name)
    finally:
        scratch_database_drop(database, name)
    assert not database_exists(database, name)
    with pytest.raises(EvaluationError):
        scratch_database_drop(database, database["NAME"])


# --------------------------------------------------------------------------- similar items


def test_visual_neighbours_of_the_clusters_have_the_exact_expected_metrics(clusters):
    result = similar_items_evaluate(k_values=[1, 5, 10], selector="visual")
    assert result["evaluated"] == 12 and [row["short_lists"] for row in result["at_k"]] == [0, 0, 0]
    assert result["function"] == "recommendations.selectors.product_visually_similar_list"
    assert_expected(result, EXPECTED_VISUAL)
    per_type = [
        (row["article_type"], row["products"], row["precision"], row["ceiling"]) for row in result["per_article_type"]
    ]
    assert per_type == [
        (name, n, pytest.approx(value), pytest.approx(best)) for name, n, value, best in EXPECTED_PER_TYPE
    ]


@pytest.mark.parametrize("selector", ["served", "visual"])
def test_one_article_type_per_cluster_gives_full_shares(clusters, selector):
    Product.objects.filter(pk__in=[p.pk for p in clusters[:6]]).update(category=clusters[0].category, gender="Women")
    Product.objects.filter(pk__in=[p.pk for p in clusters[6:]]).update(category=clusters[6].category, gender="Men")
    result = similar_items_evaluate(k_values=[1, 5], selector=selector)
    for row in result["at_k"]:
        assert (row["same_article_type"], row["same_sub_category"], row["same_gender"]) == (1.0, 1.0, 1.0)
        assert (row["coverage"], row["gini"]) == (1.0, 0.0)  # each product is its twin's first neighbour
    assert [(row["article_type"], row["precision"]) for row in result["per_article_type"]] == [
        ("Jeans", 1.0),
        ("Tshirts", 1.0),
    ]


def test_served_numbers_are_those_of_the_list_product_pages_show(clusters):
    result = similar_items_evaluate(k_values=[1, 5, 10])
    assert result["selector"] == "served"
    assert result["function"] == "recommendations.selectors.product_similar_list"
    for row in result["at_k"]:
        k = row["k"]  # asked for on its own: the served top 5 need not be the first 5 of the top 10
        pairs = [(product, item.product) for product in clusters for item in product_similar_list(product=product, k=k)]
        assert len(pairs) == 12 * k
        for key, field in (("article_type", "category_id"), ("gender", "gender")):
            expected = sum(getattr(item, field) == getattr(product, field) for product, item in pairs) / len(pairs)
            assert row[f"same_{key}"] == pytest.approx(expected, abs=1e-12), (k, key)
        assert row["coverage"] == pytest.approx(len({item.pk for _, item in pairs}) / 12)


def test_limit_queries_the_first_products_but_counts_the_whole_catalogue(clusters):
    result = similar_items_evaluate(k_values=[1, 5], limit=6, selector="visual")  # cluster A only
    assert result["evaluated"] == 6
    at = {row["k"]: row for row in result["at_k"]}
    assert at[1]["same_article_type"] == pytest.approx(4 / 6)
    assert at[5]["same_article_type"] == pytest.approx(12 / 30)
    assert at[1]["coverage"] == pytest.approx(0.5)
    assert at[1]["gini"] == pytest.approx(0.5)  # six products once, six never


def test_empty_catalogue_is_a_clear_error(db):
    with pytest.raises(EvaluationError, match="embed_products"):
        similar_items_evaluate()


def test_command_writes_the_report_files_with_the_function_results(clusters, tmp_path):
    output = tmp_path / "report"
    stdout = StringIO()
    call_command("evaluate_recommendations", output=output, k_values="1,5,10", visual=True, verbosity=0, stdout=stdout)
    report = json.loads((output / "report.json").read_text())
    assert report["similar_items"] == similar_items_evaluate(k_values=[1, 5, 10], selector="visual")
    assert_expected(report["similar_items"], EXPECTED_VISUAL)
    assert report["model"] == "efficientnet_lite0"
    assert report["catalogue"] == {"dataset": None, "products": 12, "evaluated_catalogue": 12}
    assert "evaluate_recommendations" in report["command"] and "--visual" in report["command"]
    assert report["created_at"] and "git_commit" in report and report["photo_search"] is None
    assert report["plots"] == ["per_article_type.png", "precision_at_k.png"]
    for name in report["plots"]:
        with Image.open(output / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200
    markdown = (output / "report.md").read_text()
    assert "](precision_at_k.png)" in markdown and "](per_article_type.png)" in markdown
    assert "| 5 | 0.433 | 1.000 | 0.733 | 1.000 | 0.000 |" in markdown
    assert "| Jeans | Bottomwear | 4 | 0.600 |" in markdown
    printed = stdout.getvalue()
    assert "0.433" in printed and "Report written to" in printed


def test_command_measures_the_served_list_by_default(clusters, tmp_path):
    call_command("evaluate_recommendations", output=tmp_path, k_values="1,5", verbosity=0, stdout=StringIO())
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["similar_items"]["selector"] == "served"
    assert report["similar_items"] == similar_items_evaluate(k_values=[1, 5])


def test_command_rejects_bad_options(db, tmp_path):
    with pytest.raises(CommandError, match="k-values"):
        call_command("evaluate_recommendations", k_values="0", output=tmp_path)
    with pytest.raises(CommandError, match="go together"):
        call_command("evaluate_recommendations", queries=tmp_path, output=tmp_path)
    with pytest.raises(CommandError, match="styles.csv"):
        call_command("evaluate_recommendations", dataset=tmp_path, output=tmp_path)


# --------------------------------------------------------------------------- search by photo


@pytest.fixture
def photo_catalogue(db):
    """Eight drawn products with vectors from the real model; query images are written beside.

    Kinds, colours and seeds differ from the other test modules' drawings on purpose: every
    rolled-back test leaves its vectors behind in the HNSW index as dead entries until VACUUM,
    and a few hundred dead copies of one vector can hide the live products around it.
    """
    assert not Product.objects.exists(), "the test database holds products left by another test run"
    kinds = [("Shirts", "Olive")] * 3 + [("Backpacks", "Maroon")] * 2 + [("Sports Shoes", "Teal")] * 2
    kinds += [("Caps", "Mustard")]
    subs = {"Shirts": "Topwear", "Backpacks": "Bags", "Sports Shoes": "Shoes", "Caps": "Headwear"}
    images = [
        jpeg_bytes(draw_product(kind, colour, "solid", random.Random(500 + i)))
        for i, (kind, colour) in enumerate(kinds)
    ]
    products = [
        product_with_image(
            f"SKU{i}",
            data,
            name=f"{colour} {kind}",
            category=category_get_or_create(master="Apparel", sub=subs[kind], article=kind),
        )
        for i, ((kind, colour), data) in enumerate(zip(kinds, images, strict=True))
    ]
    assert product_embeddings_compute(product_ids=[p.pk for p in products])["ready"] == 8
    return products, images


def write_queries(folder: Path, images: list[bytes]) -> tuple[Path, Path, Path]:
    """Three readable queries (a catalogue shirt, backpack and shoe photo) and one broken file."""
    folder.mkdir()
    (folder / "shirt.jpg").write_bytes(images[0])
    (folder / "backpack.jpg").write_bytes(images[3])
    (folder / "shoe.jpg").write_bytes(images[5])
    (folder / "broken.jpg").write_bytes(b"this is not an image\n" * 20)
    labels = folder.parent / "labels.csv"
    # "top" goes through the map; "BACKPACKS" matches its articleType by name whatever the case;
    # no product is a pair of sunglasses, so the shoe photo can never match.
    labels.write_text("file,label\nshirt.jpg,top\nbackpack.jpg,BACKPACKS\nshoe.jpg,Sunglasses\nbroken.jpg,top\n")
    label_map = folder.parent / "map.json"
    label_map.write_text(json.dumps({"top": ["Tshirts", "Shirts"]}))
    return folder, labels, label_map


EXPECTED_PHOTO_AT_K = {1: (2 / 3, 2 / 3), 2: (2 / 3, 2 / 3)}  # k: (precision, hit rate)
# Top 5: the 3 olive shirts then 2 others; the 2 backpacks then 3 others; never sunglasses.
# (label, queries, precision@5, best possible = matching products in the catalogue / 5)
EXPECTED_PER_LABEL = [("top", 1, 0.6, 0.6), ("BACKPACKS", 1, 0.4, 0.4), ("Sunglasses", 1, 0.0, 0.0)]


def test_photo_queries_with_a_label_map_and_an_unreadable_file(photo_catalogue, tmp_path):
    _, images = photo_catalogue
    folder, labels, label_map = write_queries(tmp_path / "queries", images)
    result = photo_search_evaluate(
        directory=folder, queries=photo_queries_read(labels), label_map=label_map_read(label_map), k_values=[1, 2]
    )
    assert result["queries"] == 4 and result["evaluated"] == 3
    assert [(item["file"], item["line"]) for item in result["unreadable"]] == [("broken.jpg", 5)]
    assert "not an image" in result["unreadable"][0]["reason"]
    assert result["hit_at_1"] == pytest.approx(2 / 3)
    for row in result["at_k"]:
        assert (row["precision"], row["hit_rate"]) == pytest.approx(EXPECTED_PHOTO_AT_K[row["k"]])
    per_label = [(row["label"], row["queries"], row["precision"], row["ceiling"]) for row in result["per_label"]]
    assert per_label == [
        (label, n, pytest.approx(value), pytest.approx(best)) for label, n, value, best in EXPECTED_PER_LABEL
    ]
    assert result["labels_without_catalogue_match"] == ["Sunglasses"]
    assert result["results"][0]["top_skus"][0] == "SKU0", "the same photo finds its own product first"


def test_command_with_photo_queries_writes_the_photo_plot(photo_catalogue, tmp_path):
    _, images = photo_catalogue
    folder, labels, label_map = write_queries(tmp_path / "queries", images)
    output = tmp_path / "report"
    stdout = StringIO()
    call_command(
        "evaluate_recommendations",
        queries=folder,
        labels=labels,
        label_map=label_map,
        k_values="1,2",
        output=output,
        verbosity=0,
        stdout=stdout,
    )
    report = json.loads((output / "report.json").read_text())
    photo = report["photo_search"]
    again = photo_search_evaluate(
        directory=folder, queries=photo_queries_read(labels), label_map=label_map_read(label_map), k_values=[1, 2]
    )
    for result in (photo, again):  # timings differ from run to run; everything else must not
        for row in result["variants"]:
            assert row.pop("latency_ms")["p50"] > 0
    assert photo == again
    assert "photo_variants.png" in report["plots"]
    assert photo["hit_at_1"] == pytest.approx(2 / 3) and len(photo["unreadable"]) == 1
    assert "photo_precision_per_label.png" in report["plots"]
    with Image.open(output / "photo_precision_per_label.png") as image:
        assert image.format == "PNG"
    markdown = (output / "report.md").read_text()
    assert "](photo_precision_per_label.png)" in markdown and "`broken.jpg` (line 5)" in markdown
    assert "Unreadable: broken.jpg" in stdout.getvalue()


def test_photo_query_reading_problems_are_reported_not_raised(db, tmp_path):
    queries = [PhotoQuery(2, "missing.jpg", "x"), PhotoQuery(3, "empty.jpg", "x")]
    (tmp_path / "empty.jpg").write_bytes(b"")
    result = photo_search_evaluate(directory=tmp_path, queries=queries, k_values=[1])
    assert result["evaluated"] == 0 and [item["file"] for item in result["unreadable"]] == ["missing.jpg", "empty.jpg"]
    assert result["at_k"] == [{"k": 1, "precision": 0.0, "hit_rate": 0.0}]


# --------------------------------------------------------------------------- --dataset


def media_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("evaluate-recommendations-media-*"))


def test_dataset_option_evaluates_a_drawn_catalogue_in_a_scratch_database(db, tmp_path, settings, monkeypatch):
    """Import, embed and evaluate run in subprocesses on <test db>_eval; the shop's data stays as it was."""
    # A temp folder of its own, so other programs' evaluation runs on this machine do not count.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    dataset = generate_demo_catalog(tmp_path / "catalogue", count=20, size=(150, 200))
    output = tmp_path / "report"
    media = media_folders()
    stdout = StringIO()
    call_command("evaluate_recommendations", dataset=dataset, k_values="1,5", output=output, stdout=stdout)
    report = json.loads((output / "report.json").read_text())
    assert report["catalogue"] == {"dataset": str(dataset.resolve()), "products": 20, "evaluated_catalogue": 20}
    assert "--dataset" in report["command"] and report["similar_items"]["evaluated"] == 20
    assert {row["k"] for row in report["similar_items"]["at_k"]} == {1, 5}
    assert (output / "report.md").exists() and (output / "precision_at_k.png").exists()
    assert "Dataset evaluated" in stdout.getvalue()
    assert not Product.objects.exists(), "nothing is imported into the shop's own database"
    assert not Path(settings.MEDIA_ROOT).exists(), "no image is written to the shop's media folder"
    assert media_folders() == media, "the scratch media folder is removed"
    database = settings.DATABASES["default"]
    assert not database_exists(database, scratch_database_name(database["NAME"])), "the scratch database is dropped"
