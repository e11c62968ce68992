"""Recommendation quality: leave-one-out "similar items" and labelled search by photo.

What is measured is what the shop serves: neighbours come from
`recommendations.selectors.product_similar_list` and `image_similar_list`, the calls the
product page and the API make (or, with selector="visual", from
`product_visually_similar_list`: the raw visual neighbours, before the served list's
preference for the product's own article type and gender). Products are taken in id
order and every list is sorted on fixed keys, so the same database, model and options
give the same numbers. A freshly built HNSW index (each --dataset run builds one) places
its nodes at random levels, so the approximate search may differ there in a rare tie or
miss: expect the same shares, with at most the last digits of coverage or Gini changed.

Labels come from the catalogue tree: articleType is `Product.category`, subCategory its
parent; gender is `Product.gender`. A missing label never counts as a match.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db.models import QuerySet

from recommendations.classifier import category_classifier_latest
from recommendations.models import ProductEmbedding
from recommendations.selectors import (
    PHOTO_SEARCH_RESTRICT,
    PHOTO_SEARCH_TTA,
    image_similar_list,
    product_similar_list,
    product_visually_similar_list,
)
from recommendations.services import active_model_name
from shop.images import ImageError, load_image
from shop.models import Product

DEFAULT_K_VALUES = (1, 5, 10)
PER_GROUP_K = 5  # per-articleType and per-label precision are reported at this k
SCRATCH_SUFFIX = "_eval"

PLOT_PRECISION = "precision_at_k.png"
PLOT_PER_ARTICLE_TYPE = "per_article_type.png"
PLOT_PHOTO_PER_LABEL = "photo_precision_per_label.png"
PLOT_PHOTO_VARIANTS = "photo_variants.png"

# Search by photo is measured in each of these forms, side by side: (name, tta, restrict).
PHOTO_VARIANTS = (
    ("raw", False, False),
    ("+TTA (flip, zoom)", True, False),
    ("+category", False, True),
    ("+TTA +category", True, True),
)

# Which similar-items list is measured: what product pages show, or the raw visual neighbours.
SELECTORS: dict[str, Callable[..., list]] = {
    "served": product_similar_list,
    "visual": product_visually_similar_list,
}

LABEL_KEYS = {"article_type": "articleType", "sub_category": "subCategory", "gender": "gender"}


class EvaluationError(Exception):
    """The evaluation cannot run (bad option, unreadable label file, empty catalogue)."""


@dataclass(frozen=True)
class ProductLabels:
    """The labels a neighbour is compared on; empty strings and None mean "unlabelled"."""

    article_type_id: int | None
    article_type: str
    sub_category_id: int | None
    sub_category: str
    gender: str

    def value(self, key: str) -> int | str | None:
        """The comparable value for a LABEL_KEYS key (ids for categories, text for gender)."""
        if key == "article_type":
            return self.article_type_id
        if key == "sub_category":
            return self.sub_category_id
        if key == "gender":
            return self.gender.strip().lower() or None
        raise KeyError(key)


@dataclass(frozen=True)
class PhotoQuery:
    line: int
    file: str
    label: str


# --------------------------------------------------------------------------- options


def k_values_parse(text: str) -> list[int]:
    """Parse --k-values: "1,5,10" gives [1, 5, 10] (sorted, unique, each at least 1)."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise EvaluationError(f"--k-values must be comma-separated whole numbers, got {text!r}.") from None
    if not values or values[0] < 1:
        raise EvaluationError(f"--k-values must be whole numbers of at least 1, got {text!r}.")
    return values


# --------------------------------------------------------------------------- catalogue


def catalogue_products() -> QuerySet[Product]:
    """Active products with a ready embedding for the active model, by id: what similar items can show."""
    ready = ProductEmbedding.objects.filter(model_name=active_model_name(), status=ProductEmbedding.Status.READY)
    return (
        Product.objects.filter(is_active=True, pk__in=ready.values("product_id"))
        .select_related("category__parent")
        .order_by("pk")
    )


def product_labels(product: Product) -> ProductLabels:
    category = product.category
    parent = category.parent if category is not None else None
    return ProductLabels(
        article_type_id=category.pk if category is not None else None,
        article_type=category.name if category is not None else "",
        sub_category_id=parent.pk if parent is not None else None,
        sub_category=parent.name if parent is not None else "",
        gender=product.gender,
    )


