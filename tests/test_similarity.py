"""Similar items come from pgvector SQL over the HNSW index.

The ranking logic (exclusions, catalogue tiers, order) is checked on exact scans (the
`exact_scans` fixture turns index scans off), where ids and order are exact; the approximate
index itself is checked by its plan and its recall against exact search.
"""

import numpy as np
import pytest
from django.db import connection

from recommendations.models import ProductEmbedding
from recommendations.selectors import product_similar_list, product_similar_plan, product_visually_similar_list
from shop.models import Category, Product
from tests.factories import clustered_vectors, products_with_vectors
from tests.helpers import vacuum_embeddings

pytestmark = pytest.mark.django_db

COUNT = 2000
NOISE = (0.2, 0.8)


def exact_scores(vectors: np.ndarray, index: int) -> np.ndarray:
    """Exact cosine similarities with numpy on the same half-precision values the index holds."""
    half = vectors.astype(np.float16).astype(np.float64)
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    scores = half @ half[index]
    scores[index] = -np.inf
    return scores


@pytest.fixture(scope="module")
def catalogue(django_db_setup, django_db_blocker):
    """Written once for the module (inserts into a live HNSW index are slow), removed after.

    Vacuumed before and after, so the graph links these rows to each other, not to the dead
    rows of earlier tests, and leaves no dead rows to later ones.
    """
    with django_db_blocker.unblock():
        vacuum_embeddings()
        vectors = clustered_vectors(COUNT, 1280, clusters=60, seed=7, noise=NOISE)
        products = products_with_vectors(vectors)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE shop_product")
            cursor.execute("ANALYZE recommendations_productembedding")
    yield products, vectors
    with django_db_blocker.unblock():
        Product.objects.filter(pk__in=[p.pk for p in products]).delete()
        vacuum_embeddings()


def assert_exact_scans(product: Product) -> None:
    """The similarity query runs as an exact scan, not on the index (the exact_scans fixture)."""
    plan = product_similar_plan(product=product, k=10)
    assert "embedding_lite0_hnsw" not in plan and "Seq Scan" in plan, plan


def test_similar_items_equal_exact_numpy_search(catalogue, exact_scans):
    """On exact scans, ids and order of the SQL top 5 and top 10 equal an exact numpy computation.

    Queries whose exact neighbours are tied within float32 rounding (PostgreSQL sums in
    float32) have no single right order, so only queries with clear gaps are compared.
    """
    products, vectors = catalogue
    assert_exact_scans(products[0])
    compared = 0
    for index in range(COUNT):
        scores = exact_scores(vectors, index)
        order = np.argsort(-scores, kind="stable")[:11]
        if np.min(-np.diff(scores[order])) < 1e-5:
            continue
        for k in (5, 10):
            got = [item.product.pk for item in product_similar_list(product=products[index], k=k)]
            assert got == [products[i].pk for i in order[:k]]
        compared += 1
        if compared == 40:
            break
    assert compared == 40


# Mean recall@10 of the HNSW search against exact search over RECALL_QUERIES products of this
# catalogue: measured 1.000 at the default hnsw.ef_search (100), and also at 10; the floor leaves
# room for the approximation, not for a broken index.
RECALL_QUERIES = 200
RECALL_FLOOR = 0.95


def test_the_hnsw_index_finds_the_exact_neighbours_at_the_recall_floor(catalogue):
    """The index is approximate: over many queries it finds nearly all of the exact top 10."""
    products, vectors = catalogue
    assert "Index Scan using embedding_lite0_hnsw" in product_similar_plan(product=products[0], k=10)
    recalls = []
    for index in range(RECALL_QUERIES):
        exact = {products[i].pk for i in np.argsort(-exact_scores(vectors, index), kind="stable")[:10]}
        got = {item.product.pk for item in product_visually_similar_list(product=products[index], k=10)}
        recalls.append(len(got & exact) / 10)
    print(f"HNSW recall@10 over {RECALL_QUERIES} queries: {np.mean(recalls):.4f}")
    assert np.mean(recalls) >= RECALL_FLOOR


def test_scores_are_cosine_similarities_in_descending_order(catalogue, exact_scans):
    products, vectors = catalogue
    items = product_similar_list(product=products[0], k=5)
    scores = [item.score for item in items]
    assert scores == sorted(scores, reverse=True)
    for item in items:
        expected = float(vectors[0] @ vectors[products.index(item.product)])
        assert item.score == pytest.approx(expected, abs=2e-3)


def test_a_product_is_never_its_own_neighbour(catalogue):
    """Also on the index: the product itself is excluded by the query, not by luck."""
    products, _ = catalogue
    for product in products[:20]:
        assert product.pk not in [item.product.pk for item in product_similar_list(product=product, k=10)]


def test_explain_uses_the_hnsw_index(catalogue):
    """The similar-items query, with the settings it runs with, is planned on the HNSW index."""
    products, _ = catalogue
    for k in (5, 10):
        plan = product_similar_plan(product=products[3], k=k)
        assert "Index Scan using embedding_lite0_hnsw" in plan, plan


