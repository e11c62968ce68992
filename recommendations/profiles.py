"""Content-based filtering with a shopper profile: their visual taste as one image vector.

The profile is the weighted mean of the unit-normalised image vectors of the CONTENT_PROFILE_RECENT
latest products of the history (most recent first): the product at position r weighs
0.5 ** (r / CONTENT_PROFILE_HALF_LIFE), times CONTENT_PROFILE_PURCHASE_WEIGHT when it was bought.
Candidates are ranked by cosine similarity to the profile; each one's `because` is the history
product whose own vector is closest to it ("Looks like ..."). One click is a profile already.

Pure (numpy): the shop searches the profile with the HNSW index
(`recommendations.selectors.content_profile_candidates`); the evaluation scans exactly.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from recommendations.candidates import Candidate

SOURCE = "content_profile"
CONTENT_PROFILE_RECENT = 20
CONTENT_PROFILE_HALF_LIFE = 5.0  # positions in the history
CONTENT_PROFILE_PURCHASE_WEIGHT = 2.0


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def content_profile_inputs(history: Sequence[int], bought: Collection[int]) -> list[tuple[int, float]]:
    """(product, weight) of the history products the profile is made of, most recent first."""
    latest = list(dict.fromkeys(history))[:CONTENT_PROFILE_RECENT]
    return [
        (
            product,
            0.5 ** (rank / CONTENT_PROFILE_HALF_LIFE) * (CONTENT_PROFILE_PURCHASE_WEIGHT if product in bought else 1.0),
        )
        for rank, product in enumerate(latest)
    ]


def content_profile_vector(
    vectors: Mapping[int, Sequence[float] | np.ndarray], history: Sequence[int], bought: Collection[int]
) -> np.ndarray | None:
    """The unit-length profile, or None when no product of the recent history has a vector."""
    weighted = [(vectors[product], weight) for product, weight in content_profile_inputs(history, bought)]
    weighted = [(vector, weight) for vector, weight in weighted if vector is not None]
    if not weighted:
        return None
    total = sum(weight for _, weight in weighted)
    mean = sum(_unit(vector) * (weight / total) for vector, weight in weighted)
    if float(np.linalg.norm(mean)) < 1e-9:
        return None
    return _unit(mean)


def closest_in_history(candidate: np.ndarray, history_vectors: Sequence[tuple[int, np.ndarray]]) -> int | None:
    """The history product whose unit vector is closest to the candidate's (the most recent on ties)."""
    best, best_score = None, -np.inf
    for product, vector in history_vectors:
        score = float(_unit(candidate) @ _unit(vector))
        if score > best_score:
            best, best_score = product, score
    return best


def content_profile_ranker(
    vectors: Mapping[int, Sequence[float]], candidates: Collection[int], bought: Mapping[str, Collection[int]]
):
    """The evaluation's `content_profile` Ranker: an exact scan of the candidates (products with a
    vector) by cosine to the shopper's profile; `bought` gives each shopper's purchases."""
    ids = np.asarray(sorted(product for product in candidates if product in vectors))
    if not len(ids):
        return None
    matrix = np.asarray([vectors[product] for product in ids], dtype=np.float32)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    known = {int(product): matrix[row] for row, product in enumerate(ids)}

    def rank(shopper: str, history: Sequence[int], exclude: Collection[int], k: int, repeat: bool) -> list[Candidate]:
        profile = content_profile_vector(
            {product: known.get(product) for product in history}, history, bought.get(shopper, ())
        )
        if profile is None:
            return []
        scores = matrix @ profile
        banned = set(exclude) if repeat else set(exclude) | set(history)
        order = np.lexsort((ids, -scores))
        top = [row for row in order[: k + len(banned) + 1] if int(ids[row]) not in banned][:k]
        recent = [(product, known[product]) for product, _ in content_profile_inputs(history, ()) if product in known]
        return [
            Candidate(int(ids[row]), float(scores[row]), SOURCE, closest_in_history(matrix[row], recent)) for row in top
        ]

    return rank
