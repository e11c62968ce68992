"""python manage.py import_interactions PATH --layout hm|online-retail|movielens: import a purchase history."""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from events.imports import LAYOUTS, InteractionFileError, interactions_import
from recommendations.services import embeddings_deferred
from shop.thumbnails import thumbnails_deferred


class Command(BaseCommand):
    help = (
        "Import a real purchase history: products (with images where the layout has them) and one event per "
        "purchase or return, keeping the files' dates. Bad rows are skipped and reported; a re-run adds nothing twice."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="the history's folder (or, for online-retail, its CSV file)")
        parser.add_argument("--layout", required=True, choices=LAYOUTS, help="the files' layout")
        parser.add_argument("--show", type=int, default=20, help="how many skipped rows to list (default 20)")
        parser.add_argument("--report", type=Path, default=None, help="write every skipped row to this CSV file")
        parser.add_argument(
            "--no-queue",
            action="store_true",
            help="leave new embeddings pending instead of sending them to the worker "
            "(then run `embed_products --missing --now`)",
        )

    def handle(self, *args, path: Path, layout: str, show: int, report: Path | None, no_queue: bool, **options):
        quiet = options["verbosity"] == 0
        bars: list[tqdm] = []

        def on_stage(title: str, total: int) -> None:
            if bars:
                bars[-1].close()
            bars.append(tqdm(total=total or None, desc=title, unit="row", disable=quiet))

        try:
            with embeddings_deferred(enqueue=not no_queue), thumbnails_deferred(enqueue=not no_queue):
                result = interactions_import(
                    root=Path(path), layout=layout, on_stage=on_stage, on_row=lambda: bars[-1].update(1)
                )
        except InteractionFileError as exc:
            raise CommandError(str(exc)) from None
        finally:
            for bar in bars:
                bar.close()
        for title, problems in (("Skipped", result.skipped), ("Imported with notes", result.notes)):
            if problems:
                self.stdout.write(f"{title} ({len(problems)}):")
                for problem in problems[:show]:
                    where = f"{problem.file} line {problem.line}" if problem.file else f"line {problem.line}"
                    self.stdout.write(f"  {where} {problem.key or '?'}: {problem.reason}")
                if len(problems) > show:
                    self.stdout.write(f"  ... and {len(problems) - show} more")
        if report:
            report = Path(report)  # call_command() passes options through without argparse's type
            with report.open("w", newline="") as file:
                writer = csv.writer(file)
                writer.writerow(["file", "line", "key", "outcome", "reason"])
                for outcome, problems in (("skipped", result.skipped), ("note", result.notes)):
                    writer.writerows([p.file, p.line, p.key, outcome, p.reason] for p in problems)
            self.stdout.write(f"Report written to {report}")
        self.stdout.write(self.style.SUCCESS(f"Import finished: {result.summary()}."))
