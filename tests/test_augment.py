"""Search by photo's classifier trained across domains: the augmented views (recommendations.augment),
which products get them, and the classifier fitted on them (issue 12, third round)."""

import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.catalog import draw_product
from recommendations.augment import augmented_view, background_replace, studio_background
from recommendations.classifier import (
    RECIPES,
    classifier_fit,
    view_owners_choose,
)


def studio_photo(seed: int = 0) -> Image.Image:
    return draw_product("Tshirts", "Blue", "solid", random.Random(seed))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_a_view_is_the_same_for_the_same_seed_and_differs_for_another():
    photo, others = studio_photo(), [studio_photo(1), draw_product("Watches", "Red", "solid", random.Random(2))]
    first = augmented_view(photo, np.random.default_rng(7), others)
    again = augmented_view(photo, np.random.default_rng(7), others)
    other = augmented_view(photo, np.random.default_rng(8), others)
    assert first.mode == "RGB" and first.width > 0 and first.height > 0
    assert np.array_equal(pixels(first), pixels(again))
    assert first.size != other.size or not np.array_equal(pixels(first), pixels(other))


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (1, 1), (255, 255, 255)),
        Image.new("RGB", (3, 2), (10, 200, 30)),
        Image.new("L", (40, 90), 128),
        Image.new("RGBA", (64, 48), (250, 250, 250, 0)),
        Image.new("P", (50, 50)),
        Image.new("RGB", (1200, 40), (255, 255, 255)),
    ],
    ids=["one pixel", "tiny", "grey", "transparent", "palette", "a strip"],
)
def test_odd_images_still_give_a_view(image):
    for seed in range(12):  # every branch (background, rotation, perspective, crop) gets its turn
        view = augmented_view(image, np.random.default_rng(seed), [studio_photo()])
        assert view.mode == "RGB" and view.width >= 1 and view.height >= 1


def test_the_studio_background_is_replaced_but_white_inside_the_garment_is_kept():
    image = Image.new("RGB", (60, 60), (255, 255, 255))
    ring = np.asarray(image).copy()
    ring[15:45, 15:45] = (20, 20, 120)  # a dark garment...
    ring[25:35, 25:35] = (255, 255, 255)  # ...with a white print, enclosed by it
    image = Image.fromarray(ring)
    mask = studio_background(image)
    assert mask[0, 0] and mask[59, 59] and not mask[30, 30] and not mask[20, 20]
    replaced = pixels(background_replace(image, np.random.default_rng(3), [studio_photo()]))
    assert np.abs(replaced[2:8, 2:8].astype(int) - 255).max() > 10  # the studio white is gone
    assert (replaced[28:32, 28:32] >= 250).all()  # the print is not background
    assert np.array_equal(replaced[18:22, 18:22], ring[18:22, 18:22])


def test_a_photo_without_a_studio_background_keeps_its_background():
    image = Image.new("RGB", (40, 40), (90, 120, 60))
    assert np.array_equal(pixels(background_replace(image, np.random.default_rng(0))), pixels(image))


def test_a_view_survives_jpeg_and_is_not_the_evaluations_generator():
    """The training views must not come from the evaluation's imitation code (that would learn how
    the imitated set was made, not shoppers' photos)."""
    import recommendations.augment as augment

    source = Path(augment.__file__).read_text(encoding="utf-8")
    assert "from evaluation" not in source and "import evaluation" not in source
    view = augmented_view(studio_photo(), np.random.default_rng(1))
    buffer = io.BytesIO()
    view.save(buffer, "JPEG")
    assert Image.open(io.BytesIO(buffer.getvalue())).size == view.size


def test_views_are_bounded_per_product_and_per_class_and_skip_unlearnt_types():
    labels = np.array([1] * 50 + [2] * 4 + [3] * 2)  # type 3 has too few products to be learnt
    owners = view_owners_choose(labels, per_product=2, per_class=20, seed=0)
    counts = {label: int((labels[owners] == label).sum()) for label in (1, 2, 3)}
    assert counts == {1: 20, 2: 8, 3: 0}
    assert np.bincount(owners).max() == 2  # never more than per_product views of one product
    assert np.array_equal(owners, view_owners_choose(labels, per_product=2, per_class=20, seed=0))
    assert not np.array_equal(owners, view_owners_choose(labels, per_product=2, per_class=20, seed=1))
    # A total cap: a sample of that many of the same views, in the same order; no cap when under it.
    capped = view_owners_choose(labels, per_product=2, per_class=20, total=24, seed=0)
    assert len(capped) == 24 and set(capped) <= set(owners) and list(capped) == sorted(capped, key=list(owners).index)
    assert np.array_equal(view_owners_choose(labels, per_product=2, per_class=20, total=28, seed=0), owners)