def test_inactive_products_and_other_models_are_left_out(catalogue, exact_scans):
    products, vectors = catalogue
    first = [item.product.pk for item in product_similar_list(product=products[0], k=5)]
    Product.objects.filter(pk=first[0]).update(is_active=False)
    ProductEmbedding.objects.filter(product_id=first[1]).update(model_name="resnet50", vector=None, status="pending")
    after = [item.product.pk for item in product_similar_list(product=products[0], k=5)]
    assert first[0] not in after and first[1] not in after
    assert len(after) == 5


def test_no_vector_yet_means_no_similar_items(catalogue, exact_scans):
    products, _ = catalogue
    ProductEmbedding.objects.filter(product=products[0]).update(status="pending", vector=None)
    assert product_similar_list(product=products[0]) == []


def visual_ranking(products, vectors, index: int) -> list:
    """Products in exact visual order from products[index] (nearest first)."""
    order = np.argsort(-exact_scores(vectors, index), kind="stable")
    return [products[i] for i in order if i != index]


def tree(article_names: list[str]) -> list[Category]:
    master = Category.objects.create(name="Test apparel", level=0)
    sub = Category.objects.create(name="Test topwear", level=1, parent=master)
    return [Category.objects.create(name=name, level=2, parent=sub) for name in article_names]


def assign(items, category, gender: str = "Men") -> None:
    Product.objects.filter(pk__in=[p.pk for p in items]).update(category=category, gender=gender)


def test_same_article_type_comes_first_even_when_far_away(catalogue, exact_scans):
    """The product's own article type comes first however far away it is, in visual order."""
    products, vectors = catalogue
    tshirts, shirts = tree(["Tshirts", "Shirts"])
    ranking = visual_ranking(products, vectors, 0)
    assign([products[0]], tshirts)
    assign(ranking[:3], shirts)  # the visually nearest are another article type
    same_type = ranking[500:506]
    assign(same_type, tshirts)
    product = Product.objects.select_related("category").get(pk=products[0].pk)
    items = product_similar_list(product=product, k=5)
    assert [item.product.pk for item in items] == [p.pk for p in same_type[:5]]
    assert [item.score for item in items] == sorted((item.score for item in items), reverse=True)


def test_a_selective_filter_on_the_index_still_yields_k_rows(catalogue):
    """On the HNSW index, a tier of 6 products 500 places away still fills all 5 places (the
    iterative scan goes on past the first ef_search candidates); which 5 of the 6 is approximate."""
    products, vectors = catalogue
    tshirts, shirts = tree(["Tshirts", "Shirts"])
    ranking = visual_ranking(products, vectors, 0)
    assign([products[0]], tshirts)
    assign(ranking[:3], shirts)
    same_type = ranking[500:506]
    assign(same_type, tshirts)
    product = Product.objects.select_related("category").get(pk=products[0].pk)
    assert "Index Scan using embedding_lite0_hnsw" in product_similar_plan(product=product, k=5)
    items = product_similar_list(product=product, k=5)
    assert len(items) == 5 and {item.product.pk for item in items} <= {p.pk for p in same_type}
    assert [item.score for item in items] == sorted((item.score for item in items), reverse=True)


def test_too_few_of_the_same_type_are_filled_from_the_sub_category(catalogue, exact_scans):
    products, vectors = catalogue
    tshirts, shirts = tree(["Tshirts", "Shirts"])
    ranking = visual_ranking(products, vectors, 0)
    assign([products[0]], tshirts)
    assign(ranking[300:302], tshirts)
    assign(ranking[100:110], shirts)
    product = Product.objects.select_related("category").get(pk=products[0].pk)
    items = product_similar_list(product=product, k=5)
    expected = {p.pk for p in ranking[300:302]} | {p.pk for p in ranking[100:103]}
    assert {item.product.pk for item in items} == expected
    assert [item.score for item in items] == sorted((item.score for item in items), reverse=True)


def test_same_gender_or_unisex_is_preferred(catalogue, exact_scans):
    products, vectors = catalogue
    (tshirts,) = tree(["Tshirts"])
    ranking = visual_ranking(products, vectors, 0)
    assign([products[0]], tshirts, "Women")
    assign(ranking[:5], tshirts, "Men")
    assign(ranking[5:8], tshirts, "Women")
    assign(ranking[8:10], tshirts, "Unisex")
    product = Product.objects.select_related("category").get(pk=products[0].pk)
    got = [item.product.pk for item in product_similar_list(product=product, k=5)]
    assert got == [p.pk for p in ranking[5:10]]


def test_visual_list_ignores_the_catalogue(catalogue, exact_scans):
    products, vectors = catalogue
    (tshirts,) = tree(["Tshirts"])
    ranking = visual_ranking(products, vectors, 0)
    assign([products[0]], tshirts)
    assign(ranking[50:60], tshirts)
    product = Product.objects.get(pk=products[0].pk)
    got = [item.product.pk for item in product_visually_similar_list(product=product, k=5)]
    assert got == [p.pk for p in ranking[:5]]


def test_every_connection_starts_with_the_search_settings(db, settings):
    """ef_search and the iterative scan come with the connection itself (startup options), so a
    rolled-back transaction cannot take them away from the connection's later searches."""
    from django.db import connection

    raw = connection.get_new_connection(connection.get_connection_params())
    try:
        raw.rollback()
        assert raw.execute("SHOW hnsw.ef_search").fetchone()[0] == str(settings.HNSW_EF_SEARCH)
        assert raw.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "relaxed_order"
    finally:
        raw.close()
