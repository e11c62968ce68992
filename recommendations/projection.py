"""A query-side projection head for search by photo: a linear map W applied to a shopper's photo
vector before it is compared with the UNCHANGED catalogue vectors.

W starts as the identity and is pulled back toward it (a ridge penalty), and is trained with a
softmax (InfoNCE) loss on the augmented views of the catalogue's own photos that the classifier is
trained on (recommendations.augment): the projected view should be nearest its own product's
catalogue vector, and, for half of the target, any product of the same article type. Plain numpy
(Adam), on the CPU, in the worker, after the classifier. Stored beside the classifier, versioned
(recommendations.classifier.PROJECTION_ALGORITHM).
"""

from __future__ import annotations

import io

import numpy as np

TEMPERATURE = 0.05
# Share of the target on the other products of the view's article type (the rest on its own product).
TYPE_SHARE = 0.5
RIDGE = 1.0
LEARNING_RATE = 1e-3
EPOCHS = 2
BATCH = 256


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def projection_fit(
    catalogue: np.ndarray,
    labels: np.ndarray,
    views: np.ndarray,
    view_owners: np.ndarray,
    *,
    seed: int = 0,
    epochs: int = EPOCHS,
) -> tuple[np.ndarray, dict]:
    """W (D, D) float32 and metrics (the loss before and after, views' own-product top-1 before and
    after). Raises ValueError without views."""
    catalogue = np.asarray(catalogue, dtype=np.float32)
    views = np.asarray(views, dtype=np.float32)
    view_owners = np.asarray(view_owners, dtype=np.int64)
    labels = np.asarray(labels)
    if len(views) == 0 or views.shape[1] != catalogue.shape[1] or len(view_owners) != len(views):
        raise ValueError("the projection head needs views of the catalogue's width, one owner row each")
    rng = np.random.default_rng(seed)
    dimensions = catalogue.shape[1]
    identity = np.eye(dimensions, dtype=np.float32)
    weights = identity.copy()
    first, second = np.zeros_like(weights), np.zeros_like(weights)
    step = 0

    def targets_of(owners: np.ndarray) -> np.ndarray:
        same = (labels[owners][:, None] == labels[None, :]).astype(np.float32)
        target = TYPE_SHARE * same / same.sum(axis=1, keepdims=True)
        target[np.arange(len(owners)), owners] += 1 - TYPE_SHARE
        return target

    def loss_and_top1(w: np.ndarray) -> tuple[float, float]:
        losses, right = [], 0
        for start in range(0, len(views), 1024):
            rows = slice(start, start + 1024)
            logits = _normalise(views[rows] @ w.T) @ catalogue.T / TEMPERATURE
            logits -= logits.max(axis=1, keepdims=True)
            log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            losses.append(-(targets_of(view_owners[rows]) * log_p).sum(axis=1))
            right += int((logits.argmax(axis=1) == view_owners[rows]).sum())
        return float(np.concatenate(losses).mean()), right / len(views)

    before = loss_and_top1(weights)
    for _ in range(epochs):
        order = rng.permutation(len(views))
        for start in range(0, len(views), BATCH):
            rows = order[start : start + BATCH]
            x, owners = views[rows], view_owners[rows]
            raw = x @ weights.T
            norms = np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
            query = raw / norms
            logits = query @ catalogue.T / TEMPERATURE
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            d_query = ((p - targets_of(owners)) / len(rows) / TEMPERATURE) @ catalogue
            d_raw = (d_query - query * (query * d_query).sum(axis=1, keepdims=True)) / norms
            gradient = d_raw.T @ x + 2 * RIDGE * (weights - identity) * len(rows) / len(views)
            step += 1
            first = 0.9 * first + 0.1 * gradient
            second = 0.999 * second + 0.001 * gradient * gradient
            weights -= (
                LEARNING_RATE * (first / (1 - 0.9**step)) / (np.sqrt(second / (1 - 0.999**step)) + 1e-8)
            ).astype(np.float32)
    after = loss_and_top1(weights)
    metrics = {
        "views": len(views),
        "loss_before": round(before[0], 4),
        "loss_after": round(after[0], 4),
        "own_top1_before": round(before[1], 4),
        "own_top1_after": round(after[1], 4),
    }
    return weights.astype(np.float32), metrics


def projection_apply(weights: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """The projected, L2-normalised vector (same shape as `vector`)."""
    return _normalise(np.asarray(vector, dtype=np.float32) @ weights.T).astype(np.float32)


def projection_to_bytes(weights: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, weights=weights.astype(np.float32))
    return buffer.getvalue()


def projection_from_bytes(data: bytes) -> np.ndarray:
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
        return arrays["weights"].astype(np.float32)