def shifted_domain(seed: int = 0, per_class: int = 20, dims: int = 16):
    """Catalogue vectors of types 11 and 22 around e0 and e1; their views (another domain) around
    e2 and e3, each leaning a little toward the OTHER type's catalogue direction."""
    rng = np.random.default_rng(seed)
    eye = np.eye(dims)

    def around(centre, n):
        x = centre + rng.normal(0, 0.05, (n, dims))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    catalogue = np.vstack([around(eye[0], per_class), around(eye[1], per_class)])
    labels = np.repeat([11, 22], per_class)
    owners = np.arange(2 * per_class)
    views = np.vstack([around(eye[2] + 0.4 * eye[1], per_class), around(eye[3] + 0.4 * eye[0], per_class)])
    shoppers = np.vstack([around(eye[2] + 0.4 * eye[1], 10), around(eye[3] + 0.4 * eye[0], 10)])
    return catalogue, labels, views, owners, shoppers, np.repeat([11, 22], 10)


def test_views_teach_the_classifier_the_other_domain():
    catalogue, labels, views, owners, shoppers, truth = shifted_domain()
    alone, alone_metrics = classifier_fit(catalogue, labels)
    across, metrics = classifier_fit(catalogue, labels, views=views, view_owners=owners)
    right_alone = (alone.classes[alone.probabilities(shoppers).argmax(1)] == truth).mean()
    right_across = (across.classes[across.probabilities(shoppers).argmax(1)] == truth).mean()
    assert right_alone == 0.0 and right_across == 1.0
    assert metrics["views"] == len(views) and "views" in alone_metrics and alone_metrics["views"] == 0
    # Held out: the fifth of the products left out, and their views, were not trained on.
    assert metrics["held_out_accuracy"] == 1.0 and metrics["held_out_views_accuracy"] == 1.0
    assert RECIPES["augmented"] != RECIPES["catalogue"]


def test_views_of_unlearnt_types_are_dropped_and_mismatched_views_refused():
    catalogue, labels, views, owners, *_ = shifted_domain()
    labels = labels.copy()
    labels[:2] = 99  # type 99: too few products, neither it nor its views are learnt
    classifier, metrics = classifier_fit(catalogue, labels, views=views, view_owners=owners)
    assert 99 not in classifier.classes and metrics["views"] == len(views) - 2
    with pytest.raises(ValueError, match="one owner row per view"):
        classifier_fit(catalogue, labels, views=views, view_owners=owners[:-1])
    with pytest.raises(ValueError, match="one owner row per view"):
        classifier_fit(catalogue, labels, views=views[:, :4], view_owners=owners)


# --------------------------------------------------------------------------- trained and stored


@pytest.fixture
def drawn_catalogue(settings):
    """Drawn photos of three types, embedded with the real model; one product's file is then
    corrupted on disk (its embedding stays ready, so training meets it)."""
    from recommendations.services import product_embeddings_compute
    from tests.factories import jpeg_bytes, product_with_image
    from tests.test_photo_search_quality import article_type

    settings.CELERY_TASK_ALWAYS_EAGER = False
    products = [
        product_with_image(
            f"{kind[:3]}{i}",
            jpeg_bytes(draw_product(kind, "Blue", "solid", random.Random(i))),
            category=article_type(kind),
        )
        for kind in ("Tshirts", "Watches", "Casual Shoes")
        for i in range(4)
    ]
    product_embeddings_compute(product_ids=[p.pk for p in products])
    with open(products[0].image.path, "wb") as file:
        file.write(b"not an image any more")
    return products