def labels_load(product_ids: Iterable[int]) -> dict[int, ProductLabels]:
    """Labels of these products (any status), by id."""
    products = Product.objects.select_related("category__parent").in_bulk(sorted(set(product_ids)))
    return {pk: product_labels(product) for pk, product in products.items()}


def neighbours_collect(
    products: Iterable[Product],
    *,
    k: int,
    selector: str = "served",
    on_product: Callable[[], None] | None = None,
) -> dict[int, list[int]]:
    """Each product's k similar product ids, in the shop's order, through the shop's own selector."""
    similar_list = SELECTORS[selector]
    neighbours: dict[int, list[int]] = {}
    for product in products:
        neighbours[product.pk] = [item.product.pk for item in similar_list(product=product, k=k)]
        if on_product is not None:
            on_product()
    return neighbours


# --------------------------------------------------------------------------- metrics


def share_same(
    neighbours: Mapping[int, Sequence[int]], labels: Mapping[int, ProductLabels], *, key: str, k: int
) -> float:
    """Share of the top-k neighbours that have the query's label `key` (pooled over all queries).

    Queries without that label are left out; an unlabelled neighbour counts as a miss.
    """
    hits = total = 0
    for query_id, ids in neighbours.items():
        wanted = labels[query_id].value(key)
        if wanted is None:
            continue
        for neighbour_id in ids[:k]:
            total += 1
            neighbour = labels.get(neighbour_id)
            hits += neighbour is not None and neighbour.value(key) == wanted
    return hits / total if total else 0.0


def recommendation_counts(
    neighbours: Mapping[int, Sequence[int]], catalogue_ids: Collection[int], *, k: int
) -> dict[int, int]:
    """How many queries have each catalogue product in their top k (zeros included)."""
    counts = dict.fromkeys(catalogue_ids, 0)
    for ids in neighbours.values():
        for neighbour_id in ids[:k]:
            if neighbour_id in counts:
                counts[neighbour_id] += 1
    return counts


def coverage(neighbours: Mapping[int, Sequence[int]], catalogue_ids: Collection[int], *, k: int) -> float:
    """Share of the catalogue that appears in at least one query's top k."""
    if not catalogue_ids:
        return 0.0
    counts = recommendation_counts(neighbours, catalogue_ids, k=k)
    return sum(1 for count in counts.values() if count) / len(counts)


def gini(values: Iterable[float]) -> float:
    """Gini coefficient of non-negative amounts: 0 when all are equal, (n-1)/n when one has everything."""
    ordered = sorted(float(value) for value in values)
    n, total = len(ordered), math.fsum(ordered)
    if n == 0 or total == 0:
        return 0.0
    weighted = math.fsum(rank * value for rank, value in enumerate(ordered, start=1))
    return max(0.0, 2 * weighted / (n * total) - (n + 1) / n)


def per_article_type_precision(
    neighbours: Mapping[int, Sequence[int]],
    labels: Mapping[int, ProductLabels],
    *,
    k: int = PER_GROUP_K,
    catalogue_ids: Collection[int] | None = None,
) -> list[dict[str, Any]]:
    """Same-articleType share of the top k for each articleType of the queries, best first.

    `ceiling` is the best share possible with the catalogue's products of that type,
    min(k, n - 1) / k: a type with 3 products cannot fill more than 2 of 5 places.
    """
    in_catalogue = Counter(
        labels[pk].article_type_id for pk in (neighbours if catalogue_ids is None else catalogue_ids)
    )
    hits: Counter[int] = Counter()
    totals: Counter[int] = Counter()
    products: Counter[int] = Counter()
    names: dict[int, tuple[str, str]] = {}
    for query_id, ids in neighbours.items():
        query = labels[query_id]
        if query.article_type_id is None:
            continue
        type_id = query.article_type_id
        names[type_id] = (query.article_type, query.sub_category)
        products[type_id] += 1
        for neighbour_id in ids[:k]:
            totals[type_id] += 1
            neighbour = labels.get(neighbour_id)
            hits[type_id] += neighbour is not None and neighbour.article_type_id == type_id
    rows = [
        {
            "article_type": names[type_id][0],
            "sub_category": names[type_id][1],
            "products": products[type_id],
            "precision": hits[type_id] / totals[type_id] if totals[type_id] else 0.0,
            "ceiling": min(k, in_catalogue[type_id] - 1) / k,
        }
        for type_id in products
    ]
    rows.sort(key=lambda row: (-row["precision"], row["article_type"].lower(), row["sub_category"].lower()))
    return rows


