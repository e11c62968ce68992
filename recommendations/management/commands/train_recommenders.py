"""python manage.py train_recommenders: train the behavioural recommenders from the event log now."""

from django.core.management.base import BaseCommand

from recommendations.models import RecommenderModel
from recommendations.training import recommenders_train_measured


class Command(BaseCommand):
    help = (
        'Train "customers who bought this also bought", "frequently bought together" and the matrix '
        'factorisations (ALS, BPR) of "recommended for you" from the event log and make the new versions '
        "active (beat also runs this every RECOMMENDERS_TRAIN_SECONDS)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--kind",
            action="append",
            choices=RecommenderModel.Kind.values,
            help="Train only this kind (repeatable); default: all.",
        )

    def handle(self, *args, kind: list[str] | None, **options) -> None:
        trained = recommenders_train_measured(kinds=kind)
        for model in trained:
            if model.kind in (RecommenderModel.Kind.ALS, RecommenderModel.Kind.BPR):
                self.stdout.write(
                    f"{model}: {model.n_products} products and {model.metrics.get('shoppers_with_factors', 0)} "
                    f"shoppers with factors ({model.params.get('dimensions')} dimensions), {model.n_events} events"
                )
                continue
            self.stdout.write(
                f"{model}: {model.n_products} products with neighbours, {model.n_neighbours} rows, "
                f"{model.n_events} events, {model.metrics['training_seconds']} s, "
                f"peak memory {model.metrics['peak_memory_mb']} MB"
            )
        if not trained:
            self.stdout.write("Nothing trained: too few events for any list (previous versions keep serving).")
        else:
            self.stdout.write(self.style.SUCCESS(f"{len(trained)} recommender(s) trained and active."))
