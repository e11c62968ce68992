"""Matrix factorisation for "recommended for you": implicit-feedback ALS and BPR from `implicit`.

Pure functions on the shop's shopper x product matrix (collaborative.interaction_matrix); no
Django, so the training task, the offline evaluation and the benchmark run the same code.

    factors = factorisation_fit(data, params)           # seeded, BLAS single-threaded
    user = fold_in(item_rows, confidences, gramian=factors.gramian, params=params)
    top = rank_items(user, factors.item_factors, k=12, exclude=rows_already_seen)

The shop stores `item_factors` and `user_factors` as they are (BPR's included: its item factors
carry the item bias as their last column and its user factors a column of ones), so the inner
product served by pgvector (`<#>`) is implicit's own score.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

from recommendations.candidates import Candidate
from recommendations.collaborative import InteractionMatrix

ALS = "als"
BPR = "bpr"
KINDS = (ALS, BPR)


@dataclass(frozen=True)
class FactorParams:
    """What a factorisation is trained with (stored as the version's params)."""

    kind: str = ALS
    factors: int = 64
    regularization: float = 0.05
    iterations: int = 15
    # ALS: confidence = alpha * the matrix's weighted, decayed score (implicit's own scaling).
    alpha: float = 1.0
    # BPR only.
    learning_rate: float = 0.01
    seed: int = 42

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> FactorParams:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in values.items() if key in known})


# Defaults chosen on validation splits carved from the training periods only (Online Retail: train
# before 2011-09-01, validate on September 2011, never the October test month; MovieLens: the 75%
# training share split 75/25 again), one setting for both, the one closest to each history's best:
# strong regularisation, low confidence scaling. See docs/evaluation.md, "Matrix factorisation",
# and evaluation/factorisation_tune.py for the grids and the commands.
DEFAULT_ALS = FactorParams(kind=ALS, factors=64, regularization=8.0, iterations=15, alpha=0.5)
DEFAULT_BPR = FactorParams(kind=BPR, factors=64, regularization=0.001, iterations=100, learning_rate=0.005)
DEFAULTS = {ALS: DEFAULT_ALS, BPR: DEFAULT_BPR}


# Below this many shoppers with two or more products a factorisation learns nothing worth serving
# (there is nothing to generalise from): training keeps the previous version.
MIN_SHOPPERS = 5


def enough_data(data: InteractionMatrix) -> bool:
    """Whether the matrix has MIN_SHOPPERS shoppers with at least two products each."""
    per_shopper = np.diff(data.matrix.indptr)
    return int((per_shopper >= 2).sum()) >= MIN_SHOPPERS


@dataclass(frozen=True)
class Factors:
    """A trained factorisation: one row per product / shopper of the matrix it was fitted on."""

    params: FactorParams
    item_factors: np.ndarray  # products x F (BPR: F + 1, the last column the item bias)
    user_factors: np.ndarray  # shoppers x F (BPR: F + 1, the last column ones)
    products: list[int]
    shoppers: list[str]
    gramian: np.ndarray  # Y'Y of the item factors ALS's fold-in solves with (BPR: without the bias)

    @property
    def dimensions(self) -> int:
        return int(self.item_factors.shape[1])


def confidence(matrix: sparse.csr_matrix, params: FactorParams) -> sparse.csr_matrix:
    """The matrix implicit is fitted on: ALS's confidences (alpha x score); BPR reads only which cells are set."""
    scaled = matrix.astype(np.float32).tocsr()
    if params.kind == ALS and params.alpha != 1.0:
        scaled = scaled * np.float32(params.alpha)
    return scaled


def _model(params: FactorParams):
    if params.kind == ALS:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            iterations=params.iterations,
            random_state=params.seed,
            num_threads=1,
        )
    if params.kind == BPR:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(
            factors=params.factors,
            learning_rate=params.learning_rate,
            regularization=params.regularization,
            iterations=params.iterations,
            random_state=params.seed,
            # One thread: implicit's multi-threaded BPR updates race, so a retrain would not repeat.
            num_threads=1,
        )
    raise ValueError(f"unknown factorisation kind {params.kind!r}; expected one of {', '.join(KINDS)}")


def factorisation_fit(data: InteractionMatrix, params: FactorParams) -> Factors:
    """Fit ALS or BPR on the shopper x product matrix; the same events and params give the same factors."""
    from threadpoolctl import threadpool_limits

    if data.matrix.nnz == 0:
        raise ValueError("no interactions to factorise")
    # Imported before the limit: a BLAS library loaded inside the block would escape it.
    import implicit.cpu.als  # noqa: F401
    import implicit.cpu.bpr  # noqa: F401

    with threadpool_limits(1, "blas"):  # implicit runs up to 10x slower with threaded BLAS
        model = _model(params)  # built inside: implicit checks the BLAS threads as it is made
        model.fit(confidence(data.matrix, params), show_progress=False)
    items = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    users = np.ascontiguousarray(model.user_factors, dtype=np.float32)
    return Factors(
        params=params,
        item_factors=items,
        user_factors=users,
        products=list(data.products),
        shoppers=list(data.shoppers),
        gramian=gramian(items, params),
    )


