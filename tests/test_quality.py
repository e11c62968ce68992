"""Retrieval quality on the real catalogue sample (../shared/data/fashion-sample).

Deterministic: the same images and model give the same vectors and the same share.
Skipped when the shared data folder is not beside the repository (a fresh clone elsewhere),
failed instead under CI=true (tests.helpers.shared_data).
"""

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

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sample() -> Path:
    return shared_data("fashion-sample/styles.csv").parent


@pytest.fixture(scope="module")
def sample_catalogue(sample, django_db_setup, django_db_blocker, tmp_path_factory):
    """The 2,946 real products imported through import_catalog's service and embedded.

    Committed for the module (embedding them takes a while), into an emptied catalogue, and
    removed after.
    """
    from django.conf import settings

    original_media = settings.MEDIA_ROOT
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("sample-media")
    with django_db_blocker.unblock():
        catalogue_clear()  # rows a stopped earlier run left would count as updated, not created
        with embeddings_deferred(enqueue=False) as scheduled:
            report = catalog_import(root=sample)
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
# against the sample. On 600 photos of seed 1 precision@5 measured 0.647 raw and 0.686 with the
# category restriction (numpy, exact search); on the 200 photos built here 0.576 raw and 0.617
# served (HNSW search in this test database), 0.612 and 0.642 in a run of 2026-11-29 that started
# from an emptied, vacuumed test database. Floors sit a little below. With the garment crop and
# the fused kinds served (issue 12), a run of 2026-11-29 08:09 measured precision@5 raw 0.612,
# served 0.680, top kinds only (the search served before) 0.642; hit@5 0.830, 0.805 and 0.760.
PHOTO_RAW_FLOOR = 0.55
PHOTO_SERVED_FLOOR = 0.64


@pytest.fixture(scope="module")
def shopper_photos(sample, tmp_path_factory):
    from evaluation.photo_queries import photo_queries_build

    extra = shared_data("fashion-extra/styles.csv").parent
    folder = tmp_path_factory.mktemp("shopper-photos")
    photo_queries_build(dataset=extra, out=folder, count=PHOTO_QUERIES, seed=PHOTO_SEED, catalogue=sample)
    return folder


def test_photo_search_on_held_out_shopper_photos(sample_catalogue, shopper_photos):
    """The served search (kinds fused and shared out) beats raw similarity on photos of products not in the shop."""
    from evaluation.photo_search import label_map_read, photo_queries_read, photo_search_evaluate
    from recommendations.classifier import category_classifier_train
    from recommendations.selectors import PHOTO_SEARCH_RESTRICT, PHOTO_SEARCH_TTA

    assert category_classifier_train(force=True) is not None
    result = photo_search_evaluate(
        directory=shopper_photos,
        queries=photo_queries_read(shopper_photos / "labels.csv"),
        label_map=label_map_read(shopper_photos / "label_map.json"),
        k_values=[1, 5],
        variants=[
            ("raw", False, False),
            ("served", PHOTO_SEARCH_TTA, PHOTO_SEARCH_RESTRICT),
            ("top kinds only", False, True),
        ],
    )
    assert result["evaluated"] == PHOTO_QUERIES and not result["unreadable"]
    (raw, served, top_only), (raw_hit, served_hit, top_hit) = (
        [next(item[key] for item in row["at_k"] if item["k"] == 5) for row in result["variants"]]
        for key in ("precision", "hit_rate")
    )
    print(f"shopper photos precision@5: raw {raw:.3f}, served {served:.3f}, top kinds only {top_only:.3f}")
    print(f"shopper photos hit@5: raw {raw_hit:.3f}, served {served_hit:.3f}, top kinds only {top_hit:.3f}")
    assert raw >= PHOTO_RAW_FLOOR
    assert served >= PHOTO_SERVED_FLOOR
    assert served >= raw
    # Issue 12: sharing the list between kinds (and the crop) beats betting on the likeliest kinds,
    # on both counts: a wrong single guess loses every right answer.
    assert served > top_only
    assert served_hit > top_hit
