"""User-user collaborative filtering: what the shoppers most like this one bought.

A shopper is the set of products they have at least one event of a positively weighted kind with
(TOUCH_KINDS: views, cart additions, clicks, purchases; `touched_matrix`). The query shopper is their history (every
product touched, most recent first). Similarity is the cosine of the two sets:
shared / sqrt(|history| x |theirs|). The USER_USER_POOL shoppers sharing the most products (ties by
shopper key) are scored; of those with something to offer (a purchase outside the history and the
exclusions) the USER_USER_NEIGHBOURS most similar are the neighbours, and a product's score is the
sum of the similarities of the neighbours who bought it.

The pool bounds the work per request (the shop runs this in SQL over the event log:
`recommendations.selectors.user_user_candidates`); this module is the same rule in numpy for the
offline evaluation and for the tests that hold the two equal. Pure, no Django.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recommendations.collaborative import DEFAULT_WEIGHTS, EventRow, InteractionMatrix, interaction_matrix

USER_USER_NEIGHBOURS = 50
USER_USER_POOL = 300
# A return does not take a product out of the shopper's set: they were interested in it.
TOUCH_KINDS = tuple(kind for kind, weight in DEFAULT_WEIGHTS.items() if weight > 0)


def touched_matrix(events: Iterable[EventRow]) -> InteractionMatrix:
    """Shoppers x products with a non-zero entry where the shopper has a TOUCH_KINDS event."""
    return interaction_matrix(events, weights=dict.fromkeys(TOUCH_KINDS, 1.0), half_life_days=0.0)


@dataclass(frozen=True)
class ShopperSets:
    """Shoppers x products as two binary matrices: touched (positive weight) and bought."""

    touched: sparse.csr_matrix
    by_product: sparse.csc_matrix
    bought: sparse.csr_matrix
    sizes: np.ndarray  # products touched per shopper
    shoppers: list[str]
    key_order: np.ndarray  # each shopper's position in the sorted keys (ties are broken by key)
    column: dict[int, int]  # product id -> column
    products: np.ndarray  # column -> product id


def shopper_sets(data: InteractionMatrix, bought: Mapping[str, Collection[int]]) -> ShopperSets:
    """Index the training matrix for user-user: `bought` is each shopper's purchased products."""
    touched = data.matrix.tocsr().copy()
    touched.eliminate_zeros()
    touched.data[:] = 1.0
    column = {product: index for index, product in enumerate(data.products)}
    rows, cols = [], []
    for row, shopper in enumerate(data.shoppers):
        for product in bought.get(shopper, ()):
            if product in column:
                rows.append(row)
                cols.append(column[product])
    bought_matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=touched.shape)
    bought_matrix.data[:] = 1.0
    return ShopperSets(
        touched=touched,
        by_product=touched.tocsc(),
        bought=bought_matrix,
        sizes=np.diff(touched.indptr),
        shoppers=list(data.shoppers),
        key_order=np.argsort(np.argsort(np.asarray(data.shoppers, dtype=object), kind="stable"), kind="stable"),
        column=column,
        products=np.asarray(data.products),
    )


def user_user_recommend(
    sets: ShopperSets,
    history: Sequence[int],
    *,
    k: int,
    exclude: Collection[int] = (),
    neighbours: int = USER_USER_NEIGHBOURS,
    pool: int = USER_USER_POOL,
) -> list[tuple[int, float]]:
    """The shopper's top k (product, summed neighbour similarity), best first, ties by product id;
    never the history nor `exclude`."""
    mine = set(history)
    columns = [sets.column[product] for product in mine if product in sets.column]
    if not columns:
        return []
    shared = np.asarray(sets.by_product[:, columns].sum(axis=1)).ravel()
    candidates = np.flatnonzero(shared)
    # The pool: most shared products first, ties by shopper key (as the SQL orders them).
    candidates = candidates[np.lexsort((sets.key_order[candidates], -shared[candidates]))][:pool]
    allowed = np.ones(len(sets.products), dtype=np.float64)
    allowed[[sets.column[p] for p in mine | set(exclude) if p in sets.column]] = 0.0
    offers = sets.bought[candidates].multiply(allowed).tocsr()
    offers.eliminate_zeros()
    # Only shoppers with something to offer: this excludes the shopper themself.
    useful = np.diff(offers.indptr) > 0
    candidates, offers = candidates[useful], offers[useful]
    similarity = shared[candidates] / np.sqrt(len(mine) * sets.sizes[candidates].astype(np.float64))
    top = np.lexsort((sets.key_order[candidates], -similarity))[:neighbours]
    scores = offers[top].T @ similarity[top]
    found = np.flatnonzero(scores > 0)
    order = found[np.lexsort((sets.products[found], -scores[found]))][:k]
    return [(int(sets.products[column]), float(scores[column])) for column in order]


def user_user_ranker(data: InteractionMatrix, bought: Mapping[str, Collection[int]]):
    """The evaluation's `user_user` Ranker over `touched_matrix` of the training events and each
    shopper's purchases."""
    from recommendations.candidates import Candidate

    sets = shopper_sets(data, bought)

    def rank(shopper: str, history: Sequence[int], exclude: Collection[int], k: int, repeat: bool):
        # Neighbours offer what this shopper has not touched: the history never comes back, even with `repeat`.
        ranked = user_user_recommend(sets, history, k=k, exclude=exclude)
        return [Candidate(product, score, "user_user") for product, score in ranked]

    return rank