def gramian(item_factors: np.ndarray, params: FactorParams) -> np.ndarray:
    """Y'Y over every product, which fold-in needs and the shop stores with the version (F x F)."""
    latent = item_factors[:, :-1] if params.kind == BPR else item_factors
    latent = latent.astype(np.float64)
    return latent.T @ latent


def fold_in(
    item_rows: np.ndarray, confidences: Sequence[float], *, gramian: np.ndarray, params: FactorParams
) -> np.ndarray:
    """A shopper's factors from their history alone, without retraining.

    ALS: implicit's recalculate_user, i.e. x = (Y'Y + reg I + sum_i (c_i - 1) y_i y_i')^-1 sum_i c_i y_i
    over the history's item factors y_i with confidences c_i (alpha x score). BPR has no closed form
    (implicit has no recalculate_user for it): the mean of the history's latent item factors, with
    the column of ones appended so the item bias counts as in training. On the validation splits that
    ranked better than the trained user factors themselves, and the least squares above far worse
    (`python -m evaluation.factorisation_tune --fold-in`; docs/evaluation.md).
    """
    rows = np.asarray(item_rows, dtype=np.float64)
    if not len(rows):  # nothing to go on: BPR then ranks by item bias alone, ALS gives no scores
        user = np.zeros(len(gramian) + (1 if params.kind == BPR else 0), dtype=np.float32)
        if params.kind == BPR:
            user[-1] = 1.0
        return user
    if params.kind == BPR:
        return np.append(rows[:, :-1].mean(axis=0), 1.0).astype(np.float32)
    latent, weights = rows, np.asarray(confidences, dtype=np.float64) * params.alpha
    n = latent.shape[1]
    a = gramian + params.regularization * np.eye(n)
    b = np.zeros(n)
    for factor, weight in zip(latent, weights, strict=True):
        if weight > 0:
            b += weight * factor
        else:
            weight = -weight  # implicit's convention: a negative confidence is a dislike
        a += (weight - 1.0) * np.outer(factor, factor)
    return np.linalg.solve(a, b).astype(np.float32)


def rank_items(
    user: np.ndarray, item_factors: np.ndarray, *, k: int, exclude: Collection[int] = ()
) -> list[tuple[int, float]]:
    """The `k` best item rows by inner product (implicit's score), best first, ties by row; `exclude` rows never."""
    scores = item_factors @ user
    if exclude:
        scores = scores.copy()
        scores[np.fromiter(exclude, dtype=np.int64)] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(row), float(scores[row])) for row in top]


def because(candidate: np.ndarray, history_rows: np.ndarray, params: FactorParams) -> int | None:
    """Which history product (its position in `history_rows`) is most like the candidate: the largest
    item-factor inner product (BPR's bias column left out, it is the candidate's own). None when none is positive."""
    if not len(history_rows):
        return None
    latent = history_rows[:, :-1] if params.kind == BPR else history_rows
    own = candidate[:-1] if params.kind == BPR else candidate
    products = latent @ own
    best = int(np.argmax(products))
    return best if products[best] > 0 else None


def factor_ranker(data: InteractionMatrix, params: FactorParams):
    """An evaluation Ranker for `params.kind`: trained once on `data` (the split's training matrix).

    A shopper of the matrix is served from their trained factors; anyone else is folded in from
    their history (confidence 1 per product). Returns (shopper, history, exclude, k, repeat) -> Candidates.
    Too little data to train on (`enough_data`, the shop's own rule: the shop keeps no version
    then) gives a ranker with nothing to offer.
    """
    if data.matrix.nnz == 0 or not enough_data(data):
        return lambda shopper, history, exclude, k, repeat: []
    factors = factorisation_fit(data, params)
    shopper_row = {shopper: row for row, shopper in enumerate(factors.shoppers)}
    product_row = {product: row for row, product in enumerate(factors.products)}
    products = np.asarray(factors.products)
    source = params.kind

    def rank(shopper: str, history: Sequence[int], exclude: Collection[int], k: int, repeat: bool) -> list[Candidate]:
        known = [product for product in history if product in product_row]
        rows = [product_row[product] for product in known]
        if shopper in shopper_row:
            user = factors.user_factors[shopper_row[shopper]]
        elif rows:
            user = fold_in(factors.item_factors[rows], [1.0] * len(rows), gramian=factors.gramian, params=params)
        else:
            return []
        banned = {product_row[product] for product in exclude if product in product_row}
        if not repeat:
            banned.update(rows)
        history_rows = factors.item_factors[rows[:20]]
        out = []
        for row, score in rank_items(user, factors.item_factors, k=k, exclude=banned):
            position = because(factors.item_factors[row], history_rows, params)
            out.append(Candidate(int(products[row]), score, source, None if position is None else known[position]))
        return out

    return rank
