"""python manage.py tune_blend_weights: choose the served blend's weights on real histories' validation splits."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluation.common import EvaluationError
from recommendations.hybrid import TYPE_CAP, WEIGHTS_FILE


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
        parser.add_argument(
            "--method",
            choices=("rrf", "score"),
            default="rrf",
            help="fusion to tune: reciprocal rank (served) or max-normalised scores (to compare)",
        )
        parser.add_argument(
            "--type-cap",
            type=float,
            default=TYPE_CAP,
            help=f"largest share of one article type in a list (served: {TYPE_CAP}; 1 to measure without)",
        )

    def handle(self, *args, history: list[str], output: Path, method: str, type_cap: float, **options) -> None:
        from evaluation.blend_tuning import served_weights_tune, tuning_run, weights_file_write

        try:
            if not 0 < type_cap <= 1:
                raise EvaluationError(f"--type-cap must be above 0 and at most 1, got {type_cap}.")
            runs = [tuning_run(spec) for spec in history]
            result = served_weights_tune(runs, method=method, type_cap=type_cap)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
        command = "manage.py tune_blend_weights " + " ".join(f"--history {spec}" for spec in history)
        if method != "rrf" or type_cap != TYPE_CAP:
            command += f" --method {method} --type-cap {type_cap:g}"
        weights_file_write(result, output=output, command=command)
        for item in result["histories"]:
            self.stdout.write(
                f"{item['name']} ({item['validation']}, {item['shoppers']} shoppers): NDCG@{item['k']} "
                f"{item['ndcg']} against popularity {item['popularity_ndcg']}"
            )
        weights = ", ".join(f"{name} {value:g}" for name, value in result["weights"].items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Weights {weights} ({method}, type cap {type_cap:g}; objective {result['objective']}) -> {output}"
            )
        )
