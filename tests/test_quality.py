"""Retrieval quality on the real catalogue sample (../shared/data/fashion-sample).

Deterministic: the same images and model give the same vectors and the same share.
Skipped when the shared data folder is not beside the repository (a fresh clone elsewhere),
failed instead under CI=true (tests.helpers.shared_data).
"""

from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from recommendations.models import ProductEmbedding
from recommendations.selectors import product_similar_list, product_visually_similar_list
from recommendations.services import embeddings_deferred, product_embeddings_compute
from shop.models import Product
from shop.services import catalog_import
from tests.helpers import catalogue_clear, shared_data

# Share of the 5 nearest with the query's articleType. Raw visual similarity with the default
# model measured 0.715 here (floor 0.70); the served list, which prefers the product's own
# article type and gender, measured 0.981 (floor 0.95).
VISUAL_FLOOR = 0.70
SERVED_FLOOR = 0.95
# Share of the 5 served items with the query's baseColour. The type filter alone gives 0.164
# (5 random products of the same type) and visual order within it 0.259; the colour blend
# (recommendations.selectors.SIMILAR_ITEMS_COLOUR_WEIGHT) measured 0.51 in an exact-search
# simulation. With the catalogue's colour names blanked, the colour measured from the images
# alone measured 0.317 (simulation); floors sit a little below.
SERVED_COLOUR_FLOOR = 0.45
MEASURED_COLOUR_FLOOR = 0.29

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample() -> Path:
    return shared_data("fashion-sample/styles.csv").parent


@pytest.fixture(scope="module")
def sample_media(tmp_path_factory) -> Path:
    """The sample's images as imported (a test that reads them sets MEDIA_ROOT back to this)."""
    return tmp_path_factory.mktemp("sample-media")


@pytest.fixture(scope="module")
def sample_catalogue(sample, sample_media, django_db_setup, django_db_blocker):
    """The 2,946 real products imported through import_catalog's service and embedded.

    Committed for the module (embedding them takes a while), into an emptied catalogue, and
    removed after.
    """
    from django.conf import settings

    original_media = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = sample_media
    with django_db_blocker.unblock():
        catalogue_clear()  # rows a stopped earlier run left would count as updated, not created
        with embeddings_deferred(enqueue=False) as scheduled:
            report = catalog_import(root=sample)
        # The Kaggle files carry no prices, and only products with a price are recommended.
        Product.objects.filter(price__isnull=True).update(price=Decimal("999.00"))
        for start in range(0, len(scheduled), 64):
            product_embeddings_compute(product_ids=scheduled[start : start + 64])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE shop_product")
            cursor.execute("ANALYZE recommendations_productembedding")
    yield report
    with django_db_blocker.unblock():
        catalogue_clear()
    settings.MEDIA_ROOT = original_media


def test_sample_imports_completely(sample_catalogue):
    assert sample_catalogue.created == 2946 and not sample_catalogue.skipped
    assert ProductEmbedding.objects.filter(status="ready").count() == 2946


def article_type_share(list_function) -> float:
    """Leave-one-out: share of the 5 nearest products with the query's articleType."""
    hits = total = 0
    for product in Product.objects.select_related("category"):
        neighbours = list_function(product=product, k=5)
        assert len(neighbours) == 5
        hits += sum(item.product.category_id == product.category_id for item in neighbours)
        total += 5
    return hits / total


def colour_share(colours: dict[int, str]) -> float:
    """Leave-one-out: share of the 5 served items with the query's baseColour (from `colours`)."""
    hits = total = 0
    for product in Product.objects.select_related("category"):
        if not colours[product.pk]:
            continue
        neighbours = product_similar_list(product=product, k=5)
        assert len(neighbours) == 5
        hits += sum(colours[item.product.pk] == colours[product.pk] for item in neighbours)
        total += 5
    return hits / total


def test_served_similar_items_agree_on_colour(sample_catalogue):
    """The colour blend: the served list agrees on baseColour far more than the type filter alone."""
    share = colour_share(dict(Product.objects.values_list("pk", "base_colour")))
    print(f"served baseColour precision@5: {share:.3f}")
    assert share >= SERVED_COLOUR_FLOOR


def test_colour_measured_from_images_serves_catalogues_without_colour_names(sample_catalogue):
    """Without the catalogue's colour names the colour measured from each image stands in."""
    colours = dict(Product.objects.values_list("pk", "base_colour"))
    Product.objects.update(base_colour="")  # rolled back after the test
    assert ProductEmbedding.objects.filter(colour_lab__isnull=True).count() == 0
    share = colour_share(colours)
    print(f"served baseColour precision@5, measured colours only: {share:.3f}")
    assert share >= MEASURED_COLOUR_FLOOR


def test_visual_neighbours_share_the_article_type(sample_catalogue):
    share = article_type_share(product_visually_similar_list)
    print(f"visual articleType precision@5: {share:.3f}")
    assert share >= VISUAL_FLOOR


