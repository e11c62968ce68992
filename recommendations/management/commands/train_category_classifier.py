"""python manage.py train_category_classifier: fit search by photo's article-type classifier now."""

from django.core.management.base import BaseCommand, CommandError

from recommendations.classifier import RECIPES, SERVED_RECIPE, category_classifier_train


class Command(BaseCommand):
    help = (
        "Fit the article-type classifier that search by photo uses on the catalogue's ready embeddings "
        "and store it as the next version (skipped when the catalogue has not changed, unless --force). "
        "Workers do the same on their own after new embeddings, with tasks.category_classifier_train_task."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="retrain even if the catalogue is unchanged")
        parser.add_argument(
            "--recipe",
            choices=sorted(RECIPES),
            default=SERVED_RECIPE,
            help=f"augmented: the catalogue and augmented views of its photos (served); catalogue: the "
            f"catalogue's vectors alone, for comparison in the evaluation (default {SERVED_RECIPE})",
        )
        parser.add_argument(
            "--skip-if-untrainable",
            action="store_true",
            help="a catalogue with too few article types is not an error (search by photo then searches everything)",
        )

    def handle(self, *args, **options) -> None:
        try:
            classifier = category_classifier_train(force=options["force"], recipe=options["recipe"])
        except ValueError as exc:
            if options["skip_if_untrainable"]:
                self.stdout.write(f"No classifier trained: {exc}; search by photo searches the whole catalogue.")
                return
            raise CommandError(f"Cannot train the classifier: {exc}") from None
        if classifier is None:
            self.stdout.write("The catalogue has not changed since the newest classifier; nothing to do (--force).")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Stored {classifier} trained on {classifier.n_products} products, "
                f"{len(classifier.classes)} article types: {classifier.metrics}"
            )
        )
