"""Collaborative filtering: item-item neighbours and "bought together" from an event log.

Pure functions on scipy sparse matrices with `implicit`; no Django ORM, so the shop's training
task, the offline evaluation and the benchmarks run exactly the same code.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse

# Interaction.Kind values; kept as plain strings so this module needs no Django.
PURCHASE = "purchase"
RETURN = "return"


@dataclass(frozen=True)
class EventRow:
    """One event as training reads it."""

    shopper: str  # "user:<id>", "customer:<key>", "session:<key>" or "" (basket-only rows)
    product_id: int
    kind: str  # Interaction.Kind value
    quantity: int
    created_at: datetime
    basket: str  # "" when none


# A purchase says most; a view little; a return takes a purchase back (the sum is floored at 0).
DEFAULT_WEIGHTS: dict[str, float] = {
    "purchase": 1.0,
    "add_to_cart": 0.3,
    "recommendation_click": 0.15,
    "photo_search_click": 0.15,
    "view": 0.1,
    "remove_from_cart": 0.0,
    "return": -1.0,
}
DEFAULT_HALF_LIFE_DAYS: float = 180.0
ALSO_BOUGHT_METHOD: str = "bm25"
METHODS = ("cosine", "bm25", "tfidf")


@dataclass(frozen=True)
class InteractionMatrix:
    """Shoppers x products, one weighted, recency-decayed score per pair (CSR, float32)."""

    matrix: sparse.csr_matrix
    shoppers: list[str]
    products: list[int]


def _quantity_weight(quantity: int) -> float:
    # Wholesalers buy 1,000 units at once: a bulk line should count more than one unit, not 1,000x.
    return 1.0 + math.log(max(quantity, 1))


def interaction_matrix(
    events: Iterable[EventRow],
    *,
    now: datetime | None = None,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> InteractionMatrix:
    """Sum each shopper's weighted events per product, older ones decayed by half every half-life.

    Events without a shopper (basket-only rows) are skipped. `now` defaults to the newest event,
    so an old history is not decayed to nothing.
    """
    shopper_index: dict[str, int] = {}
    product_index: dict[int, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    times: list[float] = []
    for event in events:
        weight = weights.get(event.kind, 0.0)
        if not event.shopper or weight == 0.0:
            continue
        rows.append(shopper_index.setdefault(event.shopper, len(shopper_index)))
        cols.append(product_index.setdefault(event.product_id, len(product_index)))
        values.append(weight * _quantity_weight(event.quantity))
        times.append(event.created_at.timestamp())
    data = np.asarray(values, dtype=np.float64)
    if data.size and half_life_days > 0:
        stamps = np.asarray(times, dtype=np.float64)
        reference = now.timestamp() if now is not None else stamps.max()
        age_days = np.maximum(reference - stamps, 0.0) / 86400.0
        data *= np.power(0.5, age_days / half_life_days)
    shape = (len(shopper_index), len(product_index))
    matrix = sparse.coo_matrix((data, (rows, cols)), shape=shape).tocsr()  # duplicates are summed
    matrix.data = np.maximum(matrix.data, 0.0)  # more returned than bought: no signal, not a dislike
    matrix.eliminate_zeros()
    return InteractionMatrix(
        matrix=matrix.astype(np.float32),
        shoppers=list(shopper_index),
        products=list(product_index),
    )


def _item_similarity(matrix: sparse.csr_matrix, method: str, neighbours: int) -> sparse.csr_matrix:
    """Products x products, each row the `neighbours` most similar by implicit's all-pairs kNN."""
    from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight, normalize, tfidf_weight

    # The weightings are implicit's own (CosineRecommender, BM25Recommender, TFIDFRecommender),
    # applied here so the model gets CSR input (it warns and converts otherwise).
    if method == "cosine":
        weighted = normalize(matrix.T).T
    elif method == "bm25":
        weighted = bm25_weight(matrix.T, K1=1.2, B=0.75).T
    elif method == "tfidf":
        weighted = normalize(tfidf_weight(matrix.T)).T
    else:
        raise ValueError(f"unknown item-item method {method!r}; expected one of {', '.join(METHODS)}")
    model = ItemItemRecommender(K=neighbours, num_threads=1)
    model.fit(weighted.tocsr(), show_progress=False)
    return model.similarity.tocsr()


