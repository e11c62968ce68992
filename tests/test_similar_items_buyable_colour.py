"""Similar items show only what can be bought, and prefer the viewed product's colour."""

import numpy as np
import pytest
from django.core.cache import cache
from PIL import Image

from recommendations.colours import colour_agreement, image_colour_lab
from recommendations.models import ProductEmbedding
from recommendations.selectors import (
    SIMILAR_ITEMS_COLOUR_POOL,
    SIMILAR_ITEMS_COLOUR_WEIGHT,
    image_similar_list,
    product_similar_list,
    product_visually_similar_list,
)
from recommendations.services import product_embeddings_compute
from shop.models import Category, Product
from tests.factories import clustered_vectors, product_with_image, products_with_vectors, solid_image

pytestmark = pytest.mark.django_db


def exact_order(vectors: np.ndarray, index: int) -> list[int]:
    scores = vectors @ vectors[index]
    scores[index] = -np.inf
    return [int(i) for i in np.argsort(-scores, kind="stable") if i != index]


def farthest_overtaking(vectors: np.ndarray, order: list[int], bonus: float) -> int:
    """The farthest place (from 6th) in the pool whose bonus lifts it clearly above the nearest."""
    scores = vectors @ vectors[0]
    best = float(scores[order[0]])
    places = [i for i in range(5, SIMILAR_ITEMS_COLOUR_POOL) if float(scores[order[i]]) + bonus > best + 0.01]
    assert places, "the test vectors have no product close enough to overtake"
    return places[-1]


@pytest.fixture
def products():
    vectors = clustered_vectors(40, 1280, clusters=4, seed=11, noise=(0.2, 0.8))
    return products_with_vectors(vectors), vectors


def ids(items) -> list[int]:
    return [item.product.pk for item in items]


@pytest.mark.parametrize(
    "change", [{"stock": 0}, {"price": None}, {"is_active": False}], ids=["sold-out", "no-price", "inactive"]
)
@pytest.mark.parametrize("listing", [product_similar_list, product_visually_similar_list])
def test_what_cannot_be_bought_is_never_recommended(products, change, listing):
    items, _ = products
    before = ids(listing(product=items[0], k=5))
    Product.objects.filter(pk__in=before[:2]).update(**change)
    after = ids(listing(product=items[0], k=5))
    assert len(after) == 5 and not set(before[:2]) & set(after)
    assert after[:3] == before[2:]


def test_a_product_that_sells_out_leaves_cached_lists_at_once(products, settings):
    settings.SIMILAR_ITEMS_CACHE_SECONDS = 300
    cache.clear()
    try:
        items, _ = products
        before = ids(product_similar_list(product=items[0], k=5))
        Product.objects.filter(pk=before[0]).update(stock=0)
        assert ids(product_similar_list(product=items[0], k=5)) == before[1:]
    finally:
        cache.clear()


def test_search_by_photo_leaves_out_what_cannot_be_bought():
    red = [product_with_image(f"RED{i}", solid_image((200 - i, 30, 30))) for i in range(3)]
    product_embeddings_compute(product_ids=[p.pk for p in red])
    photo = solid_image((199, 30, 30))
    before = ids(image_similar_list(image=photo, k=3, restrict=False))
    assert sorted(before) == sorted(p.pk for p in red)
    Product.objects.filter(pk=before[0]).update(stock=0)
    Product.objects.filter(pk=before[1]).update(price=None)
    assert ids(image_similar_list(image=photo, k=3, restrict=False)) == [before[2]]


def test_the_viewed_products_colour_comes_first_within_its_type(products):
    """Of visually close products of the same type, one in the viewed product's catalogue colour
    moves ahead of nearer ones in other colours; products of other types never come in."""
    items, vectors = products
    order = exact_order(vectors, 0)
    dresses = Category.objects.create(name="Dresses", level=2)
    pool = [items[i] for i in order[:SIMILAR_ITEMS_COLOUR_POOL]]
    Product.objects.filter(pk__in=[items[0].pk, *(p.pk for p in pool)]).update(category=dresses)
    Product.objects.filter(pk=items[0].pk).update(base_colour="Red")
    Product.objects.filter(pk__in=[p.pk for p in pool]).update(base_colour="Blue")
    red = pool[farthest_overtaking(vectors, order, SIMILAR_ITEMS_COLOUR_WEIGHT)]
    Product.objects.filter(pk=red.pk).update(base_colour="red ")
    product = Product.objects.select_related("category").get(pk=items[0].pk)
    plain = [p.pk for p in pool[:5]]
    got = ids(product_similar_list(product=product, k=5))
    assert got[0] == red.pk and got[1:] == plain[:4]


def test_without_catalogue_colours_the_measured_colours_are_used(products):
    items, vectors = products
    order = exact_order(vectors, 0)
    pool = [items[i] for i in order[:SIMILAR_ITEMS_COLOUR_POOL]]
    # 3 apart in Lab: agreement 1 - 3/40; the rest are blue, over 100 apart: agreement 0.
    close = pool[farthest_overtaking(vectors, order, SIMILAR_ITEMS_COLOUR_WEIGHT * (1 - 3 / 40))]
    ProductEmbedding.objects.filter(product__in=pool).update(colour_lab=[50.0, 0.0, -50.0])
    ProductEmbedding.objects.filter(product=items[0]).update(colour_lab=[50.0, 60.0, 40.0])
    ProductEmbedding.objects.filter(product=close).update(colour_lab=[52.0, 58.0, 41.0])
    got = ids(product_similar_list(product=Product.objects.get(pk=items[0].pk), k=5))
    assert got[0] == close.pk and got[1:] == [p.pk for p in pool[:4]]


def test_no_colour_anywhere_keeps_the_visual_order(products):
    items, vectors = products
    order = exact_order(vectors, 0)
    assert ids(product_similar_list(product=items[0], k=5)) == [items[i].pk for i in order[:5]]


def centre_patch(colour: tuple[int, int, int], background=(250, 250, 250)) -> Image.Image:
    image = Image.new("RGB", (90, 120), background)
    image.paste(Image.new("RGB", (40, 60), colour), (25, 30))
    return image


def test_the_measured_colour_is_the_items_not_the_backgrounds():
    lightness, a, b = image_colour_lab(centre_patch((200, 20, 20)))
    assert a > 50 and b > 30 and 35 < lightness < 55  # red
    lightness, a, b = image_colour_lab(centre_patch((20, 40, 160)))
    assert b < -50  # blue
    lightness, a, b = image_colour_lab(solid_image((252, 252, 252)))
    assert lightness > 95 and abs(a) < 2 and abs(b) < 2  # a white item on white is still white


def test_colour_agreement_uses_names_when_both_have_one():
    red, blue = (45.0, 65.0, 50.0), (30.0, 20.0, -60.0)
    assert colour_agreement("Red", blue, " red", blue) == 1.0
    assert colour_agreement("Red", red, "Maroon", red) == 0.0
    assert colour_agreement("", red, "Blue", red) == 1.0
    assert colour_agreement("", red, "", blue) == 0.0
    assert colour_agreement("", red, "", (47.0, 65.0, 50.0)) == pytest.approx(1 - 2 / 40)
    assert colour_agreement("", None, "", red) == 0.0


def test_embedding_stores_the_measured_colour():
    product = product_with_image("GREEN", centre_patch((30, 150, 40)))
    product_embeddings_compute(product_ids=[product.pk])
    row = ProductEmbedding.objects.get(product=product)
    assert row.status == "ready" and row.colour_lab[1] < -40  # green: negative a