def similar_items_metrics(
    lists: Mapping[int, Mapping[int, Sequence[int]]],
    labels: Mapping[int, ProductLabels],
    catalogue_ids: Collection[int],
    *,
    k_values: Sequence[int],
) -> dict[str, Any]:
    """All leave-one-out numbers from collected lists, `lists[k][product id]` being the k items shown.

    This is the part without the database. `lists` needs every k of k_values and PER_GROUP_K.
    """
    at_k = []
    for k in sorted(k_values):
        neighbours = lists[k]
        row: dict[str, Any] = {"k": k}
        for key in LABEL_KEYS:
            row[f"same_{key}"] = share_same(neighbours, labels, key=key, k=k)
        counts = recommendation_counts(neighbours, catalogue_ids, k=k)
        row["coverage"] = sum(1 for count in counts.values() if count) / len(counts) if counts else 0.0
        row["gini"] = gini(counts.values())
        row["short_lists"] = sum(1 for ids in neighbours.values() if len(ids) < k)
        at_k.append(row)
    return {
        "evaluated": len(lists[min(k_values)]),
        "k_values": sorted(k_values),
        "at_k": at_k,
        "per_article_type_k": PER_GROUP_K,
        "per_article_type": per_article_type_precision(
            lists[PER_GROUP_K], labels, k=PER_GROUP_K, catalogue_ids=catalogue_ids
        ),
    }


