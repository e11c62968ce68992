"""Pure ranking metrics: lists in, numbers out, no database."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from evaluation.common import LABEL_KEYS, PER_GROUP_K, ProductLabels


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


def random_same_type_share(
    labels: Mapping[int, ProductLabels], catalogue_ids: Collection[int], *, key: str, k: int
) -> float:
    """Expected share of `key` matches among k random other catalogue products of the query's
    article type: what the article-type filter alone gives, the baseline for colour and usage.

    Exact (no sampling): each query counts min(k, n - 1) places, each matching with the share of
    its type's other products that match; pooled like share_same.
    """
    by_type: dict[int, list[int]] = {}
    for pk in catalogue_ids:
        if labels[pk].article_type_id is not None:
            by_type.setdefault(labels[pk].article_type_id, []).append(pk)
    values: dict[int, Counter] = {
        type_id: Counter(labels[pk].value(key) for pk in members) for type_id, members in by_type.items()
    }
    hits = 0.0
    total = 0
    for pk in catalogue_ids:
        query = labels[pk]
        wanted = query.value(key)
        if wanted is None or query.article_type_id is None:
            continue
        others = len(by_type[query.article_type_id]) - 1
        if others < 1:
            continue
        places = min(k, others)
        hits += places * (values[query.article_type_id][wanted] - 1) / others
        total += places
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
        "random_same_type": {
            "k": PER_GROUP_K,
            **{
                f"same_{key}": random_same_type_share(labels, catalogue_ids, key=key, k=PER_GROUP_K)
                for key in LABEL_KEYS
            },
        },
        "per_article_type_k": PER_GROUP_K,
        "per_article_type": per_article_type_precision(
            lists[PER_GROUP_K], labels, k=PER_GROUP_K, catalogue_ids=catalogue_ids
        ),
    }


def match_summary(lists: Sequence[Sequence[bool]], k_values: Sequence[int]) -> dict[str, Any]:
    n = len(lists)
    return {
        "hit_at_1": sum(any(matches[:1]) for matches in lists) / n if n else 0.0,
        "at_k": [
            {
                "k": k,
                "precision": math.fsum(precision_at_k(matches, k) for matches in lists) / n if n else 0.0,
                "hit_rate": sum(any(matches[:k]) for matches in lists) / n if n else 0.0,
            }
            for k in sorted(k_values)
        ],
    }


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """Whole-call time of image_similar_list (embedding, classifier, SQL) in ms."""
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)], 1),
    }


def precision_at_k(matches: Sequence[bool], k: int) -> float:
    top = matches[:k]
    return sum(top) / len(top) if top else 0.0


RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")  # per shopper; coverage is over the lists


def ranking_metrics_per_shopper(
    lists: Mapping[str, Sequence[int]], truth: Mapping[str, Collection[int]], *, k: int
) -> dict[str, dict[str, float]]:
    """Each shopper's top-k metrics (see ranking_metrics), for the shoppers of `truth` with a
    relevant product, in `truth`'s order."""
    values: dict[str, dict[str, float]] = {}
    for shopper, relevant_products in truth.items():
        if not relevant_products:
            continue
        relevant = set(relevant_products)
        top = list(lists.get(shopper, ()))[:k]
        hits = [product in relevant for product in top]
        found = sum(hits)
        dcg = math.fsum(1 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
        ideal = math.fsum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
        precision_sum, running = 0.0, 0
        for rank, hit in enumerate(hits, start=1):
            if hit:
                running += 1
                precision_sum += running / rank
        values[shopper] = {
            "precision": found / k,
            "recall": found / len(relevant),
            "ndcg": dcg / ideal,
            "map": precision_sum / min(len(relevant), k),
            "hit_rate": float(found > 0),
        }
    return values


def ranking_metrics(
    lists: Mapping[str, Sequence[int]],
    truth: Mapping[str, Collection[int]],
    catalogue_ids: Collection[int],
    *,
    k: int,
) -> dict[str, float]:
    """Top-k metrics of per-shopper lists against each shopper's ground truth, averaged over `truth`.

    A shopper of `truth` without a list counts with an empty one; one with no relevant product is
    left out. precision@k divides by k, recall@k by the number of relevant products; NDCG uses
    binary gains; MAP@k is the H&M competition's (average precision divided by min(relevant, k));
    hit rate is the share with at least one relevant product in the top k; coverage is the share of
    `catalogue_ids` shown to the shoppers of `truth`.
    """
    per_shopper = ranking_metrics_per_shopper(lists, truth, k=k)
    totals = dict.fromkeys(RANKING_METRICS, 0.0)
    for values in per_shopper.values():
        for name in RANKING_METRICS:
            totals[name] += values[name]
    n = len(per_shopper)
    result = {name: value / n if n else 0.0 for name, value in totals.items()}
    shown = {product for shopper in per_shopper for product in list(lists.get(shopper, ()))[:k]}
    catalogue = set(catalogue_ids)
    result["coverage"] = len(shown & catalogue) / len(catalogue) if catalogue else 0.0
    return result


def bootstrap_intervals(
    per_shopper: Mapping[str, Mapping[str, Mapping[str, float]]],
    *,
    metrics: Sequence[str],
    resamples: int,
    seed: int,
    level: float = 0.95,
    baseline: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Percentile bootstrap over shoppers of each method's mean metrics.

    `per_shopper[method][shopper][metric]`, every method over the same shoppers. The same seeded
    resamples serve every method, so the intervals of `difference` (method minus `baseline`,
    shopper by shopper) are paired: a difference whose interval excludes 0 is more than the luck
    of which shoppers were drawn. Returns {method: {metric: [low, high], "difference": {metric:
    [mean, low, high]}}} ("difference" only with a baseline, and not for the baseline itself).
    """
    import numpy as np

    methods = list(per_shopper)
    shoppers = sorted(next(iter(per_shopper.values()), {})) if methods else []
    if not shoppers or resamples < 1:
        return {}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(shoppers), size=(resamples, len(shoppers)))
    tail = (1 - level) / 2 * 100
    table = {
        method: {
            metric: np.asarray([per_shopper[method][shopper][metric] for shopper in shoppers]) for metric in metrics
        }
        for method in methods
    }

    def interval(values) -> list[float]:
        means = values[draws].mean(axis=1)
        low, high = np.percentile(means, [tail, 100 - tail])
        return [float(low), float(high)]

    result: dict[str, dict[str, Any]] = {}
    for method in methods:
        result[method] = {metric: interval(table[method][metric]) for metric in metrics}
        if baseline is not None and baseline in table and method != baseline:
            result[method]["difference"] = {
                metric: [
                    float((table[method][metric] - table[baseline][metric]).mean()),
                    *interval(table[method][metric] - table[baseline][metric]),
                ]
                for metric in metrics
            }
    return result
