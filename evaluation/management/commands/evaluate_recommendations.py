"""python manage.py evaluate_recommendations: measure similar items and search by photo.

The numbers come from the evaluation package; this command parses the options,
shows progress and writes report.json, report.md and the PNG plots.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluation.common import DEFAULT_K_VALUES, EvaluationError, k_values_parse
from evaluation.interactions import DEFAULT_K, interactions_report_write, interactions_steps
from evaluation.photo_search import label_map_read, photo_queries_read, photo_search_evaluate
from evaluation.report import plots_write, report_build, report_markdown, report_text
from evaluation.runs import (
    SCRATCH_PRICE,
    database_url,
    dataset_steps,
    scratch_database_create,
    scratch_database_drop,
    scratch_database_name,
    scratch_environment,
    scratch_products_price,
)
from evaluation.similar_items import similar_items_evaluate

PATH_OPTIONS = ("queries", "labels", "label_map", "output")


class Command(BaseCommand):
    help = (
        "Measure recommendation quality: leave-one-out similar items over the catalogue (same articleType, "
        "subCategory, gender, baseColour, usage at each k, beside random products of the same type; coverage; "
        "Gini) and, with --queries/--labels, search by photo. "
        "With --dataset, a Kaggle-layout folder is imported into a scratch database and evaluated there. "
        "Writes report.json, report.md and PNG plots to --output."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="query only the first N products by id")
        parser.add_argument(
            "--k-values", default=",".join(map(str, DEFAULT_K_VALUES)), help="comma-separated k (default 1,5,10)"
        )
        parser.add_argument(
            "--visual",
            action="store_true",
            help="measure the raw visual neighbours (product_visually_similar_list) instead of the served list",
        )
        parser.add_argument("--queries", type=Path, default=None, help="folder of labelled query photos")
        parser.add_argument("--labels", type=Path, default=None, help="CSV with columns file,label (file in --queries)")
        parser.add_argument(
            "--label-map", type=Path, default=None, help='JSON {"label": ["articleType", ...]} of what matches a label'
        )
        parser.add_argument(
            "--dataset",
            type=Path,
            default=None,
            help="evaluate this Kaggle-layout catalogue in a scratch database instead of the shop's own",
        )
        parser.add_argument("--keep-scratch", action="store_true", help="keep the --dataset scratch database")
        parser.add_argument(
            "--output",
            type=Path,
            default=Path(settings.BASE_DIR) / "var" / "evaluation",
            help="folder for report.json, report.md and the plots (default var/evaluation/)",
        )
        history = parser.add_argument_group("purchase histories (--interactions)")
        history.add_argument(
            "--interactions",
            type=Path,
            default=None,
            help="evaluate the behavioural recommenders on this purchase history, imported into a scratch database",
        )
        history.add_argument("--layout", choices=("hm", "online-retail", "movielens"), help="the history's layout")
        history.add_argument("--split-date", default=None, help="train before YYYY-MM-DD, test on purchases from it")
        history.add_argument("--test-until", default=None, help="test purchases before this YYYY-MM-DD only")
        history.add_argument(
            "--split", default=None, help="stratified:SHARE: each shopper's events split at random (MovieLens)"
        )
        history.add_argument("--seed", type=int, default=42, help="random seed of --split (default 42)")
        history.add_argument("--k", type=int, default=DEFAULT_K, help=f"list length (default {DEFAULT_K})")
        history.add_argument(
            "--no-images", action="store_true", help="H&M: import without embedding the images (no visual method)"
        )
        # The inner run of --interactions: evaluate the history already in this database.
        parser.add_argument("--interactions-in-database", action="store_true", help=argparse.SUPPRESS)
        # Set by a --dataset run for its inner evaluation, so the report names what was evaluated.
        parser.add_argument("--report-dataset", default=None, help=argparse.SUPPRESS)
        parser.add_argument("--report-command", default=None, help=argparse.SUPPRESS)

    def handle(self, *args, **options) -> None:
        try:
            k_values = k_values_parse(options["k_values"])
        except EvaluationError as exc:
            raise CommandError(str(exc)) from None
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        if (options["queries"] is None) != (options["labels"] is None):
            raise CommandError("--queries and --labels go together.")
        if options["label_map"] is not None and options["labels"] is None:
            raise CommandError("--label-map needs --queries and --labels.")
        command = options["report_command"] or self._command_line(options)
        if options["interactions"] is not None or options["interactions_in_database"]:
            self._interactions(command, options)
            return
        if options["dataset"] is not None:
            self._evaluate_dataset(options["dataset"], k_values, command, options)
            return
        try:
            self._evaluate(k_values, command, options)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from None

    def _evaluate(self, k_values: list[int], command: str, options: dict) -> None:
        started = time.monotonic()
        quiet = options["verbosity"] == 0
        if options["report_dataset"]:  # the inner run of --dataset, in its scratch database
            priced = scratch_products_price()
            if priced:
                self.stdout.write(f"{priced} products without a price priced at {SCRATCH_PRICE} (scratch copy only).")
        queries = label_map = None
        if options["labels"] is not None:
            if not options["queries"].is_dir():
                raise CommandError(f"--queries {options['queries']} is not a folder.")
            queries = photo_queries_read(options["labels"])
            label_map = label_map_read(options["label_map"]) if options["label_map"] else None
        with tqdm(desc="Similar items", unit="product", disable=quiet) as bar:
            similar = similar_items_evaluate(
                k_values=k_values,
                limit=options["limit"],
                selector="visual" if options["visual"] else "served",
                on_total=lambda total: bar.reset(total=total),
                on_product=lambda: bar.update(1),
            )
        photo = None
        if queries is not None:
            with tqdm(total=len(queries), desc="Search by photo", unit="image", disable=quiet) as bar:
                photo = photo_search_evaluate(
                    directory=options["queries"],
                    queries=queries,
                    label_map=label_map,
                    k_values=k_values,
                    on_query=lambda: bar.update(1),
                )
        report = report_build(
            similar_items=similar,
            photo_search=photo,
            command=command,
            dataset=options["report_dataset"],
            elapsed_seconds=time.monotonic() - started,
        )
        output: Path = options["output"]
        output.mkdir(parents=True, exist_ok=True)
        plots = plots_write(report, output)
        report["plots"] = sorted(plots.values())
        (output / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (output / "report.md").write_text(report_markdown(report, plots), encoding="utf-8")
        self.stdout.write(report_text(report))
        files = ", ".join(["report.json", "report.md", *report["plots"]])
        self.stdout.write(self.style.SUCCESS(f"Report written to {output}/: {files}"))

    def _interactions(self, command: str, options: dict) -> None:
        from evaluation.interactions import interactions_evaluate_database, split_make

        if options["layout"] is None:
            raise CommandError("--interactions needs --layout hm|online-retail|movielens.")
        if options["k"] < 1:
            raise CommandError("--k must be at least 1.")
        try:
            split_make([], split_date=options["split_date"], split=options["split"], seed=options["seed"],
                       test_until=options["test_until"])  # fmt: skip
        except EvaluationError as exc:
            raise CommandError(str(exc)) from None
        if options["interactions_in_database"]:
            started = time.monotonic()
            try:
                report = interactions_evaluate_database(
                    layout=options["layout"],
                    split_date=options["split_date"],
                    split=options["split"],
                    seed=options["seed"],
                    test_until=options["test_until"],
                    k=options["k"],
                )
            except EvaluationError as exc:
                raise CommandError(str(exc)) from None
            report.update(
                dataset=options["report_dataset"], command=command, elapsed_seconds=round(time.monotonic() - started, 1)
            )
            text, files = interactions_report_write(report, options["output"])
            self.stdout.write(text)
            self.stdout.write(self.style.SUCCESS(f"Report written to {options['output']}/: {', '.join(files)}"))
            return
        path = options["interactions"].resolve()
        if not path.exists():
            raise CommandError(f"{path} not found.")
        inner = ["--interactions-in-database", "--layout", options["layout"], "--k", str(options["k"])]
        inner += ["--seed", str(options["seed"]), "--verbosity", str(options["verbosity"])]
        for option in ("split_date", "split", "test_until"):
            if options[option] is not None:
                inner += [f"--{option.replace('_', '-')}", options[option]]
        inner += ["--output", str(Path(options["output"]).resolve()), "--report-dataset", str(path)]
        inner += ["--report-command", command]
        steps = interactions_steps(
            manage_py=Path(settings.BASE_DIR) / "manage.py",
            path=path,
            layout=options["layout"],
            embed=options["layout"] == "hm" and not options["no_images"],
            evaluate_args=inner,
        )
        self._run_in_scratch(steps, options)

    def _run_in_scratch(self, steps: list, options: dict) -> None:
        database = settings.DATABASES["default"]
        name = scratch_database_name(database["NAME"])
        media = Path(tempfile.mkdtemp(prefix="evaluate-recommendations-media-"))
        started = time.monotonic()
        try:
            scratch_database_create(database, name)
            environment = scratch_environment(database_url_=database_url(database, name), media_root=media)
            for title, step, extra in steps:
                self.stdout.write(f"{title} (scratch database {name})...")
                self.stdout.flush()
                sys.stderr.flush()
                step_started = time.monotonic()
                returncode = subprocess.run(step, env={**environment, **extra}, cwd=settings.BASE_DIR).returncode
                if returncode:
                    raise CommandError(f"{title} failed with exit status {returncode}: {shlex.join(step)}")
                self.stdout.write(f"{title}: done in {time.monotonic() - step_started:.0f} s")
        finally:
            if options["keep_scratch"]:
                self.stdout.write(
                    f"Kept the scratch database {name} (DATABASE_URL={database_url(database, name)}) "
                    f"and its images in {media} (MEDIA_ROOT)."
                )
            else:
                scratch_database_drop(database, name)
                shutil.rmtree(media, ignore_errors=True)
        self.stdout.write(self.style.SUCCESS(f"Evaluated in {time.monotonic() - started:.0f} s."))

    def _evaluate_dataset(self, dataset: Path, k_values: list[int], command: str, options: dict) -> None:
        dataset = dataset.resolve()
        if not (dataset / "styles.csv").is_file():
            raise CommandError(f"{dataset} has no styles.csv: --dataset needs a Kaggle-layout catalogue folder.")
        inner = ["--k-values", ",".join(map(str, k_values)), "--verbosity", str(options["verbosity"])]
        if options["limit"] is not None:
            inner += ["--limit", str(options["limit"])]
        if options["visual"]:
            inner.append("--visual")
        for option in PATH_OPTIONS:
            if options[option] is not None:
                inner += [f"--{option.replace('_', '-')}", str(Path(options[option]).resolve())]
        inner += ["--report-dataset", str(dataset), "--report-command", command]
        steps = dataset_steps(manage_py=Path(settings.BASE_DIR) / "manage.py", dataset=dataset, evaluate_args=inner)
        self._run_in_scratch(steps, options)

    @staticmethod
    def _command_line(options: dict) -> str:
        """What was typed, or (when called from code) the equivalent command line."""
        if len(sys.argv) > 1 and sys.argv[1] == "evaluate_recommendations":
            return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
        if options["interactions"] is not None:
            parts = ["manage.py", "evaluate_recommendations", "--interactions", str(options["interactions"])]
            for option in ("layout", "split_date", "split", "test_until"):
                if options[option] is not None:
                    parts += [f"--{option.replace('_', '-')}", str(options[option])]
            parts += ["--k", str(options["k"])]
            if options["split"] is not None:
                parts += ["--seed", str(options["seed"])]
            return shlex.join(parts)
        parts = ["manage.py", "evaluate_recommendations", "--k-values", options["k_values"]]
        for option in ("limit", "dataset", *PATH_OPTIONS):
            if options[option] is not None:
                parts += [f"--{option.replace('_', '-')}", str(options[option])]
        parts += [f"--{flag.replace('_', '-')}" for flag in ("visual", "keep_scratch") if options[flag]]
        return shlex.join(parts)