@pytest.mark.django_db
def test_the_served_recipe_trains_on_views_and_a_bad_image_does_not_stop_it(drawn_catalogue):
    from recommendations.classifier import (
        ALGORITHM,
        MAX_VIEWS_PER_CLASS,
        PROJECTION_ALGORITHM,
        VIEWS_PER_PRODUCT,
        category_classifier_latest,
        category_classifier_train,
        photo_category_probabilities,
        photo_projection,
    )
    from recommendations.models import CategoryClassifier

    assert photo_projection() is None
    vector = np.ones(1280, np.float32) / np.sqrt(1280)
    catalogue_only = category_classifier_train(recipe="catalogue")
    assert catalogue_only.algorithm == RECIPES["catalogue"] and catalogue_only.metrics["views"] == 0
    # A classifier of the old recipe is never used as the served one.
    assert photo_category_probabilities(vector) == {}
    assert photo_category_probabilities(vector, recipe="catalogue")

    served = category_classifier_train()
    assert served.algorithm == ALGORITHM == RECIPES["augmented"] and served.version == 2
    metrics = served.metrics
    assert metrics["views_unreadable_products"] == 1
    assert metrics["views"] == (len(drawn_catalogue) - 1) * VIEWS_PER_PRODUCT <= 3 * MAX_VIEWS_PER_CLASS
    assert metrics["views_products"] == len(drawn_catalogue) - 1 and metrics["seconds"] >= 0
    assert category_classifier_latest() == served
    assert category_classifier_latest(recipe="catalogue") == catalogue_only
    assert set(photo_category_probabilities(vector)) == {p.category_id for p in drawn_catalogue}
    # The projection head is trained on the same views and stored beside it, the next version.
    head = CategoryClassifier.objects.get(algorithm=PROJECTION_ALGORITHM)
    assert head.version == 3 and head.metrics["views"] == metrics["views"]
    assert photo_projection().shape == (1280, 1280)
    from recommendations.photo import PHOTO_SEARCH
    from recommendations.selectors import image_search

    photo = draw_product("Watches", "Blue", "solid", random.Random(50))
    for steps in (PHOTO_SEARCH, PHOTO_SEARCH.but(projection=True)):
        assert len(image_search(image=photo, k=6, steps=steps).results) == 6
    # Each recipe skips an unchanged catalogue on its own.
    assert category_classifier_train() is None and category_classifier_train(recipe="catalogue") is None
    with pytest.raises(ValueError, match="recipe must be one of"):
        category_classifier_train(recipe="imitated")


@pytest.mark.django_db
def test_the_command_trains_the_recipe_asked_for(drawn_catalogue):
    from django.core.management import CommandError, call_command

    from recommendations.models import CategoryClassifier

    call_command("train_category_classifier", "--recipe", "catalogue")
    assert list(CategoryClassifier.objects.values_list("algorithm", flat=True)) == [RECIPES["catalogue"]]
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("train_category_classifier", "--recipe", "imitated")


# --------------------------------------------------------------------------- the projection head


def test_the_projection_head_pulls_views_to_their_own_products_and_stays_near_identity():
    from recommendations.projection import (
        projection_apply,
        projection_fit,
        projection_from_bytes,
        projection_to_bytes,
    )

    rng = np.random.default_rng(0)
    dims, n = 32, 40
    catalogue = rng.normal(0, 1, (n, dims)).astype(np.float32)
    catalogue /= np.linalg.norm(catalogue, axis=1, keepdims=True)
    labels = np.arange(n) % 4
    owners = np.repeat(np.arange(n), 2)
    shift = rng.normal(0, 1, dims).astype(np.float32)  # every view carries the same "camera" offset
    views = catalogue[owners] + 2.5 * shift / np.linalg.norm(shift) + rng.normal(0, 0.3, (len(owners), dims))
    views = (views / np.linalg.norm(views, axis=1, keepdims=True)).astype(np.float32)
    weights, metrics = projection_fit(catalogue, labels, views, owners, epochs=30)
    again, _ = projection_fit(catalogue, labels, views, owners, epochs=30)
    np.testing.assert_array_equal(weights, again)  # seeded
    assert metrics["loss_after"] < metrics["loss_before"]
    assert metrics["own_top1_after"] >= metrics["own_top1_before"] + 0.1
    assert np.abs(weights - np.eye(dims)).max() < 0.2  # pulled back toward the identity
    projected = projection_apply(weights, views[:3])
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(projection_from_bytes(projection_to_bytes(weights)), weights)
    with pytest.raises(ValueError, match="needs views"):
        projection_fit(catalogue, labels, views[:0], owners[:0])
    with pytest.raises(ValueError, match="needs views"):
        projection_fit(catalogue, labels, views[:, :8], owners)
