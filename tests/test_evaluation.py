"""evaluate_recommendations: metric functions, options, search by photo, --dataset.

The similar-items metrics on hand-made clusters are in test_evaluation_similar_items.py.
"""

import json
import os
import random
import tempfile
from io import StringIO
from pathlib import Path

import environ
import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from demo.catalog import draw_product, generate_demo_catalog
from evaluation.common import EvaluationError, PhotoQuery, ProductLabels, k_values_parse
from evaluation.metrics import coverage, gini, random_same_type_share, recommendation_counts, share_same
from evaluation.photo_search import label_article_types, label_map_read, photo_queries_read, photo_search_evaluate
from evaluation.runs import (
    database_exists,
    database_url,
    scratch_database_create,
    scratch_database_drop,
    scratch_database_name,
)
from evaluation.similar_items import similar_items_evaluate
from recommendations.services import product_embeddings_compute
from shop.models import Product
from shop.services import category_get_or_create
from tests.factories import jpeg_bytes, product_with_image

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


def test_random_same_type_baseline_is_the_expected_share_among_the_types_other_products():
    def labels(article: int, colour: str) -> ProductLabels:
        return ProductLabels(article, f"type {article}", 1, "sub", "Men", base_colour=colour)

    table = {1: labels(10, "Red"), 2: labels(10, "red"), 3: labels(10, "Blue"), 4: labels(10, ""), 5: labels(20, "Red")}
    # Queries 1 and 2 find the other red among 3 others, 3 finds none; 4 has no colour and 5 no
    # other product of its type: (1/3 + 1/3 + 0) / 3 queries, whatever k (each query counts min(k, 3)).
    for k in (2, 5):
        assert random_same_type_share(table, table.keys(), key="base_colour", k=k) == pytest.approx(2 / 9)
    assert random_same_type_share(table, table.keys(), key="article_type", k=5) == 1.0
    assert random_same_type_share(table, [5], key="base_colour", k=5) == 0.0


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


def test_empty_catalogue_is_a_clear_error(db):
    with pytest.raises(EvaluationError, match="embed_products"):
        similar_items_evaluate()


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
    # Issue 12: each step side by side with its precision per label, and every query the served search
    # missed listed with its reason (the shoe photo's label, Sunglasses, matches no product).
    assert "photo_variants_per_label.png" in report["plots"]
    assert all({"steps", "per_label"} <= row.keys() for row in photo["variants"])
    assert [row["served"] for row in photo["variants"]].count(True) == 1
    missed = [item for item in photo["failed"] if item["label"] == "Sunglasses"]
    assert len(missed) == 1 and "no right product in the top" in missed[0]["reason"]
    assert "### Queries without a match in the served top 5" in markdown


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
    assert "Evaluated in" in stdout.getvalue()
    assert not Product.objects.exists(), "nothing is imported into the shop's own database"
    assert not Path(settings.MEDIA_ROOT).exists(), "no image is written to the shop's media folder"
    assert media_folders() == media, "the scratch media folder is removed"
    database = settings.DATABASES["default"]
    assert not database_exists(database, scratch_database_name(database["NAME"])), "the scratch database is dropped"