def test_served_similar_items_share_the_article_type(sample_catalogue):
    share = article_type_share(product_similar_list)
    print(f"served articleType precision@5: {share:.3f}")
    assert share >= SERVED_FLOOR


# --------------------------------------------------------------------------- search by photo

PHOTO_QUERIES = 200
PHOTO_SEED = 20261127
# Held-out imitated shopper photos (build_photo_queries) of fashion-extra products searched
# against the sample, from the "test" split: no product of a tuning or confirmation set is among
# them. The 200 photos built here measured (exact scans in this test database, 2026-11-29 12:41,
# issue 12 third round, both classifiers trained): precision@5 raw 0.660, served 0.752, the search
# served before (the same steps with the catalogue-only classifier) 0.723, top kinds only 0.714;
# hit@5 0.875, 0.910, 0.890 and 0.800; the likeliest kind right for 0.805 of the photos with the
# classifier trained across domains, 0.730 with the catalogue-only one. Floors sit a little below;
# the served ones are above what the search served before measured (0.723, 0.890).
PHOTO_RAW_FLOOR = 0.62
PHOTO_SERVED_FLOOR = 0.74
PHOTO_SERVED_HIT_FLOOR = 0.90
PHOTO_CLASSIFIER_ACCURACY_FLOOR = 0.78


@pytest.fixture(scope="module")
def shopper_photos(sample, tmp_path_factory):
    from evaluation.photo_queries import photo_queries_build

    extra = shared_data("fashion-extra/styles.csv").parent
    folder = tmp_path_factory.mktemp("shopper-photos")
    photo_queries_build(dataset=extra, out=folder, count=PHOTO_QUERIES, seed=PHOTO_SEED, catalogue=sample, split="test")
    return folder


def test_photo_search_on_held_out_shopper_photos(sample_catalogue, sample_media, shopper_photos, exact_scans, settings):
    """The served search beats raw similarity on photos of products not in the shop, and its
    classifier trained across domains (issue 12, third round) beats the search served before (the
    same steps with the classifier trained on the catalogue alone) and betting on the likeliest
    kinds. Exact scans: the rankings compared are the logic's, not the approximate index's."""
    from evaluation.common import SERVED_BEFORE
    from evaluation.photo_search import label_map_read, photo_queries_read, photo_search_evaluate
    from recommendations.classifier import category_classifier_train
    from recommendations.photo import PHOTO_SEARCH, PhotoSteps

    settings.MEDIA_ROOT = sample_media  # the augmented recipe reads the catalogue's photos
    assert category_classifier_train(force=True, recipe="catalogue") is not None
    trained = category_classifier_train(force=True)
    assert trained.metrics["views"] > 0 and trained.metrics["views_unreadable_products"] == 0
    result = photo_search_evaluate(
        directory=shopper_photos,
        queries=photo_queries_read(shopper_photos / "labels.csv"),
        label_map=label_map_read(shopper_photos / "label_map.json"),
        k_values=[1, 5],
        variants=[
            ("raw", PhotoSteps()),
            ("served", PHOTO_SEARCH),
            ("served before", SERVED_BEFORE),
            ("top kinds only", PhotoSteps(kinds="top")),
        ],
    )
    assert result["evaluated"] == PHOTO_QUERIES and not result["unreadable"]
    (raw, served, before, top_only), (raw_hit, served_hit, before_hit, top_hit) = (
        [next(item[key] for item in row["at_k"] if item["k"] == 5) for row in result["variants"]]
        for key in ("precision", "hit_rate")
    )
    for name, values in (
        ("precision@5", (raw, served, before, top_only)),
        ("hit@5", (raw_hit, served_hit, before_hit, top_hit)),
    ):
        print(f"shopper photos {name} (raw, served, before, top kinds): {', '.join(f'{v:.3f}' for v in values)}")
    accuracy = result["classifier_accuracy"]
    print(f"classifier accuracy on shopper photos: {accuracy}")
    assert raw >= PHOTO_RAW_FLOOR
    assert served >= PHOTO_SERVED_FLOOR
    assert served_hit >= PHOTO_SERVED_HIT_FLOOR
    assert served >= raw
    # Issue 12, third round: the classifier trained across domains guesses the kind more often...
    assert accuracy["augmented"]["accuracy"] >= PHOTO_CLASSIFIER_ACCURACY_FLOOR
    assert accuracy["augmented"]["accuracy"] > accuracy["catalogue"]["accuracy"]
    # ...and the same steps gain on both measures with it.
    assert served > before and served_hit > before_hit
    # A wrong first guess must not exclude every right answer.
    assert served_hit > top_hit
    # Every query without a match in the served top 5 is listed with its reason.
    assert len(result["failed"]) == round((1 - served_hit) * PHOTO_QUERIES)
    assert all(item["reason"] for item in result["failed"])
