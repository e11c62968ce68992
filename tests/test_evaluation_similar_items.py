"""Similar-items metrics (evaluate_recommendations) on hand-made vectors with known answers.

Two clusters far apart (one per subCategory), each made of three tight pairs, so a product's
nearest neighbour is its twin, its next four are the rest of its cluster and the five after
are the other cluster (the member of it with the smallest tilt towards this one is never
among them). The exact numbers are checked on the raw visual list, which follows from that
layout alone; the served list (which also weighs article type and gender) is checked against
what `product_similar_list` itself returns.
"""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from evaluation.similar_items import similar_items_evaluate
from recommendations.models import EMBEDDING_DIMENSIONS
from recommendations.selectors import product_similar_list
from shop.models import Category, Product
from shop.services import category_get_or_create
from tests.factories import products_with_vectors
from tests.helpers import vacuum_embeddings

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


@pytest.fixture(scope="module")
def cluster_products(django_db_setup, django_db_blocker):
    """Written once for the module into a vacuumed index, removed after.

    Per test (and rolled back) each run would leave 12 more dead exact copies of these vectors
    in the HNSW graph, and the exact expected neighbours would then be missed now and then.
    """
    with django_db_blocker.unblock():
        assert not Product.objects.exists(), "the test database holds products left by another test run"
        vacuum_embeddings()
        products = products_with_vectors(cluster_vectors())
        subs = {"Tshirts": "Topwear", "Shirts": "Topwear", "Jeans": "Bottomwear", "Trousers": "Bottomwear"}
        categories: set[Category] = set()
        for product, article, gender in zip(products, ARTICLE_TYPES, GENDERS, strict=True):
            # update(), not save(): saving a product without an image removes its embedding.
            category = category_get_or_create(master="Apparel", sub=subs[article], article=article)
            categories |= {category, category.parent, category.parent.parent}
            Product.objects.filter(pk=product.pk).update(category=category, gender=gender)
        products = list(Product.objects.filter(pk__in=[p.pk for p in products]).order_by("pk"))
    yield products
    with django_db_blocker.unblock():
        Product.objects.filter(pk__in=[p.pk for p in products]).delete()
        for category in sorted(categories, key=lambda c: -c.level):  # children first (PROTECT)
            category.delete()
        vacuum_embeddings()


@pytest.fixture
def clusters(db, cluster_products, exact_scans):
    """The cluster products, inside the test's transaction (what a test changes is rolled back).

    On exact scans: the metrics are checked against exact neighbours, which the approximate
    index may miss now and then.
    """
    return cluster_products


def assert_expected(result: dict, expected: dict) -> None:
    assert [row["k"] for row in result["at_k"]] == sorted(expected)
    for row in result["at_k"]:
        got = (row["same_article_type"], row["same_sub_category"], row["same_gender"], row["coverage"], row["gini"])
        assert got == pytest.approx(expected[row["k"]], abs=1e-12), f"k={row['k']}"


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
    assert "| 5 | 0.433 | 1.000 | 0.733 | 0.000 | 0.000 | 1.000 | 0.000 |" in markdown  # no colour or usage labels here
    assert "| Jeans | Bottomwear | 4 | 0.600 |" in markdown
    printed = stdout.getvalue()
    assert "0.433" in printed and "Report written to" in printed


def test_command_measures_the_served_list_by_default(clusters, tmp_path):
    call_command("evaluate_recommendations", output=tmp_path, k_values="1,5", verbosity=0, stdout=StringIO())
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["similar_items"]["selector"] == "served"
    assert report["similar_items"] == similar_items_evaluate(k_values=[1, 5])
