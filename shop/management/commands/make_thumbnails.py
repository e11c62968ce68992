"""python manage.py make_thumbnails: queue or make product thumbnails."""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from shop.models import Product
from shop.thumbnails import product_thumbnails_make, products_thumbnail_stale, thumbnails_enqueue


class Command(BaseCommand):
    help = (
        "Queue thumbnails for the Celery worker: --missing (missing or outdated) or --all "
        "(remake every product's). With --now they are made in this process instead."
    )

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--missing", action="store_true", help="products whose thumbnail is missing or outdated")
        group.add_argument("--all", action="store_true", help="every product, remade (e.g. after a size change)")
        parser.add_argument("--now", action="store_true", help="make them here instead of queueing (no worker needed)")
        parser.add_argument("--batch-size", type=int, default=50)

    def handle(self, *args, missing: bool, all: bool, now: bool, batch_size: int, **options) -> None:
        products = Product.objects.all() if all else products_thumbnail_stale()
        ids = list(products.order_by("pk").values_list("pk", flat=True))
        if not now:
            if all:
                # The worker skips current thumbnails, so mark them outdated first.
                Product.objects.filter(pk__in=ids).update(thumbnail_sha256="")
            thumbnails_enqueue(product_ids=ids, batch_size=batch_size)
            self.stdout.write(self.style.SUCCESS(f"Queued {len(ids)} products for thumbnails."))
            return
        totals: dict[str, int] = {}
        with tqdm(total=len(ids), unit="image", desc="Thumbnails", disable=options["verbosity"] == 0) as bar:
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                for key, value in product_thumbnails_make(product_ids=batch, force=all).items():
                    totals[key] = totals.get(key, 0) + value
                bar.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"Thumbnails: {totals.get('made', 0)} made, {totals.get('failed', 0)} failed, "
                f"{totals.get('cleared', 0)} cleared, {totals.get('current', 0)} already current, "
                f"{totals.get('skipped', 0)} skipped."
            )
        )