def similar_items_evaluate(
    *,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    limit: int | None = None,
    selector: str = "served",
    on_total: Callable[[int], None] | None = None,
    on_product: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-out over the catalogue: each product's similar items judged by its own labels.

    Shares of neighbours with the same articleType / subCategory / gender, catalogue coverage and
    Gini of recommendation counts for each k, and precision@5 per articleType. Each k is asked for
    on its own, as a page showing k items does: the served list for k=5 is not the first five of
    the list for k=10. With `limit`, only the first `limit` products by id are queried; coverage
    and Gini still count the whole catalogue. on_total gets the number of requests to be made.
    """
    if selector not in SELECTORS:
        raise EvaluationError(f"Unknown similar-items list {selector!r}; expected one of {sorted(SELECTORS)}.")
    catalogue = list(catalogue_products())
    if not catalogue:
        raise EvaluationError(
            f"No active product has a ready {active_model_name()} embedding: import a catalogue and run "
            "`manage.py embed_products --missing --now` first."
        )
    queries = catalogue if limit is None else catalogue[:limit]
    sizes = sorted({*k_values, PER_GROUP_K})
    if on_total is not None:
        on_total(len(queries) * len(sizes))
    lists = {k: neighbours_collect(queries, k=k, selector=selector, on_product=on_product) for k in sizes}
    labels = {product.pk: product_labels(product) for product in catalogue}
    shown = {pk for neighbours in lists.values() for ids in neighbours.values() for pk in ids}
    labels.update(labels_load(shown - labels.keys()))
    result = {"selector": selector, "function": f"recommendations.selectors.{SELECTORS[selector].__name__}"}
    result.update(similar_items_metrics(lists, labels, [product.pk for product in catalogue], k_values=k_values))
    return result


# --------------------------------------------------------------------------- search by photo


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


def photo_search_evaluate(
    *,
    directory: Path,
    queries: Sequence[PhotoQuery],
    label_map: Mapping[str, Sequence[str]] | None = None,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    on_query: Callable[[], None] | None = None,
    variants: Sequence[tuple[str, bool, bool]] | None = None,
) -> dict[str, Any]:
    """Search by photo for each labelled query image; precision@k, hit@k and precision@5 per label.

    The main numbers are those of the served form (the selector's defaults); `variants` (default
    PHOTO_VARIANTS: raw, +TTA, +category restriction, both) are measured side by side on the same
    images, each with its call latency (p50/p95 ms; noisy on a busy machine, compare within a run).

    precision@k is the share of the top k whose articleType matches the label, averaged over
    queries; hit@k the share of queries with a match in the top k. Photo search is a plain
    nearest-neighbour list, so one request for the largest k gives every top k. Unreadable images
    are listed with the reason and left out of the averages.
    """
    directory = Path(directory)
    fetch = max(max(k_values), PER_GROUP_K)
    catalogue_types = Counter(
        name.lower() for name in catalogue_products().values_list("category__name", flat=True) if name
    )
    variants = PHOTO_VARIANTS if variants is None else variants
    served = next(
        (name for name, tta, restrict in variants if (tta, restrict) == (PHOTO_SEARCH_TTA, PHOTO_SEARCH_RESTRICT)),
        None,
    )
    evaluated: list[dict[str, Any]] = []
    unreadable: list[dict[str, Any]] = []
    by_variant: dict[str, list[list[bool]]] = {name: [] for name, _, _ in variants}
    timings: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for query in queries:
        try:
            image = load_image(directory / query.file)
        except (ImageError, OSError) as exc:
            unreadable.append({"line": query.line, "file": query.file, "label": query.label, "reason": str(exc)})
        else:
            wanted = label_article_types(query.label, label_map)
            results = None
            for name, tta, restrict in variants:
                started = time.perf_counter()
                found = image_similar_list(image=image, k=fetch, tta=tta, restrict=restrict)
                timings[name].append((time.perf_counter() - started) * 1000)
                by_variant[name].append([_matches(item, wanted) for item in found])
                if name == served:
                    results = found
            if results is None:  # the served form is not among the variants
                results = image_similar_list(image=image, k=fetch)
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
                }
            )
        if on_query is not None:
            on_query()
    variant_rows = [
        {
            "name": name,
            "tta": tta,
            "restrict": restrict,
            "served": name == served,
            **_match_summary(by_variant[name], k_values),
            "latency_ms": _latency(timings[name]),
        }
        for name, tta, restrict in variants
    ]
    at_k = []
    for k in sorted(k_values):
        precisions = [_precision(query["matches"], k) for query in evaluated]
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
        by_label[query["label"]].append(_precision(query["matches"], PER_GROUP_K))
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
        query["precision_at_k"] = {str(k): _precision(query["matches"], k) for k in sorted(k_values)}
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
        "variants": variant_rows,
        "results": evaluated,
    }


def _matches(item, wanted: set[str]) -> bool:
    return bool(item.product.category) and item.product.category.name.lower() in wanted


def _match_summary(lists: Sequence[Sequence[bool]], k_values: Sequence[int]) -> dict[str, Any]:
    n = len(lists)
    return {
        "hit_at_1": sum(any(matches[:1]) for matches in lists) / n if n else 0.0,
        "at_k": [
            {
                "k": k,
                "precision": math.fsum(_precision(matches, k) for matches in lists) / n if n else 0.0,
                "hit_rate": sum(any(matches[:k]) for matches in lists) / n if n else 0.0,
            }
            for k in sorted(k_values)
        ],
    }


def _latency(values: Sequence[float]) -> dict[str, float]:
    """Whole-call time of image_similar_list (embedding, classifier, SQL) in ms."""
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 1),
    }


def _classifier_summary() -> dict[str, Any] | None:
    stored = category_classifier_latest()
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


def _precision(matches: Sequence[bool], k: int) -> float:
    top = matches[:k]
    return sum(top) / len(top) if top else 0.0


# --------------------------------------------------------------------------- report


def git_commit(directory: Path | None = None) -> str | None:
    """The checked-out commit (with "-dirty" if tracked files changed), or None outside git."""
    directory = Path(directory or settings.BASE_DIR)
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit or None


def report_build(
    *,
    similar_items: dict[str, Any],
    photo_search: dict[str, Any] | None,
    command: str,
    dataset: str | None = None,
    elapsed_seconds: float | None = None,
) -> dict[str, Any]:
    """The full report: the numbers plus what produced them (model, catalogue, command, date, commit)."""
    return {
        "model": active_model_name(),
        "catalogue": {
            "dataset": dataset,
            "products": Product.objects.count(),
            "evaluated_catalogue": catalogue_products().count(),
        },
        "command": command,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "git_commit": git_commit(),
        "elapsed_seconds": None if elapsed_seconds is None else round(elapsed_seconds, 1),
        "similar_items": similar_items,
        "photo_search": photo_search,
    }


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, markdown: bool) -> str:
    cells = [[str(value) for value in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    widths = [max(len(str(header)), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    lines = ["  ".join(f"{header:>{width}}" for header, width in zip(headers, widths, strict=True))]
    lines += ["  ".join(f"{value:>{width}}" for value, width in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.3f}"


def similar_items_table(result: dict[str, Any], *, markdown: bool = False) -> str:
    headers = ["k", "same articleType", "same subCategory", "same gender", "coverage", "Gini"]
    rows = [
        [row["k"], *(_number(row[f"same_{key}"]) for key in LABEL_KEYS), _number(row["coverage"]), _number(row["gini"])]
        for row in result["at_k"]
    ]
    return _table(headers, rows, markdown=markdown)


def per_article_type_table(rows: Sequence[dict[str, Any]], k: int, *, markdown: bool = False) -> str:
    headers = ["articleType", "subCategory", "products", f"precision@{k}", "best possible"]
    body = [
        [row["article_type"], row["sub_category"], row["products"], _number(row["precision"]), _number(row["ceiling"])]
        for row in rows
    ]
    return _table(headers, body, markdown=markdown)


def photo_search_table(result: dict[str, Any], *, markdown: bool = False) -> str:
    headers = ["k", "precision@k", "hit@k"]
    rows = [[row["k"], _number(row["precision"]), _number(row["hit_rate"])] for row in result["at_k"]]
    return _table(headers, rows, markdown=markdown)


def photo_variants_table(result: dict[str, Any], *, markdown: bool = False) -> str:
    ks = result["k_values"]
    headers = ["variant", "hit@1", *(f"precision@{k}" for k in ks), *(f"hit@{k}" for k in ks if k > 1)]
    headers += ["p50 ms", "p95 ms"]
    rows = []
    for row in result["variants"]:
        by_k = {item["k"]: item for item in row["at_k"]}
        rows.append(
            [
                row["name"] + (" *" if row["served"] else ""),
                _number(row["hit_at_1"]),
                *(_number(by_k[k]["precision"]) for k in ks),
                *(_number(by_k[k]["hit_rate"]) for k in ks if k > 1),
                f"{row['latency_ms']['p50']:.1f}",
                f"{row['latency_ms']['p95']:.1f}",
            ]
        )
    return _table(headers, rows, markdown=markdown)


def _classifier_line(classifier: dict[str, Any] | None) -> str:
    if classifier is None:
        return "No category classifier was stored, so the +category forms searched the whole catalogue."
    metrics = classifier["metrics"]
    accuracy = metrics.get("held_out_accuracy")
    return (
        f"Category classifier: version {classifier['version']} (`{classifier['algorithm']}`), "
        f"{classifier['classes']} article types, {classifier['n_products']} products"
        + (f", held-out accuracy on catalogue photos {accuracy:.3f}" if accuracy is not None else "")
        + "."
    )


def per_label_table(rows: Sequence[dict[str, Any]], k: int, *, markdown: bool = False) -> str:
    headers = ["label", "queries", f"precision@{k}", "best possible", "matching articleTypes"]
    body = [
        [
            row["label"],
            row["queries"],
            _number(row["precision"]),
            _number(row["ceiling"]),
            ", ".join(row["article_types"]),
        ]
        for row in rows
    ]
    return _table(headers, body, markdown=markdown)


def report_text(report: dict[str, Any], *, weakest: int = 15) -> str:
    """The terminal summary: the tables, with only the weakest articleTypes that could score 1."""
    similar = report["similar_items"]
    catalogue = report["catalogue"]
    lines = [
        f"{_selector_title(similar)}, leave-one-out: {similar['evaluated']} queries over "
        f"{catalogue['evaluated_catalogue']} products with {report['model']} embeddings ({similar['function']})",
        similar_items_table(similar),
    ]
    k = similar["per_article_type_k"]
    per_type = similar["per_article_type"]
    full = [row for row in per_type if row["ceiling"] == 1]
    below = sorted((row for row in full if row["precision"] < 1), key=lambda r: (r["precision"], r["article_type"]))
    if below:
        lines += [
            "",
            f"Weakest {min(weakest, len(below))} of the {len(full)} articleTypes with more than {k} products"
            f" (precision@{k}):",
            per_article_type_table(below[:weakest], k),
        ]
    elif full:
        lines.append(f"All {len(full)} articleTypes with more than {k} products have precision@{k} 1.000.")
    small = [row for row in per_type if row["ceiling"] < 1]
    if small:
        at_ceiling = sum(1 for row in small if row["precision"] >= row["ceiling"] - 1e-12)
        lines.append(
            f"{len(small)} articleTypes have {k} products or fewer, so precision@{k} cannot reach 1"
            f" ({at_ceiling} of them reach the most they can); all are in report.md."
        )
    photo = report.get("photo_search")
    if photo:
        lines += [
            "",
            f"Search by photo: {photo['evaluated']} of {photo['queries']} queries evaluated, "
            f"hit@1 {_number(photo['hit_at_1'])}",
            photo_search_table(photo),
            "",
            per_label_table(photo["per_label"], photo["per_label_k"]),
        ]
        if photo.get("variants"):
            lines += ["", "Search by photo, variants side by side (same queries):", photo_variants_table(photo)]
        for problem in photo["unreadable"]:
            lines.append(f"Unreadable: {problem['file']} (line {problem['line']}): {problem['reason']}")
        if photo["labels_without_catalogue_match"]:
            lines.append(
                "Labels with no matching articleType in the catalogue: "
                + ", ".join(photo["labels_without_catalogue_match"])
            )
    return "\n".join(lines)


def _selector_title(similar: dict[str, Any]) -> str:
    return "Similar items (raw visual neighbours)" if similar.get("selector") == "visual" else "Similar items"


def report_markdown(report: dict[str, Any], plots: Mapping[str, str]) -> str:
    """report.md: what was measured, the tables and links to the plots."""
    similar = report["similar_items"]
    catalogue = report["catalogue"]
    k = similar["per_article_type_k"]
    lines = [
        "# Recommendation quality",
        "",
        f"- model: `{report['model']}`",
        f"- catalogue: {catalogue['evaluated_catalogue']} active products with a ready embedding"
        f" ({catalogue['products']} products in total)"
        + (f", imported from `{catalogue['dataset']}`" if catalogue["dataset"] else ""),
        f"- command: `{report['command']}`",
        f"- date: {report['created_at']}",
        f"- git commit: `{report['git_commit'] or 'unknown'}`",
        "",
        f"## {_selector_title(similar)} (leave-one-out)",
        "",
        f"Each of {similar['evaluated']} products asks `{similar['function']}` for its k similar items (one"
        " request per k); an item counts when it shares the product's label (shares pooled over all items"
        " shown; products without the label are left out of its share). Coverage is the share of the"
        " catalogue shown in at least one top k; Gini measures how unevenly products are recommended"
        " (0 = evenly, 1 = always the same few).",
        "",
        similar_items_table(similar, markdown=True),
        "",
    ]
    if PLOT_PRECISION in plots.values():
        lines += [f"![Share of similar items with the same label]({PLOT_PRECISION})", ""]
    lines += [f"### Precision@{k} per articleType", ""]
    if PLOT_PER_ARTICLE_TYPE in plots.values():
        lines += [f"![precision@{k} per articleType]({PLOT_PER_ARTICLE_TYPE})", ""]
    lines += [per_article_type_table(similar["per_article_type"], k, markdown=True), ""]
    photo = report.get("photo_search")
    if photo:
        lines += [
            "## Search by photo (labelled queries)",
            "",
            f"{photo['evaluated']} of {photo['queries']} query images evaluated; hit@1 {_number(photo['hit_at_1'])}.",
            "",
            photo_search_table(photo, markdown=True),
            "",
        ]
        if photo.get("variants"):
            lines += [
                "### Variants side by side",
                "",
                "The same queries through `image_similar_list` in each form: raw (the photo's vector, whole"
                " catalogue), +TTA (mean vector of the photo, its mirror image and its centre 80%),"
                " +category (search within the article types the stored classifier finds likeliest, filled"
                " from the whole catalogue"
                " when they hold fewer than k products), both. Latency is the whole call (embedding,"
                " classifier, SQL) in this process; * marks the form the shop serves.",
                "",
                photo_variants_table(photo, markdown=True),
                "",
                _classifier_line(photo.get("classifier")),
                "",
            ]
            if PLOT_PHOTO_VARIANTS in plots.values():
                lines += [f"![Search by photo variants]({PLOT_PHOTO_VARIANTS})", ""]
        lines += [f"### Precision@{photo['per_label_k']} per label (served form)", ""]
        if PLOT_PHOTO_PER_LABEL in plots.values():
            lines += [f"![precision@{photo['per_label_k']} per label]({PLOT_PHOTO_PER_LABEL})", ""]
        lines += [per_label_table(photo["per_label"], photo["per_label_k"], markdown=True), ""]
        if photo["unreadable"]:
            lines += ["### Unreadable query images", ""]
            lines += [f"- `{item['file']}` (line {item['line']}): {item['reason']}" for item in photo["unreadable"]]
            lines.append("")
        if photo["labels_without_catalogue_match"]:
            names = ", ".join(f"`{label}`" for label in photo["labels_without_catalogue_match"])
            lines += [f"Labels with no matching articleType in the catalogue: {names}.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def plots_write(report: dict[str, Any], directory: Path) -> dict[str, str]:
    """Draw the PNG plots into `directory` with matplotlib's Agg backend; returns {name: file name}."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directory = Path(directory)
    written: dict[str, str] = {}

    def save(figure: Figure, name: str) -> None:
        FigureCanvasAgg(figure)
        figure.savefig(directory / name, dpi=110, metadata={"Software": None})
        written[name.removesuffix(".png")] = name

    similar = report["similar_items"]
    rows = similar["at_k"]
    if rows:
        figure = Figure(figsize=(6.8, 4.4), layout="constrained")
        axes = figure.add_subplot()
        ks = [row["k"] for row in rows]
        for key, marker in (("article_type", "o"), ("sub_category", "s"), ("gender", "^")):
            values = [row[f"same_{key}"] for row in rows]
            # The values go in the legend: the lines are often too close for labels beside the points.
            label = f"same {LABEL_KEYS[key]}: " + ", ".join(f"{value:.3f}" for value in values)
            axes.plot(ks, values, marker=marker, label=label)
        axes.set_xticks(ks)
        axes.set_xlabel("k (number of similar items shown)")
        axes.set_ylabel("share of the top k")
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left", fontsize=8, title=f"k = {', '.join(map(str, ks))}", title_fontsize=8)
        axes.set_title(f"{_selector_title(similar)}: share with the product's label", fontsize=10)
        figure.suptitle(
            f"{similar['evaluated']} products, {report['model']}, {similar['function'].rsplit('.', 1)[-1]}",
            fontsize=8,
            color="#555555",
        )
        save(figure, PLOT_PRECISION)
    per_type = similar["per_article_type"]
    if per_type:
        k = similar["per_article_type_k"]
        overall = next((row["same_article_type"] for row in rows if row["k"] == k), None)
        save(
            _bar_figure(
                [f"{row['article_type']} ({row['products']})" for row in per_type],
                [row["precision"] for row in per_type],
                [row["ceiling"] for row in per_type],
                title=f"{_selector_title(similar)}: precision@{k} per articleType (number of products)",
                xlabel=f"share of the top {k} with the same articleType",
                reference=overall,
            ),
            PLOT_PER_ARTICLE_TYPE,
        )
    photo = report.get("photo_search")
    if photo and photo.get("variants"):
        save(_variants_figure(photo), PLOT_PHOTO_VARIANTS)
    if photo and photo["per_label"]:
        k = photo["per_label_k"]
        overall = next((row["precision"] for row in photo["at_k"] if row["k"] == k), None)
        save(
            _bar_figure(
                [f"{row['label']} ({row['queries']})" for row in photo["per_label"]],
                [row["precision"] for row in photo["per_label"]],
                [row["ceiling"] for row in photo["per_label"]],
                title=f"Search by photo: precision@{k} per label (number of queries)",
                xlabel=f"share of the top {k} with a matching articleType",
                reference=overall,
            ),
            PLOT_PHOTO_PER_LABEL,
        )
    return written


def _variants_figure(photo: dict[str, Any]):
    """Grouped bars: hit@1 and precision@5 (or the first k) for each search-by-photo variant."""
    from matplotlib.figure import Figure

    variants = photo["variants"]
    k = PER_GROUP_K if PER_GROUP_K in photo["k_values"] else photo["k_values"][0]
    figure = Figure(figsize=(7.0, 4.2), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(variants)))
    series = [
        ("hit@1", [row["hit_at_1"] for row in variants], "#55A868", -0.2),
        (
            f"precision@{k}",
            [next(item["precision"] for item in row["at_k"] if item["k"] == k) for row in variants],
            "#4C72B0",
            0.2,
        ),
    ]
    for label, values, colour, shift in series:
        axes.bar([p + shift for p in positions], values, width=0.38, color=colour, label=label)
        for position, value in zip(positions, values, strict=True):
            axes.text(position + shift, value + 0.01, f"{value:.3f}", ha="center", fontsize=7)
    names = [f"{row['name']}{' *' if row['served'] else ''}\np50 {row['latency_ms']['p50']:.0f} ms" for row in variants]
    axes.set_xticks(positions, names, fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("share of queries / of the top k")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(loc="upper left", fontsize=8)
    axes.set_title(f"Search by photo: {photo['evaluated']} labelled queries (* = served)", fontsize=10)
    return figure


def _bar_figure(
    labels: Sequence[str],
    values: Sequence[float],
    ceilings: Sequence[float],
    *,
    title: str,
    xlabel: str,
    reference: float | None,
):
    """Horizontal bars in the given order (top to bottom), each over a light bar of the best possible value."""
    from matplotlib.figure import Figure

    height = max(3.0, 1.3 + 0.2 * len(labels))
    figure = Figure(figsize=(7.5, height), layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    axes.barh(positions, ceilings, color="#E3E3E3", height=0.8, label="best possible with the catalogue")
    axes.barh(positions, values, color="#4C72B0", height=0.55, label="measured")
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    for position, value, ceiling in zip(positions, values, ceilings, strict=True):
        axes.text(max(value, ceiling) + 0.01, position, f"{value:.2f}", va="center", fontsize=7)
    if reference is not None:
        axes.axvline(reference, color="#C44E52", linestyle="--", linewidth=1, label=f"all queries: {reference:.2f}")
    axes.set_xlim(0, 1.1)
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel(xlabel)
    axes.set_title(title, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    figure.legend(loc="outside upper center", ncols=3, fontsize=8, frameon=False)
    return figure


# --------------------------------------------------------------------------- scratch database (--dataset)


def scratch_database_name(name: str) -> str:
    """The scratch database beside `name`: `<name>_eval` (PostgreSQL's 63-byte limit kept)."""
    return f"{name[: 63 - len(SCRATCH_SUFFIX)]}{SCRATCH_SUFFIX}"


def database_url(database: Mapping[str, Any], name: str) -> str:
    """A DATABASE_URL for database `name` with the server and credentials of a DATABASES entry.

    A Unix-socket folder goes percent-encoded in the path before the name, the form
    config/embedded.py writes and django-environ reads.
    """
    user = quote(str(database.get("USER") or ""), safe="")
    password = str(database.get("PASSWORD") or "")
    auth = user + (f":{quote(password, safe='')}" if password else "")
    auth = f"{auth}@" if auth else ""
    host = str(database.get("HOST") or "")
    port = str(database.get("PORT") or "")
    options = {key: value for key, value in (database.get("OPTIONS") or {}).items() if isinstance(value, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    if host.startswith("/"):
        return f"postgres://{auth}:{port or 5432}/{quote(host, safe='')}/{quote(name, safe='')}{query}"
    if ":" in host:
        host = f"[{host}]"
    return f"postgres://{auth}{host}{f':{port}' if port else ''}/{quote(name, safe='')}{query}"


def _maintenance_connection(database: Mapping[str, Any]):
    import psycopg

    params = {
        "dbname": "postgres",
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
    }
    options = {key: value for key, value in (database.get("OPTIONS") or {}).items() if isinstance(value, str | int)}
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None}, **options)


def scratch_database_create(database: Mapping[str, Any], name: str) -> None:
    """Drop `name` if it exists and create it empty, on the server of `database`."""
    if name == database.get("NAME"):
        raise EvaluationError(f"Refusing to recreate the shop's own database {name!r}.")
    from psycopg import sql

    with _maintenance_connection(database) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def scratch_database_drop(database: Mapping[str, Any], name: str) -> None:
    if name == database.get("NAME"):
        raise EvaluationError(f"Refusing to drop the shop's own database {name!r}.")
    from psycopg import sql

    with _maintenance_connection(database) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_exists(database: Mapping[str, Any], name: str) -> bool:
    with _maintenance_connection(database) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def scratch_environment(*, database_url_: str, media_root: Path) -> dict[str, str]:
    """Environment for the scratch subprocesses: their own database and media folder.

    The import runs with --no-queue, so no task reaches a worker of the shop (which would look
    the ids up in the shop's database); `embed_products --missing --now` computes them.
    """
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url_, "MEDIA_ROOT": str(media_root)})
    return env


def dataset_steps(
    *, manage_py: Path, dataset: Path, evaluate_args: Sequence[str]
) -> list[tuple[str, list[str], dict[str, str]]]:
    """The subprocesses of a --dataset run: (title, command, extra environment) for migrate, import,
    embed and evaluate."""
    base = [sys.executable, str(manage_py)]
    return [
        ("Creating the tables", [*base, "migrate", "--no-input", "--verbosity", "0"], {}),
        ("Importing the catalogue", [*base, "import_catalog", str(dataset), "--show", "5", "--no-queue"], {}),
        ("Computing the embeddings", [*base, "embed_products", "--missing", "--now"], {}),
        ("Training the category classifier", [*base, "train_category_classifier", "--skip-if-untrainable"], {}),
        ("Evaluating", [*base, "evaluate_recommendations", *evaluate_args], {}),
    ]
