"""python manage.py import_catalog PATH: import a Kaggle-layout catalogue folder."""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommendations.services import embeddings_deferred
from shop.catalog_files import CatalogError
from shop.services import catalog_import


class Command(BaseCommand):
    help = (
        "Import or update products from a folder with styles.csv, images/<id>.jpg and optional "
        "styles/<id>.json. Bad rows are skipped and reported; embeddings are queued for the worker."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="catalogue folder (Kaggle 'Fashion Product Images' layout)")
        parser.add_argument("--limit", type=int, default=None, help="import only the first N rows")
        parser.add_argument(
            "--stock",
            type=int,
            default=None,
            metavar="N",
            help="units in stock for newly created products (default: the IMPORT_DEFAULT_STOCK setting); "
            "products already in the shop keep their stock",
        )
        parser.add_argument("--show", type=int, default=20, help="how many skipped rows to list (default 20)")
        parser.add_argument("--report", type=Path, default=None, help="write every skipped row to this CSV file")
        parser.add_argument(
            "--no-queue",
            action="store_true",
            help="leave new embeddings pending instead of sending them to the worker "
            "(then run `embed_products --missing --now`)",
        )

    def handle(
        self,
        *args,
        path: Path,
        limit: int | None,
        show: int,
        report: Path | None,
        no_queue: bool,
        stock: int | None = None,
        **options,
    ) -> None:
        bar = tqdm(unit="product", desc="Importing", disable=options["verbosity"] == 0)
        try:
            with embeddings_deferred(enqueue=not no_queue):
                result = catalog_import(
                    root=path,
                    limit=limit,
                    stock=stock,
                    on_total=lambda total: bar.reset(total=total),
                    on_row=lambda: bar.update(1),
                )
        except CatalogError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        for title, problems in (("Skipped", result.skipped), ("Imported with notes", result.notes)):
            if problems:
                self.stdout.write(f"{title} ({len(problems)}):")
                for problem in problems[:show]:
                    self.stdout.write(f"  line {problem.line} id {problem.sku or '?'}: {problem.reason}")
                if len(problems) > show:
                    self.stdout.write(f"  ... and {len(problems) - show} more")
        if report:
            report = Path(report)  # call_command() passes options through without argparse's type
            with report.open("w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(["line", "id", "outcome", "reason"])
                for outcome, problems in (("skipped", result.skipped), ("note", result.notes)):
                    writer.writerows([p.line, p.sku, outcome, p.reason] for p in problems)
            self.stdout.write(f"Report written to {report}")
        self.stdout.write(self.style.SUCCESS(f"Import finished: {result.summary()}."))
        if no_queue:
            self.stdout.write("Embeddings are pending: run `manage.py embed_products --missing --now`.")
        else:
            self.stdout.write("Embeddings for new and changed images are queued for the Celery worker.")
