"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): a closed-form item-item model.

B = I - P diag(1 / diag(P)) with P = (X^T X + lambda I)^-1, X the binary shopper x product matrix,
and a zero diagonal. A shopper's score for product j is the sum of B[i, j] over the products i they
touched, which is exactly what `collaborative.recommend_from_history` computes from each row's
stored top-n list: EASE is served like "also bought", from ProductNeighbour rows.

Pure (numpy, no Django): the shop's training and the offline evaluation run the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recommendations.collaborative import InteractionMatrix, recommend_from_history

logger = logging.getLogger(__name__)

# The Gram matrix and its inverse are dense products x products float64 (N^2 x 8 bytes each):
# 20,000 products is 3.2 GB per matrix, the most a 2-core worker should attempt.
EASE_MAX_PRODUCTS = 20_000
# The regularisation tried on a validation split carved from the training period (ease_lambda_select);
# EASE_LAMBDA is the default when there is no validation split to choose on.
# 100 and 2000 were tried too and never won on validation (Online Retail, MovieLens): each value
# is one dense inversion, minutes on a large catalogue.
EASE_LAMBDAS = (250.0, 500.0, 1000.0)
EASE_LAMBDA = 500.0
EASE_MIN_SHOPPERS = 2  # a product one shopper touched has no evidence of what goes with it


@dataclass(frozen=True)
class EaseModel:
    weights: np.ndarray  # B, products x products, zero diagonal
    products: list[int]  # the product id of each row/column
    lam: float


def _binary(data: InteractionMatrix, max_products: int, min_shoppers: int) -> tuple[sparse.csr_matrix, list[int]]:
    """X as 0/1 over the products at least `min_shoppers` shoppers touched (one shopper is chance,
    as for item-item's support), at most the `max_products` most touched (ties by id)."""
    matrix = data.matrix.tocsr().copy()
    matrix.eliminate_zeros()
    matrix.data[:] = 1.0
    products = np.asarray(data.products, dtype=np.int64)
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    keep = np.flatnonzero(counts >= min_shoppers)
    if len(keep) > max_products:
        logger.info(
            "EASE capped to the %s most popular of %s products (EASE_MAX_PRODUCTS; memory N^2 x 8 bytes)",
            max_products,
            len(keep),
        )
        keep = np.sort(keep[np.lexsort((products[keep], -counts[keep]))[:max_products]])
    return matrix[:, keep].tocsr(), [int(product) for product in products[keep]]


def ease_fit(
    data: InteractionMatrix,
    *,
    lam: float = EASE_LAMBDA,
    max_products: int = EASE_MAX_PRODUCTS,
    min_shoppers: int = EASE_MIN_SHOPPERS,
) -> EaseModel:
    """Fit B on the shopper x product matrix (its non-zero entries as 1)."""
    if lam <= 0:
        raise ValueError(f"the EASE regularisation must be positive, got {lam}")
    matrix, products = _binary(data, max_products, min_shoppers)
    if not products:
        return EaseModel(weights=np.zeros((0, 0)), products=[], lam=lam)
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    precision = np.linalg.inv(gram)  # a new N x N array: the peak is two of them
    del gram
    precision /= -np.diag(precision)  # column j divided by -P[j, j]
    np.fill_diagonal(precision, 0.0)
    return EaseModel(weights=precision, products=products, lam=lam)


def ease_neighbours(model: EaseModel, *, n: int) -> dict[int, list[tuple[int, float]]]:
    """Each product's `n` largest positive weights B[i, j] (j != i), best first, ties by id."""
    ids = np.asarray(model.products)
    lists: dict[int, list[tuple[int, float]]] = {}
    if not len(ids):
        return lists
    take = min(n, len(ids))
    for row, weights in enumerate(model.weights):
        if take < len(ids):
            top = np.argpartition(-weights, take - 1)[:take]
            threshold = weights[top].min()
            top = np.flatnonzero(weights >= threshold)  # all ties at the cut, sorted out below
        else:
            top = np.arange(len(ids))
        top = top[(weights[top] > 0) & (top != row)]
        if not len(top):
            continue
        order = top[np.lexsort((ids[top], -weights[top]))][:n]
        lists[int(ids[row])] = [(int(ids[column]), float(weights[column])) for column in order]
    return lists


def ease_scores(
    model: EaseModel,
    history: Sequence[int],
    *,
    k: int,
    exclude: Collection[int] = (),
    include_history: bool = False,
) -> list[tuple[int, float]]:
    """The full model's top k for a history (sum of B rows, no truncation); the history itself only
    with `include_history` ("buy it again"), `exclude` never."""
    position = {product: index for index, product in enumerate(model.products)}
    rows = sorted({position[product] for product in history if product in position})
    if not rows:
        return []
    scores = model.weights[rows].sum(axis=0)
    unwanted = set(exclude) if include_history else {*history, *exclude}
    banned = {position[product] for product in unwanted if product in position}
    ids = np.asarray(model.products)
    order = np.lexsort((ids, -scores))
    return [(int(ids[i]), float(scores[i])) for i in order if i not in banned and scores[i] > 0][:k]


