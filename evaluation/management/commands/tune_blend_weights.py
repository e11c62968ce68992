"""python manage.py tune_blend_weights: choose the served blend's weights on real histories' validation splits."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluation.common import EvaluationError
from recommendations.hybrid import WEIGHTS_FILE


class Command(BaseCommand):
    help = (
        "Choose the weights of the served 'Recommended for you' blend on validation splits carved from the "
        "training period of each history (read from its files; the shop's database is not used) and write "
        "them to the file the shop reads."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--history",
            action="append",
            required=True,
            help="LAYOUT:PATH:date:YYYY-MM-DD[:K] or LAYOUT:PATH:stratified:SHARE[:K] (repeatable)",
        )
        parser.add_argument("--output", type=Path, default=WEIGHTS_FILE, help=f"weights file (default {WEIGHTS_FILE})")

    def handle(self, *args, history: list[str], output: Path, **options) -> None:
        from evaluation.blend_tuning import served_weights_tune, tuning_run, weights_file_write

        try:
            runs = [tuning_run(spec) for spec in history]
            result = served_weights_tune(runs)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
        command = "manage.py tune_blend_weights " + " ".join(f"--history {spec}" for spec in history)
        weights_file_write(result, output=output, command=command)
        for item in result["histories"]:
            self.stdout.write(
                f"{item['name']} ({item['validation']}, {item['shoppers']} shoppers): NDCG@{item['k']} "
                f"{item['ndcg']} against popularity {item['popularity_ndcg']}"
            )
        weights = ", ".join(f"{name} {value:g}" for name, value in result["weights"].items())
        self.stdout.write(self.style.SUCCESS(f"Weights {weights} (objective {result['objective']}) -> {output}"))
