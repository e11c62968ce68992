"""Search by photo's category classifier (training, versions, storage, the Celery retrain) and the
held-out shopper-photo query builder."""

import csv
import hashlib
import random

import numpy as np
import pytest
from django.core.cache import caches
from django.core.management import CommandError, call_command

from demo.catalog import draw_product
from evaluation.photo_queries import (
    SPLITS,
    PhotoQueryError,
    StyleRow,
    photo_queries_build,
    product_split,
    products_choose,
    styles_read,
)
from recommendations.classifier import (
    ALGORITHM,
    MIN_PRODUCTS_PER_CLASS,
    RETRAIN_DUE_KEY,
    LinearClassifier,
    categories_choose,
    category_classifier_schedule,
    category_classifier_train,
    classifier_fit,
    photo_categories_predict,
)
from recommendations.models import CategoryClassifier, ProductEmbedding
from recommendations.selectors import image_similar_list
from recommendations.tasks import category_classifier_retrain_task, category_classifier_train_task
from shop.models import Category, Product
from tests.factories import jpeg_bytes, product_with_image

shared = caches["shared"]  # where the retraining's due mark lives, for every process

KINDS = ("Tshirts", "Watches", "Casual Shoes", "Handbags")


def two_blobs(seed: int = 0, per_class: int = 20, dims: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(dims)[:2] * 3
    x = np.concatenate([centres[i] + rng.normal(0, 0.5, (per_class, dims)) for i in range(2)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat([11, 22], per_class)


def test_classifier_fits_separable_classes_and_round_trips_through_bytes():
    x, y = two_blobs()
    classifier, metrics = classifier_fit(x, y)
    assert list(classifier.classes) == [11, 22]
    assert metrics["held_out_accuracy"] == 1.0 and metrics["trained_on"] == 40
    copy = LinearClassifier.from_bytes(classifier.to_bytes())
    np.testing.assert_array_equal(copy.weights, classifier.weights)
    probabilities = copy.probabilities(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    assert (copy.classes[probabilities.argmax(axis=1)] == y).all()


def test_rare_classes_are_not_learnt_and_one_class_is_refused():
    x, y = two_blobs()
    y = y.copy()
    y[: MIN_PRODUCTS_PER_CLASS - 1] = 99  # too few products of type 99
    classifier, _ = classifier_fit(x, y)
    assert 99 not in classifier.classes
    with pytest.raises(ValueError, match="at least two article types"):
        classifier_fit(x[:20], np.full(20, 5))


def test_categories_choose_takes_the_likeliest_until_the_mass_or_the_cap():
    classes = np.array([1, 2, 3, 4])
    assert categories_choose(
        np.array([0.1, 0.6, 0.25, 0.05]), classes, mass=0.8, max_categories=3, min_confidence=0
    ) == [2, 3]
    assert categories_choose(
        np.array([0.3, 0.3, 0.2, 0.2]), classes, mass=0.99, max_categories=2, min_confidence=0
    ) == [1, 2]
    assert (
        categories_choose(np.array([0.3, 0.3, 0.2, 0.2]), classes, mass=0.8, max_categories=3, min_confidence=0.5) == []
    )


# --------------------------------------------------------------------------- stored classifiers


def article_type(name: str) -> Category:
    master, _ = Category.objects.get_or_create(name="Apparel", parent=None, level=0)
    sub, _ = Category.objects.get_or_create(name="Misc", parent=master, level=1)
    return Category.objects.get_or_create(name=name, parent=sub, level=2)[0]


def vector_catalogue(per_type: int = 6, seed: int = 0) -> dict[str, list[Product]]:
    """Products of three types whose vectors sit around three directions (no images, no tasks)."""
    rng = np.random.default_rng(seed)
    catalogue = {}
    for index, name in enumerate(("Shirts", "Watches", "Belts")):
        category = article_type(name)
        centre = np.zeros(1280, np.float32)
        centre[index * 10 : index * 10 + 10] = 1
        products = Product.objects.bulk_create(
            [Product(sku=f"{name[:3]}{seed}-{i}", name=f"{name} {i}", category=category) for i in range(per_type)]
        )
        vectors = np.abs(centre + rng.normal(0, 0.05, (per_type, 1280))).astype(np.float32)
        ProductEmbedding.objects.bulk_create(
            ProductEmbedding(
                product=product,
                model_name="efficientnet_lite0",
                status=ProductEmbedding.Status.READY,
                source_sha256=f"sha-{product.sku}",
                vector=vector / np.linalg.norm(vector),
            )
            for product, vector in zip(products, vectors, strict=True)
        )
        catalogue[name] = products
    return catalogue


@pytest.mark.django_db
def test_training_stores_numbered_versions_and_skips_an_unchanged_catalogue():
    catalogue = vector_catalogue()
    first = category_classifier_train()
    assert first.version == 1 and first.algorithm == ALGORITHM and first.n_products == 18
    assert sorted(first.classes) == sorted(p[0].category_id for p in catalogue.values())
    assert category_classifier_train() is None  # nothing changed
    assert category_classifier_train(force=True).version == 2
    Product.objects.filter(pk=catalogue["Belts"][0].pk).update(is_active=False)
    third = category_classifier_train()
    assert third.version == 3 and third.n_products == 17
    stored = LinearClassifier.from_bytes(CategoryClassifier.objects.get(version=3).params)
    assert stored.weights.shape == (3, 1280)


@pytest.mark.django_db
def test_a_photo_vector_is_predicted_into_its_article_type():
    catalogue = vector_catalogue()
    assert photo_categories_predict(np.ones(1280, np.float32)) == []  # no classifier yet
    category_classifier_train()
    query = np.zeros(1280, np.float32)
    query[10:20] = 1  # the Watches direction
    assert photo_categories_predict(query / np.linalg.norm(query))[0] == catalogue["Watches"][0].category_id


@pytest.mark.django_db
def test_training_an_empty_catalogue_is_refused_clearly():
    with pytest.raises(CommandError, match="at least two article types"):
        call_command("train_category_classifier")
    assert not CategoryClassifier.objects.exists()


def picture(kind: str, seed: int) -> bytes:
    return jpeg_bytes(draw_product(kind, "Blue", "solid", random.Random(seed)))


@pytest.fixture
def image_catalogue(settings):
    """Real images (drawn), embedded with the real model: 4 types x 4 products, 1 Handbag only."""
    from recommendations.services import product_embeddings_compute

    settings.CELERY_TASK_ALWAYS_EAGER = False
    products = []
    for kind in KINDS:
        for i in range(1 if kind == "Handbags" else 4):
            products.append(product_with_image(f"{kind[:3]}{i}", picture(kind, i), category=article_type(kind)))
    product_embeddings_compute(product_ids=[p.pk for p in products])
    assert ProductEmbedding.objects.filter(status="ready").count() == len(products)
    return products


@pytest.mark.django_db
def test_photo_search_without_a_classifier_is_plain_search(image_catalogue):
    photo = draw_product("Watches", "Blue", "solid", random.Random(99))
    restricted = image_similar_list(image=photo, k=5, restrict=True)
    plain = image_similar_list(image=photo, k=5, restrict=False)
    assert [item.product.pk for item in restricted] == [item.product.pk for item in plain]
    assert len(plain) == 5


@pytest.mark.django_db
def test_restricted_photo_search_still_returns_k_in_score_order(image_catalogue):
    category_classifier_train()
    photo = draw_product("Handbags", "Blue", "solid", random.Random(99))  # its type has one product
    results = image_similar_list(image=photo, k=6, restrict=True)
    assert len(results) == 6
    scores = [item.score for item in results]
    assert scores == sorted(scores, reverse=True)
    watch = image_similar_list(image=draw_product("Watches", "Blue", "solid", random.Random(98)), k=3)
    assert [item.product.category.name for item in watch] == ["Watches"] * 3


# --------------------------------------------------------------------------- the Celery task


@pytest.mark.django_db(transaction=True)
def test_a_worker_retrains_after_new_embeddings_once_per_burst(worker):
    vector_catalogue()
    shared.delete(RETRAIN_DUE_KEY)
    assert category_classifier_schedule(delay=0) is True
    assert category_classifier_schedule(delay=0) is False  # already due: one run covers both
    # Beat's periodic check: the first one due trains, the next finds nothing due.
    assert category_classifier_retrain_task.apply_async(ignore_result=False).get(timeout=60) == 1
    assert category_classifier_retrain_task.apply_async(ignore_result=False).get(timeout=60) is None
    assert list(CategoryClassifier.objects.values_list("version", flat=True)) == [1]
    assert shared.get(RETRAIN_DUE_KEY) is None
    # Unchanged catalogue: the task runs and stores nothing new.
    assert category_classifier_train_task.delay().get(timeout=30) is None
    assert CategoryClassifier.objects.count() == 1
    vector_catalogue(seed=1)
    assert category_classifier_train_task.delay().get(timeout=30) == 2


# --------------------------------------------------------------------------- query-set builder


@pytest.fixture
def tiny_dataset(tmp_path):
    """A Kaggle-layout folder of drawn product photos on white, and a catalogue holding some of them."""
    root = tmp_path / "extra"
    (root / "images").mkdir(parents=True)
    rows = []
    for i, kind in enumerate(KINDS * 3):
        draw_product(kind, "Red", "solid", random.Random(i)).save(root / "images" / f"{100 + i}.jpg", quality=92)
        master = "Apparel" if kind == "Tshirts" else "Footwear" if kind == "Casual Shoes" else "Accessories"
        rows.append([100 + i, "Men", master, "x", kind, "Red", "Summer", "2012", "Casual", f"{kind} {i}"])
    header = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
    for folder, chosen in ((root, rows), (tmp_path / "catalogue", rows[:4] * 1)):
        folder.mkdir(exist_ok=True)
        with (folder / "styles.csv").open("w", newline="") as file:
            file.write(header + "\n")
            csv.writer(file).writerows(chosen)
    (tmp_path / "catalogue" / "images").mkdir(exist_ok=True)
    for row in rows[:4]:
        (tmp_path / "catalogue" / "images" / f"{row[0]}.jpg").write_bytes(
            (root / "images" / f"{row[0]}.jpg").read_bytes()
        )
    return root, tmp_path / "catalogue"


def digest(folder) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_query_builder_is_deterministic_for_a_seed_and_leaves_out_the_catalogue(tiny_dataset, tmp_path):
    dataset, catalogue = tiny_dataset
    first = photo_queries_build(
        dataset=dataset, out=tmp_path / "a", count=5, seed=3, catalogue=catalogue, min_catalogue_products=1
    )
    photo_queries_build(
        dataset=dataset, out=tmp_path / "b", count=5, seed=3, catalogue=catalogue, min_catalogue_products=1
    )
    photo_queries_build(
        dataset=dataset, out=tmp_path / "c", count=5, seed=4, catalogue=catalogue, min_catalogue_products=1
    )
    assert sum(first.values()) == 5
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")
    labels = list(csv.DictReader((tmp_path / "a" / "labels.csv").open()))
    held_out = {int(row["file"].removesuffix(".jpg")) for row in labels}
    assert held_out.isdisjoint({row.id for row in styles_read(catalogue)})
    assert all(row["label"] in KINDS for row in labels)
    from PIL import Image

    with Image.open(tmp_path / "a" / labels[0]["file"]) as photo:
        assert max(photo.size) == 640 and photo.mode == "RGB"


def test_query_builder_reads_styles_as_the_importer_does(tmp_path):
    """The real file's quirks (Latin-1 text, an unquoted comma in a name) read as in import_catalog;
    rows without an image or with an id the shop refuses are left out."""
    (tmp_path / "images").mkdir()
    lines = [
        "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName",
        "12,Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Caf\u00e9 Men Red Tshirt",
        "7,Women,Accessories,Bags,Handbags,Black,Winter,2013,Casual,Lino, Women Black Handbag",
        "9,Men,Footwear,Shoes,Casual Shoes,Brown,Fall,2014,Casual,No Photo Shoes",
        "x y,Men,Footwear,Shoes,Casual Shoes,Brown,Fall,2014,Casual,Bad Id Shoes",
    ]
    (tmp_path / "styles.csv").write_bytes("\n".join(lines).encode("latin-1"))
    for sku in ("12", "7", "x y"):
        (tmp_path / "images" / f"{sku}.jpg").write_bytes(b"")
    rows = styles_read(tmp_path)
    assert [(row.id, row.master_category, row.article_type) for row in rows] == [
        (7, "Accessories", "Handbags"),
        (12, "Apparel", "Tshirts"),
    ]


def test_query_sets_of_different_splits_never_share_a_source_product():
    """Tuning, confirmation and test sets are disjoint by construction, whatever their seeds."""
    rows = [StyleRow(pk, "Apparel", f"type {pk % 12}") for pk in range(1, 3001)]
    chosen = {
        (split, seed): {row.id for row in products_choose(rows, count=300, seed=seed, split=split)}
        for split in SPLITS
        for seed in (0, 1, 2)
    }
    for (split, _seed), ids in chosen.items():
        assert len(ids) == 300 and {product_split(pk) for pk in ids} == {split}
        for (other_split, _), other in chosen.items():
            if other_split != split:
                assert ids.isdisjoint(other), (split, other_split)
    # Without a split (the old behaviour) two seeds do share products.
    assert {row.id for row in products_choose(rows, count=600, seed=1)} & {
        row.id for row in products_choose(rows, count=300, seed=2)
    }
    with pytest.raises(PhotoQueryError, match="Unknown split"):
        products_choose(rows, count=3, seed=0, split="holdout")


def test_query_builder_reports_bad_input(tiny_dataset, tmp_path):
    dataset, catalogue = tiny_dataset
    with pytest.raises(PhotoQueryError, match="no styles.csv"):
        photo_queries_build(dataset=tmp_path / "missing", out=tmp_path / "o", count=3, seed=0)
    with pytest.raises(PhotoQueryError, match="No product is eligible"):
        products_choose(styles_read(dataset), count=3, seed=0, master_categories=["Beauty"])
    with pytest.raises(CommandError, match="already holds images"):
        photo_queries_build(dataset=dataset, out=tmp_path / "o", count=2, seed=0)
        call_command("build_photo_queries", dataset=dataset, out=tmp_path / "o", count=2)


@pytest.mark.django_db
def test_new_embeddings_schedule_one_retraining():
    from recommendations.tasks import product_embeddings_compute_task

    shared.delete(RETRAIN_DUE_KEY)
    product = product_with_image("TSH1", picture("Tshirts", 1), category=article_type("Tshirts"))
    assert product_embeddings_compute_task(product_ids=[product.pk])["ready"] == 1
    assert shared.get(RETRAIN_DUE_KEY) is not None  # a retraining is due; more batches meanwhile add none
    assert category_classifier_schedule() is False
    shared.delete(RETRAIN_DUE_KEY)
