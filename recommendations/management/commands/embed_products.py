"""python manage.py embed_products: queue or compute product embeddings."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from tqdm import tqdm

from recommendations.services import (
    active_model_name,
    embeddings_deferred,
    embeddings_recompute,
    embeddings_sweep,
    product_embeddings_compute,
)
from shop.models import Product


class Command(BaseCommand):
    help = (
        "Queue embeddings for the Celery worker: --missing (missing, outdated or stuck) or --all "
        "(recompute every product). With --now they are computed in this process instead."
    )

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--missing", action="store_true", help="products whose embedding is missing or stuck")
        group.add_argument("--all", action="store_true", help="every product with an image, recomputed")
        parser.add_argument("--now", action="store_true", help="compute here instead of queueing (no worker needed)")
        parser.add_argument("--batch-size", type=int, default=64)

    def handle(self, *args, missing: bool, all: bool, now: bool, batch_size: int, **options) -> None:
        model = active_model_name()
        with embeddings_deferred(enqueue=not now) as scheduled:
            if all:
                embeddings_recompute(product_ids=Product.objects.exclude(image="").values_list("pk", flat=True))
            else:
                # Computing here: every pending row is taken, however recently it was queued.
                embeddings_sweep(stuck_after=timedelta(0) if now else None)
        if not now:
            self.stdout.write(self.style.SUCCESS(f"Queued {len(scheduled)} products for {model} embeddings."))
            return
        totals = {"ready": 0, "failed": 0, "skipped": 0}
        with tqdm(total=len(scheduled), unit="image", desc=f"Embedding ({model})") as bar:
            for start in range(0, len(scheduled), batch_size):
                batch = scheduled[start : start + batch_size]
                for key, value in product_embeddings_compute(product_ids=batch).items():
                    totals[key] += value
                bar.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"Embedded {totals['ready']} products with {model}: {totals['failed']} failed, "
                f"{totals['skipped']} skipped."
            )
        )
