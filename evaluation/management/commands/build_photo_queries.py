"""python manage.py build_photo_queries: a held-out set of imitated shopper photos for search by photo."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluation.photo_queries import DEFAULT_MASTER_CATEGORIES, SPLITS, PhotoQueryError, photo_queries_build


class Command(BaseCommand):
    help = (
        "Turn studio photos of products that are not in the searchable catalogue into imitated shopper "
        "photos (bed, floor, carpet, tiles, hanger; rotation, perspective, crop, light, blur, noise, JPEG). "
        "Writes <id>.jpg, labels.csv, label_map.json and manifest.csv to --out; the same --seed gives the "
        "same files. Use with evaluate_recommendations --queries OUT --labels OUT/labels.csv "
        "--label-map OUT/label_map.json."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dataset", type=Path, required=True, help="Kaggle-layout folder the photos come from")
        parser.add_argument(
            "--catalogue",
            type=Path,
            default=None,
            help="Kaggle-layout folder of the searchable catalogue: its products are left out, and only "
            "articleTypes it has at least 5 of are used",
        )
        parser.add_argument("--out", type=Path, required=True, help="folder to write the query set to")
        parser.add_argument("--count", type=int, default=300, help="number of query photos (default 300)")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument(
            "--split",
            choices=SPLITS,
            default=None,
            help="draw only from this split of the products (fixed by product id), so that tuning, "
            "confirmation and test sets never share a source product; default: any product",
        )
        parser.add_argument(
            "--master-categories",
            default=",".join(DEFAULT_MASTER_CATEGORIES),
            help="comma-separated masterCategory values to draw from; empty for all "
            f"(default {','.join(DEFAULT_MASTER_CATEGORIES)})",
        )

    def handle(self, *args, **options) -> None:
        masters = [name.strip() for name in options["master_categories"].split(",") if name.strip()] or None
        out: Path = options["out"]
        if out.exists() and any(out.glob("*.jpg")):
            raise CommandError(f"{out} already holds images: choose an empty or new folder.")
        try:
            with tqdm(total=options["count"], unit="photo", disable=options["verbosity"] == 0) as bar:
                scenes = photo_queries_build(
                    dataset=options["dataset"],
                    out=out,
                    count=options["count"],
                    seed=options["seed"],
                    catalogue=options["catalogue"],
                    master_categories=masters,
                    split=options["split"],
                    on_image=lambda: bar.update(1),
                )
        except PhotoQueryError as exc:
            raise CommandError(str(exc)) from None
        summary = ", ".join(f"{scene} {count}" for scene, count in sorted(scenes.items()))
        self.stdout.write(self.style.SUCCESS(f"{sum(scenes.values())} photos written to {out}/ ({summary})."))