def _co_support(binary: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """How many shoppers (rows of `binary`) have both product columns, for each (row, col) pair."""
    by_item = binary.T.tocsr()
    support = np.zeros(len(rows), dtype=np.int64)
    # In slices, so a large catalogue never holds the whole products x products count matrix.
    step = 2048
    for start in range(0, binary.shape[1], step):
        chosen = (rows >= start) & (rows < start + step)
        if not chosen.any():
            continue
        counts = (by_item[start : start + step] @ binary).tocsr()
        support[chosen] = np.asarray(counts[rows[chosen] - start, cols[chosen]]).ravel()
    return support


def _neighbour_lists(
    similarity: sparse.csr_matrix, support: np.ndarray | None, products: Sequence[int], n: int, min_support: int
) -> dict[int, list[tuple[int, float]]]:
    """Each row's `n` best columns (score > 0, not itself, enough support), best first, ties by id."""
    similarity = similarity.tocsr()
    similarity.sort_indices()  # `support` follows the COO order, which is this order once sorted
    ids = np.asarray(products)
    lists: dict[int, list[tuple[int, float]]] = {}
    for row in range(similarity.shape[0]):
        start, end = similarity.indptr[row], similarity.indptr[row + 1]
        columns, scores = similarity.indices[start:end], similarity.data[start:end]
        keep = (columns != row) & (scores > 0)
        if support is not None:
            keep &= support[start:end] >= min_support
        if not keep.any():
            continue
        columns, scores = columns[keep], scores[keep]
        order = np.lexsort((ids[columns], -scores))[:n]  # ties broken by id: deterministic
        lists[int(ids[row])] = [
            (int(ids[column]), float(score)) for column, score in zip(columns[order], scores[order], strict=True)
        ]
    return lists


def item_item_neighbours(
    data: InteractionMatrix, *, method: str = ALSO_BOUGHT_METHOD, n: int = 20, min_support: int = 2
) -> dict[int, list[tuple[int, float]]]:
    """Each product's `n` most similar products by the shoppers they share, best first, never itself.

    A pair needs at least `min_support` shoppers in common: one shared shopper is chance.
    """
    from threadpoolctl import threadpool_limits

    if data.matrix.nnz == 0:
        return {}
    if method not in METHODS:
        raise ValueError(f"unknown item-item method {method!r}; expected one of {', '.join(METHODS)}")
    with threadpool_limits(1, "blas"):  # implicit runs up to 10x slower with threaded BLAS
        similarity = _item_similarity(data.matrix, method, n + 1)  # +1: an item is its own nearest
    similarity.sort_indices()  # the support array below follows this (row, column) order
    support = None
    if min_support > 1:
        coo = similarity.tocoo()
        binary = data.matrix.copy()
        binary.data[:] = 1.0
        support = _co_support(binary, coo.row, coo.col)
    return _neighbour_lists(similarity, support, data.products, n, min_support)


def bought_together(
    events: Iterable[EventRow], *, n: int = 20, min_support: int = 2
) -> dict[int, list[tuple[int, float]]]:
    """Products bought in the same baskets, best first; best-sellers are damped.

    Score of j for i: baskets with both / sqrt(baskets with i * baskets with j), so a product in
    every basket does not top every list. Returns are not purchases and are left out.
    """
    basket_index: dict[str, int] = {}
    product_index: dict[int, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for event in events:
        if event.kind != PURCHASE or not event.basket:
            continue
        rows.append(basket_index.setdefault(event.basket, len(basket_index)))
        cols.append(product_index.setdefault(event.product_id, len(product_index)))
    if not rows:
        return {}
    baskets = sparse.coo_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(basket_index), len(product_index))
    ).tocsr()
    baskets.data[:] = 1.0  # a product twice in one basket is still one basket
    by_item = baskets.T.tocsr()
    counts = (by_item @ baskets).tocoo()  # products x products: baskets with both
    totals = np.asarray(baskets.sum(axis=0)).ravel()
    keep = (counts.row != counts.col) & (counts.data >= min_support)
    rows_kept, cols_kept, together = counts.row[keep], counts.col[keep], counts.data[keep]
    scores = together / np.sqrt(totals[rows_kept] * totals[cols_kept])
    products = list(product_index)
    similarity = sparse.csr_matrix((scores, (rows_kept, cols_kept)), shape=counts.shape)
    return _neighbour_lists(similarity, None, products, n, min_support)


