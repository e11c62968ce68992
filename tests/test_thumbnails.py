"""Product thumbnails: made once per image by a real Celery worker, with a fallback view.

The worker here consumes only the default "celery" queue, where thumbnail tasks go; the
embedding tasks that the same saves enqueue wait on their own queue and are purged.
"""

import io
import json
import logging
from base64 import b64decode
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from config.celery_app import app as celery_app
from shop.models import Product
from shop.tasks import product_thumbnail_task
from shop.thumbnails import product_thumbnail_make, thumbnails_sweep
from tests.factories import jpeg_bytes, product_with_image, solid_image
from tests.helpers import wait_for

BOX = (300, 400)


def two_colour(size=(1000, 600), left=(220, 20, 20), right=(20, 20, 220)) -> Image.Image:
    """Left half one colour, right half another: orientation shows in the thumbnail."""
    image = Image.new("RGB", size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def truncated_jpeg() -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    data = jpeg_bytes(Image.fromarray(pixels))
    return data[: len(data) // 3]


def open_thumbnail(product: Product) -> Image.Image:
    with product.thumbnail.open("rb") as file:
        image = Image.open(io.BytesIO(file.read()))
        image.load()
    return image


def queued(queue: str = "celery") -> list[dict]:
    """The messages waiting in a broker queue: task name and arguments."""
    with celery_app.connection_for_write() as connection:
        raw = connection.default_channel.client.lrange(queue, 0, -1)
    messages = []
    for item in raw:
        envelope = json.loads(item)
        args = json.loads(b64decode(envelope["body"]))[0]
        messages.append({"task": envelope["headers"]["task"], "args": args})
    return messages


def purge_queues() -> None:
    with celery_app.connection_for_write() as connection:
        for name in ("celery", "embeddings"):
            connection.default_channel.client.delete(name)


@pytest.fixture
def worker():
    """A real Celery worker in a thread on the test broker, consuming the default queue only."""
    import celery.contrib.testing.tasks  # noqa: F401  (registers celery.ping for the start check)
    from celery.contrib.testing.worker import start_worker

    purge_queues()  # tasks left by other tests refer to rows that no longer exist
    with start_worker(celery_app, pool="solo", queues=["celery"], shutdown_timeout=30) as running:
        yield running
    purge_queues()


@pytest.fixture
def broker():
    """The real broker with empty queues, and no worker: messages stay where tests can read them."""
    purge_queues()
    yield
    purge_queues()


def thumbnail_settled(product: Product) -> Product | None:
    fresh = Product.objects.get(pk=product.pk)
    return fresh if fresh.thumbnail_sha256 == fresh.image_sha256 else None


# --- with the real worker ---


@pytest.mark.django_db(transaction=True)
def test_worker_makes_a_progressive_jpeg_within_the_box(worker):
    """A saved image gets a JPEG thumbnail from the worker: inside 300x400, same aspect, progressive."""
    product = product_with_image("LAND1", two_colour((1000, 600)))
    assert product.thumbnail_url == reverse("shop:product_thumbnail", args=[product.pk])

    fresh = wait_for(lambda: thumbnail_settled(product))
    assert fresh.thumbnail.name == f"thumbnails/LAND1/{fresh.image_sha256[:16]}.jpg"
    thumb = open_thumbnail(fresh)
    assert thumb.format == "JPEG"
    assert thumb.info.get("progressive") == 1
    assert thumb.size == (300, 180)  # width-bound: 1000x600 scaled by 0.3
    assert fresh.thumbnail_url == fresh.thumbnail.url
    assert fresh.thumbnail_url.startswith("/media/thumbnails/LAND1/")


@pytest.mark.django_db(transaction=True)
def test_worker_replaces_the_thumbnail_when_the_image_changes(worker):
    """A new image gets a new thumbnail and the old thumbnail file is deleted."""
    product = product_with_image("SWAP1", solid_image((200, 30, 30), size=(600, 800)))
    first = wait_for(lambda: thumbnail_settled(product))
    old_path, old_sha = Path(first.thumbnail.path), first.image_sha256
    assert old_path.is_file()

    first.image.save("SWAP1.jpg", ContentFile(jpeg_bytes(solid_image((30, 30, 200), size=(800, 600)))), save=False)
    first.save()
    second = wait_for(lambda: thumbnail_settled(first))
    assert second.image_sha256 != old_sha
    assert second.thumbnail.name == f"thumbnails/SWAP1/{second.image_sha256[:16]}.jpg"
    assert Path(second.thumbnail.path).is_file()
    assert not old_path.exists(), "the replaced thumbnail file should be deleted"
    thumb = open_thumbnail(second)
    assert thumb.size == (300, 225)
    r, g, b = thumb.convert("RGB").getpixel((150, 110))
    assert b > 150 and r < 80, "the thumbnail shows the new (blue) image"


@pytest.mark.django_db(transaction=True)
def test_worker_records_a_broken_image_and_listings_fall_back(worker, client, caplog):
    """A stored image that cannot be decoded leaves no thumbnail; the listing URL is the full image."""
    caplog.set_level(logging.WARNING, logger="shop.thumbnails")  # an earlier test worker set the root to ERROR
    product = product_with_image("BROKEN1", truncated_jpeg())
    fresh = wait_for(lambda: thumbnail_settled(product))
    assert not fresh.thumbnail
    assert fresh.thumbnail_url == fresh.image.url
    response = client.get(reverse("shop:product_thumbnail", args=[product.pk]))
    assert response.status_code == 302
    assert response["Location"] == fresh.image.url
    assert any("No thumbnail for product" in r.getMessage() and "truncated" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_an_unchanged_save_sends_nothing_and_remakes_nothing(broker):
    """Saving other fields neither enqueues a task nor rewrites the thumbnail."""
    product = product_with_image("SAME1", solid_image(size=(600, 800)))
    assert [m["task"] for m in queued()] == ["shop.tasks.product_thumbnail_task"]
    assert queued()[0]["args"] == [product.pk]
    assert product_thumbnail_make(product=product) == "made"
    path = Path(product.thumbnail.path)
    stamp = path.stat().st_mtime_ns
    purge_queues()

    product = Product.objects.get(pk=product.pk)
    product.name = "Renamed"
    product.save()
    assert queued() == []
    assert product_thumbnail_make(product=product) == "current"
    assert path.stat().st_mtime_ns == stamp
    assert Product.objects.get(pk=product.pk).name == "Renamed"


@pytest.mark.django_db(transaction=True)
def test_import_enqueues_thumbnails_in_batches_and_no_queue_sends_none(broker, tmp_path, settings):
    """import_catalog sends one message per batch of products; --no-queue sends none."""
    from tests.test_import import make_catalog

    settings.THUMBNAIL_BATCH_SIZE = 2
    lines = [f"90200{i},Men,Apparel,Topwear,Tshirts,Red,Summer,2012,Casual,Tee {i}" for i in range(5)]
    root = make_catalog(tmp_path / "catalog", lines)
    call_command("import_catalog", str(root), verbosity=0, stdout=io.StringIO())
    messages = queued()
    assert [m["task"] for m in messages] == ["shop.tasks.product_thumbnails_task"] * 3
    ids = [pk for m in messages for pk in m["args"][0]]
    assert sorted(ids) == sorted(Product.objects.values_list("pk", flat=True))

    purge_queues()
    more = [f"90300{i},Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,Tee {i}" for i in range(3)]
    root = make_catalog(tmp_path / "catalog2", more)
    call_command("import_catalog", str(root), no_queue=True, verbosity=0, stdout=io.StringIO())
    assert queued() == []
    assert queued("embeddings") == []
    # Nobody consumed the messages here: the sweep makes all 5 + 3, in batches of 2.
    assert thumbnails_sweep(budget_seconds=0) == dict.fromkeys(("made", "current", "failed", "cleared", "skipped"), 0)
    counts = thumbnails_sweep(budget_seconds=30)
    assert counts["made"] == 8
    assert Product.objects.filter(thumbnail__startswith="thumbnails/").count() == 8
    assert thumbnails_sweep(budget_seconds=30)["made"] == 0


# --- the fallback view ---


@pytest.mark.django_db
def test_fallback_view_makes_the_thumbnail_on_first_request(client):
    """Before the worker runs, the listing URL is the view; it makes the thumbnail and redirects to it."""
    product = product_with_image("FIRST1", solid_image(size=(450, 600)))
    url = product.thumbnail_url
    assert url == f"/products/{product.pk}/thumbnail/"
    response = client.get(url)
    assert response.status_code == 302
    fresh = Product.objects.get(pk=product.pk)
    assert fresh.thumbnail and fresh.thumbnail_sha256 == fresh.image_sha256
    assert response["Location"] == fresh.thumbnail.url
    assert open_thumbnail(fresh).size == BOX
    assert fresh.thumbnail_url == fresh.thumbnail.url

    again = client.get(url)  # a stale page may still link here: same answer, nothing remade
    assert again["Location"] == fresh.thumbnail.url


@pytest.mark.django_db
def test_fallback_view_without_an_image_or_product_is_404(client):
    """No image, no thumbnail: 404, and the listing URL is empty."""
    product = Product.objects.create(sku="NOIMG1", name="No image")
    assert product.thumbnail_url == ""
    assert client.get(reverse("shop:product_thumbnail", args=[product.pk])).status_code == 404
    assert client.get(reverse("shop:product_thumbnail", args=[999_999_999])).status_code == 404


@pytest.mark.django_db
def test_fallback_view_redirects_to_the_full_image_when_it_is_broken_or_missing(client):
    """A broken or vanished image file does not crash the view: it redirects to the full image."""
    broken = product_with_image("BROKEN2", b"this is not a picture at all")
    response = client.get(reverse("shop:product_thumbnail", args=[broken.pk]))
    assert response.status_code == 302 and response["Location"] == broken.image.url
    fresh = Product.objects.get(pk=broken.pk)
    assert not fresh.thumbnail and fresh.thumbnail_sha256 == fresh.image_sha256, "failure recorded, no retry loop"

    gone = product_with_image("GONE1", solid_image())
    Path(gone.image.path).unlink()
    response = client.get(reverse("shop:product_thumbnail", args=[gone.pk]))
    assert response.status_code == 302 and response["Location"] == gone.image.url


# --- the service ---


@pytest.mark.django_db
def test_exif_rotated_image_gives_an_upright_thumbnail():
    """A landscape JPEG tagged 'rotate 90° clockwise' gives a portrait thumbnail, left side on top."""
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    two_colour((800, 600)).save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    product = product_with_image("ROT6", buffer.getvalue())
    assert product_thumbnail_make(product=product) == "made"
    thumb = open_thumbnail(product).convert("RGB")
    assert thumb.size == (300, 400)
    top, bottom = thumb.getpixel((150, 20)), thumb.getpixel((150, 380))
    assert top[0] > 150 and top[2] < 80, f"top should be red, got {top}"
    assert bottom[2] > 150 and bottom[0] < 80, f"bottom should be blue, got {bottom}"
    assert 0x0112 not in thumb.getexif(), "no orientation tag left to rotate it twice"


@pytest.mark.django_db
def test_small_images_are_not_enlarged_and_non_rgb_images_work():
    """An image smaller than the box keeps its size; a PNG with transparency becomes a JPEG."""
    small = product_with_image("SMALL1", solid_image(size=(60, 80)))
    assert product_thumbnail_make(product=small) == "made"
    assert open_thumbnail(small).size == (60, 80)

    buffer = io.BytesIO()
    Image.new("RGBA", (500, 500), (0, 0, 0, 0)).save(buffer, "PNG")
    clear = product_with_image("ALPHA1", buffer.getvalue())
    assert product_thumbnail_make(product=clear) == "made"
    thumb = open_thumbnail(clear)
    assert thumb.format == "JPEG" and thumb.size == (300, 300)
    assert min(thumb.convert("RGB").getpixel((150, 150))) > 240, "transparent areas become white"


@pytest.mark.django_db
def test_pixel_limit_is_respected(settings, caplog):
    """Images over IMAGE_MAX_PIXELS are refused before decoding, and recorded as failed."""
    settings.IMAGE_MAX_PIXELS = 100_000
    big = product_with_image("BIG1", solid_image(size=(400, 400)))  # 160,000 pixels
    assert product_thumbnail_make(product=big) == "failed"
    assert not big.thumbnail and big.thumbnail_url == big.image.url
    assert "more than the limit of 100,000 pixels" in caplog.text

    settings.IMAGE_MAX_PIXELS = 40_000_000
    from tests.test_images import png_claiming_size

    bomb = product_with_image("BOMB1", png_claiming_size(30_000, 30_000))  # 900 M pixels in a few bytes
    assert product_thumbnail_make(product=bomb) == "failed"
    assert "too many pixels" in caplog.text or "more than the limit" in caplog.text


@pytest.mark.django_db
def test_thumbnail_url_costs_no_queries(django_assert_num_queries):
    """Listings read thumbnail_url for every card without touching the database."""
    made = product_with_image("Q1", solid_image())
    product_thumbnail_make(product=made)
    product_with_image("Q2", solid_image())  # not made yet
    failed = product_with_image("Q3", b"not an image")
    product_thumbnail_make(product=failed)
    Product.objects.create(sku="Q4", name="No image")
    products = list(Product.objects.order_by("sku"))
    with django_assert_num_queries(0):
        urls = [product.thumbnail_url for product in products]
    assert urls[0].startswith("/media/thumbnails/Q1/")
    assert urls[1] == reverse("shop:product_thumbnail", args=[products[1].pk])
    assert urls[2] == products[2].image.url
    assert urls[3] == ""


@pytest.mark.django_db
def test_removing_the_image_clears_the_thumbnail():
    """When the image is removed, the thumbnail columns are cleared too."""
    product = product_with_image("RM1", solid_image())
    product_thumbnail_make(product=product)
    product.image = ""
    product.save()
    assert product_thumbnail_make(product=product) == "cleared"
    fresh = Product.objects.get(pk=product.pk)
    assert fresh.thumbnail.name == "" and fresh.thumbnail_sha256 == ""
    assert fresh.thumbnail_url == ""


@pytest.mark.django_db
def test_task_for_a_deleted_product_returns_quietly():
    """A product deleted before its task ran is skipped, not an error."""
    assert product_thumbnail_task.apply(args=[999_999_999]).get() == "skipped"


@pytest.mark.django_db
def test_make_thumbnails_command_now(capsys):
    """make_thumbnails --missing --now makes what is missing; --all --now remakes everything."""
    first = product_with_image("CMD1", solid_image(size=(600, 800)))
    product_with_image("CMD2", b"broken")
    out = io.StringIO()
    call_command("make_thumbnails", "--missing", "--now", stdout=out)
    assert "1 made, 1 failed" in out.getvalue()
    first.refresh_from_db()
    old_name = first.thumbnail.name

    out = io.StringIO()
    call_command("make_thumbnails", "--missing", "--now", stdout=out)
    assert "0 made, 0 failed" in out.getvalue()

    out = io.StringIO()
    call_command("make_thumbnails", "--all", "--now", stdout=out)
    assert "1 made, 1 failed" in out.getvalue()
    first.refresh_from_db()
    assert first.thumbnail.name != old_name and first.thumbnail_sha256 == first.image_sha256


def test_routes_and_schedule(settings):
    """Thumbnail tasks go to the default queue the worker consumes; the sweep is scheduled."""
    router = celery_app.amqp.router
    for name in ("shop.tasks.product_thumbnail_task", "shop.tasks.product_thumbnails_task"):
        assert router.route({}, name)["queue"].name == "celery"
    assert settings.CELERY_BEAT_SCHEDULE["thumbnails-sweep"]["task"] == "shop.tasks.thumbnails_sweep_task"
    assert "shop.tasks.thumbnails_sweep_task" in celery_app.tasks


@pytest.mark.django_db
def test_unreadable_storage_neither_crashes_the_view_nor_stops_the_sweep(client, caplog):
    """A storage error that is not 'missing' is logged, not recorded: the view still redirects, the
    sweep moves on to the next product and a later run retries the unreadable one."""
    unreadable = product_with_image("DIR1", solid_image())
    path = Path(unreadable.image.path)
    path.unlink()
    path.mkdir()  # reading it raises IsADirectoryError
    fine = product_with_image("DIR2", solid_image())

    response = client.get(reverse("shop:product_thumbnail", args=[unreadable.pk]))
    assert response.status_code == 302 and response["Location"] == unreadable.image.url
    assert "Could not make the thumbnail" in caplog.text

    counts = thumbnails_sweep(budget_seconds=30)
    assert counts["made"] == 1 and counts["skipped"] == 1
    assert Product.objects.get(pk=fine.pk).thumbnail
    stale = Product.objects.get(pk=unreadable.pk)
    assert stale.thumbnail_sha256 != stale.image_sha256, "not recorded as failed: a later sweep retries it"


@pytest.mark.django_db(transaction=True)
def test_make_thumbnails_command_queues_batches(broker):
    """Without --now, --missing queues the missing ones and --all queues (and marks) every product."""
    made = product_with_image("QUE1", solid_image())
    product_thumbnail_make(product=made)
    missing = product_with_image("QUE2", solid_image())
    purge_queues()

    call_command("make_thumbnails", "--missing", stdout=io.StringIO())
    assert queued() == [{"task": "shop.tasks.product_thumbnails_task", "args": [[missing.pk]]}]
    purge_queues()

    out = io.StringIO()
    call_command("make_thumbnails", "--all", stdout=out)
    assert "Queued 2 products" in out.getvalue()
    assert queued() == [{"task": "shop.tasks.product_thumbnails_task", "args": [[made.pk, missing.pk]]}]
    assert Product.objects.get(pk=made.pk).thumbnail_url == reverse("shop:product_thumbnail", args=[made.pk])
