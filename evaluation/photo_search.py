"""Search by photo with labelled queries, each variant side by side."""

from __future__ import annotations

import csv
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.common import DEFAULT_K_VALUES, PER_GROUP_K, PHOTO_VARIANTS, EvaluationError, PhotoQuery
from evaluation.metrics import latency_summary, match_summary, precision_at_k
from evaluation.similar_items import catalogue_products
from recommendations.classifier import RECIPES, category_classifier_latest, photo_category_probabilities
from recommendations.photo import PHOTO_SEARCH, PhotoSteps
from recommendations.selectors import image_search, image_similar_list, photo_vector
from shop.images import ImageError, load_image
from shop.models import Category


def photo_queries_read(path: Path) -> list[PhotoQuery]:
    """The labelled queries of a CSV with the columns `file,label` (file relative to the query folder)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"Cannot read the labels file {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    columns = [name.strip().lower() for name in reader.fieldnames or []]
    if "file" not in columns or "label" not in columns:
        raise EvaluationError(f"{path} needs the columns file,label; found {reader.fieldnames}.")
    reader.fieldnames = columns
    queries = []
    for line, row in enumerate(reader, start=2):
        file, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        if not file and not label:
            continue
        if not file or not label:
            raise EvaluationError(f"{path} line {line}: both file and label are needed.")
        queries.append(PhotoQuery(line=line, file=file, label=label))
    if not queries:
        raise EvaluationError(f"{path} lists no queries.")
    return queries


def label_map_read(path: Path) -> dict[str, list[str]]:
    """A JSON object {"label": ["articleType", ...]}: the articleTypes that count as a match for a label."""
    path = Path(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"Cannot read the label map {path}: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(types, list) and all(isinstance(name, str) for name in types) for types in data.values()
    ):
        raise EvaluationError(f'{path} must be a JSON object like {{"label": ["articleType", ...]}}.')
    return {str(label): list(types) for label, types in data.items()}


def label_article_types(label: str, label_map: Mapping[str, Sequence[str]] | None = None) -> set[str]:
    """The articleType names (lower case) that match a label: from the map, else the label itself."""
    return {name.strip().lower() for name in _mapped_names(label, label_map)}


def _mapped_names(label: str, label_map: Mapping[str, Sequence[str]] | None) -> list[str]:
    mapped = {key.strip().lower(): types for key, types in (label_map or {}).items()}
    return list(mapped.get(label.strip().lower(), [label]))


def _variants_normalise(variants: Sequence[tuple]) -> list[tuple[str, PhotoSteps]]:
    """(name, PhotoSteps) pairs; the older (name, tta, restrict) triples are read as the form they name."""
    return [(row[0], row[1]) if len(row) == 2 else (row[0], PhotoSteps.legacy(row[1], row[2])) for row in variants]


def photo_search_evaluate(
    *,
    directory: Path,
    queries: Sequence[PhotoQuery],
    label_map: Mapping[str, Sequence[str]] | None = None,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    on_query: Callable[[], None] | None = None,
    variants: Sequence[tuple] | None = None,
) -> dict[str, Any]:
    """Search by photo for each labelled query image; precision@k, hit@k and precision@5 per label.

    The main numbers are those of the served form (recommendations.photo.PHOTO_SEARCH, through
    image_search as the API calls it); `variants` (default PHOTO_VARIANTS: raw, then each step) are
    measured side by side on the same images, each with its precision@k, hit@k, hit@1, precision@5
    per label and call latency (p50/p95 ms in-process; noisy on a busy machine, compare within a run).
    A variant is (name, PhotoSteps) or the older (name, tta, restrict).

    precision@k is the share of the top k whose articleType matches the label, averaged over
    queries; hit@k the share of queries with a match in the top k. Photo search is a plain
    nearest-neighbour list, so one request for the largest k gives every top k. Unreadable images
    are listed with the reason and left out of the averages; so is every query whose served top 5
    holds no match (`failed`), with what it guessed.
    """
    directory = Path(directory)
    fetch = max(max(k_values), PER_GROUP_K)
    catalogue_types = Counter(
        name.lower() for name in catalogue_products().values_list("category__name", flat=True) if name
    )
    variants = _variants_normalise(PHOTO_VARIANTS if variants is None else variants)
    served = next((name for name, steps in variants if steps == PHOTO_SEARCH), None)
    evaluated: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    by_variant: dict[str, list[list[bool]]] = {name: [] for name, _ in variants}
    labels_by_variant: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name, _ in variants}
    timings: dict[str, list[float]] = {name: [] for name, _ in variants}
    # Whether each stored classifier's likeliest kind is right, on the served form's view of the photo.
    guessed_right: dict[str, list[bool]] = {recipe: [] for recipe in RECIPES}
    category_names = dict(Category.objects.values_list("pk", "name"))
    for query in queries:
        try:
            image = load_image(directory / query.file)
        except (ImageError, OSError) as exc:
            unreadable.append({"line": query.line, "file": query.file, "label": query.label, "reason": str(exc)})
        else:
            wanted = label_article_types(query.label, label_map)
            search = None
            for name, steps in variants:
                started = time.perf_counter()
                if name == served:
                    search = image_search(image=image, k=fetch, steps=steps)
                    found = search.results
                else:
                    found = image_similar_list(image=image, k=fetch, steps=steps)
                timings[name].append((time.perf_counter() - started) * 1000)
                matched = [_matches(item, wanted) for item in found]
                by_variant[name].append(matched)
                labels_by_variant[name][query.label].append(precision_at_k(matched, PER_GROUP_K))
            if search is None:  # the served form is not among the variants
                search = image_search(image=image, k=fetch)
            vector = photo_vector(image=image, views=PHOTO_SEARCH.views)
            for recipe, right in guessed_right.items():
                probabilities = photo_category_probabilities(vector, recipe=recipe)
                if probabilities:
                    likeliest = max(probabilities, key=probabilities.get)
                    right.append(category_names.get(likeliest, "").lower() in wanted)
            results = search.results
            types = [item.product.category.name if item.product.category else "" for item in results]
            matches = [name.lower() in wanted for name in types]
            evaluated.append(
                {
                    "line": query.line,
                    "file": query.file,
                    "label": query.label,
                    "top_skus": [item.product.sku for item in results],
                    "top_article_types": types,
                    "matches": matches,
                    "kinds": [[kind.category.name, round(kind.probability, 3)] for kind in search.kinds],
                }
            )
            if not any(matches[:PER_GROUP_K]):
                failed.append(_failure(query, wanted, types, matches, search.kinds, fetch))
        if on_query is not None:
            on_query()
    variant_rows = [
        {
            "name": name,
            "tta": steps.views,
            "restrict": steps.kinds,
            "steps": steps.as_dict(),
            "served": name == served,
            **match_summary(by_variant[name], k_values),
            "per_label": {
                label: math.fsum(values) / len(values) for label, values in sorted(labels_by_variant[name].items())
            },
            "latency_ms": latency_summary(timings[name]),
        }
        for name, steps in variants
    ]
    at_k = []
    for k in sorted(k_values):
        precisions = [precision_at_k(query["matches"], k) for query in evaluated]
        hits = [any(query["matches"][:k]) for query in evaluated]
        at_k.append(
            {
                "k": k,
                "precision": math.fsum(precisions) / len(evaluated) if evaluated else 0.0,
                "hit_rate": sum(hits) / len(evaluated) if evaluated else 0.0,
            }
        )
    by_label: dict[str, list[float]] = defaultdict(list)
    for query in evaluated:
        by_label[query["label"]].append(precision_at_k(query["matches"], PER_GROUP_K))
    per_label = []
    for label, values in by_label.items():
        types = label_article_types(label, label_map)
        matching = sum(catalogue_types[name] for name in types)
        per_label.append(
            {
                "label": label,
                "queries": len(values),
                "precision": math.fsum(values) / len(values),
                # The best possible: fewer matching products than places cannot fill the top k.
                "ceiling": min(PER_GROUP_K, matching) / PER_GROUP_K,
                "article_types": sorted({name.strip() for name in _mapped_names(label, label_map)}, key=str.lower),
            }
        )
    per_label.sort(key=lambda row: (-row["precision"], row["label"].lower()))
    labels = sorted({query.label for query in queries}, key=str.lower)
    for query in evaluated:
        query["precision_at_k"] = {str(k): precision_at_k(query["matches"], k) for k in sorted(k_values)}
    return {
        "queries": len(queries),
        "evaluated": len(evaluated),
        "unreadable": unreadable,
        "k_values": sorted(k_values),
        "hit_at_1": sum(any(query["matches"][:1]) for query in evaluated) / len(evaluated) if evaluated else 0.0,
        "at_k": at_k,
        "per_label_k": PER_GROUP_K,
        "per_label": per_label,
        "labels_without_catalogue_match": [
            label for label in labels if not label_article_types(label, label_map) & catalogue_types.keys()
        ],
        "classifier": _classifier_summary(),
        "classifiers": {recipe: _classifier_summary(recipe) for recipe in RECIPES},
        # Share of the photos whose likeliest kind (by each stored classifier) is right.
        "classifier_accuracy": {
            recipe: {"accuracy": sum(right) / len(right), "photos": len(right), "views": PHOTO_SEARCH.views}
            for recipe, right in guessed_right.items()
            if right
        },
        "variants": variant_rows,
        "failed": failed,
        "results": evaluated,
    }


def _failure(query: PhotoQuery, wanted: set[str], types, matches, kinds, fetch: int) -> dict[str, Any]:
    """Why a served search had no match in its top PER_GROUP_K: the kinds it guessed, and how far down
    the first right product was."""
    guessed = [(kind.category.name, kind.probability) for kind in kinds]
    named = ", ".join(f"{name} {probability:.2f}" for name, probability in guessed) or "none"
    right = [name for name, _ in guessed if name.lower() in wanted]
    first = next((rank for rank, match in enumerate(matches, start=1) if match), None)
    where = f"the first right product at rank {first}" if first else f"no right product in the top {fetch}"
    if not right:
        reason = f"kind guessed wrong (likeliest: {named}); {where}"
    else:
        reason = f"{right[0]} was guessed (likeliest: {named}) but got no place in the top {PER_GROUP_K}; {where}"
    return {
        "line": query.line,
        "file": query.file,
        "label": query.label,
        "top_article_types": types[:PER_GROUP_K],
        "reason": reason,
    }


def _matches(item, wanted: set[str]) -> bool:
    return bool(item.product.category) and item.product.category.name.lower() in wanted


def _classifier_summary(recipe: str | None = None) -> dict[str, Any] | None:
    stored = category_classifier_latest(recipe=recipe) if recipe else category_classifier_latest()
    if stored is None:
        return None
    return {
        "version": stored.version,
        "algorithm": stored.algorithm,
        "trained_at": stored.trained_at.isoformat(),
        "n_products": stored.n_products,
        "classes": len(stored.classes),
        "metrics": stored.metrics,
    }