def ease_lambda_select(
    data: InteractionMatrix,
    *,
    histories: Mapping[str, Sequence[int]],
    truth: Mapping[str, Collection[int]],
    exclude: Mapping[str, Collection[int]],
    k: int,
    n: int,
    lambdas: Sequence[float] = EASE_LAMBDAS,
    max_products: int = EASE_MAX_PRODUCTS,
) -> tuple[float, dict[float, float]]:
    """The lambda whose stored lists (top `n` per product, as served) give the best NDCG@k on a
    validation split: `data` holds its training events only, `truth` its held-out purchases.
    Returns (best lambda, NDCG@k per lambda); ties go to the larger (smoother) lambda."""
    from evaluation.metrics import ranking_metrics

    catalogue = set(data.products)
    results: dict[float, float] = {}
    for lam in lambdas:
        neighbours = ease_neighbours(ease_fit(data, lam=lam, max_products=max_products), n=n)
        lists = {
            shopper: [
                product
                for product, _ in recommend_from_history(
                    neighbours, histories.get(shopper, []), k=k, exclude=exclude.get(shopper, ())
                )
            ]
            for shopper in truth
        }
        results[lam] = ranking_metrics(lists, truth, catalogue, k=k)["ndcg"]
        logger.info("EASE lambda %s: validation NDCG@%s %.4f", lam, k, results[lam])
    best = max(results, key=lambda lam: (results[lam], lam))
    return best, results


# The shop stores more of each EASE row than of an item-item list: the truncation is what separates
# the served lists from the closed-form model (measured on MovieLens, docs/evaluation.md).
EASE_STORED_NEIGHBOURS = 100
VALIDATION_DAYS = 28  # a date split's validation period: the last weeks of its training period
VALIDATION_SHARE = 0.75  # a stratified split's validation: its training events split again
VALIDATION_SEED = 0


def ease_validation_lambda(prepared, *, k: int, max_products: int = EASE_MAX_PRODUCTS) -> float:
    """Choose lambda on a validation split carved from `prepared`'s training events only (the last
    VALIDATION_DAYS for a date split, a stratified re-split otherwise), never on its test period.
    `prepared` is an evaluation.interactions.Prepared."""
    from evaluation.interactions import prepare, split_by_date, split_stratified
    from recommendations.collaborative import interaction_matrix

    split = prepared.split
    if split.half_life_days == 0.0 or split.test_time is None:
        inner = split_stratified(split.train, train_share=VALIDATION_SHARE, seed=VALIDATION_SEED)
    else:
        from datetime import timedelta

        inner = split_by_date(split.train, split=split.test_time - timedelta(days=VALIDATION_DAYS))
        inner.half_life_days = split.half_life_days
    validation = prepare(inner)
    if not validation.truth:
        logger.info("EASE: no validation shopper, lambda %s", EASE_LAMBDA)
        return EASE_LAMBDA
    data = interaction_matrix(inner.train, now=inner.test_time, half_life_days=inner.half_life_days)
    best, _ = ease_lambda_select(
        data,
        histories=validation.history,
        truth=validation.truth,
        exclude={shopper: validation.bought_before[shopper].keys() for shopper in validation.truth},
        k=k,
        n=EASE_STORED_NEIGHBOURS,
        max_products=max_products,
    )
    logger.info("EASE: lambda %s chosen on the validation split %s", best, inner.description)
    return best


def ease_rankers(prepared, data: InteractionMatrix, *, k: int, lam: float | None = None) -> dict:
    """The evaluation's `ease` (the stored lists, as the shop serves them) and `ease_full` (the
    closed-form model's own scores, negative weights included) Rankers, lambda chosen on validation."""
    from recommendations.candidates import Candidate

    lam = ease_validation_lambda(prepared, k=k) if lam is None else lam
    model = ease_fit(data, lam=lam)
    stored = ease_neighbours(model, n=EASE_STORED_NEIGHBOURS)

    def served(shopper, history, exclude, k, repeat):
        ranked = recommend_from_history(stored, history, k=k, exclude=exclude, include_history=repeat)
        return [Candidate(product, score, "ease") for product, score in ranked]

    def full(shopper, history, exclude, k, repeat):
        ranked = ease_scores(model, history, k=k, exclude=exclude, include_history=repeat)
        return [Candidate(product, score, "ease_full") for product, score in ranked]

    return {"ease": served, "ease_full": full}
