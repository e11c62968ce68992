"""Search by photo as a shopper meets it: the page shows the photo, the kinds it seems to show as
choices (one click re-runs the search within one) and says when the best match is weak; the API
adds `kinds` and `weak_match` and takes `category`; awkward photos still get a full list."""

import base64
import io
import random
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from demo.catalog import draw_product
from recommendations.classifier import category_classifier_train
from recommendations.selectors import _share_out, image_similar_list
from recommendations.services import product_embeddings_compute
from shop.models import Category
from tests.factories import jpeg_bytes, product_with_image

pytestmark = pytest.mark.django_db

KINDS = ("Tshirts", "Watches", "Casual Shoes", "Handbags")
PER_KIND = 4
RESULT_KEYS = {"id", "sku", "name", "url", "image_url", "score"}


def article_type(name: str) -> Category:
    master, _ = Category.objects.get_or_create(name="Apparel", parent=None, level=0)
    sub, _ = Category.objects.get_or_create(name="Misc", parent=master, level=1)
    return Category.objects.get_or_create(name=name, parent=sub, level=2)[0]


@pytest.fixture
def kinds_catalogue(settings) -> dict[str, Category]:
    """4 kinds x 4 drawn products embedded by the real model, and a trained category classifier."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    categories = {kind: article_type(kind) for kind in KINDS}
    products = [
        product_with_image(
            f"{kind[:3].upper()}{i}",
            draw_product(kind, ("Blue", "Red")[i % 2], "solid", random.Random(i)),
            name=f"{kind} {i}",
            category=categories[kind],
        )
        for kind in KINDS
        for i in range(PER_KIND)
    ]
    product_embeddings_compute(product_ids=[p.pk for p in products])
    assert category_classifier_train() is not None
    return categories


def photo(kind: str, seed: int = 99) -> bytes:
    return jpeg_bytes(draw_product(kind, "Blue", "solid", random.Random(seed)))


def kept_photo(html: str) -> str:
    match = re.search(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, "the page shows the uploaded photo"
    return match.group(1)


# --------------------------------------------------------------------------- the page


def test_page_shows_the_uploaded_photo_and_the_kinds_as_choices(client, kinds_catalogue):
    """The photo comes back as a small JPEG (not stored) and the likeliest kind is offered first."""
    upload = jpeg_bytes(draw_product("Watches", "Blue", "solid", random.Random(99), size=(1200, 1600)))
    response = client.post("/search/photo/", {"image": SimpleUploadedFile("w.jpg", upload), "k": 6})
    assert response.status_code == 200
    html = response.content.decode()
    shown = Image.open(io.BytesIO(base64.b64decode(kept_photo(html))))
    assert shown.format == "JPEG" and max(shown.size) == 448 and shown.size == (336, 448)
    kinds = response.context["kinds"]
    assert kinds[0].category == kinds_catalogue["Watches"]
    assert 1 <= len(kinds) <= 3 and len({kind.category.pk for kind in kinds}) == len(kinds)
    assert f'name="category" value="{kinds_catalogue["Watches"].pk}"' in html
    assert 'data-testid="photo-kinds"' in html and ">Watches</button>" in html
    assert len(response.context["results"]) == 6


def test_choosing_a_kind_searches_the_kept_photo_within_it(client, kinds_catalogue):
    """One click on a kind re-sends the kept photo: the results are of that kind first."""
    first = client.post("/search/photo/", {"image": SimpleUploadedFile("w.jpg", photo("Watches")), "k": 6})
    kept = kept_photo(first.content.decode())
    handbags = kinds_catalogue["Handbags"]
    response = client.post("/search/photo/", {"photo": kept, "k": 6, "category": handbags.pk})
    assert response.status_code == 200
    results = response.context["results"]
    assert len(results) == 6
    assert [item.product.category for item in results[:PER_KIND]] == [handbags] * PER_KIND
    html = response.content.decode()
    assert "6 similar products in Handbags" in html
    assert f'value="{handbags.pk}" data-testid="photo-kind" aria-pressed="true">Handbags</button>' in html
    assert kept_photo(html)  # still shown, so the shopper can switch again


def test_the_page_says_when_the_best_match_is_weak(client, kinds_catalogue, settings):
    upload = photo("Tshirts")
    settings.PHOTO_SEARCH_WEAK_SCORE = 0.0
    strong = client.post("/search/photo/", {"image": SimpleUploadedFile("t.jpg", upload)})
    assert strong.context["weak_match"] is False and 'data-testid="weak-match"' not in strong.content.decode()
    settings.PHOTO_SEARCH_WEAK_SCORE = 1.01  # no cosine similarity reaches it
    weak = client.post("/search/photo/", {"image": SimpleUploadedFile("t.jpg", upload)})
    assert weak.context["weak_match"] is True
    assert "No close match" in weak.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"photo": "not base64 at all!"}, "damaged"),
        ({"photo": base64.b64encode(b"plain text, no image").decode()}, "not an image"),
        ({}, "Choose a photo"),
        ({"photo": "", "category": "999999"}, "Select a valid choice"),
    ],
)
def test_page_refuses_a_bad_kept_photo_or_kind_clearly(client, data, message):
    response = client.post("/search/photo/", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["results"] is None


# --------------------------------------------------------------------------- the API


def test_api_adds_kinds_and_weak_match_and_keeps_its_keys(client, kinds_catalogue, settings):
    settings.PHOTO_SEARCH_WEAK_SCORE = 1.01
    response = client.post("/api/search/photo/", {"image": SimpleUploadedFile("w.jpg", photo("Watches")), "k": 4})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"model", "results", "kinds", "weak_match"}
    assert len(body["results"]) == 4 and all(set(item) == RESULT_KEYS for item in body["results"])
    assert body["weak_match"] is True
    assert body["kinds"][0] == {
        "id": kinds_catalogue["Watches"].pk,
        "name": "Watches",
        "probability": pytest.approx(body["kinds"][0]["probability"]),
    }
    probabilities = [kind["probability"] for kind in body["kinds"]]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < probabilities[0] <= 1


def test_api_category_searches_within_one_kind(client, kinds_catalogue):
    shoes = kinds_catalogue["Casual Shoes"]
    upload = photo("Watches")
    response = client.post(
        "/api/search/photo/", {"image": SimpleUploadedFile("w.jpg", upload), "k": 5, "category": shoes.pk}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 5  # 4 shoes, then the best of the rest
    assert {item["sku"][:3] for item in results[:PER_KIND]} == {"CAS"}
    # A category above the article types searches all of its types.
    apparel = Category.objects.get(name="Apparel")
    wide = client.post(
        "/api/search/photo/", {"image": SimpleUploadedFile("w.jpg", upload), "k": 3, "category": apparel.pk}
    )
    assert [item["sku"][:3] for item in wide.json()["results"]] == ["WAT"] * 3


@pytest.mark.parametrize("category", ["999999", "abc", "-1"])
def test_api_bad_category_is_400_naming_it(client, category):
    upload = SimpleUploadedFile("w.jpg", photo("Watches"))
    response = client.post("/api/search/photo/", {"image": upload, "category": category})
    assert response.status_code == 400
    assert "category" in response.json()["fields"]


# --------------------------------------------------------------------------- the fused search


def test_share_out_fills_places_in_proportion_and_never_twice():
    """Sainte-Laguë: weights 0.6 / 0.4 alternate A B A B A; a product in both pools is taken once."""
    a = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    b = [(2, 0.8), (5, 0.5), (6, 0.4)]
    assert [pk for pk, _ in _share_out([(0.6, a), (0.4, b)], 5)] == [1, 2, 3, 5, 4]
    assert [pk for pk, _ in _share_out([(0.9, a), (0.1, b)], 5)] == [1, 2, 3, 4, 5]
    assert [pk for pk, _ in _share_out([(0.5, a), (0.0, b)], 6)] == [1, 2, 3, 4]  # a zero share takes nothing


def test_fused_search_returns_k_distinct_products_led_by_the_likeliest_kind(kinds_catalogue):
    found = image_similar_list(
        image=draw_product("Watches", "Blue", "solid", random.Random(98)), k=10, restrict="fused"
    )
    assert len(found) == 10 and len({item.product.pk for item in found}) == 10
    kinds = [item.product.category.name for item in found[:5]]
    # The likeliest kind leads and holds the largest share; the others keep a place in proportion.
    assert kinds[0] == "Watches" and max(set(kinds), key=kinds.count) == "Watches", kinds


# --------------------------------------------------------------------------- awkward photos


def with_exif_rotation(image: Image.Image) -> bytes:
    """A JPEG stored on its side with EXIF orientation 6 (rotate 90° clockwise to view), as phones save."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.rotate(90, expand=True).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def awkward_photos() -> dict[str, bytes]:
    item = draw_product("Tshirts", "Red", "solid", random.Random(7))
    dark = Image.eval(item, lambda value: value // 12)
    screenshot = Image.new("RGB", (1170, 2532), (18, 18, 18))
    screenshot.paste(item.resize((600, 800)), (285, 700))
    landscape = Image.new("RGB", (1600, 600), (140, 110, 90))
    landscape.paste(item.resize((330, 440)), (900, 80))
    png = io.BytesIO()
    item.resize((20, 20)).save(png, "PNG")
    # A cut-out saved with a transparent background, as apps that remove backgrounds do.
    alpha = io.BytesIO()
    cut_out = item.convert("RGBA")
    cut_out.putalpha(Image.eval(item.convert("L"), lambda value: 0 if value > 235 else 255))
    cut_out.save(alpha, "PNG")
    grey = io.BytesIO()
    item.convert("L").save(grey, "JPEG")  # one channel, as some cameras and scanners save
    return {
        "png-alpha": alpha.getvalue(),
        "greyscale": grey.getvalue(),
        "portrait": jpeg_bytes(item.resize((600, 1400))),
        "landscape": jpeg_bytes(landscape),
        "tiny": png.getvalue(),
        "huge": jpeg_bytes(item.resize((6000, 4000))),
        "dark": jpeg_bytes(dark),
        "exif-rotated": with_exif_rotation(item),
        "screenshot": jpeg_bytes(screenshot),
    }


def test_every_awkward_photo_gets_a_full_result_list(client, kinds_catalogue):
    """Portrait, landscape, tiny, huge, dark, EXIF-rotated, a phone screenshot with wide borders, a
    PNG cut-out with a transparent background, greyscale."""
    k = 10
    photos = awkward_photos()
    assert len(photos) == 9
    for name, data in photos.items():
        response = client.post("/api/search/photo/", {"image": SimpleUploadedFile(f"{name}.jpg", data), "k": k})
        assert response.status_code == 200, (name, response.content[:300])
        body = response.json()
        assert len(body["results"]) == k, name
        assert len({item["id"] for item in body["results"]}) == k, name
        assert body["kinds"], name


# --------------------------------------------------------------------------- the garment crop


def test_garment_box_finds_the_item_on_a_striped_floor():
    """A drawn shirt on wooden-floor stripes: the box holds the shirt and leaves most of the floor out."""
    from recommendations.garment import garment_box

    floor = Image.new("RGB", (800, 600))
    for x in range(0, 800, 40):
        floor.paste((150 + (x // 40) % 3 * 15, 110, 80), (x, 0, x + 40, 600))
    item = draw_product("Tshirts", "Blue", "solid", random.Random(3)).resize((240, 320))
    mask = Image.eval(item.convert("L"), lambda value: 255 if value < 235 else 0)  # the shirt, not its white
    floor.paste(item, (420, 150), mask)
    left, top, right, bottom = garment_box(floor)
    bbox = mask.getbbox()
    assert left <= 420 + bbox[0] and top <= 150 + bbox[1] and right >= 420 + bbox[2] and bottom >= 150 + bbox[3]
    assert (right - left) * (bottom - top) < 0.35 * 800 * 600


def test_garment_box_leaves_a_photo_without_a_clear_item_whole():
    from recommendations.garment import garment_box, garment_crop

    plain = Image.new("RGB", (400, 300), (120, 130, 140))
    assert garment_box(plain) is None and garment_crop(plain).size == (400, 300)
    assert garment_box(Image.new("RGB", (5, 5), "white")) is None  # too small to tell


def test_square_around_keeps_the_whole_box_inside_the_photo():
    """The model sees the centre square of an image: the square around a tall box keeps all of it."""
    from recommendations.garment import square_around

    # A 100x300 box: a 300x300 square centred on it, moved right to stay inside the photo.
    assert square_around((100, 50, 200, 350), (800, 600)) == (0, 50, 300, 350)
    assert square_around((300, 100, 400, 400), (800, 600)) == (200, 100, 500, 400)
    # Near an edge the square moves inside the photo rather than leaving it.
    assert square_around((0, 0, 50, 200), (400, 300)) == (0, 0, 200, 200)
    # A box taller than the photo is wide keeps the photo's width.
    assert square_around((10, 0, 60, 600), (100, 600)) == (0, 0, 100, 600)


# --------------------------------------------------------------------------- runner-up kinds, kids prior


def test_a_runner_up_kind_gets_the_last_of_the_first_places_and_a_second_does_not_push_it_out():
    from recommendations.photo import PHOTO_RUNNER_UP_PLACES
    from recommendations.selectors import _runner_ups_placed

    first = [(pk, 0.9 - pk / 100) for pk in range(1, 11)]
    second, third = [(101, 0.5), (102, 0.4)], [(201, 0.45)]
    pools = [(0.36, first), (0.04, second), (0.01, third), (0.0, [])]
    found = first[:8]
    kinds = [(1, 0.6), (2, 0.2), (3, 0.1)]
    placed = _runner_ups_placed(found, kinds, pools, ratio=0.15)
    assert len(placed) == len(found) and PHOTO_RUNNER_UP_PLACES == 5
    assert [pk for pk, _ in placed[:5]] == [1, 2, 3, 101, 201]  # kind 2 at the 4th place, kind 3 at the 5th
    # Below the ratio a kind gets no place; a kind already among the first places gets no second one.
    assert _runner_ups_placed(found, kinds, pools, ratio=0.5) == found
    with_second = [*first[:4], second[0], *first[4:7]]
    assert [pk for pk, _ in _runner_ups_placed(with_second, kinds, pools, ratio=0.3)[:5]] == [1, 2, 3, 4, 101]


def test_the_kids_prior_moves_kids_products_down_unless_they_are_much_closer(kinds_catalogue, exact_scans):
    """Kids' catalogue photos are flat-lays like shoppers' photos: with the prior a kids' product
    needs kids_penalty more similarity to keep its place."""
    from recommendations.photo import PhotoSteps
    from shop.models import Product

    query = draw_product("Tshirts", "Blue", "solid", random.Random(98))
    plain = image_similar_list(image=query, k=PER_KIND, steps=PhotoSteps())
    nearest = plain[0].product
    Product.objects.filter(pk=nearest.pk).update(gender="Boys")
    penalised = image_similar_list(image=query, k=PER_KIND, steps=PhotoSteps(kids_penalty=1.0))
    assert len(penalised) == PER_KIND and nearest.pk not in [item.product.pk for item in penalised]
    slight = image_similar_list(image=query, k=PER_KIND, steps=PhotoSteps(kids_penalty=1e-6))
    assert slight[0].product.pk == nearest.pk  # a negligible prior leaves a clear winner in place