def recommend_from_history(
    neighbours: Mapping[int, Sequence[tuple[int, float]]],
    history: Sequence[int],
    *,
    k: int,
    exclude: Collection[int] = (),
    include_history: bool = False,
) -> list[tuple[int, float]]:
    """A shopper's top `k` from the neighbour lists of the products in their history.

    A candidate's score is the sum of its similarities to the distinct history products; the
    history itself (unless `include_history`, for "buy it again" lists) and `exclude` never
    appear. Ties are broken by product id.
    """
    seen = set(history)
    banned = set(exclude) if include_history else seen | set(exclude)
    scores: dict[int, float] = {}
    for product in seen:
        for neighbour, score in neighbours.get(product, ()):
            if neighbour not in banned:
                scores[neighbour] = scores.get(neighbour, 0.0) + score
    ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
    return ranked[:k]


def popular_products(events: Iterable[EventRow], *, since: datetime | None = None) -> list[int]:
    """Products by how many purchase lines they had (from `since` on), most first, ties by id."""
    counts: dict[int, int] = {}
    for event in events:
        if event.kind == PURCHASE and (since is None or event.created_at >= since):
            counts[event.product_id] = counts.get(event.product_id, 0) + 1
    return sorted(counts, key=lambda product: (-counts[product], product))


# The served blend (measured on Online Retail, MovieLens 100K and the H&M slice; see docs/evaluation.md):
# rank fusion of the item-item list and the recent best-sellers, the item-item side weighted by how much
# of the shopper's recent history has neighbours at all, so a sparse shop falls back to best-sellers.
SERVED_POPULAR_WEIGHT = 0.5
SERVED_RANK_OFFSET = 10
SERVED_EVIDENCE_ITEMS = 10


def served_list(
    neighbours: Mapping[int, Sequence[tuple[int, float]]],
    history: Sequence[int],
    popular: Sequence[int],
    *,
    k: int,
    exclude: Collection[int] = (),
    include_history: bool = False,
) -> list[tuple[int, float]]:
    """What the shop shows a shopper: item-item from their history blended with recent best-sellers.

    `history` is most recent first; `popular` best first. Each list gives a product
    weight / (SERVED_RANK_OFFSET + rank); the item-item weight is the squared share of the shopper's
    SERVED_EVIDENCE_ITEMS latest products that have neighbours, the best-sellers' SERVED_POPULAR_WEIGHT.
    A new shopper, or one whose products have no neighbours, gets the best-sellers.
    """
    banned = set(exclude) if include_history else set(exclude) | set(history)
    collaborative = recommend_from_history(neighbours, history, k=k, exclude=exclude, include_history=include_history)
    latest = list(dict.fromkeys(history))[:SERVED_EVIDENCE_ITEMS]
    evidence = (sum(1 for product in latest if neighbours.get(product)) / len(latest)) ** 2 if latest else 0.0
    scores: dict[int, float] = {}
    for rank, (product, _) in enumerate(collaborative):
        scores[product] = evidence / (SERVED_RANK_OFFSET + rank)
    rank = 0
    for product in popular:
        if rank >= k:
            break
        if product in banned:
            continue
        scores[product] = scores.get(product, 0.0) + SERVED_POPULAR_WEIGHT / (SERVED_RANK_OFFSET + rank)
        rank += 1
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[:k]
